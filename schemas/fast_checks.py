"""The fast lane's checks of each element msgspec decoded (schemas/decode_fast.py), and the
events they build.

Compiled with the KPI core where a compiler is at hand (ccpulse/native.py): after msgspec's
own parsing, these checks were the larger part of a fast-lane decode, about 1.2 µs an event
interpreted. The typed structs stay in `decode_fast`, which hands each element's fields over
as a tuple in the struct's order (checked there at import), so this module knows no msgspec
type and reads nothing by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ccpulse.schemas.decode_fields import (
    _KNOWN_IDS,
    _KNOWN_NAMES,
    MAX_LABEL_LEN,
    NAME_RE,
    _shared,
)
from ccpulse.schemas.events import (
    ABANDONED,
    AGENT_RING_NO_ANSWER,
    AGENT_STATE,
    ANSWERED,
    BLOCK_REASONS,
    BLOCKED,
    COMPLETED,
    DEQUEUE_REASONS,
    DEQUEUED,
    AgentEvent,
    ContactEvent,
    Event,
)

# Final: compiled, each is held in a static of the module, not looked up by name.
_NAMES: Final[dict[str, str]] = _KNOWN_NAMES
_IDS: Final[dict[str, str]] = _KNOWN_IDS
_BLOCK_REASONS: Final[dict[str, str]] = {r: r for r in BLOCK_REASONS}
_DEQUEUE_REASONS: Final[dict[str, str]] = {r: r for r in DEQUEUE_REASONS}
_MATCH_NAME: Final[Callable[[str], Any]] = NAME_RE.match
_CONTACT: Final[Any] = ContactEvent
_AGENT: Final[Any] = AgentEvent
#: Called as a function: compiled, a method call looks the method up by name each time.
_printable: Final[Callable[[str], bool]] = str.isprintable
#: Builds a named tuple from its fields in order, without the Python-level `__new__` that a call
#: of the class runs (about half the cost of a contact event's construction).
_new_event: Final[Callable[[Any, tuple[Any, ...]], Any]] = tuple.__new__


def events_of(
    wires: list[Any],
    latest: int,
    kind_of: dict[Any, tuple[str, bool]],
    fields: Callable[[Any], tuple[Any, ...]],
) -> list[Event] | None:
    """The events of the decoded elements `wires`, or None at the first that fails a check:
    `kind_of` gives each element's event type, and whether it is a contact event, by its
    struct class; `fields` a struct's field values in order."""
    events: list[Event] = []
    for w in wires:
        etype, is_contact = kind_of[type(w)]
        event: Event | None
        if is_contact:
            event = contact_event(fields(w), etype, latest)
        else:
            event = agent_event(fields(w), etype, latest)
        if event is None:
            return None
        events.append(event)
    return events


def contact_event(f: tuple[Any, ...], etype: str, latest: int) -> ContactEvent | None:
    """`decode._contact`'s checks that msgspec did not make, in its order of precedence; `f` is
    the element's fields in `_Contact`'s order."""
    event_id: str = f[0]
    ts: int = f[1]
    contact_id: str = f[3]
    tenant = _known_name(f[4])
    queue = _known_name(f[2])
    if (
        ts > latest
        or tenant is None
        or queue is None
        or not _printable(event_id)
        or not _printable(contact_id)
    ):
        return None
    agent_id: str | None = None
    wait_ms: int | None = None
    reason: str | None = None
    to_queue: str | None = None
    talk_ms = hold_ms = wrap_ms = 0
    resolved: Any = None
    if etype in (ANSWERED, COMPLETED) and f[6] is not None:
        agent_id = _agent_id(f[6])
        if agent_id is None:
            return None
    if etype in (ANSWERED, ABANDONED, DEQUEUED):
        if f[7] is not None:
            wait_ms = _ms(f[7])
    elif etype == BLOCKED:
        reason = _BLOCK_REASONS.get(f[8])
        if reason is None:
            return None
    elif etype == COMPLETED:
        if f[10] is None:
            return None
        talk_ms = _ms(f[10])
        if f[11] is not None:
            hold_ms = _ms(f[11])
        if f[12] is not None:
            wrap_ms = _ms(f[12])
        resolved = f[13]
    if etype == DEQUEUED:
        reason = _DEQUEUE_REASONS.get(f[8])
        if reason is None:
            return None
        if f[9] is not None:
            to_queue = _known_name(f[9])
            if to_queue is None:
                return None
    event: ContactEvent = _new_event(_CONTACT, (
        event_id, etype, ts, tenant, queue, f[5], contact_id,
        agent_id, wait_ms, reason, to_queue, talk_ms, hold_ms, wrap_ms, resolved,
    ))  # fmt: skip
    return event


def agent_event(f: tuple[Any, ...], etype: str, latest: int) -> AgentEvent | None:
    """`decode._agent`'s checks that msgspec did not make; `f` is the element's fields in
    `_Agent`'s order."""
    event_id: str = f[0]
    ts: int = f[1]
    tenant = _known_name(f[3])
    agent_id = _agent_id(f[2])
    if ts > latest or tenant is None or agent_id is None or not _printable(event_id):
        return None
    queue: str | None = f[4]
    if queue is not None:
        queue = _known_name(queue)
        if queue is None:
            return None
    state: str | None = None
    reason: str | None = None
    contact_id: str | None = None
    ring_ms: int | None = None
    wait_ms: int | None = None
    if etype == AGENT_STATE:
        state = f[5]
        if state is None:
            return None
        reason = f[6]
        if reason is not None and (
            len(reason) > MAX_LABEL_LEN or not reason or not _printable(reason)
        ):
            return None
        if state == "on_contact" and f[9] is not None:
            wait_ms = _ms(f[9])
    elif etype == AGENT_RING_NO_ANSWER:
        contact_id = f[7]
        if contact_id is not None and not _printable(contact_id):
            return None
        if f[8] is not None:
            ring_ms = _ms(f[8])
    event: AgentEvent = _new_event(_AGENT, (
        event_id, etype, ts, tenant, agent_id, queue, state, reason, contact_id, ring_ms, wait_ms,
    ))  # fmt: skip
    return event


def _ms(seconds: float) -> int:
    """`round(seconds * 1000)` of a duration msgspec checked (0 to a week), as the general
    decoder rounds it: to the nearest, ties to even. Written out so that, compiled, it is
    machine arithmetic: `x - int(x)` is exact for a double under 2**52."""
    x = seconds * 1000.0
    whole = int(x)
    rest = x - whole
    if rest > 0.5 or (rest == 0.5 and whole & 1):
        whole += 1
    return whole


def _known_name(value: str) -> str | None:
    """The shared copy of a valid name (`decode_fields._name`'s rule), else None."""
    found = _NAMES.get(value)
    if found is not None:
        return found
    return _shared(value) if _MATCH_NAME(value) else None


def _agent_id(value: str) -> str | None:
    """The shared copy of a valid agent id (`decode_fields._ident`'s rule), else None."""
    found = _IDS.get(value)
    if found is None and _printable(value):
        found = _shared(value, _IDS)
    return found
