"""Exactly-once of every event family through the pipeline's own records: contacts, agent
states, tickets and surveys, keyed and encoded as the state table holds them, with deaths at
random points of the state writes (tests/unit/test_pipeline_replay.py has the queues alone)."""

from __future__ import annotations

import random
import zlib
from typing import Any

import orjson
import pytest

from bench.pipeline.workload import mixed_events
from ccpulse.schemas import Rejection, decode_object, routing_key
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.pipeline import Message, Pipeline
from tests.unit.test_pipeline_replay import T0, _figures, _ignore, _run_with_crashes

NOW = T0 + 5 * 3_600_000


def _messages(rng: random.Random) -> list[Message]:
    """The simulator's families over 6 queues and 2 partitions, some events re-sent, one event
    or a batch of one key per message, partitions interleaved."""
    events = mixed_events(1500, 6, NOW)
    events += rng.sample(events, len(events) // 20)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        decoded = decode_object(e, NOW)
        assert not isinstance(decoded, Rejection), decoded
        by_key.setdefault(routing_key(decoded), []).append(e)
    offsets = [0, 0]
    out = []
    for key, evs in by_key.items():
        partition = zlib.crc32(key.encode()) % 2
        i = 0
        while i < len(evs):
            size = rng.choice([1, 1, 1, 4, 30])
            chunk, i = evs[i : i + size], i + size
            value = orjson.dumps(chunk if size > 1 else chunk[0])
            out.append(Message("cc", partition, offsets[partition], key.encode(), value))
            offsets[partition] += 1
    return sorted(out, key=lambda m: (m.offset, m.partition))


def _family_figures(pipeline: Pipeline) -> dict[tuple[str, str], Any]:
    return {
        (name, tenant): family.snapshot(tenant, NOW)
        for families in pipeline.families.values()
        for name, family in families.items()
        for tenant in family.tenants()
    }


@pytest.mark.parametrize("seed", range(4))
def test_crashes_at_random_points_give_the_figures_of_a_clean_run(seed: int) -> None:
    rng = random.Random(seed)
    book = PolicyBook()
    messages = _messages(rng)
    clean = Pipeline(book)
    for msg in messages:
        clean.process(msg, _ignore)
    clean.table_writes()
    assert {name for name, _ in _family_figures(clean)} == {"agents", "tickets", "surveys"}
    crashed = _run_with_crashes(messages, book, rng, crashes=12)
    assert _family_figures(crashed) == _family_figures(clean)
    assert _figures(crashed, NOW) == _figures(clean, NOW)
