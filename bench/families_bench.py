"""ccpulse families bench: what each event family of the mixed topic costs the KPI core, per
event, against the queue-only topic, and what a flush of the other families costs before Redis.

Offline, in this process: the pipeline bench's mixed topic (row a2: contacts, agent states,
tickets, survey responses over 200 queues) and its queue-only topic (row a), applied as a
worker applies a fetch: per partition, chunks of 2,000 messages, each family's run in turn
(`family_runs`), the state drained every 50,000 events, the garbage collector at the worker's
thresholds. Each message's decode and `Pipeline.process` are timed and summed by family. Then,
with the mixed topic's state, the flush's work for the other families is timed: their views
(`family_snapshots`), their hashes' layouts and values (`redis_families.FLATS`), and the
sink's commands for them (`RedisSink._put_hash`, queued and never sent: no Redis is needed).
Figures are medians over the rounds; each round builds its pipeline afresh.

    .venv/bin/python bench/families_bench.py                  # one event per message, 5 rounds
    .venv/bin/python bench/families_bench.py --shape batched
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.decode_bench import END_MS  # noqa: E402
from bench.pipeline.topics import messages  # noqa: E402
from bench.pipeline.workload import PARTITIONS, mixed_events, throughput_events  # noqa: E402
from ccpulse.config import load_settings  # noqa: E402
from ccpulse.sinks.redis_client import Transaction  # noqa: E402
from ccpulse.sinks.redis_families import FLATS  # noqa: E402
from ccpulse.sinks.redis_sink import RedisSink  # noqa: E402
from ccpulse.streams.faust_parts import GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD  # noqa: E402
from ccpulse.streams.pipeline import Message, Pipeline, family_runs  # noqa: E402

FETCH = 2_000
WRITE_EVERY = 50_000
FLUSHES = 6
FLUSH_PARTS = ("views", "layouts and values", "commands")


def topic(mixed: bool, per_message: int, events: int) -> list[Message]:
    """The bench's topic in the order a worker applies it, fetch by fetch."""
    made = (mixed_events if mixed else throughput_events)(events, 200, END_MS)
    by_partition: dict[int, list[Message]] = defaultdict(list)
    for key, value, _ in messages(made, per_message):
        partition = zlib.crc32(key) % PARTITIONS
        by_partition[partition].append(
            Message("in", partition, len(by_partition[partition]), key, value)
        )
    out: list[Message] = []
    longest = max(len(msgs) for msgs in by_partition.values())
    for at in range(0, longest, FETCH):
        for msgs in by_partition.values():
            out.extend(family_runs(msgs[at : at + FETCH]))
    return out


def family(m: Message) -> str:
    return (m.key or b"").partition(b"/#")[2].decode() or "contacts"


def apply(msgs: list[Message]) -> tuple[Pipeline, dict[str, float], dict[str, int]]:
    """Seconds and events per family, over one pass of the topic through a new pipeline."""
    settings = load_settings(env={})
    pipeline = Pipeline(settings.policies, settings.limits)
    pipeline.read_clock(END_MS)
    seconds: dict[str, float] = defaultdict(float)
    events: dict[str, int] = defaultdict(int)
    dead: list[object] = []
    health = pipeline.health
    gc.collect()
    gc.set_threshold(GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD, gc.get_threshold()[2])
    written_at = 0
    for m in msgs:
        name = family(m)
        before = health.messages_events
        start = time.perf_counter()
        pipeline.process(m, dead.append)
        seconds[name] += time.perf_counter() - start
        events[name] += health.messages_events - before
        if health.messages_events - written_at >= WRITE_EVERY:
            start = time.perf_counter()
            pipeline.table_writes()
            seconds["state records"] += time.perf_counter() - start
            written_at = health.messages_events
    start = time.perf_counter()
    pipeline.table_writes()
    seconds["state records"] += time.perf_counter() - start
    return pipeline, seconds, events


def flush_parts(pipeline: Pipeline) -> tuple[dict[str, float], int]:
    """Milliseconds per flush of the other families' parts, every tenant changed, and the
    hashes of one flush; the first flush (every hash written in full) is left out."""
    sink = RedisSink(load_settings(env={}).redis)
    sums: dict[str, float] = defaultdict(float)
    hashes = 0
    for i in range(FLUSHES + 1):
        now = END_MS + 5_000 * i
        pipeline._families_published = (-1, -1)  # every tenant's figures, as once a minute
        t = [time.perf_counter()]
        snaps = pipeline.family_snapshots(now)
        t.append(time.perf_counter())
        flats = [flat for name, snap in snaps for flat in FLATS[name](sink.prefix, snap)]
        t.append(time.perf_counter())
        pipe = Transaction()
        for key, flat in flats:
            sink._put_hash(pipe, key, flat, 3600, now)
        t.append(time.perf_counter())
        if i:
            for part, a, b in zip(FLUSH_PARTS, t, t[1:], strict=False):
                sums[part] += (b - a) * 1000 / FLUSHES
        hashes = len(flats)
    return sums, hashes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--shape", choices=("single", "batched"), default="single",
                   help="one event per message (single) or ~100 (batched)")  # fmt: skip
    args = p.parse_args()
    logging.disable(logging.CRITICAL)
    import ccpulse.streams.kpi  # noqa: F401  (the build is chosen when the core is imported)
    from ccpulse import native

    per = 1 if args.shape == "single" else 100
    topics = {"queue-only": topic(False, per, args.events), "mixed": topic(True, per, args.events)}
    per_event: dict[tuple[str, str], list[float]] = defaultdict(list)
    counts: dict[tuple[str, str], int] = {}
    flushes: dict[str, list[float]] = defaultdict(list)
    hashes = 0
    for _ in range(args.rounds):
        for name, msgs in topics.items():
            pipeline, seconds, events = apply(msgs)
            total = sum(events.values())
            for fam, secs in seconds.items():
                n = events.get(fam, total)  # state records: per event of the topic
                per_event[(name, fam)].append(secs / n * 1e6)
                counts[(name, fam)] = n
            per_event[(name, "all")].append(sum(seconds.values()) / total * 1e6)
            counts[(name, "all")] = total
            if name == "mixed":
                parts, hashes = flush_parts(pipeline)
                for part, ms in parts.items():
                    flushes[part].append(ms)
            del pipeline
    print(
        f"{args.events:,} events a topic, {'one event' if per == 1 else '~100 events'} per "
        f"message, {args.rounds} round(s), build: {native.in_use}; medians over the rounds"
    )
    print()
    print(f"| {'topic, family':<38} | {'events':>8} | µs per event |")
    print(f"|{'-' * 40}|{'-' * 9}:|-------------:|")
    for (name, fam), values in per_event.items():
        label = f"{name}, {fam}" + (" (per event)" if fam == "state records" else "")
        print(f"| {label:<38} | {counts[(name, fam)]:>8,} | {statistics.median(values):12.1f} |")
    print()
    print(f"A flush of the other families, every tenant changed ({hashes:,} hashes), before Redis:")
    for part in FLUSH_PARTS:
        print(f"  {part:<20} {statistics.median(flushes[part]):6.1f} ms")


if __name__ == "__main__":
    main()
