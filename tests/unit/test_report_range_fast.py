"""The fast range report of a queue_log (`range_report_of_queue_log`: typed mapping, engines in a
worker process) against the existing path (`queue_log_decoded` + `build_range_report_of_events`),
field for field, on 20,000 simulated lines of the range report bench's generator."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import ccpulse.report_range_fast as fast
from ccpulse.report_range import RangeSpec, build_range_report_of_events
from ccpulse.report_range_fast import range_report_of_queue_log
from ccpulse.sources.queue_log import queue_log_decoded
from ccpulse.sources.queue_log_typed import queue_log_typed
from ccpulse.streams.kpi import Attribution, PolicyBook, QueuePolicy

ROOT = Path(__file__).parent.parent.parent
END_S = 1_764_892_800  # the bench's log ends at 2025-12-05T00:00:00Z
BOOK = PolicyBook(default=QueuePolicy(interval_minutes=60, attribution=Attribution.ARRIVAL))


def _synthetic_log(path: Path, lines: int) -> None:
    bench = ROOT / "bench" / "queue_log_bench.py"
    spec = importlib.util.spec_from_file_location("queue_log_bench", bench)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        module.synthetic_log(path, lines, END_S)
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rangefast") / "queue_log"
    _synthetic_log(path, 20_000)
    return path


def _spec(log: Path, by: str) -> RangeSpec:
    first_s = int(log.open().readline().split("|", 1)[0])
    return RangeSpec(first_s * 1000, END_S * 1000, by)


def _existing(log: Path, spec: RangeSpec, book: PolicyBook = BOOK) -> tuple[bytes, Any]:
    events, stats = queue_log_decoded(log)
    return orjson.dumps(build_range_report_of_events(events, book, spec)), stats


def test_typed_mapping_gives_the_decoders_events(log: Path) -> None:
    events, stats = queue_log_decoded(log)
    typed, typed_stats = queue_log_typed(log)
    assert len(events) > 20_000
    assert typed == events
    assert typed_stats == stats


@pytest.mark.parametrize("by", ["interval", "day"])
@pytest.mark.parametrize("parallel", [True, False])
def test_fast_range_report_equals_the_existing_one(log: Path, by: str, parallel: bool) -> None:
    spec = _spec(log, by)
    expected, stats = _existing(log, spec)
    report, fast_stats = range_report_of_queue_log(log, BOOK, spec, parallel=parallel)
    assert orjson.dumps(report) == expected
    assert fast_stats == stats
    assert report["input"]["events"] > 20_000 and report["queues"] and report["agents"]


def test_a_range_that_ends_inside_the_log(log: Path) -> None:
    """Events at or after `to` are counted as ignored, in the worker as in the existing path."""
    first_s = int(log.open().readline().split("|", 1)[0])
    spec = RangeSpec(first_s * 1000 + 60_000, (first_s + END_S) // 2 * 1000, "interval")
    book = PolicyBook(default=QueuePolicy(interval_minutes=15))
    expected, _ = _existing(log, spec, book)
    report, _ = range_report_of_queue_log(log, book, spec, parallel=True)
    assert orjson.dumps(report) == expected
    assert report["input"]["ignored_after_at"] > 0


def _failing_worker(conn: Any, *args: Any) -> None:
    conn.recv()
    raise SystemExit(3)  # dies without a word


def test_a_failed_worker_falls_back_to_the_engines_here(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(log, "interval")
    expected, _ = _existing(log, spec)
    monkeypatch.setattr(fast, "_worker", _failing_worker)
    report, _ = range_report_of_queue_log(log, BOOK, spec, parallel=True)
    assert orjson.dumps(report) == expected


def test_workers_that_cannot_start_leave_the_engines_here(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks are still pickled as if sent; the engines here read them back."""
    spec = _spec(log, "day")
    expected, _ = _existing(log, spec)

    def no_processes(method: str | None = None) -> Any:
        raise OSError("no processes here")

    monkeypatch.setattr(fast, "get_context", no_processes)
    report, _ = range_report_of_queue_log(log, BOOK, spec, parallel=True)
    assert orjson.dumps(report) == expected


def test_lines_the_decoder_refuses_are_dead_letters_as_before(tmp_path: Path) -> None:
    """The checks the mapper does not make: an instant too far ahead, a call id too long for a
    ring's contact id; the decoder's own words name them."""
    future_s = int(time.time()) + 3_600
    long_call = "c" * 300
    path = tmp_path / "queue_log"
    path.write_text(
        "1764806400|c1|sales|NONE|ENTERQUEUE||100|1\n"
        "1764806410|c1|sales|SIP/a|CONNECT|10|c1.1|2\n"
        f"1764806420|{long_call}|sales|SIP/a|RINGNOANSWER|2000\n"
        f"{future_s}|c2|sales|NONE|ENTERQUEUE||101|1\n"
        "1764806500|c1|sales|SIP/a|COMPLETECALLER|10|90|1\n"
    )
    events, stats = queue_log_decoded(path)
    typed, typed_stats = queue_log_typed(path)
    assert typed == events and typed_stats == stats
    assert [d.line_no for d in stats.dead_letters] == [3, 4]
    spec = RangeSpec(1_764_806_400_000, 1_764_810_000_000)
    expected = build_range_report_of_events(events, BOOK, spec)
    for parallel in (True, False):
        report, fast_stats = range_report_of_queue_log(path, BOOK, spec, parallel=parallel)
        assert report == expected and fast_stats == stats


def test_the_range_engine_keeps_the_engines_interval_and_total_buckets(log: Path) -> None:
    from ccpulse.schemas.events import ContactEvent
    from ccpulse.streams.kpi import Engine
    from ccpulse.streams.kpi.report_mode import RangeEngine

    contacts = [e for e in queue_log_typed(log)[0] if isinstance(e, ContactEvent)]
    full, ranged = Engine(BOOK), RangeEngine(BOOK)
    assert full.apply_all(contacts) == ranged.apply_all(contacts)
    for key, qs in full.queues.items():
        kept = {b: v.tally for b, v in qs.buckets.items() if b[0] != "m"}
        assert {b: v.tally for b, v in ranged.queues[key].buckets.items()} == kept
        assert ranged.queues[key].minute_buckets == 0


def test_the_agent_engine_in_report_mode_tracks_no_writes(log: Path) -> None:
    from ccpulse.schemas.events import AgentEvent
    from ccpulse.streams.kpi.agents import AgentEngine
    from ccpulse.streams.kpi.report_mode import RangeAgentEngine

    agent_events = [e for e in queue_log_typed(log)[0] if isinstance(e, AgentEvent)]
    full, report = AgentEngine(BOOK), RangeAgentEngine(BOOK)
    assert [full.apply(e) for e in agent_events] == [report.apply(e) for e in agent_events]
    assert full.drain_writes() and report.drain_writes() == []
    assert full.dirty_tenants() == {"default"} and report.dirty_tenants() == set()
    assert report.data["default"].buckets == full.data["default"].buckets

    # ... bucket for bucket and field for field in the same order.
    def ordered(engine: AgentEngine) -> list[Any]:
        return [(k, b[0], list(b[1].items())) for k, b in engine.data["default"].buckets.items()]

    assert ordered(report) == ordered(full)


FULL_DAY = ROOT / "tests" / "data" / "queue_log" / "full-day.queue_log"
M = 1_741_046_400_000  # 2025-03-04T00:00:00Z, the day of tests/unit/test_report_range.py
DAY = 86_400_000


@pytest.mark.parametrize(
    ("from_ms", "to_ms", "by", "open_hours_only"),
    [(M, M + DAY, "interval", False), (M, M + DAY, "interval", True),
     (M - DAY, M + 6 * DAY, "weekday", False), (M + 9 * 3_600_000, M + DAY + 36_000_000, "day",
                                                 False)],
)  # fmt: skip
@pytest.mark.parametrize("parallel", [True, False])
def test_the_hand_computed_day_by_both_paths(
    from_ms: int, to_ms: int, by: str, open_hours_only: bool, parallel: bool
) -> None:
    """The log whose tables tests/unit/test_report_range.py works out by hand."""
    from ccpulse.opening_hours import parse_opening_hours

    hours = parse_opening_hours({"default/support": {"weekdays": "08:00-18:00"}})
    spec = RangeSpec(from_ms, to_ms, by, open_hours_only)
    events, stats = queue_log_decoded(FULL_DAY)
    expected = build_range_report_of_events(events, BOOK, spec, hours)
    report, fast_stats = range_report_of_queue_log(FULL_DAY, BOOK, spec, hours, parallel=parallel)
    assert orjson.dumps(report) == orjson.dumps(expected)
    assert fast_stats == stats
