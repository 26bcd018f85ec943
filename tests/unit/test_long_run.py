"""A worker that runs for days: every event family, its garbage collector run as the worker's
timer runs it, and restarts from the state table it wrote. Every figure, at every point, equals
that of a pipeline that read the same input once and never dropped anything, and the state the
worker holds stays bounded by the lateness and retention, not by how long it has run."""

from __future__ import annotations

import random
import zlib
from datetime import datetime
from typing import Any

import orjson
import pytest

from bench.pipeline.workload import bench_queues
from ccpulse.schemas import Rejection, decode_object, routing_key
from ccpulse.sources.simulator import SimConfig, simulate
from ccpulse.streams.kpi import PolicyBook, queue_snapshot
from ccpulse.streams.pipeline import Message, Pipeline
from tests.unit.test_pipeline_replay import T0, _ignore, _restored

DAYS = 3
MIN = 60_000
RETENTION_MS = 48 * 3_600_000  # `engine.interval_retention_hours`, by default


def _messages(rng: random.Random) -> list[tuple[Message, int]]:
    """Three days of the simulator's families on 4 queues (4 tenants), in time order, one event
    or a batch of one key per message, on 2 partitions; each with its latest event's time."""
    config = SimConfig(bench_queues(4, 12.0), seed=rng.randrange(1 << 30), start_ms=T0,
                       duration_seconds=DAYS * 86_400, daily_curve=True)  # fmt: skip
    pending: dict[str, list[dict[str, Any]]] = {}
    offsets = [0, 0]
    out: list[tuple[Message, int]] = []

    def send(key: str) -> None:
        chunk = pending.pop(key)
        partition = zlib.crc32(key.encode()) % 2
        value = orjson.dumps(chunk if len(chunk) > 1 else chunk[0])
        latest = max(int(e["ts"]) for e in chunk)
        out.append((Message("cc", partition, offsets[partition], key.encode(), value), latest))
        offsets[partition] += 1

    for event in simulate(config):
        decoded = decode_object(event, T0 + 30 * 86_400_000)
        assert not isinstance(decoded, Rejection), decoded
        key = routing_key(decoded)
        pending.setdefault(key, []).append(event)
        if len(pending[key]) >= rng.choice([1, 1, 3, 10]):
            send(key)
    for key in list(pending):
        send(key)
    return out


def _figures(pipeline: Pipeline, now_ms: int) -> dict[Any, Any]:
    """Every queue's and every family tenant's figures at `now_ms`, the intervals listed within
    the interval retention (48 hours; older ones are dropped by design)."""
    out: dict[Any, Any] = {}
    for engine in pipeline.engines.values():
        for key, qs in engine.queues.items():
            out[key] = queue_snapshot(qs, now_ms, (15, 60), 86_400_000, history=False)
    for families in pipeline.families.values():
        for name, family in families.items():
            for tenant in family.tenants():
                snapshot = _retained(family.snapshot(tenant, now_ms), now_ms - RETENTION_MS)
                if name == "tickets":
                    # Documented: a ticket never created is dropped, with its held events, once
                    # it had no event for lateness + retention; then it no longer awaits.
                    del snapshot["pipeline"]["awaiting_creation"]
                out[(name, tenant)] = snapshot
    return out


def _retained(figures: Any, since_ms: int) -> Any:
    """`figures` without the entries of `intervals` lists that start before `since_ms`."""
    if isinstance(figures, dict):
        return {
            k: [_retained(e, since_ms) for e in v if _start_ms(e) >= since_ms]
            if k == "intervals" and isinstance(v, list)
            else _retained(v, since_ms)
            for k, v in figures.items()
        }
    return figures


def _start_ms(entry: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(entry["start"]).timestamp() * 1000)


def _held(pipeline: Pipeline) -> dict[str, int]:
    """How much state the pipeline holds, by kind."""
    contacts = buckets = agent_events = 0
    for engine in pipeline.engines.values():
        for qs in engine.queues.values():
            contacts += len(qs.contacts)
            buckets += len(qs.buckets)
    for families in pipeline.families.values():
        for tenant in families["agents"].data.values():  # type: ignore[attr-defined]
            agent_events += sum(len(tl.events) for tl in tenant.timelines.values())
    return {"contacts": contacts, "buckets": buckets, "agent_events": agent_events}


def _totals_indexed(pipeline: Pipeline) -> bool:
    """Each queue's `totals` holds its channels' running-total buckets, the very objects of
    its `buckets` (snapshots and /metrics read them there), after restores and collections."""
    for engine in pipeline.engines.values():
        for qs in engine.queues.values():
            held = {ch: b for (gran, ch, _), b in qs.buckets.items() if gran == "t"}
            if qs.totals.keys() != held.keys():
                return False
            if any(qs.totals[ch] is not bucket for ch, bucket in held.items()):
                return False
    return True


@pytest.mark.parametrize("seed", [1, 2])
def test_days_of_every_family_with_garbage_collection_and_restarts(seed: int) -> None:
    rng = random.Random(seed)
    messages = _messages(rng)
    reference = Pipeline(PolicyBook())  # reads everything once and drops nothing
    worker = Pipeline(PolicyBook())
    table: dict[bytes, bytes | None] = {}
    restarts = sorted(rng.sample(range(10, len(messages) // 40), 3))  # ~30 messages a fetch
    i = fetches = compared = 0
    clock = T0  # the wall clock: no earlier than any event read (later ones are refused)
    while i < len(messages):
        fetches += 1
        fetch = messages[i : i + rng.randrange(1, 60)]
        i += len(fetch)
        for msg, latest in fetch:
            worker.process(msg, _ignore)
            reference.process(msg, _ignore)
            clock = max(clock, latest)
        if fetches % 3 == 0:
            worker.collect_garbage()  # the worker's timer, between fetches
        table.update((key, value) for _, key, value in worker.table_writes())
        reference.table_writes()
        if fetches in restarts:  # a restart: the state table read back
            worker = _restored({k: v for k, v in table.items() if v is not None})
        if fetches % 10 == 0 or i >= len(messages):
            now_ms = clock + rng.randrange(0, 5 * MIN)  # a flush: at the wall clock
            assert _figures(worker, now_ms) == _figures(reference, now_ms)
            assert _totals_indexed(worker) and _totals_indexed(reference)
            compared += 1
    assert compared >= 10 and fetches > max(restarts)
    held, everything = _held(worker), _held(reference)
    # Three days held against about one (the lateness) for contacts and agents' events.
    assert held["contacts"] < everything["contacts"] * 0.6, (held, everything)
    assert held["agent_events"] < everything["agent_events"] * 0.6, (held, everything)
