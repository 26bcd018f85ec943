"""What the pipeline hands the sinks: changed intervals, a bounded number per flush."""

from __future__ import annotations

import orjson
import pytest

from ccpulse.streams import publishing
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline

T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z


def test_changed_intervals_go_out_in_the_order_they_changed_at_most_limit_per_flush() -> None:
    pipeline = Pipeline(PolicyBook())
    events = [
        {"event_id": f"o{i}", "type": "contact.offered", "ts": T0 + i * 15 * 60_000,
         "queue": "sales", "contact_id": f"c{i}"}
        for i in range(10)
    ]  # fmt: skip
    letters: list[DeadLetter] = []
    pipeline.process(Message("cc", 0, 0, b"default/sales", orjson.dumps(events)), letters.append)
    pipeline.table_writes()
    assert not letters

    batches = []
    while batch := pipeline.interval_records(limit=4):
        batches.append([r["start_ms"] for r in batch])
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(s for b in batches for s in b) == [T0 + i * 15 * 60_000 for i in range(10)]
    assert pipeline.interval_records() == []  # nothing changed since


def test_while_catching_up_fewer_intervals_go_out_per_flush_and_all_once_caught_up() -> None:
    """A day of 15-minute intervals replayed: while the worker catches up, its flushes take
    `CATCH_UP_INTERVALS_PER_FLUSH` of them (the live queue figures first), then the rest at
    `MAX_INTERVALS_PER_FLUSH`."""
    pipeline = Pipeline(PolicyBook())
    starts = [T0 + i * 15 * 60_000 for i in range(96)]
    for i, start in enumerate(starts):  # one queue per interval: 96 hashes to write
        event = {"event_id": f"o{i}", "type": "contact.offered", "ts": start,
                 "queue": f"q{i:02d}", "contact_id": f"c{i}"}  # fmt: skip
        pipeline.process(Message("cc", 0, i, f"default/q{i:02d}".encode(), orjson.dumps(event)),
                         lambda _: None)  # fmt: skip
    pipeline.table_writes()
    pipeline.catching_up = True
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(publishing, "CATCH_UP_INTERVALS_PER_FLUSH", 10)
        patch.setattr(publishing, "MAX_INTERVALS_PER_FLUSH", 40)
        behind = [pipeline.interval_records() for _ in range(2)]
        pipeline.catching_up = False
        caught_up = [pipeline.interval_records() for _ in range(3)]
    assert [len(b) for b in behind] == [10, 10]
    assert [len(b) for b in caught_up] == [40, 36, 0]
    taken = [r["start_ms"] for b in behind + caught_up for r in b]
    assert sorted(taken) == starts  # each once


def test_no_queue_waits_for_ever_when_more_intervals_change_than_a_flush_takes() -> None:
    """1,100 busy queues, 1,000 intervals a flush: every queue's interval goes out within two
    flushes, flush after flush."""
    pipeline = Pipeline(PolicyBook())
    offset = 0
    last_published: dict[str, int] = {}
    for flush in range(12):
        for q in range(1100):
            event = {
                "event_id": f"e{flush}-{q}",
                "type": "contact.offered",
                "ts": T0 + flush * 500,
                "queue": f"q{q:04d}",
                "contact_id": f"c{flush}-{q}",
            }
            pipeline.process(Message("cc", 0, offset, f"default/q{q:04d}".encode(),
                                     orjson.dumps(event)), lambda _: None)  # fmt: skip
            offset += 1
        pipeline.table_writes()
        for record in pipeline.interval_records(limit=1000):
            last_published[record["queue"]] = flush
        if flush >= 1:
            assert len(last_published) == 1100
            assert min(last_published.values()) >= flush - 1


def test_an_interval_changed_again_before_its_turn_goes_out_once() -> None:
    pipeline = Pipeline(PolicyBook())

    def offer(i: int, offset: int) -> None:
        event = {"event_id": f"o{i}", "type": "contact.offered", "ts": T0 + i * 15 * 60_000,
                 "queue": "sales", "contact_id": f"c{i}"}  # fmt: skip
        pipeline.process(Message("cc", 0, offset, b"default/sales", orjson.dumps(event)),
                         lambda _: None)  # fmt: skip
        pipeline.table_writes()

    for i in range(3):
        offer(i, i)  # one batch each: pending in this order
    first = pipeline.interval_records(limit=1)
    offer(1, 10)  # a duplicate of a pending interval's event: still pending once
    rest = pipeline.interval_records(limit=10)
    assert [r["start_ms"] for r in first] == [T0]  # the first to change goes first
    assert [r["start_ms"] for r in rest] == [T0 + 15 * 60_000, T0 + 2 * 15 * 60_000]
    assert all(r["channels"]["all"]["offered"] == 1 for r in first + rest)


def test_a_revoked_partition_is_not_published_until_the_rebalance_settles() -> None:
    pipeline = Pipeline(PolicyBook())
    for partition, queue in ((0, "sales"), (1, "support")):
        event = {"event_id": f"o-{queue}", "type": "contact.offered", "ts": T0, "queue": queue,
                 "contact_id": f"c-{queue}"}  # fmt: skip
        pipeline.process(Message("cc", partition, 0, f"default/{queue}".encode(),
                                 orjson.dumps(event)), lambda _: None)  # fmt: skip
    pipeline.table_writes()
    generation = pipeline.assignment_generation

    pipeline.suspend([1])
    assert pipeline.assignment_generation > generation  # sinks write in full afterwards
    assert [s["queue"] for s in pipeline.snapshots(T0 + 1000)] == ["sales"]
    assert [r["queue"] for r in pipeline.interval_records()] == ["sales"]

    pipeline.resume()  # given back: what waited goes out now (sales: a contact still waits)
    assert [s["queue"] for s in pipeline.snapshots(T0 + 2000)] == ["sales", "support"]
    assert [r["queue"] for r in pipeline.interval_records()] == ["support"]


def test_open_intervals_can_wait_while_ended_ones_and_late_changes_go_out() -> None:
    """The sinks refresh an interval still open less often than one that has ended."""
    pipeline = Pipeline(PolicyBook())
    events = [  # 09:00 and 09:15 intervals; the latest event (09:20) leaves 09:15 open
        {"event_id": "o1", "type": "contact.offered", "ts": T0 + 60_000, "queue": "sales",
         "contact_id": "c1"},
        {"event_id": "o2", "type": "contact.offered", "ts": T0 + 20 * 60_000, "queue": "sales",
         "contact_id": "c2"},
    ]  # fmt: skip
    letters: list[DeadLetter] = []
    pipeline.process(Message("cc", 0, 0, b"default/sales", orjson.dumps(events)), letters.append)
    pipeline.table_writes()

    assert [r["start_ms"] for r in pipeline.interval_records(open_intervals=False)] == [T0]
    assert pipeline.interval_records(open_intervals=False) == []  # 09:15 still waits
    late = {"event_id": "o3", "type": "contact.offered", "ts": T0 + 120_000, "queue": "sales",
            "contact_id": "c3"}  # fmt: skip
    pipeline.process(Message("cc", 0, 1, b"default/sales", orjson.dumps(late)), letters.append)
    pipeline.table_writes()
    assert not letters
    ended = pipeline.interval_records(open_intervals=False)
    assert [(r["start_ms"], r["channels"]["all"]["offered"]) for r in ended] == [(T0, 2)]
    opened = pipeline.interval_records(open_intervals=True)
    assert [(r["start_ms"], r["channels"]["all"]["offered"]) for r in opened] == [
        (T0 + 15 * 60_000, 1)
    ]
    assert pipeline.interval_records(open_intervals=True) == []


def _quiet_and_busy(pipeline: Pipeline) -> None:
    """Queue `quiet` last heard of at T0, `busy` and agent `a1` at T0 + 2 h."""
    events = [
        (b"default/quiet", {"event_id": "q1", "type": "contact.offered", "ts": T0,
                            "queue": "quiet", "contact_id": "q1"}),
        (b"default/quiet", {"event_id": "q2", "type": "contact.abandoned", "ts": T0 + 10_000,
                            "queue": "quiet", "contact_id": "q1"}),
        (b"default/busy", {"event_id": "b1", "type": "contact.blocked", "reason": "full",
                           "ts": T0 + 7_200_000, "queue": "busy", "contact_id": "b1"}),
        (b"default/#agents", {"event_id": "l1", "type": "agent.state", "ts": T0 + 7_200_000,
                              "agent_id": "a1", "state": "available"}),
    ]  # fmt: skip
    for offset, (key, event) in enumerate(events):
        pipeline.process(Message("cc", 0, offset, key, orjson.dumps(event)), lambda _: None)
    pipeline.table_writes()


def test_a_quiet_queue_is_taken_again_only_when_its_interval_rolls_over() -> None:
    """10,000 quiet queues must not be republished every minute (issue 17): only queues with
    events in the rolling windows, and any queue once the wall-clock interval rolls over."""
    pipeline = Pipeline(PolicyBook())
    _quiet_and_busy(pipeline)
    now = T0 + 7_200_000 + 60_000  # 11:01
    taken = [sorted(s["queue"] for s in pipeline.snapshots(now))]
    for minute in range(1, 16):  # 11:02 ... 11:16: the interval 11:15 begins at minute 14
        taken.append(sorted(s["queue"] for s in pipeline.snapshots(now + minute * 60_000)))
    assert taken[0] == ["busy", "quiet"]  # first flush: everything
    assert taken[1:14] == [["busy"]] * 13  # busy's 60-minute window still slides
    assert taken[14] == ["busy", "quiet"]  # 11:15: a new interval for every queue
    assert taken[15] == ["busy"]


def test_agent_figures_are_rebuilt_when_they_change_and_once_a_minute() -> None:
    pipeline = Pipeline(PolicyBook())
    _quiet_and_busy(pipeline)
    now = T0 + 7_200_000 + 1_000
    assert [n for n, _ in pipeline.family_snapshots(now)] == ["agents"]
    assert pipeline.family_snapshots(now + 500) == []  # nothing changed: not rebuilt
    event = {"event_id": "l2", "type": "agent.state", "ts": now + 600, "agent_id": "a1",
             "state": "paused"}  # fmt: skip
    pipeline.process(Message("cc", 0, 9, b"default/#agents", orjson.dumps(event)), lambda _: None)
    assert [n for n, _ in pipeline.family_snapshots(now + 1_000)] == ["agents"]
    assert pipeline.family_snapshots(now + 1_500) == []
    assert [n for n, _ in pipeline.family_snapshots(now + 60_000)] == ["agents"]  # a new minute


def test_a_flush_takes_a_bounded_number_of_queues_and_every_queue_gets_its_turn() -> None:
    pipeline = Pipeline(PolicyBook())
    for q in range(50):
        event = {"event_id": f"e{q}", "type": "contact.blocked", "reason": "full",
                 "ts": T0, "queue": f"q{q:02d}", "contact_id": f"c{q}"}  # fmt: skip
        pipeline.process(Message("cc", 0, q, f"default/q{q:02d}".encode(), orjson.dumps(event)),
                         lambda _: None)  # fmt: skip
    pipeline.table_writes()
    now = T0 + 60_000
    flushes = [sorted(s["queue"] for s in pipeline.snapshots(now, limit=20)) for _ in range(3)]
    assert [len(f) for f in flushes] == [20, 20, 10]
    assert sorted(q for f in flushes for q in f) == [f"q{q:02d}" for q in range(50)]
    assert pipeline.snapshots(now, limit=20) == []  # all taken: nothing pending


def _contact(n: int, ts: int) -> list[dict[str, object]]:
    base = {"queue": "sales", "channel": "voice", "contact_id": f"c{n}"}
    return [
        {**base, "event_id": f"o{n}", "type": "contact.offered", "ts": ts},
        {**base, "event_id": f"x{n}", "type": "contact.abandoned", "ts": ts + 30_000},
    ]


def test_a_restored_worker_writes_every_interval_again() -> None:
    """Changes a worker wrote to its state table but had not yet flushed when it died (or gave
    the partition up) reach the sinks from the worker that restores the partition."""
    worker = Pipeline(PolicyBook())
    redis: dict[int, int] = {}  # what the interval hashes hold: start -> offered
    table: dict[bytes, bytes | None] = {}

    def write_state(pipeline: Pipeline) -> None:
        table.update((key, value) for _, key, value in pipeline.table_writes())

    def flush(pipeline: Pipeline) -> None:
        for record in pipeline.interval_records():
            redis[record["start_ms"]] = record["channels"]["all"]["offered"]

    for offset, n in enumerate((1, 2)):
        value = orjson.dumps(_contact(n, T0 + n * 60_000))
        worker.process(Message("cc", 0, offset, b"default/sales", value), lambda _: None)
        write_state(worker)
        if n == 1:
            flush(worker)
    assert redis == {T0: 1}  # and the worker dies before its next flush

    restored = Pipeline(PolicyBook())
    restored.restore(0, [(k, v) for k, v in table.items() if v is not None])
    value = orjson.dumps(_contact(3, T0 + 20 * 60_000))
    restored.process(Message("cc", 0, 2, b"default/sales", value), lambda _: None)
    write_state(restored)
    flush(restored)
    assert redis == {T0: 2, T0 + 15 * 60_000: 1}


def test_a_contact_past_max_wait_stops_the_queue_ticking_in_a_quiet_queue() -> None:
    """A contact whose outcome was lost waits, in the live figures, until max_wait (a day).
    The queue is taken at every flush while it waits, once more when the wait ends, and then no
    more, although its queue is too quiet for the garbage collection to drop the contact."""
    pipeline = Pipeline(PolicyBook())
    offered = {"event_id": "o1", "type": "contact.offered", "ts": T0, "queue": "sales",
               "contact_id": "c1"}  # fmt: skip
    pipeline.process(Message("cc", 0, 0, b"default/sales", orjson.dumps(offered)), lambda _: None)
    pipeline.table_writes()

    def in_queue(now_ms: int) -> list[int]:
        return [s["live"]["all"]["in_queue"] for s in pipeline.snapshots(now_ms)]

    assert [in_queue(T0 + 10_000 + k * 500) for k in range(3)] == [[1], [1], [1]]
    day_later = T0 + 86_400_000 + 1_000
    pipeline.collect_garbage()  # the queue's watermark has not moved: the contact stays
    assert pipeline.engines[0].queues[("default", "sales")].waiting
    assert [in_queue(day_later + k * 500) for k in range(4)] == [[0], [], [], []]
