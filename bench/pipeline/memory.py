"""Peak RSS of the real `ccpulse worker` fed a day of traffic for many queues."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass

from ccpulse.config import LimitsSettings
from ccpulse.embedded import free_port

from .child import _peak_rss_mb
from .runner import Bench, CpuWatch
from .topics import committed, create_topics, messages, produce
from .workload import BATCH, day_events


@dataclass
class Memory:
    queues: int = 0
    events: int = 0
    messages: int = 0
    intervals_per_queue: float = 0.0
    events_counted: int = 0
    seconds: float = 0.0
    intervals_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    end_rss_mb: float = 0.0
    others_cores: float = 0.0
    #: Queues in the worker's Redis index, and events refused over a [limits] cap: all of
    #: them must be admitted for the figure to mean what it says.
    queues_published: int = 0
    over_limit: int = 0
    status: str = "ok"


def _scrape_events(port: int) -> tuple[int, int]:
    """ccpulse_events_total summed over verdicts, and ccpulse_over_limit_events_total summed
    over limits, from the worker's /metrics."""
    from urllib.request import urlopen

    total = refused = 0.0
    with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("ccpulse_events_total{"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith("ccpulse_over_limit_events_total{"):
                refused += float(line.rsplit(" ", 1)[1])
    return int(total), int(refused)


def limits_env(n_queues: int) -> dict[str, str]:
    """The worker's queue cap raised for a run of more queues than its default admits (what a
    deployment of that many queues per worker sets; docs/deploy.md)."""
    if n_queues <= LimitsSettings().max_queues:
        return {}
    return {"CCPULSE_LIMITS_MAX_QUEUES": str(2 * n_queues)}


def measure_memory(bench: Bench, n_queues: int, contacts_per_hour: float) -> Memory:
    import psutil
    import redis

    name = f"bench-memory-{uuid.uuid4().hex[:6]}"
    topic = f"{name}.contacts"
    events = day_events(n_queues, contacts_per_hour, int(time.time() * 1000) - 60_000)
    msgs = messages(events, BATCH)
    asyncio.run(create_topics(bench.broker, [topic, f"{name}.deadletter"]))
    last = asyncio.run(produce(bench.broker, topic, msgs))
    result = Memory(queues=n_queues, events=len(events), messages=len(msgs))
    port = free_port()
    load = CpuWatch(bench)
    proc = bench.start_worker(name, port, limits_env(n_queues))
    ps = psutil.Process(proc.pid)
    t0 = time.monotonic()
    sampled = 0.0
    try:
        # A day for 10,000 queues is ten times the events of 1,000: the allowance grows with it.
        deadline = t0 + max(bench.args.memory_timeout, len(events) / 5_000)
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1.0)
            sampled = max(sampled, ps.memory_info().rss / 2**20)
            done = asyncio.run(committed(bench.broker, name, last, topic))
            if all(done.get(p, -1) > off for p, off in last.items()):
                break
            if sampled > bench.args.memory_cap:
                result.status = f"stopped at {sampled:.0f} MB RSS (--memory-cap)"
                break
        else:
            result.status = "timeout" if proc.poll() is None else f"worker exited {proc.returncode}"
        result.seconds = time.monotonic() - t0
        # Caught up; the worker then writes the day's intervals to Redis, at most 1,000 per
        # flush: wait until every queue's interval index has stopped growing for longer than
        # two flush periods of catch-up mode (5 s each), memory sampled on meanwhile.
        # ~70 intervals per queue at 4,000 a flush: 10,000 queues need ~175 flushes.
        client = redis.Redis(port=bench.redis.port)
        sizes_before: list[int] = []
        stable_since = time.monotonic()
        settle_deadline = time.monotonic() + max(120.0, n_queues * 0.06)
        while time.monotonic() < settle_deadline:
            time.sleep(2.0)
            sampled = max(sampled, ps.memory_info().rss / 2**20)
            members = client.zrange(f"{name}:queues", 0, -1)
            pipe = client.pipeline(transaction=False)
            for m in members:
                pipe.zcard(f"{name}:intervals:{m.decode().replace('/', ':', 1)}")
            sizes = pipe.execute()
            if not sizes or sizes != sizes_before:
                stable_since = time.monotonic()
            elif time.monotonic() - stable_since > 12.0:
                break
            sizes_before = sizes
        else:
            if result.status == "ok":
                result.status = "intervals still being written at the settle deadline"
        if sizes_before:
            result.intervals_per_queue = sum(sizes_before) / len(sizes_before)
        result.queues_published = len(sizes_before)
        result.intervals_seconds = stable_since - t0 - result.seconds  # the last change seen
        client.close()
        with contextlib.suppress(OSError):  # one scrape, as Prometheus would
            result.events_counted, result.over_limit = _scrape_events(port)
        if result.status == "ok" and (result.over_limit or result.queues_published != n_queues):
            result.status = (f"{result.queues_published} of {n_queues} queues published, "
                             f"{result.over_limit} events over a limit")  # fmt: skip
        sampled = max(sampled, ps.memory_info().rss / 2**20)
        result.peak_rss_mb = max(_peak_rss_mb(proc.pid), sampled)
        result.end_rss_mb = ps.memory_info().rss / 2**20
        load.sample(proc.pid)
        result.others_cores = load.others()
    finally:
        bench.stop(proc)
    print(f"  memory: {n_queues} queues, {result.events:,} events in {result.messages:,} "
          f"messages, {result.queues_published:,} queues and "
          f"{result.intervals_per_queue:.1f} intervals/queue in Redis, "
          f"{result.events_counted:,} events counted; peak RSS {result.peak_rss_mb:.0f} MB "
          f"(end {result.end_rss_mb:.0f} MB), {result.status}", flush=True)  # fmt: skip
    return result
