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
from ccpulse.streams.kpi.housekeeping import NO_FLOOR
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


#: Minute buckets rebuilt from contacts on restore (the default lateness, a day), and written
#: to the changelog (a lateness of 30 minutes, shorter than the rolling horizon).
BOOKS = {
    "minutes rebuilt": PolicyBook(),
    "minutes written": PolicyBook(engine=EngineSettings(lateness_seconds=1800)),
}


@pytest.mark.parametrize("book", BOOKS)
@pytest.mark.parametrize(
    ("seed", "lead_ms"),
    [(1, -5 * MIN), (2, 0), (3, 20 * MIN), (4, 2 * HOUR), (5, 26 * HOUR), (6, 40 * MIN)],
)
def test_snapshots_at_or_after_the_clock_equal_those_that_keep_every_minute(
    seed: int, lead_ms: int, book: str
) -> None:
    """The wall clock runs `lead_ms` ahead of the events (and now and then reads up to 8
    minutes back, a step within the horizon's slack), never more than 5 minutes behind them
    (events further ahead of it are refused). The first worker's clock runs 30 minutes ahead
    of that; halfway, the partitions move to a worker on another host whose clock does not: it
    restores them from the state written so far and reads on."""
    policies = BOOKS[book]
    rng = random.Random(seed)
    messages = _messages(_with_late_events(rng, _history(rng, 1000)), rng)
    reference = Pipeline(policies)  # batch use: no clock, every minute within the horizon
    worker = Pipeline(policies)
    table: dict[bytes, bytes | None] = {}
    latest_clock = T0
    ahead = 30 * MIN  # the first worker's clock, against the second's
    fewer_minutes = compared = 0
    i = fetches = 0
    while i < len(messages):
        fetches += 1
        if fetches == 40:  # a rebalance: another host takes over from the state written
            latest_clock, ahead = latest_clock - ahead, 0
            worker = _restored(table, policies)
        fetch: list[Message] = messages[i : i + rng.choice([1, 2, 5, 12])]
        i += len(fetch)
        latest = max(qs.watermark_ms for e in reference.engines.values()
                     for qs in e.queues.values()) if reference.engines else T0  # fmt: skip
        latest_clock = max(latest_clock, latest + lead_ms + ahead)
        clock = max(latest_clock - rng.choice([0, 0, 0, 8 * MIN]), latest - 5 * MIN)
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
    assert fetches > 40
    if book == "minutes written":  # minutes read back keep an earlier owner's floor: no floor
        assert all(e.minute_floor_ms == NO_FLOOR for e in worker.engines.values())
    elif lead_ms >= 2 * HOUR:  # the clock well past the events: most minutes are never kept
        assert fewer_minutes >= compared // 2
        assert _minute_buckets(worker) < _minute_buckets(reference) // 2

    # A worker restored before its first fetch has read no clock yet; one given a partition
    # back in a rebalance has: both hold the figures of the pipeline that kept every minute.
    now_ms = latest_clock + MIN
    for restored in (_restored(table, policies), _restored(table, policies, latest_clock)):
        assert _figures(restored, now_ms) == _figures(reference, now_ms)


def _minute_buckets(pipeline: Pipeline) -> int:
    """The minute buckets held, checked against each queue's count of them."""
    held = 0
    for engine in pipeline.engines.values():
        for qs in engine.queues.values():
            minutes = sum(1 for bkey in qs.buckets if bkey[0] == "m")
            assert minutes == qs.minute_buckets
            held += minutes
    return held


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
