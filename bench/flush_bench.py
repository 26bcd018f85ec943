"""ccpulse flush bench: what one publish costs a worker at a steady load, per flush and per queue.

A publish is the worker's flush timer: snapshots of the queues that changed, the /metrics view,
the interval records, and one Redis transaction. This bench runs it offline, in this process,
against a real Redis it starts: a pipeline is fed QUEUES queues at RATE events/s of simulated
traffic (optionally after HISTORY hours of quieter traffic, as late in a day) and publishes
every 0.5 s of event time, as the worker does. The second half of the run is measured.

Each round runs the same events twice, interleaved: as shipped (the sink writes only the fields
whose values changed since its last write) and, as the baseline measured in the same run, with
every hash written in full at every flush (the sink forgets what it wrote). Figures are the
median over the rounds; the verdict compares a flush with the worker's budget (a flush may take
half of the 0.5 s tick while the worker keeps up, `redis.flush_share`). Timings are
measurements: a missed budget prints MISS, never a non-zero exit.

    .venv/bin/python bench/flush_bench.py                      # 2,000 queues, 5,000 ev/s, 3 rounds
    .venv/bin/python bench/flush_bench.py --history-hours 10   # the same, late in the day
    .venv/bin/python bench/flush_bench.py --quick              # one short round
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402

from bench.pipeline.workload import PARTITIONS, live_events  # noqa: E402
from ccpulse.config import load_settings  # noqa: E402
from ccpulse.embedded import start_redis  # noqa: E402
from ccpulse.schemas import decode_object, routing_key  # noqa: E402
from ccpulse.sinks.prometheus_sink import PrometheusSink  # noqa: E402
from ccpulse.sinks.redis_sink import RedisSink  # noqa: E402
from ccpulse.streams.faust_parts import GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD  # noqa: E402
from ccpulse.streams.pipeline import Message, Pipeline  # noqa: E402
from ccpulse.streams.worker import metrics_view  # noqa: E402

TICK_MS = 500
PARTS = ("snapshots", "metrics view", "interval records", "redis publish")


def _messages(events: list[dict[str, Any]]) -> list[tuple[int, Message]]:
    offsets: dict[int, int] = defaultdict(int)
    out = []
    for event in events:
        key = routing_key(decode_object(event, event["ts"] + 10**9))
        partition = hash(key) % PARTITIONS
        out.append((event["ts"], Message("bench", partition, offsets[partition], key.encode(),
                                          orjson.dumps(event))))  # fmt: skip
        offsets[partition] += 1
    return out


async def _run(
    messages: list[tuple[int, Message]], start_ms: int, end_ms: int, url: str, prefix: str,
    in_full: bool,
) -> dict[str, float]:  # fmt: skip
    """One pass over the events, publishing every tick; per measured flush: seconds per part,
    and the queues and intervals published."""
    settings = load_settings(env={"CCPULSE_LIMITS_MAX_QUEUES": "50000"})
    pipeline = Pipeline(settings.policies, settings.limits)
    sink = RedisSink(replace(settings.redis, url=url, key_prefix=prefix))
    prometheus = PrometheusSink(CollectorRegistry())
    latest: dict[Any, Any] = {}
    totals: dict[Any, Any] = {}
    sums: dict[str, float] = defaultdict(float)

    async def flush(now_ms: int, measured: bool) -> None:
        if in_full:
            sink.forget_written()
        t = [time.perf_counter()]
        snapshots = pipeline.snapshots(now_ms)
        t.append(time.perf_counter())
        prometheus.update(metrics_view(pipeline, snapshots, latest, None, totals))
        t.append(time.perf_counter())
        intervals = pipeline.interval_records(open_intervals=True)
        t.append(time.perf_counter())
        await sink.publish(snapshots, intervals, [])
        t.append(time.perf_counter())
        if measured:
            for part, a, b in zip(PARTS, t, t[1:], strict=False):
                sums[part] += b - a
            sums["flushes"] += 1
            sums["queues"] += len(snapshots)
            sums["intervals"] += len(intervals)

    i = 0
    while i < len(messages) and messages[i][0] < start_ms:  # the history, published as it goes
        pipeline.process(messages[i][1], lambda _: None)
        i += 1
        if i % 5_000 == 0:
            pipeline.table_writes()
    pipeline.table_writes()
    pipeline.read_clock(start_ms)
    await flush(start_ms, False)
    while pipeline.dirty_intervals:  # the history's intervals all out before the measure
        await flush(start_ms, False)
    measure_from = start_ms + (end_ms - start_ms) // 2
    for edge in range(start_ms + TICK_MS, end_ms + 1, TICK_MS):
        while i < len(messages) and messages[i][0] < edge:
            pipeline.process(messages[i][1], lambda _: None)
            i += 1
        pipeline.table_writes()
        pipeline.read_clock(edge)
        await flush(edge, edge > measure_from)
    await sink.close()
    flushes = sums.pop("flushes")
    return {name: value / flushes for name, value in sums.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queues", type=int, default=2000, help="queues (2,000: a worker's default)")
    p.add_argument("--rate", type=float, default=5000.0, help="events/s (5,000)")
    p.add_argument("--seconds", type=float, default=40.0, help="of traffic, half measured (40)")
    p.add_argument("--history-hours", type=float, default=0.0,
                   help="hours of earlier traffic, as late in a day (0)")  # fmt: skip
    p.add_argument("--history-rate", type=float, default=20.0, help="events/s of history (20)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    p.add_argument("--quick", action="store_true", help="200 queues, 10 s, one round")
    args = p.parse_args()
    if args.quick:
        args.queues, args.seconds, args.rounds = 200, 10.0, 1
    # The worker's collector setting, so that collections cost the same.
    gc.set_threshold(GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD, gc.get_threshold()[2])
    start_ms = (int(time.time() * 1000) // 60_000) * 60_000 - int(args.seconds * 1000)
    end_ms = start_ms + int(args.seconds * 1000)
    events = live_events(args.queues, args.rate, args.seconds, start_ms)
    if args.history_hours:
        span_ms = int(args.history_hours * 3_600_000)
        history = live_events(args.queues, args.history_rate, span_ms / 1000, start_ms - span_ms)
        for event in history:  # contacts of their own
            event["contact_id"] = f"h{event['contact_id']}"
            event["event_id"] = f"h{event['event_id']}"
        events = history + events
    messages = _messages(events)
    print(f"ccpulse flush bench: {args.queues:,} queues, {args.rate:,.0f} ev/s for "
          f"{args.seconds:.0f} s after {args.history_hours:g} h of history "
          f"({len(events):,} events), flush every {TICK_MS} ms, {args.rounds} rounds",
          flush=True)  # fmt: skip
    redis = start_redis()
    url = f"redis://127.0.0.1:{redis.port}/0"
    runs: dict[str, list[dict[str, float]]] = {"shipped": [], "in full": []}
    try:
        for n in range(args.rounds):
            for kind in runs:
                result = asyncio.run(_run(messages, start_ms, end_ms, url,
                                          f"b{n}{kind[0]}", kind == "in full"))  # fmt: skip
                runs[kind].append(result)
                total = sum(result[part] for part in PARTS)
                print(f"  [{n + 1}] {kind:<8} {total * 1000:7.1f} ms a flush "
                      f"({result['queues']:,.0f} queues, {result['intervals']:,.0f} intervals)",
                      flush=True)  # fmt: skip
    finally:
        redis.stop()
    med = {
        kind: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for kind, rs in runs.items()
    }
    print("\nMedian per measured flush, ms (per queue published, µs)\n")
    print(f"| {'part':<18} | {'shipped':>16} | {'in full (baseline)':>20} | {'ratio':>6} |")
    print(f"|{'-' * 20}|{'-' * 18}:|{'-' * 22}:|{'-' * 7}:|")
    for part in (*PARTS, "total"):
        values = [sum(m[p] for p in PARTS) if part == "total" else m[part] for m in med.values()]
        per_queue = [v / m["queues"] * 1e6 for v, m in zip(values, med.values(), strict=True)]
        print(f"| {part:<18} | {values[0] * 1000:7.1f} ({per_queue[0]:5.0f}) | "
              f"{values[1] * 1000:11.1f} ({per_queue[1]:5.0f}) | {values[0] / values[1]:5.2f}x |")
    shipped = sum(med["shipped"][p] for p in PARTS)
    budget = TICK_MS / 1000 / 2
    verdict = "PASS" if shipped <= budget else "MISS"
    print(f"\n  {verdict}  a flush within half the {TICK_MS} ms tick (the worker's budget while "
          f"keeping up): {shipped * 1000:.0f} ms")


if __name__ == "__main__":
    main()
