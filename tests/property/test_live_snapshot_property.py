"""Property: a live snapshot (the worker's, `history=False`) equals one taken afresh, whenever
it is taken.

A live snapshot keeps the sums of the queue's closed buckets on the queue (`ClosedSums`: the
day's intervals before the current one, the rolling windows' minutes before the current one)
and reuses them until the minute turns or the engine touches one of those buckets. Random
histories of the engine property (DST days, odd offsets, several channels, shuffled and
duplicated events) are applied one at a time, with positions, the changes drained and the
garbage collector run as a worker runs them, against short lateness and retention so that
events arrive too late and intervals of the day are dropped. Between events, snapshots are
taken at instants that move on, stand still, step back or follow the event; each must equal a
snapshot of the same state that reads every bucket afresh (`history=True`, its interval lists
left out).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ccpulse.streams.kpi import Engine, PolicyBook, QueuePolicy, queue_snapshot
from ccpulse.streams.kpi.state import QueueState
from tests.helpers.clock import DAY, HOUR, MIN
from tests.helpers.deliveries import decode_all
from tests.property.test_engine_property import QueueSpec, build_book, histories, written

ROLLING = (15, 60)
#: Rolling windows: the default, none, one of a minute, several in any order.
WINDOW_SETS = (ROLLING, (), (1,), (60, 5, 15), (2, 1440))
#: How the instant of the next snapshot moves.
STEPS = ("same", "event", "minute", "interval", "jump")


def afresh(qs: QueueState, now_ms: int, rolling: tuple[int, ...] = ROLLING) -> dict[str, Any]:
    """The snapshot from every bucket, without the interval lists a live one leaves out."""
    snap = queue_snapshot(qs, now_ms, rolling, 30 * DAY)
    for view in snap["channels"].values():
        view.pop("intervals", None)  # one view may serve two channels: popped once
    return snap


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    history=histories(span_ms=30 * HOUR),
    attribution=st.sampled_from(["outcome", "arrival"]),
    lateness_minutes=st.sampled_from([5, 60, 30 * 24 * 60]),
    retention_hours=st.sampled_from([1, 6, 48]),
    gc_every=st.none() | st.integers(1, 5),
    rolling=st.sampled_from(WINDOW_SETS),
    data=st.data(),
)
def test_a_live_snapshot_equals_one_taken_afresh(
    history: tuple[list[QueueSpec], list[bytes]],
    attribution: str,
    lateness_minutes: int,
    retention_hours: int,
    gc_every: int | None,
    rolling: tuple[int, ...],
    data: Any,
) -> None:
    specs, messages = history
    events = decode_all(messages)
    book = build_book(specs, attribution, lateness_seconds=lateness_minutes * 60,
                      interval_retention_hours=retention_hours)  # fmt: skip
    engine = Engine(book)
    low, high = min(e.ts_ms for e in events), max(e.ts_ms for e in events) + 2 * HOUR
    now = data.draw(st.integers(low, high), label="first instant")
    reused = 0
    for pos, e in enumerate(events):
        engine.apply(e, pos=pos)
        written(engine, pos, gc_every)
        steps = data.draw(st.lists(st.sampled_from(STEPS), max_size=2), label="snapshots")
        for step in steps:
            if step == "event":  # just after this event: its minute is the snapshot's
                now = e.ts_ms + data.draw(st.integers(0, 90_000), label="after")
            elif step == "minute":
                now += MIN
            elif step == "interval":
                now += 15 * MIN
            elif step == "jump":
                now = data.draw(st.integers(low, high), label="instant")
            for q in specs:
                qs = engine.queues.get((q.tenant, q.queue))
                if qs is None:
                    continue
                kept = qs.closed_sums
                live = queue_snapshot(qs, now, rolling, 30 * DAY, history=False)
                reused += kept is not None and qs.closed_sums is kept
                where = f"{q.tenant}/{q.queue} at {now}, event {pos}"
                assert live == afresh(qs, now, rolling), where
    event(f"kept sums reused: {'yes' if reused else 'no'}")


def test_the_kept_sums_are_reused_until_a_closed_bucket_changes() -> None:
    """The property's mechanism, on one queue: events of the current minute leave the kept sums
    in place; one for an earlier minute replaces them, and is counted."""
    from tests.unit.test_engine import QUEUE, TENANT, abandoned, answered, at, offered

    engine = Engine()
    engine.apply(offered("c1", at("09:01:00")))
    engine.apply(offered("c2", at("09:02:00")))
    engine.apply(offered("c3", at("09:19:10")))
    qs = engine.queue(TENANT, QUEUE)
    now = at("09:20:30")
    first = queue_snapshot(qs, now, ROLLING, 30 * DAY, history=False)
    kept = qs.closed_sums
    assert kept is not None
    assert (kept.current, kept.minute, kept.minutes_from) == (
        at("09:15:00"),
        at("09:20:00"),
        at("09:20:00") - 59 * MIN,
    )
    engine.apply(offered("c4", at("09:20:10")))  # the current minute
    engine.apply(answered("c1", at("09:20:20"), wait=1160))  # counted at its outcome, now
    queue_snapshot(qs, now, ROLLING, 30 * DAY, history=False)
    assert qs.closed_sums is kept
    engine.apply(answered("c3", at("09:19:40"), wait=30))  # the minute before: a closed one
    assert qs.closed_sums is None
    queue_snapshot(qs, now, ROLLING, 30 * DAY, history=False)
    engine.apply(answered("c5", at("09:19:50"), wait=20))  # its offer comes after it
    queue_snapshot(qs, now, ROLLING, 30 * DAY, history=False)
    assert qs.closed_sums is not None
    engine.apply(offered("c5", at("09:19:30")))  # moves the outcome's items: a closed minute
    assert qs.closed_sums is None
    queue_snapshot(qs, now, ROLLING, 30 * DAY, history=False)
    engine.apply(abandoned("c2", at("09:14:00"), wait=720))  # an earlier interval
    assert qs.closed_sums is None
    second = queue_snapshot(qs, now, ROLLING, 30 * DAY, history=False)
    figures = [snap["channels"]["all"]["today"]["figures"] for snap in (first, second)]
    assert [f["abandoned"] for f in figures] == [0, 1]
    assert [f["answered"] for f in figures] == [0, 3]
    assert second == afresh(qs, now)


def test_intervals_restored_from_another_grid_count_as_read_afresh() -> None:
    """State written under 15-minute intervals, restored under 30: a bucket at 09:15 lies
    after the 09:00 interval a snapshot at 09:25 is in, and is counted in today as before."""
    from tests.unit.test_engine import QUEUE, TENANT, at, offered

    written = Engine()
    written.apply(offered("c1", at("09:16:00")))
    half_hours = Engine(PolicyBook(default=QueuePolicy(interval_minutes=30)))
    for (tenant, queue), qs in written.queues.items():
        for bkey, bucket in qs.buckets.items():
            half_hours.restore_bucket(tenant, queue, bkey, bucket.to_record())
    qs = half_hours.queue(TENANT, QUEUE)
    now = at("09:25:00")
    live = queue_snapshot(qs, now, ROLLING, 30 * DAY, history=False)
    assert live["channels"]["all"]["today"]["figures"]["offered"] == 1
    assert live == afresh(qs, now)


def test_an_interval_that_starts_within_a_minute_is_kept_apart() -> None:
    """Where local midnight is not on a whole minute (Monrovia, -0:44:30, until 1972: the
    engine takes such instants, the decoder does not), an event of the snapshot's minute may
    lie in the interval before the current one: the kept sums are dropped all the same."""
    from tests.unit.test_engine import QUEUE, TENANT, offered

    engine = Engine(PolicyBook(default=QueuePolicy(time_zone="Africa/Monrovia")))
    minute = 31_827_540_000  # 1971-01-04T08:59:00Z; an interval starts at 08:59:30Z
    engine.apply(offered("c1", minute + 35_000))
    qs = engine.queue(TENANT, QUEUE)
    now = minute + 45_000
    assert qs.calendar.interval_start(now) == minute + 30_000
    queue_snapshot(qs, now, ROLLING, 30 * DAY, history=False)
    engine.apply(offered("c2", minute + 10_000))  # this minute, the interval before
    assert qs.closed_sums is None
    live = queue_snapshot(qs, now, ROLLING, 30 * DAY, history=False)
    assert live["channels"]["all"]["today"]["figures"]["offered"] == 2
    assert live == afresh(qs, now)


def test_other_windows_asked_in_the_same_minute_are_summed_afresh() -> None:
    from tests.unit.test_engine import QUEUE, TENANT, at, offered

    engine = Engine()
    engine.apply(offered("c1", at("09:10:10")))
    qs = engine.queue(TENANT, QUEUE)
    now = at("09:20:30")
    queue_snapshot(qs, now, (15, 60), 30 * DAY, history=False)
    live = queue_snapshot(qs, now, (30, 60), 30 * DAY, history=False)
    assert live["channels"]["all"]["rolling"]["30m"]["offered"] == 1
    assert live == afresh(qs, now, (30, 60))
