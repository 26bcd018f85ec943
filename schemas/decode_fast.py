"""The decoder's fast lane: a message of contact or agent events in the contract's plain shape,
decoded by msgspec straight into typed fields, then checked as `decode._contact` and
`decode._agent` check them. (Those two families are nearly all the events a worker reads.)

It accepts a subset of what the general decoder accepts, and gives the same events for it:
any message it is not sure of (tickets or surveys, a CloudEvent, an RFC 3339 `ts`, a field
outside its family's fields, a wrong type, any value the general checks would refuse) is left
to the general decoder, which then words every error as always. So the lane changes what a
message costs, never what it decodes to (`tests/property/test_decode_fast_property.py`).

msgspec parses the JSON itself; on the messages this lane takes it agrees with orjson, which
the general decoder uses: both refuse invalid UTF-8, lone surrogates, control characters and
numbers out of range, and both keep the last of repeated keys. Unknown fields are refused, so
no part of a message the lane accepts goes unparsed by the typed decoder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final, Literal, TypeAlias, Union

import msgspec
import msgspec.structs

from ccpulse.schemas.decode_fields import (
    _KNOWN_IDS,
    _KNOWN_NAMES,
    MAX_DURATION_S,
    MAX_FUTURE_MS,
    MAX_ID_LEN,
    MAX_LABEL_LEN,
    MIN_TS_MS,
    NAME_RE,
    _shared,
)
from ccpulse.schemas.events import (
    ABANDONED,
    AGENT_RING_NO_ANSWER,
    AGENT_STATE,
    AGENT_STATES,
    AGENT_TYPES,
    ANSWERED,
    BLOCK_REASONS,
    BLOCKED,
    CHANNELS,
    COMPLETED,
    CONTACT_TYPES,
    DEQUEUE_REASONS,
    DEQUEUED,
    AgentEvent,
    ContactEvent,
    Event,
)

__all__ = ["fast_events"]


if TYPE_CHECKING:
    _Channel: TypeAlias = str
    _State: TypeAlias = str
else:
    _Channel = Literal[CHANNELS]
    _State = Literal[AGENT_STATES]
#: What msgspec checks while decoding (in C): ids of 1-256 characters (printable is checked
#: after), instants from 2000 on (not past the clock's tolerance: after), durations of at most a
#: week. A value it refuses sends the message to the general decoder, even in a field that the
#: event's type does not read; that costs time, never a different result.
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LEN)]
_Instant = Annotated[int, msgspec.Meta(ge=MIN_TS_MS)]
_Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_DURATION_S)]


class _Contact(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, gc=False):
    """A contact event as the contract sends it (docs/event-contract.md), typed: the rest of
    `decode._contact`'s checks follow the decoding. Its `type` picks the subclass."""

    event_id: _Id
    ts: _Instant
    queue: str
    contact_id: _Id
    tenant: str = "default"
    channel: _Channel = "voice"
    agent_id: _Id | None = None
    wait_seconds: _Seconds | None = None
    reason: str | None = None
    to_queue: str | None = None
    talk_seconds: _Seconds | None = None
    hold_seconds: _Seconds | None = None
    wrap_seconds: _Seconds | None = None
    resolved: bool | None = None


class _Agent(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, gc=False):
    """An agent event, typed; the rest of `decode._agent`'s checks follow the decoding."""

    event_id: _Id
    ts: _Instant
    agent_id: _Id
    tenant: str = "default"
    queue: str | None = None
    state: _State | None = None
    reason: str | None = None
    contact_id: _Id | None = None
    ring_seconds: _Seconds | None = None
    wait_seconds: _Seconds | None = None


#: One subclass per event type, tagged with it: msgspec picks it by the element's "type".
_TYPE_OF: Final[dict[type, str]] = {
    msgspec.defstruct(f"_{t}", [], bases=(base,), tag=t): t
    for base, types in ((_Contact, CONTACT_TYPES), (_Agent, AGENT_TYPES))
    for t in types
}
_Element = Union[tuple(_TYPE_OF)]  # type: ignore[valid-type]  # noqa: UP007
_DECODER: Final = msgspec.json.Decoder(list[_Element] | _Element)  # type: ignore[valid-type]
_WITH_AGENT: Final = frozenset((ANSWERED, COMPLETED))
_WITH_WAIT: Final = frozenset((ANSWERED, ABANDONED, DEQUEUED))
_BLOCK_REASONS: Final = {r: r for r in BLOCK_REASONS}
#: Builds a named tuple from its fields in order, without the Python-level `__new__` that a call
#: of the class runs (about half the cost of a contact event's construction).
_new_event: Final = tuple.__new__
#: A struct's field values as a tuple, in the order of its class's fields.
_fields: Final = msgspec.structs.astuple
if _Contact.__struct_fields__ != (
    "event_id", "ts", "queue", "contact_id", "tenant", "channel", "agent_id", "wait_seconds",
    "reason", "to_queue", "talk_seconds", "hold_seconds", "wrap_seconds", "resolved",
) or _Agent.__struct_fields__ != (
    "event_id", "ts", "agent_id", "tenant", "queue", "state", "reason", "contact_id",
    "ring_seconds", "wait_seconds",
):  # fmt: skip
    raise ImportError("decode_fast: _fields() unpacks the structs' fields in another order")
_DEQUEUE_REASONS: Final = {r: r for r in DEQUEUE_REASONS}


def fast_events(raw: bytes, now_ms: int, max_elements: int | None = None) -> list[Event] | None:
    """The events of `raw` if it is a contact or agent event or an array of them, each in the
    plain shape and valid; None if the general decoder must read it: also for an empty array
    or one over `max_elements`, whose elements it counts."""
    try:
        doc = _DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    wires = doc if isinstance(doc, list) else [doc]
    if not wires or (max_elements is not None and len(wires) > max_elements):
        return None
    latest = now_ms + MAX_FUTURE_MS
    events: list[Event] = []
    append = events.append
    for w in wires:
        event = (
            _contact(w, _TYPE_OF[type(w)], latest)
            if isinstance(w, _Contact)
            else _agent(w, _TYPE_OF[type(w)], latest)
        )
        if event is None:
            return None
        append(event)
    return events


def _contact(w: _Contact, etype: str, latest: int) -> ContactEvent | None:
    """`decode._contact`'s checks that msgspec did not make, in its order of precedence."""
    # The fields at once, in `_Contact`'s order: read one by one, each attribute read would
    # find a different class from one event to the next (one per type), which the
    # interpreter's caches do not keep up with.
    (event_id, ts, queue, contact_id, tenant, channel, agent_in, wait_s, reason_in, to_queue_in,
     talk_s, hold_s, wrap_s, resolved) = _fields(w)  # fmt: skip
    known = _KNOWN_NAMES
    tenant = known.get(tenant) or _name(tenant)
    queue = known.get(queue) or _name(queue)
    if (
        ts > latest
        or tenant is None
        or queue is None
        or not event_id.isprintable()
        or not contact_id.isprintable()
    ):
        return None
    agent_id = None
    wait_ms = None
    reason = None
    to_queue = None
    talk_ms = hold_ms = wrap_ms = 0
    if etype in _WITH_AGENT and agent_in is not None:
        agent_id = _agent_id(agent_in)
        if agent_id is None:
            return None
    if etype in _WITH_WAIT:
        if wait_s is not None:
            wait_ms = round(wait_s * 1000)
    elif etype == BLOCKED:
        reason = _BLOCK_REASONS.get(reason_in)
        if reason is None:
            return None
    elif etype == COMPLETED:
        if talk_s is None:
            return None
        talk_ms = round(talk_s * 1000)
        if hold_s is not None:
            hold_ms = round(hold_s * 1000)
        if wrap_s is not None:
            wrap_ms = round(wrap_s * 1000)
    if etype != COMPLETED:
        resolved = None
    if etype == DEQUEUED:
        reason = _DEQUEUE_REASONS.get(reason_in)
        if reason is None:
            return None
        if to_queue_in is not None:
            to_queue = known.get(to_queue_in) or _name(to_queue_in)
            if to_queue is None:
                return None
    return _new_event(ContactEvent, (
        event_id, etype, ts, tenant, queue, channel, contact_id,
        agent_id, wait_ms, reason, to_queue, talk_ms, hold_ms, wrap_ms, resolved,
    ))  # fmt: skip


def _agent(w: _Agent, etype: str, latest: int) -> AgentEvent | None:
    """`decode._agent`'s checks that msgspec did not make."""
    (event_id, ts, agent_in, tenant, queue, state_in, reason_in, contact_in, ring_s,
     wait_s) = _fields(w)  # fmt: skip
    tenant = _KNOWN_NAMES.get(tenant) or _name(tenant)
    agent_id = _agent_id(agent_in)
    if ts > latest or tenant is None or agent_id is None or not event_id.isprintable():
        return None
    if queue is not None:
        queue = _KNOWN_NAMES.get(queue) or _name(queue)
        if queue is None:
            return None
    state = reason = contact_id = None
    ring_ms = wait_ms = None
    if etype == AGENT_STATE:
        state = state_in
        if state is None:
            return None
        if reason_in is not None:
            reason = reason_in
            if len(reason) > MAX_LABEL_LEN or not reason or not reason.isprintable():
                return None
        if state == "on_contact" and wait_s is not None:
            wait_ms = round(wait_s * 1000)
    elif etype == AGENT_RING_NO_ANSWER:
        if contact_in is not None:
            contact_id = contact_in
            if not contact_id.isprintable():
                return None
        if ring_s is not None:
            ring_ms = round(ring_s * 1000)
    return _new_event(AgentEvent, (
        event_id, etype, ts, tenant, agent_id, queue, state, reason, contact_id, ring_ms, wait_ms,
    ))  # fmt: skip


def _agent_id(value: str) -> str | None:
    """The shared copy of a valid agent id (`decode_fields._ident`'s rule), else None."""
    found = _KNOWN_IDS.get(value)
    if found is None and value.isprintable():
        found = _shared(value, _KNOWN_IDS)
    return found


def _name(value: str) -> str | None:
    """The name rule of `decode_fields._name`, for a name not yet known: its shared copy."""
    return _shared(value) if NAME_RE.match(value) else None
