"""ccpulse native bench: the compiled KPI core (setup.py, mypyc) against its Python sources.

The core of `bench/decode_bench.py` (decode, `Pipeline.process` and the state writes) over the
pipeline bench's topics, offline, in child processes: the build is chosen when ccpulse is first
imported (`CCPULSE_NATIVE`, ccpulse/native.py), so each run is a process of its own, the Python
sources (`off`, the baseline) and the compiled modules (`require`) interleaved, round after
round. A child makes its topic, runs the core `--repeat` times and reports its median; each
figure is the median over the rounds, the ratio the baseline's median over the build's.

    .venv/bin/python bench/native_bench.py                  # 200,000 events, 3 rounds
    .venv/bin/python bench/native_bench.py --events 50000 --rounds 2

For instruction counts, which repeat exactly where the wall clock swings, run decode_bench's
`--once` under callgrind with CCPULSE_NATIVE=off and =require (its docstring says how).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (label, shape, queues, every family mixed)
CASES = (
    ("queues, batched", "batched", 200, False),
    ("queues, one event/msg", "single", 200, False),
    ("all families, batched", "batched", 200, True),
    ("10,000 queues, batched", "batched", 10_000, False),
)


def child(shape: str, queues: int, mixed: bool, events: int, repeat: int) -> None:
    """Run the core over one topic `repeat` times; print the build and the median µs/event."""
    import logging

    from bench.decode_bench import END_MS, core
    from bench.pipeline.topics import messages
    from bench.pipeline.workload import PARTITIONS, mixed_events, throughput_events
    from ccpulse import native
    from ccpulse.config import LimitsSettings
    from ccpulse.streams.deadletter import Message

    logging.disable(logging.CRITICAL)
    limits = LimitsSettings(max_queues=2 * queues, max_queues_per_tenant=2 * queues)
    made = (mixed_events if mixed else throughput_events)(events, queues, END_MS)
    msgs, offsets = [], [0] * PARTITIONS
    for key, value, _ in messages(made, 100 if shape == "batched" else 1):
        partition = zlib.crc32(key) % PARTITIONS
        msgs.append(Message("in", partition, offsets[partition], key, value))
        offsets[partition] += 1
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        core(msgs, limits)
        times.append((time.perf_counter() - start) / events * 1e6)
    print(native.in_use, statistics.median(times))


def run(build: str, case: tuple[str, str, int, bool], events: int, repeat: int) -> float:
    _, shape, queues, mixed = case
    env = {**os.environ, "CCPULSE_NATIVE": build}
    args = [sys.executable, __file__, "--child", shape, str(queues), str(int(mixed)),
            "--events", str(events), "--repeat", str(repeat)]  # fmt: skip
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout.split()
    expected = "python" if build == "off" else "compiled"
    if out[0] != expected:
        raise SystemExit(f"asked for {build}, ran {out[0]}")
    return float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the core per child")
    parser.add_argument("--child", nargs=3, metavar=("SHAPE", "QUEUES", "MIXED"))
    args = parser.parse_args()
    if args.child:
        shape, queues, mixed = args.child
        child(shape, int(queues), mixed == "1", args.events, args.repeat)
        return
    print(f"{args.events:,} events, {args.rounds} interleaved rounds of child processes, "
          f"{args.repeat} runs each; µs per event, median over the rounds")  # fmt: skip
    print(f"| {'core (decode, Pipeline.process, state writes)':<46} | Python sources | compiled "
          "| ratio |")  # fmt: skip
    print(f"|{'-' * 48}|---------------:|---------:|------:|")
    for case in CASES:
        python, compiled = [], []
        for _ in range(args.rounds):
            python.append(run("off", case, args.events, args.repeat))
            compiled.append(run("require", case, args.events, args.repeat))
        p, c = statistics.median(python), statistics.median(compiled)
        print(f"| {case[0]:<46} | {p:14.2f} | {c:8.2f} | {p / c:4.2f}x |", flush=True)


if __name__ == "__main__":
    main()
