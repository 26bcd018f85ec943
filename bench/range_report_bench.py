"""ccpulse range report bench: `ccpulse report --queue-log PATH --from T1 --to T2 --interval 60
--attribution arrival --format json` over a large simulated queue_log.

Writes the synthetic queue_log of bench/queue_log_bench.py (default 1,000,000 lines: 12 queues,
150 agents, about 300,000 calls over ~1.7 days, with rings, pauses, wrap-ups, transfers and
housekeeping lines), then times, in this process, what the command does: parse and map the log
(`queue_log_decoded`: the mapper's decoder check gives the events), run the engines over the
events and read every interval row of every queue, channel and agent scope over the log's whole
span (`build_range_report_of_events`), and serialise the JSON. Each phase's median over `--runs`
runs is printed, with the total.

    .venv/bin/python bench/range_report_bench.py                    # 1M lines, 3 runs
    .venv/bin/python bench/range_report_bench.py --lines 100000 --runs 1   # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from queue_log_bench import synthetic_log

from ccpulse.report_range import RangeSpec, build_range_report_of_events
from ccpulse.sources.queue_log import queue_log_decoded
from ccpulse.streams.kpi import Attribution, PolicyBook, QueuePolicy

BOOK = PolicyBook(default=QueuePolicy(interval_minutes=60, attribution=Attribution.ARRIVAL))


def one_run(path: Path, spec: RangeSpec) -> dict[str, float]:
    t0 = time.perf_counter()
    events, _ = queue_log_decoded(path)
    t1 = time.perf_counter()
    report = build_range_report_of_events(events, BOOK, spec)
    t2 = time.perf_counter()
    body = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    t3 = time.perf_counter()
    rows = sum(len(t["rows"]) for q in report["queues"] for t in q["channels"].values())
    rows += sum(len(t["rows"]) for a in report["agents"]
                for t in [a["all"], *a["queues"].values(), *a["agents"].values()])  # fmt: skip
    return {"map_s": t1 - t0, "engines_rows_s": t2 - t1, "json_s": t3 - t2, "total_s": t3 - t0,
            "events": len(events), "rows": rows, "json_bytes": len(body)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs (the median is printed)")
    parser.add_argument("--by", choices=("interval", "day", "weekday"), default="interval")
    args = parser.parse_args(argv)
    end_s = 1_764_892_800  # 2025-12-05T00:00:00Z: the log ends at midnight
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queue_log"
        synthetic_log(path, args.lines, end_s)
        first_s = int(path.open().readline().split("|", 1)[0])
        spec = RangeSpec(first_s * 1000, end_s * 1000, args.by)
        print(f"ccpulse range report bench: {args.lines:,} lines "
              f"({path.stat().st_size / 1e6:.0f} MB), {(end_s - first_s) / 3600:.1f} h, "
              f"--interval 60 --attribution arrival --by {args.by}; "
              f"Python {platform.python_version()}, {os.cpu_count()} CPUs")  # fmt: skip
        runs = []
        for n in range(args.runs):
            run = one_run(path, spec)
            runs.append(run)
            print(f"  run {n + 1}: {run['total_s']:.2f} s (map {run['map_s']:.2f}, engines and "
                  f"rows {run['engines_rows_s']:.2f}, JSON {run['json_s']:.2f}); "
                  f"{run['events']:,} events, {run['rows']:,} rows")  # fmt: skip
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"median of {args.runs}: {med['total_s']:.2f} s = map {med['map_s']:.2f} + engines and "
          f"rows {med['engines_rows_s']:.2f} + JSON {med['json_s']:.2f}; "
          f"{args.lines / med['total_s']:,.0f} lines/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
