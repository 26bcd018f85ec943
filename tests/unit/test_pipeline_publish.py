"""What the pipeline hands the sinks: changed intervals, a bounded number per flush."""

from __future__ import annotations

import orjson

from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline

T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z


def test_changed_intervals_go_out_latest_first_and_at_most_limit_per_flush() -> None:
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
    starts = [T0 + i * 15 * 60_000 for i in range(10)]
    assert [sorted(b) for b in batches] == [starts[6:], starts[2:6], starts[:2]]
    assert pipeline.interval_records() == []  # nothing changed since


def test_an_interval_changed_again_before_its_turn_goes_out_once() -> None:
    pipeline = Pipeline(PolicyBook())

    def offer(i: int, offset: int) -> None:
        event = {"event_id": f"o{i}", "type": "contact.offered", "ts": T0 + i * 15 * 60_000,
                 "queue": "sales", "contact_id": f"c{i}"}  # fmt: skip
        pipeline.process(Message("cc", 0, offset, b"default/sales", orjson.dumps(event)),
                         lambda _: None)  # fmt: skip
        pipeline.table_writes()

    for i in range(3):
        offer(i, i)
    first = pipeline.interval_records(limit=1)
    offer(0, 10)  # a duplicate: interval 0 is not changed, still pending once
    rest = pipeline.interval_records(limit=10)
    assert [r["start_ms"] for r in first] == [T0 + 2 * 15 * 60_000]
    assert sorted(r["start_ms"] for r in rest) == [T0, T0 + 15 * 60_000]
    assert all(r["channels"]["all"]["offered"] == 1 for r in first + rest)
