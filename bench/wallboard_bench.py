"""ccpulse wallboard bench: many screens on one server process, delay from a Redis publish to
the screens, and the server's memory.

One run starts its own Redis and one `ccpulse wallboard` process, writes QUEUES queue hashes of
one tenant (real hashes: a snapshot of the engine, flattened by the sink), then opens CLIENTS
Server-Sent Events streams from a separate client process. Every FLUSH seconds it rewrites every
queue as the worker does (one MULTI/EXEC: HSET of the changed fields, then one notice per queue
on `<prefix>:updates`) with `as_of_ms` set to the wall clock just before the transaction. Each
client notes, for every queue it receives, its clock minus `as_of_ms`: the delay from publish
to a screen, Redis, the server's read, fan-out, HTTP and the client's own parsing included
(client and server share one clock: same machine).

It also checks that the server holds one Redis subscription for all clients, and samples the
server's RSS (VmRSS) every 0.5 s. Figures are the median over RUNS runs of each run's
percentiles; a missed target prints MISS, never a non-zero exit.

    .venv/bin/python bench/wallboard_bench.py            # 3 runs of 30 s, 200 clients
    .venv/bin/python bench/wallboard_bench.py --quick    # one short run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ccpulse.embedded import free_port, start_redis  # noqa: E402
from ccpulse.sinks.redis_sink import flatten  # noqa: E402
from ccpulse.streams.kpi import PolicyBook  # noqa: E402
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline  # noqa: E402

TARGET_P99_MS = 250.0
TARGET_RSS_MB = 150.0
PREFIX = "bench"


def queue_hashes(queues: int, now_ms: int) -> dict[str, dict[str, str]]:
    """Real queue hashes: a few contacts per queue through the engine, flattened by the sink."""
    pipeline = Pipeline(PolicyBook())
    letters: list[DeadLetter] = []
    for q in range(queues):
        name = f"q{q:03d}"
        events = []
        for n in range(6):
            base = {"tenant": "acme", "queue": name, "contact_id": f"{name}-{n}"}
            ts = now_ms - 600_000 + n * 60_000
            events.append({**base, "event_id": f"{name}-{n}-o", "type": "contact.offered",
                           "ts": ts})  # fmt: skip
            if n < 5:
                events.append({**base, "event_id": f"{name}-{n}-a", "type": "contact.answered",
                               "ts": ts + 15_000, "agent_id": "a"})  # fmt: skip
        message = Message("cc", 0, q, f"acme/{name}".encode(), orjson.dumps(events))
        pipeline.process(message, letters.append)
    return {f"{PREFIX}:queue:acme:{s['queue']}": flatten(s) for s in pipeline.snapshots(now_ms)}


async def publisher(url: str, hashes: dict[str, dict[str, str]], flush_s: float,
                    stop: asyncio.Event) -> int:  # fmt: skip
    """Rewrite every queue each flush, like the worker: changed fields and one notice each."""
    client = aioredis.from_url(url)
    flushes = 0
    while not stop.is_set():
        started = time.monotonic()
        pipe = client.pipeline(transaction=True)
        now = int(time.time() * 1000)
        for key, fields in hashes.items():
            waited = float(fields["live.all.longest_wait_seconds"]) + flush_s
            pipe.hset(key, mapping={"as_of_ms": str(now),
                                    "live.all.longest_wait_seconds": repr(round(waited, 6))})
            member = f"{fields['tenant']}/{fields['queue']}"
            pipe.publish(f"{PREFIX}:updates", orjson.dumps({"queue": member, "as_of_ms": now}))
            fields["live.all.longest_wait_seconds"] = repr(round(waited, 6))
        await pipe.execute()
        flushes += 1
        await asyncio.sleep(max(0.0, flush_s - (time.monotonic() - started)))
    await client.aclose()
    return flushes


# -- the client process -------------------------------------------------------------------


async def one_client(port: int, delays: list[float], ready: list[int], stop: asyncio.Event,
                     measuring: asyncio.Event) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
    writer.write(b"GET /stream?tenant=acme HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream"
                 b"\r\n\r\n")
    await writer.drain()
    event = b""
    first = True
    while not stop.is_set():
        line = await reader.readline()
        if not line:
            raise ConnectionError("stream closed")
        line = line.rstrip(b"\r\n")
        if line.startswith(b"event:"):
            event = line[6:].strip()
        elif line.startswith(b"data:"):
            if first and event == b"snapshot":
                first = False
                ready.append(1)
            elif event == b"queues" and measuring.is_set():
                now = time.time() * 1000
                for model in orjson.loads(line[5:]):
                    delays.append(now - model["as_of_ms"])
    writer.close()


async def clients_main(port: int, clients: int, warmup_s: float, measure_s: float) -> None:
    """Open the streams, wait until all have their snapshot, measure, print JSON delays."""
    delays: list[float] = []
    ready: list[int] = []
    stop, measuring = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(one_client(port, delays, ready, stop, measuring))
             for _ in range(clients)]  # fmt: skip
    deadline = time.monotonic() + 60
    while len(ready) < clients and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    print(orjson.dumps({"ready": len(ready)}).decode(), flush=True)
    await asyncio.sleep(warmup_s)
    measuring.set()
    await asyncio.sleep(measure_s)
    measuring.clear()
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(orjson.dumps({"delays": delays}).decode(), flush=True)


# -- one run --------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def one_run(args: argparse.Namespace) -> dict[str, Any]:
    redis_service = start_redis()
    url = f"redis://127.0.0.1:{redis_service.port}/0"
    port = free_port()
    env = {**os.environ, "CCPULSE_REDIS_URL": url, "CCPULSE_REDIS_KEY_PREFIX": PREFIX}
    server = subprocess.Popen([sys.executable, "-m", "ccpulse.cli", "wallboard", "--port",
                               str(port)], env=env)  # fmt: skip
    try:
        hashes = queue_hashes(args.queues, int(time.time() * 1000))
        seed = aioredis.from_url(url)
        pipe = seed.pipeline(transaction=True)
        for key, fields in hashes.items():
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            member = f"{fields['tenant']}/{fields['queue']}"
            pipe.zadd(f"{PREFIX}:queues", {member: int(fields["as_of_ms"])})
        await pipe.execute()
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            await asyncio.sleep(0.05)
        rss_idle = rss_mb(server.pid)
        client = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", str(port), "--clients", str(args.clients),
            "--warmup", str(args.warmup), "--seconds", str(args.seconds),
            stdout=asyncio.subprocess.PIPE, limit=1 << 28,
        )  # fmt: skip
        assert client.stdout is not None
        ready = orjson.loads(await client.stdout.readline())["ready"]
        subscriptions = (await seed.pubsub_numsub(f"{PREFIX}:updates"))[0][1]
        stop = asyncio.Event()
        pub = asyncio.create_task(publisher(url, hashes, args.flush, stop))
        peak = rss_idle
        end = time.monotonic() + args.warmup + args.seconds
        while time.monotonic() < end:
            peak = max(peak, rss_mb(server.pid))
            await asyncio.sleep(0.5)
        delays = orjson.loads(await client.stdout.readline())["delays"]
        stop.set()
        flushes = await pub
        await client.wait()
        await seed.aclose()
    finally:
        server.terminate()
        server.wait(10)
        redis_service.stop()
    expected = args.clients * args.queues * args.seconds / args.flush
    return {
        "ready": ready, "subscriptions": subscriptions, "flushes": flushes,
        "received": len(delays), "expected": expected,
        "p50": percentile(delays, 50), "p99": percentile(delays, 99), "max": max(delays),
        "rss_idle": rss_idle, "rss_peak": peak,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--queues", type=int, default=20, help="queues of the tenant on screen")
    parser.add_argument("--flush", type=float, default=0.5, help="seconds between rewrites")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured per run")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run of 10 s")
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(clients_main(args.client, args.clients, args.warmup, args.seconds))
        return
    if args.quick:
        args.runs, args.seconds = 1, 10.0
    print(f"wallboard bench: {args.clients} SSE clients, {args.queues} queues rewritten every "
          f"{args.flush} s, {args.runs} run(s) of {args.seconds:.0f} s "
          f"({platform.python_version()}, {os.cpu_count()} CPUs)")  # fmt: skip
    runs = []
    for n in range(args.runs):
        result = asyncio.run(one_run(args))
        runs.append(result)
        print(f"  run {n + 1}: {result['ready']} clients ready, {result['subscriptions']} "
              f"subscription(s), received {result['received'] / result['expected']:.1%} of "
              f"expected updates; delay p50 {result['p50']:.0f} ms, p99 {result['p99']:.0f} ms, "
              f"max {result['max']:.0f} ms; RSS idle {result['rss_idle']:.1f} MB, peak "
              f"{result['rss_peak']:.1f} MB")  # fmt: skip

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    p99, rss = med("p99"), med("rss_peak")
    print(f"median of runs: delay p50 {med('p50'):.0f} ms, p99 {p99:.0f} ms "
          f"({p99 / TARGET_P99_MS:.2f} of the {TARGET_P99_MS:.0f} ms target: "
          f"{'ok' if p99 < TARGET_P99_MS else 'MISS'}); server RSS peak {rss:.1f} MB "
          f"({rss / TARGET_RSS_MB:.2f} of {TARGET_RSS_MB:.0f} MB: "
          f"{'ok' if rss < TARGET_RSS_MB else 'MISS'})")  # fmt: skip


if __name__ == "__main__":
    main()
