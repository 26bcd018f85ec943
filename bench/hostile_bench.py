"""Hostile-input and cardinality bench: what garbage and many names cost a running worker.

Starts the embedded broker (Tansu) and Redis, and runs a real worker (`ccpulse worker`) per run,
each on its own topics, consumer group and Redis prefix:

  hostile      valid history interleaved with N hostile messages from tests/hostile.py (default
               1,000,000; the megabyte-sized kinds about once in 5,000), pre-filled, then
               consumed. Reports worker crashes and tracebacks (target 0), valid events not
               counted (target 0; `ccpulse_events_total` against the events produced), hostile
               elements not dead-lettered, whether Redis equals `ccpulse report` on the valid
               events, and peak RSS (VmHWM) against the same run without garbage (target < 2x).
  cardinality  one message per queue for 1,000 and 10,000 queues, and 20,000 agent logins:
               RSS, flush time, /metrics scrape time and size, and CPU while idle.

Figures go to docs/performance.md. Usage:

  .venv/bin/python bench/hostile_bench.py                       # everything (~15 min)
  .venv/bin/python bench/hostile_bench.py --messages 20000 --only hostile   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402

from ccpulse.embedded import Service, start_broker, start_redis  # noqa: E402
from ccpulse.sources.produce import bootstrap_servers  # noqa: E402
from tests.hostile import BULK_WEIGHTS, elements, hostile_messages  # noqa: E402
from tests.integration.conftest import Deployment  # noqa: E402
from tests.integration.helpers import history, wait_until_published_equals_report  # noqa: E402

CHUNKS = 50


def produce_raw(dep: Deployment, items: Iterator[tuple[bytes | None, bytes]]) -> None:
    """Send raw messages fast: no wait per message, in order per partition."""

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(dep.broker_url),
                                    max_request_size=2 * 1024 * 1024, linger_ms=20,
                                    max_batch_size=512 * 1024)  # fmt: skip
        await producer.start()
        try:
            pending = []
            for key, value in items:
                pending.append(await producer.send(dep.topic, value, key=key))
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    asyncio.run(go())


def proc_status(pid: int, field: str) -> float:
    """A /proc/<pid>/status figure in MB (VmRSS, VmHWM: peak RSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks


def scrape(port: int) -> tuple[str, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=600) as resp:
        text = resp.read().decode()
    return text, time.perf_counter() - started


def metric_sum(text: str, name: str) -> float:
    """Sum of every sample of `name` (any labels)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


def hostile_run(broker: Service, redis: Service, events: list[dict[str, Any]], count: int,
                seed: int, timeout: float) -> dict[str, Any]:  # fmt: skip
    dep = Deployment(broker, redis, f"hb{uuid.uuid4().hex[:8]}")
    dep.create_topics()
    hostile = hostile_messages(seed, count, key=b"acme/billing", weights=BULK_WEIGHTS)
    expected = 0
    size, step = len(events) // CHUNKS + 1, count // CHUNKS + 1
    started = time.monotonic()
    for i in range(CHUNKS):
        dep.produce(events[i * size : (i + 1) * size], batch_size=25)
        chunk = [(k, v) for _, k, v in islice(hostile, step)]
        expected += sum(elements(v) for _, v in chunk)
        produce_raw(dep, iter(chunk))
    produced_s = time.monotonic() - started
    try:
        started = time.monotonic()
        proc = dep.start_worker()
        crashes, peak, valid, dead = 0, 0.0, 0.0, 0.0
        while time.monotonic() - started < timeout:
            if proc.poll() is not None:
                crashes += 1
                proc = dep.start_worker()
            try:
                peak = max(peak, proc_status(proc.pid, "VmHWM"))
                text, _ = scrape(dep.metrics_ports[-1])
            except (OSError, ValueError):
                time.sleep(1.0)
                continue
            valid = metric_sum(text, "ccpulse_events_total")
            dead = metric_sum(text, "ccpulse_events_dead_lettered_total")
            if valid >= len(events) and dead >= expected:
                break
            time.sleep(1.0)
        consumed_s = time.monotonic() - started
        try:
            wait_until_published_equals_report(dep, events, None, timeout=120)
            exact = True
        except AssertionError:
            exact = False
        logs = "".join(log.read_text() for log in dep.logs)
        return {
            "hostile_messages": count, "hostile_elements": expected, "valid_events": len(events),
            "produce_s": round(produced_s, 1), "consume_s": round(consumed_s, 1),
            "crashes": crashes, "tracebacks": logs.count("Traceback"),
            "lost_valid_events": int(len(events) - valid),
            "elements_not_dead_lettered": int(expected - dead),
            "redis_equals_report": exact, "peak_rss_mb": round(peak, 1),
        }  # fmt: skip
    finally:
        dep.stop_all()


def cardinality_run(broker: Service, redis: Service, queues: int, agents: int,
                    tmp: Path, waiting: bool = False) -> dict[str, Any]:  # fmt: skip
    dep = Deployment(broker, redis, f"hc{uuid.uuid4().hex[:8]}")
    config = tmp / f"{dep.name}.toml"
    config.write_text("[limits]\nmax_queues = 1000000\nmax_queues_per_tenant = 1000000\n"
                      "max_agents = 1000000\nmax_agents_per_tenant = 1000000\n")  # fmt: skip
    dep.config = config
    dep.create_topics()
    now = int(time.time() * 1000)
    items: list[tuple[bytes | None, bytes]] = []
    for q in range(queues):
        # A blocked contact: the queue is quiet afterwards. An offered one would wait, and a
        # queue with a contact waiting is written at every flush (its live wait ticks).
        kind = {"type": "contact.offered"} if waiting else {"type": "contact.blocked",
                                                              "reason": "full"}  # fmt: skip
        event = {"event_id": f"o{q}", **kind, "ts": now - 120_000,
                 "queue": f"q{q:06d}", "contact_id": f"c{q}"}  # fmt: skip
        items.append((f"default/q{q:06d}".encode(), orjson.dumps(event)))
    for a in range(agents):
        event = {"event_id": f"l{a}", "type": "agent.state", "ts": now - 120_000,
                 "agent_id": f"agent{a:06d}", "state": "available"}  # fmt: skip
        items.append((b"default/#agents", orjson.dumps(event)))
    produce_raw(dep, iter(items))
    try:
        proc = dep.start_worker()
        port = dep.metrics_ports[-1]
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            assert proc.poll() is None, dep.tail_logs()
            try:
                text, _ = scrape(port)
            except OSError:
                time.sleep(1.0)
                continue
            if metric_sum(text, "ccpulse_messages_total") >= len(items):
                break
            time.sleep(2.0)
        time.sleep(15.0)  # first full writes done
        text, _ = scrape(port)
        count0 = metric_sum(text, "ccpulse_flush_duration_seconds_count")
        sum0 = metric_sum(text, "ccpulse_flush_duration_seconds_sum")
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(60.0)  # idle: a minute, so that the minute tick is in it
        cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
        scrapes = [scrape(port) for _ in range(3)]
        text = scrapes[-1][0]
        count1 = metric_sum(text, "ccpulse_flush_duration_seconds_count")
        sum1 = metric_sum(text, "ccpulse_flush_duration_seconds_sum")
        return {
            "queues": queues, "agents": agents, "contact_waiting_per_queue": waiting,
            "rss_mb": round(proc_status(proc.pid, "VmRSS"), 1),
            "idle_cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
            "flush_ms_mean_idle": round(1000 * (sum1 - sum0) / max(1.0, count1 - count0), 2),
            "scrape_s_median": round(statistics.median(s for _, s in scrapes), 3),
            "metrics_mb": round(len(text.encode()) / 1e6, 2),
            "series": sum(1 for line in text.splitlines() if line and line[0] != "#"),
        }  # fmt: skip
    finally:
        dep.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="hostile messages")
    parser.add_argument("--contacts", type=int, default=20_000, help="contacts of valid history")
    parser.add_argument("--only", default="hostile,cardinality")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per hostile run, s")
    parser.add_argument("--waiting", action="store_true",
                        help="cardinality queues each with a contact waiting (written at every "
                        "flush), not quiet")  # fmt: skip
    args = parser.parse_args()
    broker, redis = start_broker(), start_redis()
    tmp = ROOT / ".ccpulse" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        if "hostile" in args.only:
            now = int(time.time() * 1000)
            events = history(seed=1, contacts=args.contacts, end_ms=now - 60_000,
                             span_ms=4 * 3_600_000)  # fmt: skip
            clean = hostile_run(broker, redis, events, 0, 1, args.timeout)
            print("clean   ", clean, flush=True)
            dirty = hostile_run(broker, redis, events, args.messages, 2, args.timeout)
            print("hostile ", dirty, flush=True)
            ratio = dirty["peak_rss_mb"] / max(1.0, clean["peak_rss_mb"])
            print(f"peak RSS with garbage / without: {ratio:.2f}x (target < 2x)", flush=True)
        if "cardinality" in args.only:
            for queues, agents in ((1_000, 0), (10_000, 0), (0, 20_000)):
                result = cardinality_run(broker, redis, queues, agents, tmp, args.waiting)
                print("cardinality", result, flush=True)
    finally:
        redis.stop()
        broker.stop()


if __name__ == "__main__":
    main()
