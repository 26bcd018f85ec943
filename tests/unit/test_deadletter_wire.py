"""A dead letter of a valid event holds that event in contract shape: decoding its copy gives
the same event back, so a dead-lettered event can be fixed (re-keyed, say) and produced again."""

from __future__ import annotations

import orjson
import pytest

from ccpulse.schemas import Event, decode_message
from ccpulse.streams.deadletter import Message, misrouted, over_limit, too_late

TS = "2026-11-30T09:00:00Z"
EVENTS = [
    {"event_id": "c1", "type": "contact.answered", "ts": TS, "tenant": "acme", "queue": "sales",
     "channel": "voice", "contact_id": "k1", "agent_id": "alice", "wait_seconds": 12.5},
    {"event_id": "a1", "type": "agent.state", "ts": TS, "tenant": "acme", "agent_id": "alice",
     "queue": "sales", "state": "on_contact", "wait_seconds": 12.5},
    {"event_id": "a2", "type": "agent.state", "ts": TS, "tenant": "acme", "agent_id": "alice",
     "state": "paused", "reason": "lunch"},
    {"event_id": "a3", "type": "agent.ring_no_answer", "ts": TS, "tenant": "acme",
     "agent_id": "bob", "queue": "sales", "contact_id": "k2", "ring_seconds": 15.5},
    {"event_id": "a4", "type": "agent.login", "ts": TS, "tenant": "acme", "agent_id": "bob",
     "queue": "support"},
    {"event_id": "t1", "type": "ticket.created", "ts": TS, "tenant": "acme", "ticket_id": "T-1",
     "channel": "email", "priority": "high", "group": "billing"},
    {"event_id": "s1", "type": "survey.response", "ts": TS, "tenant": "acme", "survey": "csat",
     "score": 4, "queue": "sales", "agent_id": "alice"},
]  # fmt: skip


def _one(raw: bytes) -> Event:
    result = decode_message(raw)
    assert not result.rejections, result.rejections
    (event,) = result.events
    return event


@pytest.mark.parametrize("wire", EVENTS, ids=[e["type"] + ":" + e["event_id"] for e in EVENTS])
@pytest.mark.parametrize("refuse", ["misrouted", "over_limit", "too_late"])
def test_a_dead_letter_holds_its_event_in_contract_shape(
    wire: dict[str, object], refuse: str
) -> None:
    raw = orjson.dumps(wire)
    event = _one(raw)
    msg = Message("in", 0, 7, b"acme/elsewhere", raw)
    letter = {
        "misrouted": lambda: misrouted(event, msg, "acme/elsewhere"),
        "over_limit": lambda: over_limit(event, msg, "too many queues"),
        "too_late": lambda: too_late(event, msg, 86_400_000),
    }[refuse]()
    assert letter.reason == refuse
    assert _one(letter.raw) == event
