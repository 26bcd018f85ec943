"""Command line of the pipeline bench: `python bench/pipeline_bench.py [options]`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from ccpulse.embedded import start_broker, start_redis

from . import __doc__ as DOC
from .child import child_main
from .latency import LATENCY_VARIANTS, Latency, measure_latency
from .memory import Memory, measure_memory
from .report import code_version, report
from .runner import KINDS, Bench
from .throughput import Rows, prepare_topics, round_ratios, run_rounds, selected_kinds
from .workload import SHAPES

#: Full-run defaults that --quick lowers, unless given explicitly.
FULL = {"repeat": 3, "many_queues": 10_000, "memory_queues": "1000,10000"}
QUICK = {"repeat": 1, "many_queues": 1_000, "memory_queues": "100,1000"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=DOC, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=200_000, help="events per topic (200,000)")
    p.add_argument("--queues", type=int, default=200, help="queues in the event mix (200)")
    p.add_argument(
        "--many-queues",
        type=int,
        help="queues of row a3, the same events spread wider (10,000; quick 1,000)",
    )
    p.add_argument("--repeat", type=int,
                   help="interleaved rounds of the throughput rows (3; quick 1)")  # fmt: skip
    p.add_argument("--skip-quix", action="store_true", help="leave out the Quix Streams rows")
    p.add_argument("--quick", action="store_true",
                   help="small smoke run (20k events, 50 queues, one round, short)")  # fmt: skip
    p.add_argument("--latency-rate", type=float, default=5000.0, help="offered ev/s (5,000)")
    p.add_argument("--latency-seconds", type=float, default=25.0, help="per latency run (25 s)")
    p.add_argument("--latency-variants", default=",".join(LATENCY_VARIANTS),
                   help="comma list of: " + ", ".join(LATENCY_VARIANTS))  # fmt: skip
    p.add_argument(
        "--memory-queues", help="comma list: queues of each memory run (1000,10000; quick 100,1000)"
    )
    p.add_argument("--memory-rate", type=float, default=4.0,
                   help="contacts per hour per queue in the memory run (4)")  # fmt: skip
    p.add_argument("--memory-timeout", type=float, default=240.0,
                   help="s to catch up with the day (240; more for larger days)")  # fmt: skip
    p.add_argument("--memory-cap", type=float, default=8000.0,
                   help="stop the memory run past this RSS in MB (8000)")  # fmt: skip
    p.add_argument("--only", default="throughput,latency,memory",
                   help="comma list of parts to run (throughput,latency,memory)")  # fmt: skip
    p.add_argument("--kinds", default=",".join(KINDS),
                   help="comma list of throughput rows (all): " + ", ".join(KINDS))  # fmt: skip
    p.add_argument("--json", type=Path, help="also write all figures (every round) to this file")
    p.add_argument("--keep-logs", action="store_true", help="keep child logs (printed path)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick:
        args.events = min(args.events, 20_000)
        args.queues = min(args.queues, 50)
        args.latency_seconds = min(args.latency_seconds, 15.0)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    args.memory_sizes = [int(n) for n in str(args.memory_queues).split(",") if n.strip()]
    return args


def to_json(rows: Rows, lats: list[Latency], mems: list[Memory]) -> dict[str, object]:
    """Every round's runs, the per-round ratios to row a, latency and memory."""
    ratios = {
        f"ccpulse/{kind}/{shape}": round_ratios(rows, ("ccpulse", shape), (kind, shape))
        for kind in KINDS if kind != "ccpulse" for shape in SHAPES if (kind, shape) in rows
    }  # fmt: skip
    return {
        "runs": [asdict(r) for runs in rows.values() for r in runs],
        "ratios_per_round": ratios,
        "latency": [asdict(x) for x in lats],
        "memory": [asdict(m) for m in mems],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args.child)
        return 0
    parts = set(args.only.split(","))
    kinds = selected_kinds(args)
    args.code_version = code_version()  # at the start: the code the figures belong to
    args.load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="ccpulse-bench-"))
    rows: Rows = {}
    lats: list[Latency] = []
    mems: list[Memory] = []
    t_all = time.monotonic()
    print(f"ccpulse bench: logs in {workdir}; load average {args.load_start}", flush=True)
    try:
        broker = start_broker()
    except Exception:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    try:
        redis_service = start_redis()
    except Exception:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    bench = Bench(args, workdir, broker, redis_service)
    try:
        try:
            if "throughput" in parts and kinds:
                run_rounds(bench, kinds, prepare_topics(bench, kinds), rows)
            if "latency" in parts:
                for variant in args.latency_variants.split(","):
                    lats.append(measure_latency(bench, variant, args.latency_rate,
                                                args.latency_seconds, args.queues))  # fmt: skip
            if "memory" in parts:
                for n_queues in args.memory_sizes:
                    mems.append(measure_memory(bench, n_queues, args.memory_rate))
        except KeyboardInterrupt:  # Ctrl-C / SIGINT: report what was measured so far
            print("interrupted: the report covers the runs that ended", flush=True)
        lines = report(args, rows, lats, mems)
        lines.append("")
        lines.append(f"total bench time {time.monotonic() - t_all:.0f} s; load average at the "
                     "end " + " ".join(f"{x:.2f}" for x in os.getloadavg()))  # fmt: skip
        print("\n".join(lines), flush=True)
        if args.json:
            doc = {"code": args.code_version, "load_start": args.load_start,
                   "rounds": args.repeat, **to_json(rows, lats, mems)}  # fmt: skip
            args.json.write_text(json.dumps(doc, indent=2, default=str))
    finally:  # every process this bench started, then its files
        bench.stop_all()
        redis_service.stop()
        broker.stop()
        if args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
