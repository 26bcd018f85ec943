"""A worker keeps no minute bucket that its snapshots will never read (`Pipeline.read_clock`).

Its flushes snapshot the queues at the wall clock, which only moves on, so a rolling window read
later starts no earlier than the clock less the rolling horizon. The figures of every snapshot
taken at or after the clock, and of a worker restored from the state it wrote, must equal those
of a pipeline that keeps every minute (batch use), whatever the order, duplicates or lateness of
the input and however far the clock runs ahead of the events.
"""

from __future__ import annotations

import random

import pytest

from ccpulse.streams.kpi import EngineSettings, PolicyBook
from ccpulse.streams.pipeline import Message, Pipeline
from tests.unit.test_pipeline_replay import T0, _figures, _history, _ignore, _messages, _restored

MIN = 60_000
HOUR = 60 * MIN


def _with_late_events(
    rng: random.Random, events: list[dict[str, object]]
) -> list[dict[str, object]]:
    """One event in twenty delivered 5 to 40 minutes after its time, the rest as given."""
    late = set(rng.sample(range(len(events)), len(events) // 20))
    out = [e for n, e in enumerate(events) if n not in late]
    for n in sorted(late):
        arrives = _ts(events[n]) + rng.randrange(5 * MIN, 40 * MIN)
        where = next((i for i, o in enumerate(out) if _ts(o) > arrives), len(out))
        out.insert(where, events[n])  # after the events sent before it arrives
    return out


def _ts(event: dict[str, object]) -> int:
    ts = event["ts"]
    assert isinstance(ts, int)
    return ts


def _minute_buckets(pipeline: Pipeline) -> int:
    return sum(qs.minute_buckets for e in pipeline.engines.values() for qs in e.queues.values())


#: Minute buckets rebuilt from contacts on restore (the default lateness, a day), and written
#: to the changelog (a lateness of 30 minutes, shorter than the rolling horizon).
BOOKS = {
    "minutes rebuilt": PolicyBook(),
    "minutes written": PolicyBook(engine=EngineSettings(lateness_seconds=1800)),
}


@pytest.mark.parametrize("book", BOOKS)
@pytest.mark.parametrize(
    ("seed", "lead_ms"),
    [(1, -5 * MIN), (2, 0), (3, 20 * MIN), (4, 2 * HOUR), (5, 26 * HOUR), (6, 2 * HOUR)],
)
def test_snapshots_at_or_after_the_clock_equal_those_that_keep_every_minute(
    seed: int, lead_ms: int, book: str
) -> None:
    policies = BOOKS[book]
    rng = random.Random(seed)
    messages = _messages(_with_late_events(rng, _history(rng, 1000)), rng)
    reference = Pipeline(policies)  # batch use: no clock, every minute within the horizon
    worker = Pipeline(policies)
    table: dict[bytes, bytes | None] = {}
    clock = T0
    fewer_minutes = compared = 0
    i = fetches = 0
    while i < len(messages):
        fetches += 1
        fetch: list[Message] = messages[i : i + rng.choice([1, 2, 5, 12])]
        i += len(fetch)
        latest = max(qs.watermark_ms for e in worker.engines.values()
                     for qs in e.queues.values()) if worker.engines else T0  # fmt: skip
        clock = max(clock, latest + lead_ms)  # the wall clock never goes back
        worker.read_clock(clock)
        for msg in fetch:
            worker.process(msg, _ignore)
            reference.process(msg, _ignore)
        table.update((key, value) for _, key, value in worker.table_writes())
        reference.table_writes()
        if fetches % 4 == 0 or i >= len(messages):
            now_ms = clock + rng.randrange(0, 3 * MIN)  # a flush after the fetch
            assert _figures(worker, now_ms) == _figures(reference, now_ms)
            compared += 1
            fewer_minutes += _minute_buckets(worker) < _minute_buckets(reference)
    assert compared >= 10, compared
    if lead_ms >= 2 * HOUR:  # the clock well past the events: most minutes are never kept
        assert fewer_minutes >= compared // 2
        assert _minute_buckets(worker) < _minute_buckets(reference) // 2

    # A worker restored before its first fetch has read no clock yet; one given a partition
    # back in a rebalance has: both hold the figures of the pipeline that kept every minute.
    now_ms = clock + MIN
    for restored in (_restored(table, policies), _restored_at(table, clock, policies)):
        assert _figures(restored, now_ms) == _figures(reference, now_ms)


def _restored_at(table: dict[bytes, bytes | None], clock: int, book: PolicyBook) -> Pipeline:
    """`_restored`, by a worker that has read the clock first (as one does before its first
    fetch): minutes are rebuilt from the same floor."""
    restored = Pipeline(book)
    restored.read_clock(clock)
    for partition in (0, 1):
        restored.restore(partition, [(k, v) for k, v in table.items() if v is not None])
    return restored


def test_a_batch_pipeline_keeps_the_minutes_of_the_watermarks_horizon() -> None:
    """Without a clock (reports, at any instant) every minute within the rolling horizon of
    its queue's latest event is kept, however old the events."""
    rng = random.Random(9)
    messages = _messages(_history(rng, 100), rng)
    pipeline = Pipeline(PolicyBook())
    told = Pipeline(PolicyBook())
    told.read_clock(T0 + 30 * 24 * HOUR)  # a worker reading events a month old
    for msg in messages:
        pipeline.process(msg, _ignore)
        told.process(msg, _ignore)
    assert _minute_buckets(pipeline) > 0
    assert _minute_buckets(told) == 0
