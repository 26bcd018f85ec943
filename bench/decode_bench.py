"""ccpulse decode bench: what the decoder's fast lane (schemas/decode_fast.py) saves, offline.

The pipeline bench's topics (200 queues; queue events, or every family mixed) are decoded, or
decoded and applied (`Pipeline.process` and the state writes, the "core"), once with the lane
and once with the general decoder alone, the baseline measured in the same run. Runs are
interleaved and each figure is the median over the rounds; the ratio is the baseline's median
over the lane's.

    .venv/bin/python bench/decode_bench.py                  # 200,000 events, 7 rounds
    .venv/bin/python bench/decode_bench.py --events 20000 --rounds 3

Wall-clock time swings from run to run on a shared machine; instructions do not. For counts,
run one part once under callgrind, and subtract the same command with `--once none`:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/decode_bench.py --events 20000 --once core batched lane
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline.topics import messages  # noqa: E402
from bench.pipeline.workload import PARTITIONS, mixed_events, throughput_events  # noqa: E402
from ccpulse.config import LimitsSettings  # noqa: E402
from ccpulse.schemas import decode as decoder  # noqa: E402
from ccpulse.schemas import decode_message  # noqa: E402
from ccpulse.streams.deadletter import Message  # noqa: E402
from ccpulse.streams.kpi import PolicyBook  # noqa: E402
from ccpulse.streams.pipeline import Pipeline  # noqa: E402

#: The end of the simulated traffic: fixed, so that every run decodes the same bytes.
END_MS = 1_796_000_000_000
LANE = decoder.fast_events


def use_lane(on: bool) -> None:
    """The decoder with its fast lane, or the general decoder alone."""
    decoder.fast_events = LANE if on else (lambda _raw, _now, _limit=None: None)  # type: ignore[assignment]


def topic(events: int, shape: str, mixed: bool) -> list[Message]:
    """The bench's messages of `shape`, keyed and spread over partitions as the producer does."""
    made = (mixed_events if mixed else throughput_events)(events, 200, END_MS)
    out, offsets = [], [0] * PARTITIONS
    for key, value, _ in messages(made, 100 if shape == "batched" else 1):
        partition = zlib.crc32(key) % PARTITIONS
        out.append(Message("in", partition, offsets[partition], key, value))
        offsets[partition] += 1
    return out


def decode_all(msgs: list[Message]) -> None:
    for m in msgs:
        decode_message(m.value, now_ms=END_MS)


def core(msgs: list[Message], limits: LimitsSettings | None = None) -> None:
    """Decode and apply every message, writing the state every 20 messages as a fetch would
    (`limits`: the worker's, by default; rows of many queues raise `max_queues`)."""
    pipeline = Pipeline(PolicyBook(), limits)
    pipeline.read_clock(END_MS)
    dead: list[Any] = []
    for i, m in enumerate(msgs):
        pipeline.process(m, dead.append)
        if i % 20 == 19:
            pipeline.table_writes()
    pipeline.table_writes()


PARTS: dict[str, Callable[[list[Message]], None]] = {"decode": decode_all, "core": core}
CASES = (
    ("decode", "batched", False), ("decode", "single", False), ("decode", "batched", True),
    ("core", "batched", False), ("core", "single", False),
)  # fmt: skip


def timed(part: str, msgs: list[Message], lane: bool, events: int) -> float:
    use_lane(lane)
    gc.collect()
    start = time.perf_counter()
    PARTS[part](msgs)
    return (time.perf_counter() - start) / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--once", nargs=3, metavar=("PART", "SHAPE", "LANE"),
        help="run PART (decode, core or none) of SHAPE (batched or single) once, with LANE "
        "(lane or general), for an instruction count",
    )  # fmt: skip
    args = parser.parse_args()
    if args.once:
        part, shape, lane = args.once
        msgs = topic(args.events, shape, mixed=False)
        if part != "none":
            use_lane(lane == "lane")
            PARTS[part](msgs)
        return
    print(f"{args.events:,} events, 200 queues, {args.rounds} interleaved rounds; "
          "µs per event, median over the rounds")  # fmt: skip
    print(f"| {'part':<38} | general decoder | with the lane | ratio |")
    print(f"|{'-' * 40}|----------------:|--------------:|------:|")
    for part, shape, mixed in CASES:
        msgs = topic(args.events, shape, mixed)
        general, lane = [], []
        for _ in range(args.rounds):
            general.append(timed(part, msgs, False, args.events))
            lane.append(timed(part, msgs, True, args.events))
        g, f = statistics.median(general), statistics.median(lane)
        name = f"{part}, {shape}{', all families' if mixed else ''}"
        print(f"| {name:<38} | {g:15.2f} | {f:13.2f} | {g / f:4.2f}x |")
    use_lane(True)


if __name__ == "__main__":
    main()
