"""Dead letters: refused input with its reason, bounded in size, ready for replay.

A dead letter carries the refused element (or, past a size, its first bytes with the original's
size and SHA-256) and where it came from (topic, partition, offset): the input topic keeps the
whole message, so nothing is lost by cutting the copy. See docs/event-contract.md.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from ccpulse.schemas import AgentEvent, ContactEvent, Event, Rejection, routing_key

#: Characters of an error message kept in a dead letter (errors quote refused values).
MAX_ERROR_CHARS: Final = 1000
#: Characters of the source message key kept in a dead letter (and bytes of its Kafka key).
MAX_KEY_CHARS: Final = 512
#: Room left for the fixed fields (reason, topic, offsets, key...) when sizing the original.
_OVERHEAD: Final = 4096


@dataclass(slots=True)
class Message:
    """What the pipeline needs of one consumed record (one per message: not frozen, which
    would make it slower to build)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(slots=True)
class DeadLetter:
    """A refused element, with its reason and where it came from.

    `count` > 1 marks a summary record: that many elements of the message, refused for the
    reasons in `error`, with no copy of their own (`raw` is empty).
    """

    reason: str
    error: str
    raw: bytes
    source: Message
    count: int = 1
    detail: dict[str, int] = field(default_factory=dict)

    def kafka_key(self) -> bytes | None:
        """The dead letter's Kafka key: the source key, cut to `MAX_KEY_CHARS` bytes."""
        key = self.source.key
        return key if key is None or len(key) <= MAX_KEY_CHARS else key[:MAX_KEY_CHARS]

    def to_bytes(self, max_bytes: int = 65_536) -> bytes:
        """The dead letter as JSON, never longer than `max_bytes` (at least 1,024)."""
        error = self.error
        if len(error) > MAX_ERROR_CHARS:
            error = error[:MAX_ERROR_CHARS] + f"... ({len(self.error)} characters)"
        key = self.source.key.decode("utf-8", "replace") if self.source.key else None
        record: dict[str, Any] = {
            "reason": self.reason,
            "error": error,
            "topic": self.source.topic,
            "partition": self.source.partition,
            "offset": self.source.offset,
            "key": key if key is None or len(key) <= MAX_KEY_CHARS else key[:MAX_KEY_CHARS],
            "original": self.raw.decode("utf-8", "replace"),
            "dead_lettered_at_ms": int(time.time() * 1000),
        }
        if self.count != 1:
            record["count"] = self.count
            record["by_field"] = self.detail
        out = orjson.dumps(record)
        budget = max(0, max_bytes - _OVERHEAD)
        while len(out) > max_bytes:
            # Cut the copy (escapes can make the JSON longer than the bytes), recording what
            # the original was, so that the message found at the offset can be checked.
            if budget == 0:  # even the error and key were too long once escaped
                record["error"] = error[:60]
                record["key"] = key[:32] if key else key
                return orjson.dumps(record)
            budget //= 4
            record["original"] = self.raw[:budget].decode("utf-8", "ignore")
            record["original_truncated"] = True
            record["original_bytes"] = len(self.raw)
            record["original_sha256"] = hashlib.sha256(self.raw).hexdigest()
            out = orjson.dumps(record)
        return out


def invalid(rejection: Rejection, msg: Message) -> DeadLetter:
    return DeadLetter("invalid", rejection.describe(), rejection.raw, msg)


def summary(msg: Message, unreported: int, fields: dict[str, int], excess: int) -> DeadLetter:
    """One record for the refused elements of a message not dead-lettered one by one."""
    parts = []
    if unreported:
        parts.append(f"{unreported} more invalid elements (past [limits] "
                     "max_dead_letters_per_message)")  # fmt: skip
    if excess:
        parts.append(f"{excess} elements past [limits] max_elements_per_message, not decoded")
    detail = dict(fields)
    if excess:
        detail["not_decoded"] = excess
    error = "; ".join(parts) + ": the whole message is at this topic, partition and offset"
    return DeadLetter("invalid", error, b"", msg, unreported + excess, detail)


def over_limit(event: Event, msg: Message, error: str) -> DeadLetter:
    return DeadLetter("over_limit", f"event {event.event_id!r}: {error}",
                      orjson.dumps(_wire(event)), msg)  # fmt: skip


def misrouted(event: Event, msg: Message, expected: str | None) -> DeadLetter:
    error = (
        f"event {event.event_id!r}: message key {expected!r} does not match its key "
        f"{routing_key(event)!r}; key messages as docs/partitioning.md says"
    )
    return DeadLetter("misrouted", error, orjson.dumps(_wire(event)), msg)


def too_late(event: Event, msg: Message, lateness_ms: int) -> DeadLetter:
    error = (
        f"event {event.event_id!r}: more than the lateness of {lateness_ms // 1000} s behind "
        "the latest event of its queue (or tenant, for agents, tickets and surveys)"
    )
    return DeadLetter("too_late", error, orjson.dumps(_wire(event)), msg)


def _wire(event: Event) -> dict[str, Any]:
    """The event back in contract shape (seconds, epoch ms) for dead-letter replay."""
    if not isinstance(event, ContactEvent):
        return _wire_other(event)
    out: dict[str, Any] = {
        "event_id": event.event_id,
        "type": event.type,
        "ts": event.ts_ms,
        "tenant": event.tenant,
        "queue": event.queue,
        "channel": event.channel,
        "contact_id": event.contact_id,
    }
    if event.agent_id is not None:
        out["agent_id"] = event.agent_id
    if event.wait_ms is not None:
        out["wait_seconds"] = event.wait_ms / 1000
    if event.reason is not None:
        out["reason"] = event.reason
    if event.to_queue is not None:
        out["to_queue"] = event.to_queue
    if event.type == "contact.completed":
        out.update(talk_seconds=event.talk_ms / 1000, hold_seconds=event.hold_ms / 1000,
                   wrap_seconds=event.wrap_ms / 1000)  # fmt: skip
        if event.resolved is not None:
            out["resolved"] = event.resolved
    return out


def _wire_other(event: Event) -> dict[str, Any]:
    """Non-contact events back in contract shape: their fields, ts in epoch ms."""
    out: dict[str, Any] = {}
    names = (
        event._fields  # named tuples
        if isinstance(event, AgentEvent | ContactEvent)
        else event.__dataclass_fields__
    )
    for name in names:
        value = getattr(event, name)
        if value is None:
            continue
        if name == "ts_ms":
            out["ts"] = value
        elif name in ("ring_ms", "wait_ms"):
            out[f"{name[:-3]}_seconds"] = value / 1000
        else:
            out[name] = value
    return out
