"""The decoder's fast lane: a message of contact events in the contract's plain shape, decoded
by msgspec straight into typed fields, then checked as `decode._contact` checks them.

It accepts a subset of what the general decoder accepts, and gives the same events for it:
any message it is not sure of (another family, a CloudEvent, an RFC 3339 `ts`, a field
outside the contact fields, a wrong type, any value the general checks would refuse) is left
to the general decoder, which then words every error as always. So the lane changes what a
message costs, never what it decodes to (`tests/property/test_decode_fast_property.py`).

msgspec parses the JSON itself; on the messages this lane takes it agrees with orjson, which
the general decoder uses: both refuse invalid UTF-8, lone surrogates, control characters and
numbers out of range, and both keep the last of repeated keys. Unknown fields are refused, so
no part of a message the lane accepts goes unparsed by the typed decoder.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Final, Literal, TypeAlias

import msgspec

from ccpulse.schemas.decode_fields import (
    _KNOWN_IDS,
    _KNOWN_NAMES,
    MAX_DURATION_S,
    MAX_FUTURE_MS,
    MAX_ID_LEN,
    MIN_TS_MS,
    NAME_RE,
    _shared,
)
from ccpulse.schemas.events import (
    ABANDONED,
    ANSWERED,
    BLOCK_REASONS,
    BLOCKED,
    CHANNELS,
    COMPLETED,
    CONTACT_TYPES,
    DEQUEUE_REASONS,
    DEQUEUED,
    ContactEvent,
    Event,
)

__all__ = ["fast_contacts"]


if TYPE_CHECKING:
    _Type: TypeAlias = str
    _Channel: TypeAlias = str
else:
    _Type = Literal[CONTACT_TYPES]
    _Channel = Literal[CHANNELS]
#: What msgspec checks while decoding (in C): ids of 1-256 characters (printable is checked
#: after), instants from 2000 on (not past the clock's tolerance: after), durations of at most a
#: week. A value it refuses sends the message to the general decoder, even in a field that the
#: event's type does not read; that costs time, never a different result.
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LEN)]
_Instant = Annotated[int, msgspec.Meta(ge=MIN_TS_MS)]
_Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_DURATION_S)]


class _Wire(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A contact event as the contract sends it (docs/event-contract.md), typed: the rest of
    `decode._contact`'s checks follow the decoding."""

    type: _Type
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


_DECODER: Final = msgspec.json.Decoder(list[_Wire] | _Wire)
_WITH_AGENT: Final = frozenset((ANSWERED, COMPLETED))
_WITH_WAIT: Final = frozenset((ANSWERED, ABANDONED, DEQUEUED))
_BLOCK_REASONS: Final = {r: r for r in BLOCK_REASONS}
_DEQUEUE_REASONS: Final = {r: r for r in DEQUEUE_REASONS}


def fast_contacts(raw: bytes, now_ms: int) -> list[Event] | None:
    """The events of `raw` if it is a contact event or an array of them, each in the plain
    shape and valid; None if the general decoder must read it (also for an empty array, so
    that it counts the elements)."""
    try:
        doc = _DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    wires = doc if isinstance(doc, list) else [doc]
    if not wires:
        return None
    latest = now_ms + MAX_FUTURE_MS
    events: list[Event] = []
    append = events.append
    known = _KNOWN_NAMES
    for w in wires:
        etype = w.type
        tenant = known.get(w.tenant) or _name(w.tenant)
        queue = known.get(w.queue) or _name(w.queue)
        event_id = w.event_id
        contact_id = w.contact_id
        if (
            w.ts > latest
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
        resolved = None
        if etype in _WITH_AGENT and w.agent_id is not None:
            agent_id = _KNOWN_IDS.get(w.agent_id)
            if agent_id is None:
                if not w.agent_id.isprintable():
                    return None
                agent_id = _shared(w.agent_id, _KNOWN_IDS)
        if etype in _WITH_WAIT:
            if w.wait_seconds is not None:
                wait_ms = round(w.wait_seconds * 1000)
        elif etype == BLOCKED:
            reason = _BLOCK_REASONS.get(w.reason)
            if reason is None:
                return None
        elif etype == COMPLETED:
            if w.talk_seconds is None:
                return None
            talk_ms = round(w.talk_seconds * 1000)
            if w.hold_seconds is not None:
                hold_ms = round(w.hold_seconds * 1000)
            if w.wrap_seconds is not None:
                wrap_ms = round(w.wrap_seconds * 1000)
            resolved = w.resolved
        if etype == DEQUEUED:
            reason = _DEQUEUE_REASONS.get(w.reason)
            if reason is None:
                return None
            if w.to_queue is not None:
                to_queue = known.get(w.to_queue) or _name(w.to_queue)
                if to_queue is None:
                    return None
        event = ContactEvent(
            event_id, etype, w.ts, tenant, queue, w.channel, sys.intern(contact_id),
            agent_id, wait_ms, reason, to_queue, talk_ms, hold_ms, wrap_ms, resolved,
        )  # fmt: skip
        append(event)
    return events


def _name(value: str) -> str | None:
    """The name rule of `decode_fields._name`, for a name not yet known: its shared copy."""
    return _shared(value) if NAME_RE.match(value) else None
