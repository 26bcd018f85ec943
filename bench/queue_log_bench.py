"""ccpulse queue_log follower bench: lines/s from an Asterisk queue_log file to the broker.

Generates a large synthetic queue_log (default 200,000 lines: calls answered, abandoned, timed
out, refused, transferred, unanswered rings, pauses, wrap-ups, member changes and housekeeping
lines, time-ordered, the last one a minute old), starts the embedded broker (Tansu, memory
storage) and measures, each from a fresh offset store:

  a. batch parse + map: `queue_log_events(path)` (no follower, no Kafka);
  b. follower, no Kafka: `QueueLogTailer.run` with a sink that drops the events: file reading,
     parsing, mapping (decoder check included), offset store written after every poll;
  c. follower -> broker: `QueueLogTailer.run` with the sink `ccpulse tail-queue-log` uses,
     `send_events(EventProducer)` (JSON arrays of up to 100 events per routing key, acks=all),
     into a fresh 4-partition topic; the clock stops once every line's events are acknowledged.

Rates are lines/s and events/s from the first poll to the last acknowledgement (producer start
excluded); each mode runs `--runs` times and the median is printed, with c/b as the in-run
baseline ratio. Every run's topic is read back and must hold exactly the messages and events
sent.

    .venv/bin/python bench/queue_log_bench.py               # 200k lines, 3 runs per mode
    .venv/bin/python bench/queue_log_bench.py --lines 20000 --runs 1   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccpulse.embedded import Service, start_broker
from ccpulse.sources.produce import EventProducer
from ccpulse.sources.queue_log import WireEvent, queue_log_events, send_events
from ccpulse.sources.tail import QueueLogTailer

PARTITIONS = 4
QUEUES = ("sales", "support", "billing", "returns", "vip", "tech-l1", "tech-l2", "retention",
          "spanish", "french", "outbound-cb", "overflow")  # fmt: skip

# =============================================================================================
# A synthetic queue_log
# =============================================================================================


def synthetic_log(path: Path, n_lines: int, end_s: int, seed: int = 1) -> dict[str, int]:
    """Write `n_lines` time-ordered queue_log lines ending at `end_s`; returns lines per event."""
    calls = n_lines // 3
    for _ in range(6):  # as many calls as it takes to make the lines (about 3.4 a call)
        out = _generate(calls, end_s, seed)
        if len(out) >= n_lines:
            break
        calls = int(calls * n_lines / len(out) * 1.05) + 1
    else:
        raise SystemExit(f"could not generate {n_lines} lines")
    del out[: len(out) - n_lines]  # keep the latest lines: the last one stays at end_s
    counts: dict[str, int] = {}
    with open(path, "w", encoding="utf-8") as fh:
        for _, _, line in out:
            fh.write(line + "\n")
            event = line.split("|", 5)[4]
            counts[event] = counts.get(event, 0) + 1
    return counts


def _generate(calls: int, end_s: int, seed: int) -> list[tuple[int, int, str]]:
    """(ts, seq, line) of `calls` calls at ~2 a second before `end_s`, with the agents' member
    changes and pauses over the same span, sorted."""
    rng = random.Random(seed)
    agents = [f"PJSIP/agent{i:03d}" for i in range(150)]
    member = {a: rng.sample(QUEUES, rng.randint(1, 3)) for a in agents}
    by_queue = {q: [a for a in agents if q in member[a]] or agents[:3] for q in QUEUES}
    span = max(3600, calls // 2)
    start = end_s - span
    out: list[tuple[int, int, str]] = []
    seq = 0

    def add(ts: int, callid: str, queue: str, agent: str, event: str, *data: str) -> None:
        nonlocal seq
        seq += 1
        out.append((min(ts, end_s), seq, "|".join((str(min(ts, end_s)), callid, queue, agent,
                                                    event, *data))))  # fmt: skip

    add(start, "NONE", "NONE", "NONE", "QUEUESTART", "")
    for agent in agents:
        for q in member[agent]:
            add(start + rng.randrange(0, 300), "MANAGER", q, agent, "ADDMEMBER", "")
        # Pauses through the span (lunch, breaks), some via PAUSEALL.
        t = start + rng.randrange(600, 3600)
        while t < end_s - 1200:
            reason = rng.choice(("Break", "Lunch", "Training", "Meeting", ""))
            if rng.random() < 0.5:
                add(t, "NONE", "NONE", agent, "PAUSEALL", reason)
                add(t + rng.randrange(300, 1800), "NONE", "NONE", agent, "UNPAUSEALL", "")
            else:
                q = rng.choice(member[agent])
                add(t, "NONE", q, agent, "PAUSE", reason)
                add(t + rng.randrange(300, 1800), "NONE", q, agent, "UNPAUSE", "")
            t += rng.randrange(2400, 7200)
    for n in range(calls):
        t = start + 300 + rng.randrange(0, span - 1500)
        callid = f"{t}.{n}"
        q = rng.choice(QUEUES)
        fate = rng.random()
        if n % 2000 == 0:
            add(t, "NONE", "NONE", "NONE", rng.choice(("INFO", "CONFIGRELOAD")), "rotate-check")
        if fate < 0.03:
            refusal = rng.choice(("FULL", "JOINEMPTY", "CLOSED", "JOINUNAVAIL"))
            add(t, callid, q, "NONE", refusal, "")
            continue
        add(t, callid, q, "NONE", "ENTERQUEUE", "", f"+1555{rng.randrange(10**7):07d}", "1")
        wait = rng.randrange(1, 240)
        rung = rng.sample(by_queue[q], min(2, len(by_queue[q])))
        if rng.random() < 0.2:
            ring_ms = str(rng.randrange(5000, 20000))
            add(t + min(wait, 15), callid, q, rung[0], "RINGNOANSWER", ring_ms)
        if fate < 0.75:  # answered
            agent = rung[-1]
            add(t + wait, callid, q, agent, "CONNECT", str(wait), f"{t + wait}.{n}", "3")
            talk = rng.randrange(20, 900)
            end = t + wait + talk
            kind = rng.random()
            if kind < 0.6:
                add(end, callid, q, agent, "COMPLETECALLER", str(wait), str(talk), "1")
            elif kind < 0.9:
                add(end, callid, q, agent, "COMPLETEAGENT", str(wait), str(talk), "1")
            elif kind < 0.95:
                add(end, callid, q, agent, "TRANSFER", "200", "from-internal", str(wait),
                    str(talk), "1")  # fmt: skip
            else:
                add(end, callid, q, agent, "BLINDTRANSFER", "2000", "from-internal", str(wait),
                    str(talk), "1")  # fmt: skip
            if rng.random() < 0.25:
                add(end, "NONE", q, agent, "WRAPUPSTART", "")
        elif fate < 0.9:  # abandoned, its ringing member cancelled
            add(t + wait, callid, q, rung[-1], "RINGCANCELED", str(rng.randrange(1000, 9000)))
            add(t + wait, callid, q, "NONE", "ABANDON", "1", "1", str(wait))
        elif fate < 0.96:
            add(t + wait, callid, q, "NONE", "EXITWITHTIMEOUT", "1", "1", str(wait))
        else:
            add(t + wait, callid, q, "NONE", "EXITWITHKEY", "5", "1", "1", str(wait))
    out.sort()
    return out


# =============================================================================================
# Measurements
# =============================================================================================


@dataclass
class Run:
    mode: str
    lines: int
    events: int
    seconds: float
    messages: int = 0
    #: Size of the offset store at the end (the mapper's visits of the last day are in it).
    store_bytes: int = 0

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.seconds

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


def run_batch(path: Path) -> Run:
    t = time.perf_counter()
    events, stats = queue_log_events(path)
    return Run("batch", stats.lines, len(events), time.perf_counter() - t)


async def _follow(
    path: Path, store: Path, n_lines: int, send: Callable[[list[WireEvent]], Any]
) -> tuple[int, float]:
    """Run the follower over the whole file; (events handed off, seconds)."""
    tailer = QueueLogTailer(path, store)
    stop = asyncio.Event()
    handed = 0

    async def sink(events: list[WireEvent]) -> None:
        nonlocal handed
        result = send(events)
        if asyncio.iscoroutine(result):
            await result
        handed += len(events)
        if tailer.mapper.stats.lines >= n_lines:
            stop.set()

    t = time.perf_counter()
    await asyncio.wait_for(tailer.run(sink, poll_interval=0.05, stop=stop), 600)
    rest = tailer.mapper.flush()  # held back "available"s: the follower would flush them when idle
    if rest:
        await sink(rest)
        tailer.commit()
    seconds = time.perf_counter() - t
    tailer.close()
    if tailer.mapper.stats.lines != n_lines:
        raise SystemExit(f"the follower read {tailer.mapper.stats.lines} of {n_lines} lines")
    return handed, seconds


def run_follower_no_kafka(path: Path, workdir: Path, n_lines: int) -> Run:
    store = workdir / f"drop-{uuid.uuid4().hex[:6]}.json"
    handed, seconds = asyncio.run(_follow(path, store, n_lines, lambda events: None))
    return Run("follower", n_lines, handed, seconds, store_bytes=store.stat().st_size)


async def _count_on_topic(broker: Service, topic: str, messages: int) -> tuple[int, int]:
    """(messages, events) read back from the topic, from its start. End offsets are not used:
    Tansu's ListOffsets "latest" can be below the last offset + 1."""
    import orjson
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=f"127.0.0.1:{broker.port}",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    seen = events = 0
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + 60
        while seen < messages and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                seen += len(records)
                events += sum(len(orjson.loads(r.value)) for r in records)
    finally:
        await consumer.stop()
    return seen, events


async def _create_topic(broker: Service, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{broker.port}")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        await asyncio.sleep(0.5)
    finally:
        await admin.close()


def run_follower_to_broker(path: Path, workdir: Path, n_lines: int, broker: Service) -> Run:
    topic = f"qlbench-{uuid.uuid4().hex[:8]}.contacts"
    store = workdir / f"kafka-{uuid.uuid4().hex[:6]}.json"

    async def go() -> Run:
        await _create_topic(broker, topic)
        messages = 0
        async with EventProducer(f"kafka://127.0.0.1:{broker.port}", topic) as producer:

            async def send(events: list[WireEvent]) -> None:
                nonlocal messages
                messages += await send_events(producer, events)

            handed, seconds = await _follow(path, store, n_lines, send)
        on_topic = await _count_on_topic(broker, topic, messages)
        if on_topic != (messages, handed):
            raise SystemExit(f"{messages} messages of {handed} events acknowledged, but "
                             f"{on_topic[0]} of {on_topic[1]} read back from {topic}")  # fmt: skip
        return Run("kafka", n_lines, handed, seconds, messages, store.stat().st_size)

    return asyncio.run(go())


# =============================================================================================
# Main
# =============================================================================================

MODES = {
    "batch": "a. batch parse + map (queue_log_events), no Kafka",
    "follower": "b. follower parse + map + offset store, no Kafka",
    "kafka": "c. follower -> broker (send_events, acks=all)",
}


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (median printed)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ccpulse-qlbench-"))
    path = workdir / "queue_log"
    t = time.monotonic()
    counts = synthetic_log(path, args.lines, int(time.time()) - 60, args.seed)
    size_mb = path.stat().st_size / 1e6
    mix = ", ".join(f"{k} {v / args.lines:.1%}" for k, v in
                    sorted(counts.items(), key=lambda kv: -kv[1])[:8])  # fmt: skip
    print(f"generated {args.lines:,} lines ({size_mb:.1f} MB) in {time.monotonic() - t:.1f} s: "
          f"{mix}, ...", flush=True)  # fmt: skip
    results: dict[str, list[Run]] = {m: [] for m in MODES}
    broker = start_broker()
    try:
        for i in range(args.runs):
            results["batch"].append(run_batch(path))
            results["follower"].append(run_follower_no_kafka(path, workdir, args.lines))
            results["kafka"].append(run_follower_to_broker(path, workdir, args.lines, broker))
            rates = [f"{m} {rs[-1].lines_per_s:,.0f} lines/s" for m, rs in results.items()]
            print(f"run {i + 1}: " + ", ".join(rates), flush=True)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    med = {m: median_run(rs) for m, rs in results.items()}
    base = med["follower"]
    print()
    kafka = med["kafka"]
    print(f"ccpulse queue_log bench: {args.lines:,} lines -> {kafka.events:,} events "
          f"({kafka.messages:,} messages, {PARTITIONS} partitions), nproc {os.cpu_count()}, "
          f"Python {platform.python_version()}, median of {args.runs}")  # fmt: skip
    print()
    print(f"| {'mode':<52} | {'lines/s':>9} | {'events/s':>9} | {'seconds':>7} | {'vs b':>5} |")
    print(f"|{'-' * 54}|{'-' * 10}:|{'-' * 10}:|{'-' * 8}:|{'-' * 6}:|")
    for mode, label in MODES.items():
        r = med[mode]
        print(f"| {label:<52} | {r.lines_per_s:>9,.0f} | {r.events_per_s:>9,.0f} "
              f"| {r.seconds:>7.2f} | {r.lines_per_s / base.lines_per_s:>5.2f} |")  # fmt: skip
    print()
    print(f"offset store at the end: {base.store_bytes / 1e6:.1f} MB, written after each of the "
          f"{-(-args.lines // 10_000)} polls of up to 10,000 lines")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
