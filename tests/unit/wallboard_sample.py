"""Shared sample for the wallboard's unit tests: a few contact, agent, survey and ticket events
of one queue run through the real pipeline, and the Redis hashes the sink makes of them."""

from __future__ import annotations

from typing import Any

import orjson

from ccpulse.sinks.redis_families import FLATTENERS
from ccpulse.sinks.redis_sink import flatten
from ccpulse.sources.produce import queue_key
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline
from ccpulse.wallboard.store import pairs

T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z


def _event(n: int, kind: str, at_s: int, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"e{n}", "type": kind, "ts": T0 + at_s * 1000, "tenant": "acme",
            "queue": "sales", **extra}  # fmt: skip


EVENTS = [
    _event(1, "agent.login", 0, agent_id="bob"),
    _event(2, "contact.offered", 10, contact_id="c1"),
    _event(3, "contact.answered", 25, contact_id="c1", agent_id="bob"),
    _event(4, "agent.state", 25, agent_id="bob", state="on_contact"),
    _event(5, "contact.offered", 30, contact_id="c2"),
    _event(6, "contact.abandoned", 70, contact_id="c2"),
    _event(7, "contact.offered", 100, contact_id="c3", channel="chat"),
    _event(8, "survey.response", 110, survey="csat", score=5, contact_id="c1", agent_id="bob"),
    _event(9, "ticket.created", 120, ticket_id="t1", group="tech", priority="high"),
]


def sample_pipeline() -> Pipeline:
    pipeline = Pipeline(PolicyBook())
    letters: list[DeadLetter] = []
    for offset, event in enumerate(EVENTS):  # each keyed as a producer keys it
        key = queue_key(event).encode()
        pipeline.process(Message("cc", 0, offset, key, orjson.dumps(event)), letters.append)
    assert not letters, letters
    return pipeline


def hmget(fields: dict[str, str], names: tuple[str, ...]) -> dict[str, str | None]:
    """What HMGET of `names` answers from a hash holding `fields`, as the wallboard's store
    reads it: the value, or None for a field the hash does not have."""
    return pairs(names, [fields.get(n) for n in names])


def hashes(now_ms: int, prefix: str = "p") -> dict[str, dict[str, str]]:
    """Every hash the worker would write at `now_ms`, by key."""
    pipeline = sample_pipeline()
    out = {f"{prefix}:queue:{s['tenant']}:{s['queue']}": flatten(s)
           for s in pipeline.snapshots(now_ms)}  # fmt: skip
    for family, snap in pipeline.family_snapshots(now_ms):
        out.update(dict(FLATTENERS[family](prefix, snap)))
    return out
