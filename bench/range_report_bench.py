"""ccpulse range report bench: `ccpulse report --queue-log PATH --from T1 --to T2 --interval 60
--attribution arrival --format json` over a large simulated queue_log.

Writes the synthetic queue_log of bench/queue_log_bench.py (default 1,000,000 lines: 12 queues,
150 agents, about 300,000 calls over ~1.7 days, with rings, pauses, wrap-ups, transfers and
housekeeping lines), then times, in this process, what the command does, by one of two paths:

* `--path fast` (default, what the command runs): `range_report_of_queue_log`, which parses and
  maps the log into typed events while a worker process runs the engines and reads every
  interval row of every queue, channel and agent scope over the log's whole span (the phases
  overlap, so one figure: map, engines and rows); `--serial` keeps the engines in this process;
* `--path existing`: `queue_log_decoded` (the mapper's decoder check gives the events), then
  `build_range_report_of_events`, each phase timed.

Then the JSON is serialised. Each phase's median over `--runs` runs is printed, with the total,
the CPU time (user + system) of the run, workers included, and of this process alone (parse and
map), and the load average (1 min) before and after each run: the machine's cores may be shared,
and CPU time depends less on that than wall time does.

    .venv/bin/python bench/range_report_bench.py                    # 1M lines, 3 runs
    .venv/bin/python bench/range_report_bench.py --lines 100000 --runs 1   # smoke run
    .venv/bin/python bench/range_report_bench.py --path existing    # the path before
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from queue_log_bench import synthetic_log

from ccpulse.report_range import RangeSpec, build_range_report_of_events
from ccpulse.report_range_fast import range_report_of_queue_log
from ccpulse.sources.queue_log import queue_log_decoded
from ccpulse.streams.kpi import Attribution, PolicyBook, QueuePolicy

BOOK = PolicyBook(default=QueuePolicy(interval_minutes=60, attribution=Attribution.ARRIVAL))


def one_run(path: Path, spec: RangeSpec, how: str) -> dict[str, float]:
    load = os.getloadavg()[0]
    cpu0, main0 = _cpu_s(), _cpu_s(children=False)
    t0 = time.perf_counter()
    if how == "existing":
        events, _ = queue_log_decoded(path)
        t1 = time.perf_counter()
        report = build_range_report_of_events(events, BOOK, spec)
    else:
        report, _ = range_report_of_queue_log(path, BOOK, spec, parallel=how == "fast")
        t1 = time.perf_counter()
    t2 = time.perf_counter()
    body = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    t3 = time.perf_counter()
    rows = sum(len(t["rows"]) for q in report["queues"] for t in q["channels"].values())
    rows += sum(len(t["rows"]) for a in report["agents"]
                for t in [a["all"], *a["queues"].values(), *a["agents"].values()])  # fmt: skip
    return {"map_s": t1 - t0, "engines_rows_s": t2 - t1, "json_s": t3 - t2, "total_s": t3 - t0,
            "events": report["input"]["events"], "rows": rows, "json_bytes": len(body),
            "load_before": load, "load_after": os.getloadavg()[0],
            "cpu_s": _cpu_s() - cpu0, "main_cpu_s": _cpu_s(children=False) - main0}  # fmt: skip


def _cpu_s(children: bool = True) -> float:
    """CPU seconds, user and system, of this process (which parses and maps) and, with
    `children`, of its ended children (the workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    if not children:
        return me.ru_utime + me.ru_stime
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _cpu(run: dict[str, float]) -> str:
    """CPU seconds of the run: all, and this process's (the rest is the workers')."""
    return f"{run['cpu_s']:.1f} CPU s ({run['main_cpu_s']:.1f} in this process)"


def _phases(run: dict[str, float], how: str) -> str:
    if how == "existing":
        return (f"map {run['map_s']:.2f} + engines and rows {run['engines_rows_s']:.2f} + "
                f"JSON {run['json_s']:.2f}")  # fmt: skip
    return f"map, engines and rows {run['map_s']:.2f} + JSON {run['json_s']:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs (the median is printed)")
    parser.add_argument("--by", choices=("interval", "day", "weekday"), default="interval")
    parser.add_argument("--path", choices=("fast", "existing"), default="fast")
    parser.add_argument("--serial", action="store_true", help="fast path without the worker")
    args = parser.parse_args(argv)
    how = "serial" if args.path == "fast" and args.serial else args.path
    end_s = 1_764_892_800  # 2025-12-05T00:00:00Z: the log ends at midnight
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queue_log"
        synthetic_log(path, args.lines, end_s)
        first_s = int(path.open().readline().split("|", 1)[0])
        spec = RangeSpec(first_s * 1000, end_s * 1000, args.by)
        print(f"ccpulse range report bench: {args.lines:,} lines "
              f"({path.stat().st_size / 1e6:.0f} MB), {(end_s - first_s) / 3600:.1f} h, "
              f"--interval 60 --attribution arrival --by {args.by}, path {how}; "
              f"Python {platform.python_version()}, {os.cpu_count()} CPUs")  # fmt: skip
        runs = []
        for n in range(args.runs):
            run = one_run(path, spec, how)
            runs.append(run)
            print(f"  run {n + 1}: {run['total_s']:.2f} s ({_phases(run, how)}); "
                  f"{run['events']:,} events, {run['rows']:,} rows, {_cpu(run)}; "
                  f"load average {run['load_before']:.2f} before, "
                  f"{run['load_after']:.2f} after")  # fmt: skip
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"median of {args.runs}: {med['total_s']:.2f} s ({_phases(med, how)}); "
          f"{args.lines / med['total_s']:,.0f} lines/s; {_cpu(med)}; load average "
          f"{med['load_before']:.2f} before, {med['load_after']:.2f} after")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
