"""ccpulse queues bench: the KPI core's cost at 10,000 queues against 200, by how often the state
is drained and with the minute buckets left out.

The core of `bench/native_bench.py` (decode, `Pipeline.process` and the state records) over the
pipeline bench's queue topic, offline: the same 200,000 events spread over 200 queues (row a)
or 10,000 (row a3), the state drained every N messages, as a worker drains after every fetch
and every `kafka.state_write_every_events` events within one. Each case runs in a child
process of its own, the queue counts of a case one after the other, round after round; each
figure is the median over the rounds, and the ratio (200 queues' µs per event over 10,000
queues', the figure the pipeline bench's target reads, >= 0.8) the median of the rounds'. The
garbage collector runs with the worker's thresholds (streams/faust_parts.py).

"no minute buckets" is a diagnosis, not a setting: the engines keep no minute buckets (as a
range report's do), so the rolling windows would be empty; it says what those buckets cost.

    .venv/bin/python bench/queues_bench.py                    # one event per message, 5 rounds
    .venv/bin/python bench/queues_bench.py --shape batched --rounds 1
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

MANY, FEW = 10_000, 200
#: (label, drain every N messages (0: once, at the end), minute buckets kept)
CASES = (
    ("drained every 2,000 messages", 2_000, True),
    ("drained every 10,000 messages", 10_000, True),
    ("drained every 50,000 messages", 50_000, True),
    ("drained once, at the end", 0, True),
    ("every 50,000, no minute buckets", 50_000, False),
)


def child(shape: str, queues: int, every: int, minutes: bool, events: int) -> None:
    """Run the core over one topic once; print the build, µs per event and records written."""
    import gc
    import logging

    from bench.decode_bench import END_MS
    from bench.pipeline.topics import messages
    from bench.pipeline.workload import PARTITIONS, throughput_events
    from ccpulse import native
    from ccpulse.config import LimitsSettings
    from ccpulse.streams.deadletter import Message
    from ccpulse.streams.faust_parts import GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD
    from ccpulse.streams.kpi.engine import Engine
    from ccpulse.streams.kpi.policy import PolicyBook
    from ccpulse.streams.pipeline import Pipeline

    logging.disable(logging.CRITICAL)
    limits = LimitsSettings(max_queues=2 * queues, max_queues_per_tenant=2 * queues)
    made = throughput_events(events, queues, END_MS)
    msgs, offsets = [], [0] * PARTITIONS
    for key, value, _ in messages(made, 100 if shape == "batched" else 1):
        partition = zlib.crc32(key) % PARTITIONS
        msgs.append(Message("in", partition, offsets[partition], key, value))
        offsets[partition] += 1
    pipeline = Pipeline(PolicyBook(), limits)
    pipeline.read_clock(END_MS)
    if not minutes:
        for partition in range(PARTITIONS):  # made now, so that process() finds them
            engine: Engine = pipeline.engine(partition)
            engine.keeps_minutes = False
    dead: list[object] = []
    records = 0
    gc.collect()
    gc.set_threshold(GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD, gc.get_threshold()[2])  # the worker's
    start = time.perf_counter()
    for i, m in enumerate(msgs):
        pipeline.process(m, dead.append)
        if every and i % every == every - 1:
            records += len(pipeline.table_writes())
    records += len(pipeline.table_writes())
    seconds = time.perf_counter() - start
    print(native.in_use, seconds / len(made) * 1e6, records)


def run(shape: str, queues: int, every: int, minutes: bool, events: int) -> tuple[float, int]:
    args = [sys.executable, __file__, "--child", shape, str(queues), str(every),
            str(int(minutes)), "--events", str(events)]  # fmt: skip
    out = subprocess.run(args, env=dict(os.environ), capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    import ccpulse.streams.kpi  # noqa: F401
    from ccpulse import native

    if out[0] != native.in_use:
        raise SystemExit(f"this process runs the {native.in_use} build, its child {out[0]}")
    return float(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--shape", choices=("single", "batched"), default="single",
                        help="one event per message (single) or ~100 (batched)")  # fmt: skip
    parser.add_argument("--child", nargs=4, metavar=("SHAPE", "QUEUES", "EVERY", "MINUTES"))
    args = parser.parse_args()
    if args.child:
        shape, queues, every, minutes = args.child
        child(shape, int(queues), int(every), minutes == "1", args.events)
        return
    import ccpulse.streams.kpi  # noqa: F401  (the build is chosen when the core is imported)
    from ccpulse import native

    print(f"{args.events:,} events, {'one event' if args.shape == 'single' else '~100 events'} "
          f"per message, {args.rounds} round(s), build: {native.in_use}; µs per event "
          "(records written), median over the rounds")  # fmt: skip
    print(f"| {'case':<34} | {f'{MANY:,} queues':>20} | {f'{FEW:,} queues':>20} | "
          f"{f'{FEW:,} ÷ {MANY:,} (range)':>20} |")  # fmt: skip
    print(f"|{'-' * 36}|{'-' * 21}:|{'-' * 21}:|{'-' * 21}:|")
    for label, every, minutes in CASES:
        many, few = [], []
        for _ in range(args.rounds):
            many.append(run(args.shape, MANY, every, minutes, args.events))
            few.append(run(args.shape, FEW, every, minutes, args.events))
        m = statistics.median(t for t, _ in many)
        f = statistics.median(t for t, _ in few)
        cells = [f"{t:.1f} ({r:,})" for t, r in ((m, many[0][1]), (f, few[0][1]))]
        # Each round's pair ran back to back: its ratio is spared the machine's slower hours.
        ratios = sorted(b[0] / a[0] for a, b in zip(many, few, strict=True))
        ratio = f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"
        print(f"| {label:<34} | {cells[0]:>20} | {cells[1]:>20} | {ratio:>20} |", flush=True)


if __name__ == "__main__":
    main()
