"""Decode and validate raw messages into contract events, never raising on bad input.

A message is one JSON object, a JSON array of objects (the CloudEvents JSON batch shape), or
CloudEvents 1.0 structured-mode JSON. Each element is validated on its own: good ones become
events, bad ones become `Rejection`s naming the event and the field.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from ccpulse.schemas.decode_fast import fast_events
from ccpulse.schemas.decode_fields import (
    _KNOWN_IDS,
    _KNOWN_NAMES,
    MAX_DURATION_S,
    MAX_FUTURE_MS,
    MAX_ID_LEN,
    MAX_KNOWN_NAMES,
    MIN_TS_MS,
    NAME_RE,
    RFC3339_RE,
    SHOWN_CHARS,
    _choice,
    _duration,
    _flag,
    _ident,
    _Invalid,
    _label,
    _name,
    _shared,
    _show,
    _tenant,
    _ts,
    _ts_ms,
    datetime_ms,
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
    SURVEY_KINDS,
    SURVEY_RESPONSE,
    TICKET_ASSIGNED,
    TICKET_CREATED,
    TICKET_PRIORITIES,
    TICKET_REPLIED,
    TICKET_STATUS_CHANGED,
    TICKET_STATUSES,
    TICKET_TYPES,
    AgentEvent,
    ContactEvent,
    Event,
    SurveyEvent,
    TicketEvent,
)

__all__ = [
    "MAX_DURATION_S",
    "MAX_FUTURE_MS",
    "MAX_ID_LEN",
    "MAX_KNOWN_NAMES",
    "MIN_TS_MS",
    "NAME_RE",
    "RFC3339_RE",
    "SHOWN_CHARS",
    "SURVEY_SCORE_RANGE",
    "DecodeResult",
    "Rejection",
    "datetime_ms",
    "decode_message",
    "decode_object",
]

#: Known event types, each mapped to its one shared string (see `_shared`).
_KNOWN_TYPES: Final = {t: t for t in (*CONTACT_TYPES, *AGENT_TYPES, *TICKET_TYPES, SURVEY_RESPONSE)}
_CHANNELS: Final = {c: c for c in CHANNELS}
_AGENT_STATES: Final = {c: c for c in AGENT_STATES}


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one element of a message was refused, with the element's own bytes."""

    reason: str
    raw: bytes
    event_id: str | None = None
    field: str | None = None
    index: int | None = None

    def describe(self) -> str:
        """One line naming the event, the field and the problem."""
        who = f"event {_show(self.event_id)}" if self.event_id else "event"
        if self.index is not None:
            who += f" (#{self.index} in batch)"
        where = f" field {self.field!r}:" if self.field else ""
        return f"{who}:{where} {self.reason}"


@dataclass(slots=True)
class DecodeResult:
    """The events a message held and the elements that were refused.

    Past `max_rejections` refused elements are only counted (`unreported`, by field in
    `unreported_fields`), and elements past `max_elements` are not decoded at all (`excess`):
    the work and memory one message can cost stay bounded, whatever it holds.
    """

    events: list[Event] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    unreported: int = 0
    unreported_fields: dict[str, int] = field(default_factory=dict)
    excess: int = 0
    #: Elements the message held (decoded or not).
    elements: int = 0


def decode_message(
    raw: bytes | str,
    now_ms: int | None = None,
    *,
    max_bytes: int | None = None,
    max_elements: int | None = None,
    max_rejections: int | None = None,
) -> DecodeResult:
    """Decode one Kafka message (or one line of an events file); never raises.

    The limits (None: none) bound one message: over `max_bytes` it is refused whole, unread;
    elements past `max_elements` are counted in `excess`; refusals past `max_rejections` are
    counted in `unreported`.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if max_bytes is not None and len(raw) > max_bytes:
        reason = f"message of {len(raw)} bytes is over the limit of {max_bytes} bytes"
        return DecodeResult([], [Rejection(reason, raw)], elements=1)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    events = fast_events(raw, now, max_elements)
    if events is not None:
        return DecodeResult(events, [], elements=len(events))
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        refused = Rejection(f"not valid JSON: {exc}", raw)
        return DecodeResult([], [refused], elements=1)
    result = DecodeResult([], [])
    if isinstance(doc, list):
        result.elements = len(doc)
        if max_elements is not None and len(doc) > max_elements:
            result.excess = len(doc) - max_elements
            del doc[max_elements:]
        for i, item in enumerate(doc):
            _decode_into(result, item, now, i, max_rejections)
    else:
        result.elements = 1
        _decode_into(result, doc, now, None, max_rejections, raw)
    return result


def decode_object(obj: Any, now_ms: int | None = None) -> Event | Rejection:
    """Validate one already-parsed JSON object."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    result = DecodeResult()
    _decode_into(result, obj, now, None, None)
    return result.events[0] if result.events else result.rejections[0]


def _decode_into(
    result: DecodeResult,
    obj: Any,
    now_ms: int,
    index: int | None,
    max_rejections: int | None,
    raw: bytes | None = None,
) -> None:
    try:
        result.events.append(_validate(obj, now_ms))
        return
    except _Invalid as exc:
        reason, field_name = exc.reason, exc.field
    except Exception as exc:  # no input may stop the decoder
        reason, field_name = f"could not be validated ({type(exc).__name__})", None
    if max_rejections is not None and len(result.rejections) >= max_rejections:
        result.unreported += 1
        counts = result.unreported_fields
        name = field_name or "element"
        counts[name] = counts.get(name, 0) + 1
        return
    event_id = obj.get("event_id", obj.get("id")) if isinstance(obj, dict) else None
    result.rejections.append(
        Rejection(
            reason,
            _element_bytes(obj) if raw is None else raw,
            event_id if isinstance(event_id, str) else None,
            field_name,
            index,
        )
    )


def _element_bytes(obj: Any) -> bytes:
    """A refused element's JSON, in bytes of its own size (the dead letter cuts it to size).

    orjson's output keeps its whole buffer (kilobytes), hence the copy; an element nested
    deeper than orjson writes (255 levels) is named instead of copied.
    """
    try:
        out = orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError) as exc:
        return orjson.dumps(f"<element not re-encoded: {exc}>")
    return bytes(memoryview(out))


def _validate(obj: Any, now_ms: int) -> Event:
    if not isinstance(obj, dict):
        raise _Invalid(None, f"must be a JSON object, got {type(obj).__name__}")
    if "specversion" in obj:
        obj = _from_cloudevent(obj)
    etype = obj.get("type")
    if not isinstance(etype, str):
        raise _Invalid("type", "required string missing")
    found = _BY_TYPE.get(etype)
    if found is None:
        raise _Invalid("type", f"unknown event type {_show(etype)}")
    shared_type, build = found
    return build(obj, shared_type, now_ms)


def _agent(obj: dict[str, Any], etype: str, now_ms: int) -> AgentEvent:
    # The common valid shapes are checked inline (as in `_contact`); the agent id is shared
    # like the names, since a timeline keeps a day of its events.
    event_id = _ident(obj, "event_id")
    ts_ms = _ts_ms(obj, now_ms)
    tenant = _tenant(obj)
    value = obj.get("agent_id")
    agent_id = _KNOWN_IDS.get(value) if type(value) is str else None
    if agent_id is None:
        agent_id = _shared(_ident(obj, "agent_id"), _KNOWN_IDS)
    value = obj.get("queue")
    queue = None if value is None else _KNOWN_NAMES.get(value) if type(value) is str else None
    if queue is None and value is not None:
        queue = _name(obj, "queue")
    state = reason = contact_id = None
    ring_ms = wait_ms = None
    if etype == AGENT_STATE:
        value = obj.get("state")
        state = _AGENT_STATES.get(value) if type(value) is str else None
        if state is None:
            state = _choice(obj, "state", AGENT_STATES)
        if obj.get("reason") is not None:
            reason = _label(obj, "reason")
        wait_ms = _duration(obj, "wait_seconds", required=False)  # checked on every state
        if state != "on_contact":
            wait_ms = None
    elif etype == AGENT_RING_NO_ANSWER:
        if obj.get("contact_id") is not None:
            contact_id = _ident(obj, "contact_id")
        ring_ms = _duration(obj, "ring_seconds", required=False)
    return AgentEvent(event_id, etype, ts_ms, tenant, agent_id, queue, state, reason,
                      contact_id, ring_ms, wait_ms)  # fmt: skip


def _ticket(obj: dict[str, Any], etype: str, now_ms: int) -> TicketEvent:
    event_id = _ident(obj, "event_id")
    ts_ms = _ts_ms(obj, now_ms)
    tenant = _tenant(obj)
    ticket_id = _ident(obj, "ticket_id")
    created = etype == TICKET_CREATED
    channel = priority = group = agent_id = status = None
    if created or obj.get("channel") is not None:
        channel = obj.get("channel", "email")
        if channel not in CHANNELS:
            raise _Invalid("channel", f"must be one of {', '.join(CHANNELS)}, got {_show(channel)}")
    if created or obj.get("priority") is not None:
        priority = obj.get("priority", "normal")
        if priority not in TICKET_PRIORITIES:
            raise _Invalid(
                "priority", f"must be one of {', '.join(TICKET_PRIORITIES)}, got {_show(priority)}"
            )
    if created or etype == TICKET_ASSIGNED or obj.get("group") is not None:
        group = _name(obj, "group", default="default")
    if etype == TICKET_REPLIED or (etype == TICKET_ASSIGNED and obj.get("agent_id") is not None):
        agent_id = _ident(obj, "agent_id")
    if etype == TICKET_STATUS_CHANGED:
        status = _choice(obj, "status", TICKET_STATUSES)
    public = _flag(obj, "public", True)
    by_agent = _flag(obj, "by_agent", False)
    return TicketEvent(event_id, etype, ts_ms, tenant, ticket_id, channel, priority, group,
                       agent_id, status, public, by_agent)  # fmt: skip


#: Scales the contract accepts per survey kind; the configured CSAT/CES scales must fit in them.
SURVEY_SCORE_RANGE: Final = {"csat": (0.0, 10.0), "nps": (0.0, 10.0), "ces": (1.0, 7.0)}


def _survey(obj: dict[str, Any], etype: str, now_ms: int) -> SurveyEvent:
    event_id = _ident(obj, "event_id")
    ts_ms = _ts_ms(obj, now_ms)
    tenant = _tenant(obj)
    survey = _choice(obj, "survey", SURVEY_KINDS)
    score = obj.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or score != score:
        raise _Invalid("score", f"required number missing or not a number: {_show(score)}")
    low, high = SURVEY_SCORE_RANGE[survey]
    if not low <= score <= high:
        raise _Invalid(
            "score", f"a {survey} score is between {low:g} and {high:g}, got {_show(score)}"
        )
    if survey == "nps" and score != int(score):
        raise _Invalid("score", f"an nps score is a whole number 0-10, got {_show(score)}")
    value = obj.get("channel", "voice")
    channel = _CHANNELS.get(value) if type(value) is str else None
    if channel is None:
        raise _Invalid("channel", f"must be one of {', '.join(CHANNELS)}, got {_show(value)}")
    value = obj.get("queue")
    queue = None if value is None else _KNOWN_NAMES.get(value) if type(value) is str else None
    if queue is None and value is not None:
        queue = _name(obj, "queue")
    agent_id = _ident(obj, "agent_id") if obj.get("agent_id") is not None else None
    contact_id = _ident(obj, "contact_id") if obj.get("contact_id") is not None else None
    ticket_id = _ident(obj, "ticket_id") if obj.get("ticket_id") is not None else None
    return SurveyEvent(event_id, etype, ts_ms, tenant, survey, float(score), channel, queue,
                       agent_id, contact_id, ticket_id)  # fmt: skip


def _from_cloudevent(ce: dict[str, Any]) -> dict[str, Any]:
    """Map CloudEvents 1.0 structured JSON onto the flat contract shape."""
    data = ce.get("data", {})
    if not isinstance(data, dict):
        raise _Invalid("data", "CloudEvents data must be a JSON object")
    flat: dict[str, Any] = {
        k: v for k, v in ce.items() if k not in ("data", "specversion", "source", "id", "time")
    }
    flat.update(data)
    if "id" in ce:
        flat["event_id"] = ce["id"]
    if "time" in ce:
        flat["ts"] = ce["time"]
    etype = ce.get("type")
    if isinstance(etype, str) and etype not in _KNOWN_TYPES:
        flat["type"] = ".".join(etype.rsplit(".", 2)[-2:])
    return flat


def _contact(obj: dict[str, Any], etype: str, now_ms: int) -> ContactEvent:
    # The hot path of the decoder: the common valid shapes are checked inline, anything else
    # by the general checks (which also word the errors).
    event_id = _ident(obj, "event_id")
    value = obj.get("ts")
    if type(value) is int and MIN_TS_MS <= value <= now_ms + MAX_FUTURE_MS:
        ts_ms = value
    else:
        ts_ms = _ts(obj, now_ms)
    value = obj.get("tenant", "default")
    tenant = _KNOWN_NAMES.get(value) if type(value) is str else None
    if tenant is None:
        tenant = _name(obj, "tenant", default="default")
    value = obj.get("queue")
    queue = _KNOWN_NAMES.get(value) if type(value) is str else None
    if queue is None:
        queue = _name(obj, "queue")
    channel = obj.get("channel", "voice")
    channel = _CHANNELS.get(channel) if isinstance(channel, str) else None
    if channel is None:
        raise _Invalid("channel", f"must be one of {', '.join(CHANNELS)}, "
                       f"got {_show(obj.get('channel'))}")  # fmt: skip
    contact_id = _ident(obj, "contact_id")  # kept once by the engine, as the contact's key
    agent_id = None
    wait_ms = None
    reason = None
    to_queue = None
    talk_ms = hold_ms = wrap_ms = 0
    resolved = None
    if etype in (ANSWERED, COMPLETED) and obj.get("agent_id") is not None:
        # Optional: a PBX or an anonymised export may not name the agent; the queue's figures
        # do not need it.
        value = obj.get("agent_id")
        agent_id = _KNOWN_IDS.get(value) if type(value) is str else None
        if agent_id is None:
            agent_id = _shared(_ident(obj, "agent_id"), _KNOWN_IDS)
    if etype in (ANSWERED, ABANDONED, DEQUEUED):
        value = obj.get("wait_seconds")
        if (type(value) is float or type(value) is int) and 0 <= value <= MAX_DURATION_S:
            wait_ms = round(value * 1000)
        else:
            wait_ms = _duration(obj, "wait_seconds", required=False)
    if etype == BLOCKED:
        reason = _choice(obj, "reason", BLOCK_REASONS)
    elif etype == DEQUEUED:
        reason = _choice(obj, "reason", DEQUEUE_REASONS)
        if obj.get("to_queue") is not None:
            to_queue = _name(obj, "to_queue")
    elif etype == COMPLETED:
        talk_ms = _duration(obj, "talk_seconds", required=True) or 0
        hold_ms = _duration(obj, "hold_seconds", required=False) or 0
        wrap_ms = _duration(obj, "wrap_seconds", required=False) or 0
        resolved = obj.get("resolved")
        if resolved is not None and not isinstance(resolved, bool):
            raise _Invalid("resolved", f"must be true or false, got {_show(resolved)}")
    return ContactEvent(
        event_id, etype, ts_ms, tenant, queue, channel, contact_id, agent_id,
        wait_ms, reason, to_queue, talk_ms, hold_ms, wrap_ms, resolved,
    )  # fmt: skip


#: Each event type: its one shared string (see `_shared`) and the function that validates it.
_BY_TYPE: Final[dict[str, tuple[str, Callable[[dict[str, Any], str, int], Event]]]] = {
    **{t: (t, _contact) for t in CONTACT_TYPES},
    **{t: (t, _agent) for t in AGENT_TYPES},
    **{t: (t, _ticket) for t in TICKET_TYPES},
    SURVEY_RESPONSE: (SURVEY_RESPONSE, _survey),
}
