"""The decoder's fast lane: a message of contact or agent events in the contract's plain shape,
decoded by msgspec straight into typed fields, then checked as `decode._contact` and
`decode._agent` check them. (Those two families are nearly all the events a worker reads.)
The checks after msgspec's parsing, and the events they build, are `fast_checks` (compiled
where a compiler is at hand).

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
    MAX_DURATION_S,
    MAX_FUTURE_MS,
    MAX_ID_LEN,
    MIN_TS_MS,
)
from ccpulse.schemas.events import (
    AGENT_STATES,
    AGENT_TYPES,
    CHANNELS,
    CONTACT_TYPES,
    Event,
)
from ccpulse.schemas.fast_checks import events_of

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
#: Each subclass's event type, and whether it is a contact event (else an agent event).
_KIND_OF: Final[dict[type, tuple[str, bool]]] = {
    cls: (t, issubclass(cls, _Contact)) for cls, t in _TYPE_OF.items()
}
_Element = Union[tuple(_TYPE_OF)]  # type: ignore[valid-type]  # noqa: UP007
_DECODER: Final = msgspec.json.Decoder(list[_Element] | _Element)  # type: ignore[valid-type]
#: A struct's field values as a tuple, in the order of its class's fields: what
#: `fast_checks` reads them by, so the order is checked here.
_fields: Final = msgspec.structs.astuple
if _Contact.__struct_fields__ != (
    "event_id", "ts", "queue", "contact_id", "tenant", "channel", "agent_id", "wait_seconds",
    "reason", "to_queue", "talk_seconds", "hold_seconds", "wrap_seconds", "resolved",
) or _Agent.__struct_fields__ != (
    "event_id", "ts", "agent_id", "tenant", "queue", "state", "reason", "contact_id",
    "ring_seconds", "wait_seconds",
):  # fmt: skip
    raise ImportError("decode_fast: fast_checks reads the structs' fields in another order")


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
    return events_of(wires, now_ms + MAX_FUTURE_MS, _KIND_OF, _fields)
