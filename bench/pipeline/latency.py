"""Produce-to-Redis latency of the real `ccpulse worker` at a fixed offered load."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import orjson

from ccpulse.embedded import free_port
from ccpulse.sources.produce import group_by_queue

from .runner import Bench, CpuWatch
from .topics import _producer, create_topics
from .workload import COUNT_FIELDS, live_events


@dataclass
class Latency:
    variant: str = ""
    label: str = ""
    offered_rate: float = 0.0
    seconds: float = 0.0
    events: int = 0
    messages: int = 0
    measured_events: int = 0
    unmatched_events: int = 0
    p50: float = math.nan
    p90: float = math.nan
    p99: float = math.nan
    max: float = math.nan
    event_time_p50: float = math.nan
    event_time_p99: float = math.nan
    #: mean time between two flushes to Redis, and snapshot-to-notice time of a flush
    flush_period: float = math.nan
    others_cores: float = 0.0
    publish_p50: float = math.nan
    publish_max: float = math.nan
    status: str = "ok"


def percentile(samples: list[tuple[float, int]], q: float) -> float:
    """Weighted percentile of (value, weight) samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    total = sum(w for _, w in ordered)
    rank = q * total
    seen = 0
    for value, weight in ordered:
        seen += weight
        if seen >= rank:
            return value
    return ordered[-1][0]


async def _wait_ready(bench: Bench, name: str, topic: str, timeout: float) -> bool:
    """Send probe events until the worker has published one to Redis (group joined)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis(port=bench.redis.port)
    producer = _producer(bench.broker)
    await producer.start()
    try:
        deadline = time.monotonic() + timeout
        n = 0
        while time.monotonic() < deadline:
            n += 1
            now = int(time.time() * 1000)
            probe = {"event_id": f"probe-{n}", "type": "contact.offered", "ts": now,
                     "tenant": "bench", "queue": "probe", "channel": "voice",
                     "contact_id": f"probe-{n}"}  # fmt: skip
            await producer.send_and_wait(topic, orjson.dumps(probe), key=b"bench/probe")
            for _ in range(10):
                if await client.exists(f"{name}:queue:bench:probe"):
                    return True
                await asyncio.sleep(0.2)
        return False
    finally:
        await producer.stop()
        await client.aclose()


async def _latency_run(
    bench: Bench, name: str, events: list[dict[str, Any]], warmup: float, tick: float
) -> Latency:
    import redis.asyncio as aioredis

    topic = f"{name}.contacts"
    result = Latency()
    client = aioredis.Redis(port=bench.redis.port)
    pubsub = client.pubsub()
    await pubsub.subscribe(f"{name}:updates")
    notices: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
    #: per queue: (cumulative events sent, send time, [event ts]) per message, oldest first
    pending: dict[str, deque[tuple[int, float, list[int]]]] = defaultdict(deque)
    delays: list[tuple[float, int]] = []
    event_delays: list[tuple[float, int]] = []
    measure_from = 0.0
    #: as_of_ms of each flush (the worker's clock when it built the snapshots) -> first notice
    flushes: dict[int, float] = {}

    async def listen() -> None:
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is not None:
                t_seen = time.time()
                notice = orjson.loads(msg["data"])
                notices.put_nowait((t_seen, notice["queue"]))
                flushes.setdefault(notice["as_of_ms"], t_seen)

    async def match() -> None:
        while True:
            batch = [await notices.get()]
            while not notices.empty():
                batch.append(notices.get_nowait())
            pipe = client.pipeline(transaction=False)
            for _, queue in batch:
                tenant, q = queue.split("/", 1)
                pipe.hmget(f"{name}:queue:{tenant}:{q}", COUNT_FIELDS)
            for (t_seen, queue), values in zip(batch, await pipe.execute(), strict=True):
                reflected = sum(int(float(v)) for v in values if v)
                waiting = pending.get(queue)
                while waiting and waiting[0][0] <= reflected:
                    _, t_sent, stamps = waiting.popleft()
                    if t_sent >= measure_from:
                        delays.append((t_seen - t_sent, len(stamps)))
                        event_delays.extend((t_seen - ts / 1000, 1) for ts in stamps)

    tasks = [asyncio.create_task(listen()), asyncio.create_task(match())]
    producer = _producer(bench.broker)
    await producer.start()
    try:
        shift = int(time.time() * 1000) + 500 - events[0]["ts"]
        for ev in events:
            ev["ts"] += shift
        t_start = time.time()
        measure_from = t_start + warmup
        sent: dict[str, int] = defaultdict(int)
        futures = []
        i = 0
        measured = 0
        while i < len(events):
            now_ms = time.time() * 1000
            j = i
            while j < len(events) and events[j]["ts"] <= now_ms:
                j += 1
            for key, batch in group_by_queue(events[i:j], 1_000_000):
                value = orjson.dumps(batch)
                t_sent = time.time()
                futures.append(await producer.send(topic, value, key=key.encode()))
                sent[key] += len(batch)
                pending[key].append((sent[key], t_sent, [e["ts"] for e in batch]))
                if t_sent >= measure_from:
                    measured += len(batch)
                result.messages += 1
            result.events += j - i
            i = j
            if i < len(events):
                await asyncio.sleep(max(0.0, min(tick, (events[i]["ts"] - now_ms) / 1000)))
        await asyncio.gather(*futures)
        t_end = time.time()
        deadline = time.monotonic() + 10.0
        while any(pending.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        result.seconds = t_end - t_start
        result.offered_rate = result.events / result.seconds
        result.measured_events = sum(n for _, n in delays)
        result.unmatched_events = measured - result.measured_events
        # An event never seen in Redis within 10 s counts as infinitely late.
        tail = [(math.inf, result.unmatched_events)] if result.unmatched_events else []
        result.p50 = percentile(delays + tail, 0.50)
        result.p90 = percentile(delays + tail, 0.90)
        result.p99 = percentile(delays + tail, 0.99)
        result.max = max((d for d, _ in delays + tail), default=math.nan)
        result.event_time_p50 = percentile(event_delays, 0.50)
        result.event_time_p99 = percentile(event_delays, 0.99)
        stamps = sorted((a, t) for a, t in flushes.items() if t >= measure_from)
        if len(stamps) > 1:
            result.flush_period = (stamps[-1][0] - stamps[0][0]) / 1000 / (len(stamps) - 1)
            lags = [(t - a / 1000, 1) for a, t in stamps]
            result.publish_p50 = percentile(lags, 0.5)
            result.publish_max = max(lag for lag, _ in lags)
    finally:
        for task in tasks:
            task.cancel()
        await producer.stop()
        await pubsub.aclose()
        await client.aclose()
    return result


#: (label, settings that differ from the defaults)
LATENCY_VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "shipped": ("`ccpulse worker` as shipped (fetch wait 50 ms, flush every 0.5 s)", {}),
    "flush1": ("same, redis.flush_interval_seconds=1.0",
               {"CCPULSE_REDIS_FLUSH_INTERVAL_SECONDS": "1.0"}),
    "fetch1500-flush1": ("same, kafka.fetch_max_wait_ms=1500 (Faust's) + flush every 1 s",
                         {"CCPULSE_KAFKA_FETCH_MAX_WAIT_MS": "1500",
                          "CCPULSE_REDIS_FLUSH_INTERVAL_SECONDS": "1.0"}),
}  # fmt: skip


def measure_latency(
    bench: Bench, variant: str, rate: float, seconds: float, queues: int
) -> Latency:
    label, extra = LATENCY_VARIANTS[variant]
    name = f"bench-latency-{variant.replace('.', '')}-{uuid.uuid4().hex[:6]}"
    warmup = min(5.0, seconds / 4)
    events = live_events(queues, rate, seconds, 1_700_000_000_000)
    asyncio.run(create_topics(bench.broker, [f"{name}.contacts", f"{name}.deadletter"]))
    proc = bench.start_worker(name, free_port(), extra)
    try:
        if not asyncio.run(_wait_ready(bench, name, f"{name}.contacts", 90.0)):
            return Latency(variant, label, status=f"worker not ready in 90 s ({bench.log(name)})")
        load = CpuWatch(bench)
        result = asyncio.run(_latency_run(bench, name, events, warmup, tick=0.25))
        load.sample(proc.pid)
        result.others_cores = load.others()
    finally:
        bench.stop(proc)
    result.variant, result.label = variant, label
    print(f"  latency [{label}]: {result.events:,} events in {result.messages:,} messages over "
          f"{result.seconds:.1f} s ({result.offered_rate:,.0f} ev/s); p50 {result.p50:.3f} s, "
          f"p99 {result.p99:.3f} s, max {result.max:.3f} s, unmatched "
          f"{result.unmatched_events}", flush=True)  # fmt: skip
    return result
