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
from ccpulse.streams.pipeline import Message, Pipeline, TableWrite, family_runs
from tests.unit.test_pipeline_replay import (
    T0,
    _figures,
    _ignore,
    _restored,
    _run_with_crashes,
)

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


def _clean(messages: list[Message], book: PolicyBook) -> Pipeline:
    """The messages read once, in offset order, with no death."""
    clean = Pipeline(book)
    for msg in messages:
        clean.process(msg, _ignore)
    clean.table_writes()
    return clean


def _assert_same_figures(pipeline: Pipeline, clean: Pipeline) -> None:
    """Every family's figures and every queue's equal those of the clean run."""
    assert _family_figures(pipeline) == _family_figures(clean)
    assert _figures(pipeline, NOW) == _figures(clean, NOW)


@pytest.mark.parametrize("seed", range(4))
def test_crashes_at_random_points_give_the_figures_of_a_clean_run(seed: int) -> None:
    rng = random.Random(seed)
    book = PolicyBook()
    messages = _messages(rng)
    clean = _clean(messages, book)
    assert {name for name, _ in _family_figures(clean)} == {"agents", "tickets", "surveys"}
    crashed = _run_with_crashes(messages, book, rng, crashes=12)
    _assert_same_figures(crashed, clean)


def _kind(msg: Message) -> bytes:
    return (msg.key or b"").partition(b"/#")[2]


def _run_fetches_in_family_runs(
    messages: list[Message], book: PolicyBook, rng: random.Random, crashes: int
) -> tuple[Pipeline, int, int]:
    """As the worker reads: fetches of one partition's next messages, each applied a family at a
    time (`family_runs`), state written now and then within a fetch and after it, offsets
    committed after whole fetches. `crashes` deaths, each keeping a random prefix of the writes
    not yet flushed; every other one right after a write at the switch from one family's run to
    the next within a fetch. Returns the pipeline and the deaths (all, at a switch)."""
    by_partition = {p: [m for m in messages if m.partition == p] for p in (0, 1)}
    changelog: list[TableWrite] = []
    committed = {0: 0, 1: 0}
    pipeline = Pipeline(book)
    points = sorted(rng.sample(range(1, len(messages)), crashes))
    at_switch = {point for n, point in enumerate(points) if n % 2 == 0}
    processed = deaths = switch_deaths = 0
    while True:
        pending: list[TableWrite] = []
        died = False
        read = dict(committed)
        while not died and any(read[p] < len(by_partition[p]) for p in read):
            partition = rng.choice([p for p in read if read[p] < len(by_partition[p])])
            size = rng.choice([1, 5, 40, 200])
            fetch = by_partition[partition][read[partition] : read[partition] + size]
            read[partition] += len(fetch)
            previous: bytes | None = None
            for msg in family_runs(fetch):
                due = bool(points) and processed >= points[0]
                if due and points[0] in at_switch and previous not in (None, _kind(msg)):
                    pending.extend(pipeline.table_writes())  # this run's writes, then death
                    switch_deaths += 1
                    died = True
                elif due and points[0] not in at_switch:
                    died = True
                if died:
                    points.pop(0)
                    break
                pipeline.process(msg, _ignore)
                processed += 1
                previous = _kind(msg)
                if rng.random() < 0.05:  # a big fetch: its writes so far are queued
                    pending.extend(pipeline.table_writes())
            if died:
                break
            pending.extend(pipeline.table_writes())
            if rng.random() < 0.5:  # a commit: the writes are flushed, then the offsets
                changelog.extend(pending)
                pending = []
                committed = dict(read)
        if not died:
            changelog.extend(pending)
            return pipeline, deaths, switch_deaths
        deaths += 1
        changelog.extend(pending[: rng.randrange(0, len(pending) + 1)])
        pipeline = _restored({key: value for _, key, value in changelog}, book)


@pytest.mark.parametrize("seed", range(4))
def test_fetches_taken_a_family_at_a_time_give_the_figures_of_offset_order(seed: int) -> None:
    rng = random.Random(seed)
    book = PolicyBook()
    messages = _messages(rng)
    clean = _clean(messages, book)
    mixed = [m.key for m in family_runs(messages[:200])]
    assert mixed != [m.key for m in messages[:200]], "the runs reorder an interleaved fetch"
    runs, _, _ = _run_fetches_in_family_runs(messages, book, rng, crashes=0)
    _assert_same_figures(runs, clean)
    crashed, deaths, at_switch = _run_fetches_in_family_runs(messages, book, rng, crashes=10)
    assert deaths >= 8 and at_switch >= 3, (deaths, at_switch)
    _assert_same_figures(crashed, clean)


def test_the_read_offset_never_goes_back_within_a_fetch_and_is_forgotten_on_revocation() -> None:
    pipeline = Pipeline(PolicyBook())
    keys = [b"default/q1", b"default/#agents", b"default/q1", b"default/#agents"]
    fetch = [Message("cc", 0, offset, key, b"[]") for offset, key in enumerate(keys)]
    seen = []
    for msg in family_runs(fetch):  # offsets 0, 2, then 1, 3
        pipeline.process(msg, _ignore)
        seen.append((msg.offset, pipeline.next_offsets[0]))
    assert seen == [(0, 1), (2, 3), (1, 3), (3, 4)]
    pipeline.suspend([0])
    assert 0 not in pipeline.next_offsets
    pipeline.process(Message("cc", 0, 1, keys[1], b"[]"), _ignore)  # read again from a commit
    assert pipeline.next_offsets[0] == 2


def test_family_runs_keep_each_family_in_offset_order() -> None:
    keys = [b"t/q1", b"t/#agents", b"t/q2", b"t/#surveys", b"t/#agents", b"t/q1", None]
    records = [Message("cc", 0, offset, key, b"") for offset, key in enumerate(keys)]
    ordered = family_runs(records)
    assert [m.offset for m in ordered] == [0, 2, 5, 6, 1, 4, 3]
    one_family = records[:1] + records[2:3] + records[5:6]
    assert family_runs(one_family) is one_family
