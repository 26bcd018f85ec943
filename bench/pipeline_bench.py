"""ccpulse pipeline bench: throughput against baselines, produce-to-Redis latency, memory.

One run starts the embedded broker (Tansu) and Redis, produces simulated contact-centre events to
two topics (one event per message, and per-queue JSON arrays of ~100 events) and measures, each
in a fresh subprocess with a fresh consumer group / app id and fresh state, reading the whole
pre-filled topic:

  a. ccpulse pipeline: the real app (`build_worker_app`: `create_app` + Redis and Prometheus
     sinks), all KPIs on; events applied per second (`Pipeline.health` counts);
  b. ceiling: a raw aiokafka consumer that orjson-decodes every message;
  c. Faust floor: a no-op Faust agent that only decodes (per event, and with `take_events`);
  d. baseline: a naive Faust agent updating a tumbling 15-min windowed count table per event;
  e. peer: Quix Streams counting per queue in tumbling 15-min windows (event time).

Then the latency of the real `ccpulse worker` at a fixed offered load (real-time stamps, batched
producer) from produce to the Redis update that reflects each event, and the peak RSS of a
`ccpulse worker` holding 1,000 queues over a day of 15-minute intervals.

Rates are events/s from the first to the last event a consumer handles (start-up and group join
excluded; for ccpulse and Quix Streams, which write state apart from handling events, until the
last event's state is written). Events are the simulator's contact events only (its agent,
ticket and survey families are off): queue KPIs are what is measured; row a2 runs the same
pipeline on a third pair of topics where every family is on (agent states of the queues' staff,
ticket desks, survey responses), the same number of events in all. Figures are
measurements: a missed target prints MISS, never a non-zero exit.

    .venv/bin/python bench/pipeline_bench.py            # full run (~10 min on 2 cores)
    .venv/bin/python bench/pipeline_bench.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from ccpulse.embedded import Service, free_port, start_broker, start_redis
from ccpulse.sources.produce import group_by_queue
from ccpulse.sources.simulator import SimConfig, SimQueue, simulate

PARTITIONS = 4
BATCH = 100
EVENTS_PER_CONTACT = 2.9  # what the simulator emits per contact with the queues below (measured)
SHAPES = ("single", "batched")
SHAPE_LABEL = {"single": "one event/msg", "batched": f"~{BATCH} events/msg"}
#: The six counts of a queue's Redis hash that each contract event type raises by exactly one.
COUNT_FIELDS = tuple(
    f"today.all.{n}"
    for n in ("offered", "blocked", "answered", "abandoned", "dequeued", "completed")
)
#: Queue KPIs are what this bench measures: the simulator's agent, ticket and survey families
#: (on by default since they exist) stay off, so every event is a contact event of one queue.
CONTACTS_ONLY: dict[str, Any] = {
    k: False for k in ("agents", "tickets", "surveys") if k in SimConfig.__dataclass_fields__
}
KINDS: dict[str, str] = {
    "ccpulse": "a. ccpulse pipeline (real app, Redis+Prometheus sinks)",
    "ccpulse-mixed": "a2. same, agent + ticket + survey events mixed in",
    "ccpulse-repartition": "a3. same as a, read through the repartition stage",
    "aiokafka": "b. ceiling: raw aiokafka consumer + orjson decode",
    "faust-noop": "c. Faust floor: no-op agent, per event",
    "faust-noop-take": "c. Faust floor: no-op agent, take_events(2000, 0.05 s)",
    "faust-noop-fast": "c2. no-op agent, take_events, on ccpulse's Faust parts",
    "faust-naive": "d. baseline: naive Faust agent, windowed table per event",
    "quix": "e. peer: Quix Streams tumbling 15-min count per queue",
}

# =============================================================================================
# Events
# =============================================================================================


def bench_queues(
    count: int, contacts_per_hour: float, handle_s: float = 240.0, patience_s: float = 180.0
) -> list[SimQueue]:
    """`count` queues over 10 tenants and three channels, staffed for ~85 % occupancy."""
    erlangs = contacts_per_hour * handle_s / 3600
    agents = max(1, math.ceil(erlangs / 0.85))
    channels = ("voice", "chat", "email")
    return [
        SimQueue(f"q{i:04d}", tenant=f"tenant{i % 10}", channel=channels[i % 3], agents=agents,
                 arrivals_per_hour=contacts_per_hour, mean_handle_seconds=handle_s,
                 mean_patience_seconds=patience_s, capacity=max(50, agents * 2))
        for i in range(count)
    ]  # fmt: skip


def throughput_events(n_events: int, n_queues: int, end_ms: int) -> list[dict[str, Any]]:
    """Exactly `n_events` simulated events over `n_queues` queues in the 2 hours before end_ms."""
    hours = 2.0
    rate = n_events / n_queues / EVENTS_PER_CONTACT / hours * 1.15
    while True:
        config = SimConfig(bench_queues(n_queues, rate), seed=7,
                           start_ms=end_ms - int(hours * 3_600_000), duration_seconds=hours * 3600,
                           daily_curve=False, drain=False, **CONTACTS_ONLY)  # fmt: skip
        events = list(itertools.islice(simulate(config), n_events))
        if len(events) == n_events:
            return events
        rate *= 1.3


def mixed_events(n_events: int, n_queues: int, end_ms: int) -> list[dict[str, Any]]:
    """Exactly `n_events` simulated events with every family on: the queues' contacts, their
    agents' states, ticket desks and survey responses, in the 2 hours before end_ms."""
    hours = 2.0
    rate = n_events / n_queues / EVENTS_PER_CONTACT / hours * 0.5
    while True:
        config = SimConfig(bench_queues(n_queues, rate), seed=7,
                           start_ms=end_ms - int(hours * 3_600_000), duration_seconds=hours * 3600,
                           daily_curve=False, drain=False)  # fmt: skip
        events = list(itertools.islice(simulate(config), n_events))
        if len(events) == n_events:
            return events
        rate *= 1.3


def day_events(n_queues: int, contacts_per_hour: float, end_ms: int) -> list[dict[str, Any]]:
    """A day of steady traffic on `n_queues` queues, ending at `end_ms`."""
    config = SimConfig(bench_queues(n_queues, contacts_per_hour, handle_s=300), seed=11,
                       start_ms=end_ms - 86_400_000, duration_seconds=86_400,
                       daily_curve=False, drain=False, **CONTACTS_ONLY)  # fmt: skip
    return list(simulate(config))


def live_events(n_queues: int, rate: float, seconds: float, start_ms: int) -> list[dict[str, Any]]:
    """About `rate` events/s over `n_queues` queues for `seconds`, from start_ms."""
    contacts_per_hour = rate / EVENTS_PER_CONTACT / n_queues * 3600
    for _ in range(3):  # calibrate the arrival rate to the events/s wanted
        queues = bench_queues(n_queues, contacts_per_hour, handle_s=60, patience_s=60)
        config = SimConfig(queues, seed=5, start_ms=start_ms, duration_seconds=seconds,
                           daily_curve=False, drain=False, **CONTACTS_ONLY)  # fmt: skip
        events = list(simulate(config))
        achieved = len(events) / seconds
        if abs(achieved / rate - 1) < 0.03:
            break
        contacts_per_hour *= rate / achieved
    return events


# =============================================================================================
# Kafka helpers (parent side)
# =============================================================================================


def bootstrap(broker: Service) -> str:
    return f"127.0.0.1:{broker.port}"


def broker_url(broker: Service) -> str:
    return f"kafka://127.0.0.1:{broker.port}"


async def create_topics(broker: Service, names: Iterable[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(broker))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
        await asyncio.sleep(0.5)
    finally:
        await admin.close()


def messages(events: list[dict[str, Any]], batch_size: int) -> list[tuple[bytes, bytes, int]]:
    """(key, value, events) as `EventProducer.send` would send them."""
    out = []
    for key, batch in group_by_queue(events, batch_size):
        value = orjson.dumps(batch[0]) if batch_size == 1 else orjson.dumps(batch)
        out.append((key.encode(), value, len(batch)))
    return out


def _producer(broker: Service) -> Any:
    from aiokafka import AIOKafkaProducer

    # The settings of ccpulse.sources.produce.EventProducer.
    return AIOKafkaProducer(bootstrap_servers=bootstrap(broker), linger_ms=5, acks="all",
                            max_batch_size=256 * 1024)  # fmt: skip


async def produce(
    broker: Service, topic: str, msgs: list[tuple[bytes, bytes, int]]
) -> dict[int, int]:
    """Send pre-encoded messages; returns the last offset written per partition."""
    producer = _producer(broker)
    await producer.start()
    last: dict[int, int] = {}
    try:
        futures = [await producer.send(topic, value, key=key) for key, value, _ in msgs]
        for meta in await asyncio.gather(*futures):
            last[meta.partition] = max(last.get(meta.partition, -1), meta.offset)
    finally:
        await producer.stop()
    return last


async def committed(
    broker: Service, group: str, partitions: Iterable[int], topic: str
) -> dict[int, int]:
    """The consumer group's committed offsets (aiokafka's admin OffsetFetch fails on Tansu)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(broker), group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        out = {}
        for p in partitions:
            found = await consumer.committed(TopicPartition(topic, p))
            out[p] = -1 if found is None else found
        return out
    except Exception:
        return {}
    finally:
        await consumer.stop()


# =============================================================================================
# Child processes: one measured consumer each
# =============================================================================================


def _peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set (VmHWM) of a process, in MB (0.0 if unknown)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Meter:
    """Counts events a consumer has handled and writes its rate to a JSON file.

    The clock starts when the first unit (message or batch) has been handled: rate =
    (events - events of that first unit) / (time of the last - time of the first). A consumer
    that keeps state apart from handling events (ccpulse writes its changelog once per batch,
    Quix flushes state at checkpoints) sets `settle`: the clock then stops when that consumer
    calls `done()`, after the state of the last event is written, not at the last event.
    """

    def __init__(self, target: int, out: Path, settle: Callable[[], None] | None = None) -> None:
        self.target = target
        self.out = out
        self.settle = settle
        self.pending = False
        self.count = 0
        self.t0 = 0.0
        self.c0 = 0
        self.t_last_event = 0.0
        self.cpu0 = 0.0
        self.last_write = 0.0
        #: Called when the figures are written: more fields for the JSON file.
        self.extra: Callable[[], dict[str, Any]] = dict

    def add(self, n: int) -> None:
        self.total(self.count + n)

    def total(self, count: int) -> None:
        now = time.perf_counter()
        if self.t0 == 0.0:
            self.t0, self.c0 = now, count
            self.cpu0 = time.process_time()
        self.count = count
        if count >= self.target and not self.pending:
            if self.settle is None:
                self.done()
            self.t_last_event = now
            self.pending = True
            self.settle()
        elif now - self.last_write > 0.5:
            self.last_write = now
            self._write(now, False)

    def done(self) -> None:
        """All events handled and their state written: write the figures and exit."""
        self._write(time.perf_counter(), True)
        os._exit(0)

    def _write(self, now: float, done: bool) -> None:
        seconds = now - self.t0
        events = self.count - self.c0
        doc = {
            "done": done, "count": self.count, "events": events, "seconds": seconds,
            "settle_seconds": now - self.t_last_event if self.t_last_event else 0.0,
            "cores": (time.process_time() - self.cpu0) / seconds if seconds > 0 else 0.0,
            "rate": events / seconds if seconds > 0 else 0.0, "peak_rss_mb": _peak_rss_mb(),
            **self.extra(),
        }  # fmt: skip
        tmp = self.out.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(doc))
        tmp.replace(self.out)


def _faust_options(spec: dict[str, Any]) -> dict[str, Any]:
    """The Faust settings of ccpulse.streams.app.create_app, for the Faust baselines."""
    return {
        "broker": spec["broker"], "store": "memory://", "topic_partitions": PARTITIONS,
        "topic_replication_factor": 1, "table_standby_replicas": 0,
        "consumer_auto_offset_reset": "earliest", "web_enabled": False,
        "broker_session_timeout": 10.0, "broker_heartbeat_interval": 1.0,
        "broker_rebalance_timeout": 20.0, "broker_commit_every": 10_000,
        "broker_commit_interval": 1.0, "producer_linger_ms": 5,
        "recovery_consistency_check": False,
    }  # fmt: skip


def _count(doc: Any) -> int:
    return len(doc) if isinstance(doc, list) else 1


def child_aiokafka(spec: dict[str, Any], meter: Meter) -> None:
    from aiokafka import AIOKafkaConsumer

    async def go() -> None:
        consumer = AIOKafkaConsumer(
            spec["topic"], bootstrap_servers=spec["bootstrap"], group_id=spec["group"],
            auto_offset_reset="earliest", enable_auto_commit=True,
        )  # fmt: skip
        await consumer.start()
        loads = orjson.loads
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batches.values():
                n = 0
                for record in records:
                    n += _count(loads(record.value))
                meter.add(n)

    asyncio.run(go())


def child_faust(spec: dict[str, Any], meter: Meter) -> None:
    import faust

    from ccpulse.config import KafkaSettings
    from ccpulse.streams.faust_parts import QuietMonitor, RawSchema, Transport, Worker

    fast = spec["kind"] == "faust-noop-fast"  # on the Faust parts create_app() installs
    options = _faust_options(spec) | ({"Monitor": QuietMonitor} if fast else {})
    app = faust.App(spec["group"], **options)
    if fast:
        app.transport = Transport(app.conf.broker_consumer, app)
        app.transport.fetch_max_wait_ms = KafkaSettings().fetch_max_wait_ms  # the default
        topic = app.topic(spec["topic"], schema=RawSchema(key_type=bytes, value_type=bytes),
                          partitions=PARTITIONS)  # fmt: skip
    else:
        topic = app.topic(spec["topic"], key_type=bytes, value_type=bytes, key_serializer="raw",
                          value_serializer="raw", partitions=PARTITIONS)  # fmt: skip
    loads = orjson.loads
    kind = spec["kind"]
    if kind == "faust-noop":

        @app.agent(topic, name="noop")
        async def noop(stream: Any) -> None:
            async for value in stream:
                meter.add(_count(loads(value)))

    elif kind in ("faust-noop-take", "faust-noop-fast"):

        @app.agent(topic, name="noop-take")
        async def noop_take(stream: Any) -> None:
            async for events in stream.take_events(2000, within=0.05):
                for event in events:  # metered per message, as the ccpulse row is
                    meter.add(_count(loads(event.message.value)))

    else:  # faust-naive: the "obvious" implementation, one windowed-table update per event
        clock = [0.0]
        counts = (
            app.Table("counts", default=int, key_type=str, value_type=int, partitions=PARTITIONS)
            .tumbling(timedelta(minutes=15), expires=timedelta(hours=1))
            .relative_to(lambda _event: clock[0])  # event time of the event being counted
        )

        @app.agent(topic, name="naive")
        async def naive(stream: Any) -> None:
            async for value in stream:
                doc = loads(value)
                events = doc if isinstance(doc, list) else [doc]
                for ev in events:
                    clock[0] = ev["ts"] / 1000
                    counts[f"{ev['tenant']}/{ev['queue']}"] += 1
                meter.add(len(events))

    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


#: Where the worker's main thread is, by its stack: (file suffix, function) -> section. The
#: first section found from the innermost frame outwards wins; nothing found: Faust and the rest.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("streams/pipeline.py", "process", "process"),
    ("streams/app.py", "write_state", "write_state"),
    ("streams/app.py", "publish", "flush"),
    ("streams/app.py", "collect_garbage", "gc"),
)
SECTION_LABELS = {
    "process": "Pipeline.process: decode + KPI engine",
    "write_state": "write_state: table_writes + changelog record batches",
    "flush": "sinks flush timer: snapshots, Prometheus view, Redis publish",
    "gc": "garbage-collection timer",
    "idle": "main thread in select(): I/O, or consumer thread holds GIL",
    "faust": "Faust and aiokafka: consume, ack, commit, produce, timers",
}


def sample_main_thread(samples: dict[str, float], period: float = 0.005) -> None:
    """A tiny sampling profiler: classify the main thread's stack every `period` seconds."""
    import threading

    main_id = threading.main_thread().ident
    wanted = {(suffix, name): section for suffix, name, section in SECTIONS}

    def classify() -> str:
        frame = sys._current_frames().get(main_id)  # type: ignore[arg-type]
        if frame is None:
            return "faust"
        if frame.f_code.co_name in ("select", "poll") and frame.f_code.co_filename.endswith(
            "selectors.py"
        ):
            return "idle"
        while frame is not None:
            code = frame.f_code
            for (suffix, name), section in wanted.items():
                if code.co_name == name and code.co_filename.endswith(suffix):
                    return section
            frame = frame.f_back
        return "faust"

    def run() -> None:
        # Weighted by the time since the previous sample: a busy main thread hands the GIL
        # over only every switch interval, an idle one (in select) at once, so plain counts
        # would over-sample idle moments.
        last = time.perf_counter()
        while True:
            time.sleep(period)
            now = time.perf_counter()
            samples[classify()] += now - last
            last = now

    threading.Thread(target=run, name="bench-sampler", daemon=True).start()


def child_ccpulse(spec: dict[str, Any], meter: Meter) -> None:
    """The real app with its sinks; bench-only probes show where the time goes."""
    from prometheus_client.registry import CollectorRegistry

    from ccpulse.config import load_settings
    from ccpulse.sinks.redis_sink import RedisSink
    from ccpulse.streams.app import ensure_topics
    from ccpulse.streams.faust_parts import Worker
    from ccpulse.streams.pipeline import Message, Pipeline
    from ccpulse.streams.worker import build_worker_app

    settings = load_settings(env=spec["env"])
    asyncio.run(ensure_topics(settings))
    app = build_worker_app(settings, CollectorRegistry())
    pipeline: Pipeline = app.ccpulse_pipeline  # type: ignore[attr-defined]
    health = pipeline.health
    calls: dict[str, int] = defaultdict(int)
    flush_seconds = [0.0]
    samples: dict[str, float] = defaultdict(float)
    table_writes = pipeline.table_writes

    class Writes(list):  # type: ignore[type-arg]
        """A batch's state writes; the agent's write_state() loops over them, storing and
        sending each. After the batch holding the last event, the clock stops when that loop
        has exhausted the list, i.e. when the last event's state is on its way to Kafka."""

        def __iter__(self) -> Iterator[Any]:
            yield from super().__iter__()
            if meter.pending:
                meter.done()

    def counted_writes() -> Any:
        writes = table_writes()
        calls["changelog_writes"] += len(writes)
        return Writes(writes)

    pipeline.table_writes = counted_writes  # type: ignore[method-assign]
    meter.settle = lambda: None  # the next write_state() settles
    snapshots = pipeline.snapshots

    def timed_snapshots(*args: Any, **kwargs: Any) -> Any:
        # the flush timer's first step: a flush lasts from here to the end of the Redis publish
        flush_seconds.append(-time.perf_counter())
        return snapshots(*args, **kwargs)

    pipeline.snapshots = timed_snapshots  # type: ignore[method-assign]
    redis_publish = RedisSink.publish

    async def publish(self: RedisSink, *args: Any, **kwargs: Any) -> None:
        try:
            await redis_publish(self, *args, **kwargs)
        finally:
            if flush_seconds[-1] < 0:
                flush_seconds[0] += time.perf_counter() + flush_seconds.pop()
            calls["redis_publish"] += 1

    RedisSink.publish = publish  # type: ignore[method-assign]
    meter.extra = lambda: {
        "verdicts": {str(k): v for k, v in health.verdicts.items()},
        "invalid": health.invalid, "misrouted": health.misrouted,
        "samples": dict(samples), "calls": dict(calls), "flush_seconds": flush_seconds[0],
    }  # fmt: skip
    verdicts = health.verdicts
    process = pipeline.process
    started = [False]

    def counted(msg: Message, dead_letter: Any) -> None:
        if not started[0]:  # sample from the first event on, as the clock runs
            started[0] = True
            sample_main_thread(samples)
        process(msg, dead_letter)
        meter.total(sum(verdicts.values()) + health.invalid + health.misrouted)

    pipeline.process = counted  # type: ignore[method-assign]
    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def child_quix(spec: dict[str, Any], meter: Meter) -> None:
    from quixstreams import Application
    from quixstreams.models.topics.admin import TopicAdmin
    from quixstreams.processing.context import ProcessingContext

    # Tansu answers DescribeConfigs with no entries; Quix derives its changelog topics'
    # retention from the input topic's "retention.ms". Fill in Kafka's defaults (bench only).
    inspect = TopicAdmin.inspect_topics

    def inspect_with_defaults(self: Any, topic_names: list[str], timeout: float = 30) -> Any:
        found = inspect(self, topic_names, timeout)
        for config in found.values():
            if config is not None:
                config.extra_config.setdefault("retention.ms", "604800000")
                config.extra_config.setdefault("retention.bytes", "-1")
        return found

    TopicAdmin.inspect_topics = inspect_with_defaults  # type: ignore[method-assign]
    # State (windows) is flushed to RocksDB and the changelog at checkpoints: after the last
    # event, stop the app and stop the clock when its final, forced checkpoint is committed.
    commit_checkpoint = ProcessingContext.commit_checkpoint

    def commit_then_settle(self: Any, force: bool = False, **kwargs: Any) -> None:
        commit_checkpoint(self, force=force, **kwargs)
        if force and meter.pending:
            meter.done()

    ProcessingContext.commit_checkpoint = commit_then_settle  # type: ignore[method-assign]
    app = Application(broker_address=spec["bootstrap"], consumer_group=spec["group"],
                      auto_offset_reset="earliest", state_dir=spec["state_dir"],
                      loglevel="WARNING")  # fmt: skip
    topic = app.topic(spec["topic"], value_deserializer="json", key_deserializer="str")
    sdf = app.dataframe(topic)
    if spec["shape"] == "batched":
        sdf = sdf.apply(lambda batch: batch, expand=True)
    sdf = sdf.set_timestamp(lambda value, _key, _ts, _headers: int(value["ts"]))
    sdf = sdf.tumbling_window(timedelta(minutes=15)).count().current()
    sdf = sdf.update(lambda _window: meter.add(1))
    meter.settle = app.stop
    app.run()


def child_main(raw: str) -> None:
    spec = json.loads(raw)
    meter = Meter(spec["target"], Path(spec["out"]))
    kind = spec["kind"]
    if kind == "aiokafka":
        child_aiokafka(spec, meter)
    elif kind.startswith("faust"):
        child_faust(spec, meter)
    elif kind.startswith("ccpulse"):
        child_ccpulse(spec, meter)
    elif kind == "quix":
        child_quix(spec, meter)
    else:
        raise SystemExit(f"unknown kind {kind}")


# =============================================================================================
# Parent: running children and services
# =============================================================================================


@dataclass
class Run:
    kind: str
    shape: str
    rate: float = 0.0
    events: int = 0
    seconds: float = 0.0
    status: str = "ok"
    peak_rss_mb: float = 0.0
    #: CPU used meanwhile by processes this bench did not start (cores, 0-nproc)
    others_cores: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class CpuWatch:
    """CPU used by processes other than this bench's own, over a measurement.

    The machine may be shared: a busy neighbour lowers every figure measured meanwhile.
    """

    def __init__(self, bench: Bench) -> None:
        import psutil

        self.psutil = psutil
        self.t0 = time.monotonic()
        self.sys0 = self._busy()
        self.own = [psutil.Process(), *(psutil.Process(s.proc.pid)
                                        for s in (bench.broker, bench.redis))]  # fmt: skip
        self.own0 = sum(self._cpu(p) for p in self.own)
        self.child = 0.0

    def _busy(self) -> float:
        t = self.psutil.cpu_times()
        return float(t.user + t.nice + t.system + t.irq + t.softirq + t.steal)

    def _cpu(self, proc: Any) -> float:
        try:
            t = proc.cpu_times()
            return float(t.user + t.system)
        except self.psutil.Error:
            return 0.0

    def sample(self, pid: int) -> None:
        with contextlib.suppress(self.psutil.Error):
            self.child = max(self.child, self._cpu(self.psutil.Process(pid)))

    def broker_cpu(self) -> float:
        return self._cpu(self.own[1])

    def others(self) -> float:
        own = sum(self._cpu(p) for p in self.own) - self.own0 + self.child
        wall = time.monotonic() - self.t0
        return max(0.0, (self._busy() - self.sys0 - own) / wall) if wall > 0 else 0.0


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    broker: Service
    redis: Service
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def spawn(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> Any:
        cwd = self.workdir / name  # Faust writes <app_id>-data/ into its working directory
        cwd.mkdir(exist_ok=True)
        with open(self.log(name), "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                    env=env or dict(os.environ))  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def stop_all(self) -> None:
        for proc in self.procs:
            self.stop(proc)

    def ccpulse_env(self, name: str, metrics_port: int = 0) -> dict[str, str]:
        return {
            "CCPULSE_KAFKA_BROKER": broker_url(self.broker),
            "CCPULSE_KAFKA_CONTACTS_TOPIC": f"{name}.contacts",
            "CCPULSE_KAFKA_DEADLETTER_TOPIC": f"{name}.deadletter",
            "CCPULSE_KAFKA_APP_ID": name,
            "CCPULSE_KAFKA_PARTITIONS": str(PARTITIONS),
            "CCPULSE_REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "CCPULSE_REDIS_KEY_PREFIX": name,
            "CCPULSE_METRICS_PORT": str(metrics_port or free_port()),
        }

    def measure(self, kind: str, shape: str, topic: str, target: int, timeout: float) -> Run:
        """Run one consumer over the whole topic in a fresh process; its rate in events/s."""
        group = f"bench-{kind}-{shape}-{uuid.uuid4().hex[:6]}"
        out = self.workdir / f"{group}.json"
        spec: dict[str, Any] = {
            "kind": kind, "shape": shape, "topic": topic, "target": target, "out": str(out),
            "group": group, "broker": broker_url(self.broker), "bootstrap": bootstrap(self.broker),
            "state_dir": str(self.workdir / group / "state"),
        }  # fmt: skip
        if kind.startswith("ccpulse"):
            env = self.ccpulse_env(group)
            env["CCPULSE_KAFKA_CONTACTS_TOPIC"] = topic
            if kind == "ccpulse-repartition":
                env["CCPULSE_KAFKA_REPARTITION"] = "true"
            spec["env"] = env
        load = CpuWatch(self)
        proc = self.spawn([sys.executable, str(Path(__file__).resolve()), "--child",
                           json.dumps(spec)], group)  # fmt: skip
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        status = "ok"
        broker_cpu: list[tuple[float, float]] = []  # (time, broker CPU s) while measured
        while True:
            time.sleep(0.25)
            load.sample(proc.pid)
            if out.exists():
                with contextlib.suppress(ValueError):
                    doc = json.loads(out.read_bytes())
                broker_cpu.append((time.monotonic(), load.broker_cpu()))
            if doc.get("done"):
                break
            if proc.poll() is not None:
                status = f"exited {proc.returncode} (log {self.log(group)})"
                break
            if time.monotonic() > deadline:
                status = f"timeout after {timeout:.0f} s, partial"
                break
        self.stop(proc)
        run = Run(kind, shape, doc.get("rate", 0.0), doc.get("events", 0),
                  doc.get("seconds", 0.0), status, doc.get("peak_rss_mb", 0.0),
                  load.others())  # fmt: skip
        run.extra["cores"] = doc.get("cores", 0.0)
        if len(broker_cpu) > 1:
            (ta, ca), (tb, cb) = broker_cpu[0], broker_cpu[-1]
            run.extra["broker_cores"] = (cb - ca) / (tb - ta) if tb > ta else 0.0
        for key in (
            "verdicts",
            "invalid",
            "misrouted",
            "samples",
            "calls",
            "flush_seconds",
            "settle_seconds",
        ):
            if key in doc:
                run.extra[key] = doc[key]
        print(f"  {KINDS[kind]:<58} {SHAPE_LABEL[shape]:>16}: {run.rate:>9,.0f} ev/s "
              f"({run.events:,} ev in {run.seconds:.1f} s"
              + (f" incl. {run.extra['settle_seconds']:.3f} s of state write after the last"
                 if run.extra.get("settle_seconds") else "")
              + f", other processes "
              f"{run.others_cores:.2f} cores, {status})", flush=True)  # fmt: skip
        if kind == "quix":
            shutil.rmtree(self.workdir / group, ignore_errors=True)
        return run

    def start_worker(
        self, name: str, metrics_port: int, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """`ccpulse worker` as shipped, with extra settings from `extra_env` if any."""
        env = {**os.environ, **self.ccpulse_env(name, metrics_port), **(extra_env or {})}
        argv = [sys.executable, "-m", "ccpulse.cli", "worker", "--loglevel", "warning"]
        proc: subprocess.Popen[bytes] = self.spawn(argv, name, env)
        return proc


# =============================================================================================
# Latency
# =============================================================================================


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


# =============================================================================================
# Memory
# =============================================================================================


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
    status: str = "ok"


def _scrape_events(port: int) -> int:
    """ccpulse_events_total summed over verdicts, from the worker's /metrics."""
    from urllib.request import urlopen

    total = 0.0
    with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("ccpulse_events_total{"):
                total += float(line.rsplit(" ", 1)[1])
    return int(total)


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
    proc = bench.start_worker(name, port)
    ps = psutil.Process(proc.pid)
    t0 = time.monotonic()
    sampled = 0.0
    try:
        deadline = t0 + bench.args.memory_timeout
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
        # flush: wait until every queue's interval index stops growing (memory is sampled on).
        client = redis.Redis(port=bench.redis.port)
        sizes_before: list[int] = []
        settle_deadline = time.monotonic() + 120.0
        while time.monotonic() < settle_deadline:
            time.sleep(2.0)
            sampled = max(sampled, ps.memory_info().rss / 2**20)
            members = client.zrange(f"{name}:queues", 0, -1)
            sizes = [client.zcard(f"{name}:intervals:{m.decode().replace('/', ':', 1)}")
                     for m in members]  # fmt: skip
            if sizes and sizes == sizes_before:
                break
            sizes_before = sizes
        if sizes_before:
            result.intervals_per_queue = sum(sizes_before) / len(sizes_before)
        result.intervals_seconds = time.monotonic() - t0 - result.seconds
        client.close()
        with contextlib.suppress(OSError):
            result.events_counted = _scrape_events(port)  # one scrape, as Prometheus would
        sampled = max(sampled, ps.memory_info().rss / 2**20)
        result.peak_rss_mb = max(_peak_rss_mb(proc.pid), sampled)
        result.end_rss_mb = ps.memory_info().rss / 2**20
        load.sample(proc.pid)
        result.others_cores = load.others()
    finally:
        bench.stop(proc)
    print(f"  memory: {n_queues} queues, {result.events:,} events in {result.messages:,} "
          f"messages, {result.intervals_per_queue:.1f} intervals/queue in Redis, "
          f"{result.events_counted:,} events counted; peak RSS {result.peak_rss_mb:.0f} MB "
          f"(end {result.end_rss_mb:.0f} MB), {result.status}", flush=True)  # fmt: skip
    return result


# =============================================================================================
# Report
# =============================================================================================


#: Rows measured over less than this many seconds are marked: a fetch or two decides them.
SHORT_RUN_S = 2.0


def _fmt_rate(run: Run | None) -> str:
    if run is None:
        return "skipped"
    mark = "" if run.status == "ok" else " (!)"
    if run.seconds < SHORT_RUN_S:
        mark += " *"
    return f"{run.rate:,.0f}{mark}"


def _ratio(a: Run | None, b: Run | None) -> float:
    if a is None or b is None or not b.rate:
        return math.nan
    return a.rate / b.rate


def _times(r: float) -> str:
    return "-" if math.isnan(r) else f"{r:.2f}x"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def breakdown(runs: dict[tuple[str, str], Run]) -> list[str]:
    """Where the ccpulse run's time went: child_ccpulse samples its main thread's stack."""
    found = {shape: runs.get(("ccpulse", shape)) for shape in SHAPES}
    if not any(r and r.extra.get("samples") for r in found.values()):
        return []
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, cell: Callable[[Run], str]) -> None:
        cells = []
        for shape in SHAPES:
            r = found[shape]
            ok = r is not None and r.extra.get("samples") and r.seconds
            cells.append(cell(r) if ok and r is not None else "-")
        rows.append((label, cells))

    def share(section: str) -> Callable[[Run], str]:
        def cell(r: Run) -> str:
            samples = r.extra["samples"]
            return f"{samples.get(section, 0) / max(1, sum(samples.values())):.0%}"

        return cell

    for section, label in SECTION_LABELS.items():
        row(label, share(section))
    row(
        "changelog writes per event",
        lambda r: f"{r.extra.get('calls', {}).get('changelog_writes', 0) / max(1, r.events):.2f}",
    )

    def flushes(r: Run) -> str:
        n = r.extra.get("calls", {}).get("redis_publish", 0)
        return f"{n} ({r.extra.get('flush_seconds', 0.0) / max(1, n):.2f} s)"

    row("sinks flushes in the run (s each)", flushes)
    row(
        "CPU while measured, cores: worker (all threads) / broker",
        lambda r: f"{r.extra.get('cores', 0):.2f} / {r.extra.get('broker_cores', 0):.2f}",
    )
    out = ["", "Where the ccpulse run's time went: its main thread's stack sampled every 5 ms, "
           "time-weighted (bench-only sampler in the worker process)", "",
           f"| {'':<62} | {SHAPE_LABEL['single']:>14} | {SHAPE_LABEL['batched']:>16} |",
           f"|{'-' * 64}|{'-' * 15}:|{'-' * 17}:|"]  # fmt: skip
    out += [f"| {label:<62} | {c[0]:>14} | {c[1]:>16} |" for label, c in rows]
    return out


def code_version() -> str:
    """The commit measured, and whether project code differs from it (others may be editing)."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "ccpulse", "streams",
             "sinks", "schemas", "sources"], capture_output=True, text=True, timeout=10,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}" + (f" + {len(dirty)} uncommitted project file(s)" if dirty else "")


def report(
    args: argparse.Namespace, runs: dict[tuple[str, str], Run], lats: list[Latency],
    mem: Memory | None, n_events: int,
) -> list[str]:  # fmt: skip
    lines = []
    add = lines.append
    add("")
    add(
        f"ccpulse pipeline bench: {n_events:,} events over {args.queues} queues, "
        f"{PARTITIONS} partitions, nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"code {args.code_version}"
    )
    add("")
    add("Throughput (events/s, first to last event handled, start-up excluded)")
    add("")
    add(f"| {'consumer':<58} | {SHAPE_LABEL['single']:>14} | {SHAPE_LABEL['batched']:>16} "
        f"| peak RSS MB (1/msg, batched) | others' CPU, cores |")  # fmt: skip
    add(f"|{'-' * 60}|{'-' * 15}:|{'-' * 17}:|{'-' * 29}:|{'-' * 19}:|")
    for kind, label in KINDS.items():
        single, batched = runs.get((kind, "single")), runs.get((kind, "batched"))
        rss = " / ".join(f"{r.peak_rss_mb:.0f}" if r else "-" for r in (single, batched))
        others = " / ".join(f"{r.others_cores:.2f}" if r else "-" for r in (single, batched))
        add(f"| {label:<58} | {_fmt_rate(single):>14} | {_fmt_rate(batched):>16} | {rss:>28} "
            f"| {others:>17} |")  # fmt: skip
    add("")
    add("Ratios of the ccpulse pipeline to each row, same run")
    add("")
    add(f"| {'ccpulse pipeline / ...':<58} | {SHAPE_LABEL['single']:>14} | "
        f"{SHAPE_LABEL['batched']:>16} |")  # fmt: skip
    add(f"|{'-' * 60}|{'-' * 15}:|{'-' * 17}:|")
    for kind, label in KINDS.items():
        if kind == "ccpulse":
            continue
        cells = []
        for shape in SHAPES:
            r = _ratio(runs.get(("ccpulse", shape)), runs.get((kind, shape)))
            cells.append("-" if math.isnan(r) else f"{r:.2f}x")
        add(f"| {label:<58} | {cells[0]:>14} | {cells[1]:>16} |")
    for (kind, shape), run in sorted(runs.items()):
        if run.status != "ok":
            add(f"(!) {KINDS[kind]} [{SHAPE_LABEL[shape]}]: {run.status}")
    if any(r.seconds < SHORT_RUN_S for r in runs.values()):
        add(f"* read the whole topic in under {SHORT_RUN_S:.0f} s: indicative only (the first "
            "fetch is not timed, a few fetches decide the rate)")  # fmt: skip
    lines.extend(breakdown(runs))
    pipe1 = runs.get(("ccpulse", "single"))
    noops = [r for r in (runs.get(("faust-noop", "single")),
                         runs.get(("faust-noop-take", "single"))) if r]  # fmt: skip
    floor = max(noops, key=lambda r: r.rate) if noops else None
    checks: list[tuple[str, str, bool | None]] = []
    r = _ratio(pipe1, floor)
    checks.append((
        "1/msg pipeline >= 80% of the no-op Faust agent (the faster of per-event/take_events)",
        f"{r:.0%} of {floor.rate:,.0f} ev/s ({floor.kind})" if floor else "-",
        None if math.isnan(r) else r >= 0.8,
    ))  # fmt: skip
    r = _ratio(pipe1, runs.get(("faust-naive", "single")))
    checks.append(("1/msg pipeline >= 3x the naive Faust windowed-table baseline",
                   _times(r), None if math.isnan(r) else r >= 3.0))  # fmt: skip
    r = _ratio(runs.get(("ccpulse", "batched")), runs.get(("quix", "batched")))
    checks.append(("batched pipeline above Quix Streams on the batched topic",
                   _times(r), None if math.isnan(r) else r > 1.0))  # fmt: skip
    shipped = next((x for x in lats if x.variant == "shipped"), lats[0] if lats else None)
    if shipped is not None:
        checks.append((f"p99 produce-to-Redis < 1 s at {args.latency_rate:,.0f} ev/s "
                       f"[{shipped.label}]", f"p99 {shipped.p99:.3f} s (p50 {shipped.p50:.3f} s)",
                       None if math.isnan(shipped.p99) else shipped.p99 < 1.0))  # fmt: skip
    for other in lats:
        if other is not shipped:
            checks.append((f"  (info, not the target) p99 < 1 s [{other.label}]",
                           f"p99 {other.p99:.3f} s (p50 {other.p50:.3f} s)",
                           None if math.isnan(other.p99) else other.p99 < 1.0))  # fmt: skip
    if mem is not None:
        checks.append((f"peak RSS < 500 MB, {mem.queues:,} queues x a day of 15-min intervals",
                       f"{mem.peak_rss_mb:.0f} MB",
                       None if not mem.peak_rss_mb else mem.peak_rss_mb < 500))  # fmt: skip
    if lats:
        add("")
        add(f"Latency, produce -> Redis update reflecting the event, per event ({args.queues} "
            f"queues, batched producer with real time stamps, target {args.latency_rate:,.0f} "
            "ev/s)")  # fmt: skip
        add("")
        add(f"| {'worker':<62} | offered ev/s |   p50 s |   p90 s |   p99 s |   max s | "
            "events measured (not seen) | event time->Redis p50/p99 s |")  # fmt: skip
        add(f"|{'-' * 64}|-------------:|--------:|--------:|--------:|--------:|"
            f"{'-' * 27}:|{'-' * 28}:|")  # fmt: skip
        for x in lats:
            seen = f"{x.measured_events:,} ({x.unmatched_events})"
            ev = f"{x.event_time_p50:.3f} / {x.event_time_p99:.3f}"
            add(f"| {x.label:<62} | {x.offered_rate:>12,.0f} | {x.p50:>7.3f} | {x.p90:>7.3f} | "
                f"{x.p99:>7.3f} | {x.max:>7.3f} | {seen:>26} | {ev:>27} |")  # fmt: skip
            if x.status != "ok":
                add(f"(!) {x.label}: {x.status}")
        add("")
        for x in lats:
            add(f"- {x.label}: a flush to Redis every {x.flush_period:.2f} s on average; from "
                f"building the snapshots (as_of_ms) to its notices arriving: p50 "
                f"{x.publish_p50:.3f} s, max {x.publish_max:.3f} s; other processes used "
                f"{x.others_cores:.2f} cores meanwhile")  # fmt: skip
        add("")
        add("Method: events carry real time stamps and are sent as they fall due: every 0.25 s "
            "one JSON array per queue of the events due (so event time -> Redis adds up to "
            "0.25 s of producer batching). Each message's send time and its queue's cumulative "
            "event count are noted. A subscriber on <prefix>:updates stamps each notice on "
            "arrival and reads the queue hash's today.all offered + blocked + answered + "
            "abandoned + dequeued + completed (each contract event raises exactly one), so it "
            "knows which messages the update reflects: delay = notice arrival - send time, per "
            f"event, after a warm-up of {min(5.0, args.latency_seconds / 4):.0f} s; an event "
            "not seen within 10 s counts as infinitely late.")  # fmt: skip
    if mem is not None:
        add("")
        add(
            f"Memory: real `ccpulse worker` fed a day ({mem.events:,} events, {mem.messages:,} "
            f"messages of <= {BATCH}) for {mem.queues:,} queues; "
            f"{mem.intervals_per_queue:.1f} intervals per queue in Redis, "
            f"{mem.events_counted:,} events in /metrics, caught up in {mem.seconds:.0f} s "
            f"(intervals all in Redis {mem.intervals_seconds:.0f} s later); "
            f"peak RSS (VmHWM) {mem.peak_rss_mb:.0f} MB, {mem.end_rss_mb:.0f} MB at the end; "
            f"other processes used {mem.others_cores:.2f} cores meanwhile"
        )
        if mem.status != "ok":
            add(f"  (!) {mem.status}")
    add("")
    add("Targets")
    add("")
    for text, value, ok in checks:
        add(f"  {_verdict(ok):<4}  {text}: {value}")
    return lines


# =============================================================================================
# Main
# =============================================================================================


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=200_000, help="events per topic (200,000)")
    p.add_argument("--queues", type=int, default=200, help="queues in the event mix (200)")
    p.add_argument("--skip-quix", action="store_true", help="leave out the Quix Streams rows")
    p.add_argument("--quick", action="store_true", help="small smoke run (20k events, short)")
    p.add_argument("--latency-rate", type=float, default=2000.0, help="offered ev/s (2,000)")
    p.add_argument("--latency-seconds", type=float, default=25.0, help="per latency run (25 s)")
    p.add_argument("--latency-variants", default=",".join(LATENCY_VARIANTS),
                   help="comma list of: " + ", ".join(LATENCY_VARIANTS))  # fmt: skip
    p.add_argument("--memory-queues", type=int, default=1000, help="queues of the memory run")
    p.add_argument("--memory-rate", type=float, default=4.0,
                   help="contacts per hour per queue in the memory run (4)")  # fmt: skip
    p.add_argument("--memory-timeout", type=float, default=240.0)
    p.add_argument("--memory-cap", type=float, default=8000.0,
                   help="stop the memory run past this RSS in MB (8000)")  # fmt: skip
    p.add_argument("--only", default="throughput,latency,memory",
                   help="comma list of parts to run (throughput,latency,memory)")  # fmt: skip
    p.add_argument("--kinds", default=",".join(KINDS),
                   help="comma list of throughput rows (all): " + ", ".join(KINDS))  # fmt: skip
    p.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    p.add_argument("--keep-logs", action="store_true", help="keep child logs (printed path)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.events = min(args.events, 20_000)
        args.queues = min(args.queues, 50)
        args.latency_seconds = min(args.latency_seconds, 15.0)
        args.memory_queues = min(args.memory_queues, 100)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args.child)
        return 0
    parts = set(args.only.split(","))
    args.code_version = code_version()  # at the start: the code the figures belong to
    workdir = Path(tempfile.mkdtemp(prefix="ccpulse-bench-"))
    runs: dict[tuple[str, str], Run] = {}
    lats: list[Latency] = []
    mem: Memory | None = None
    t_all = time.monotonic()
    print(f"ccpulse bench: logs in {workdir}", flush=True)
    try:
        broker = start_broker()
    except Exception:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    try:
        redis_service = start_redis()
    except Exception:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    bench = Bench(args, workdir, broker, redis_service)
    try:
        if "throughput" in parts:
            t = time.monotonic()
            events = throughput_events(args.events, args.queues, int(time.time() * 1000) - 60_000)
            encoded = {"single": messages(events, 1), "batched": messages(events, BATCH)}
            del events
            print(f"generated and encoded {args.events:,} events in {time.monotonic() - t:.1f} s "
                  f"({len(encoded['single']):,} / {len(encoded['batched']):,} messages)",
                  flush=True)  # fmt: skip
            mixed = mixed_events(args.events, args.queues, int(time.time() * 1000) - 60_000)
            families = Counter(str(e["type"]).partition(".")[0] for e in mixed)
            print("mixed topic: " + ", ".join(f"{n:,} {f}" for f, n in families.most_common()),
                  flush=True)  # fmt: skip
            encoded.update({f"mixed-{shape}": messages(mixed, 1 if shape == "single" else BATCH)
                            for shape in SHAPES})  # fmt: skip
            del mixed
            run_id = uuid.uuid4().hex[:6]
            topics = {name: f"bench-{run_id}-{name}" for name in encoded}
            asyncio.run(create_topics(broker, topics.values()))
            for name in encoded:
                t = time.monotonic()
                asyncio.run(produce(broker, topics[name], encoded[name]))
                print(f"produced {topics[name]} in {time.monotonic() - t:.1f} s", flush=True)
            timeout = 60 + args.events / 1500
            for shape in SHAPES:
                for kind in KINDS:
                    if kind not in args.kinds.split(",") or (kind == "quix" and args.skip_quix):
                        continue
                    topic = topics[f"mixed-{shape}" if kind == "ccpulse-mixed" else shape]
                    runs[(kind, shape)] = bench.measure(kind, shape, topic, args.events,
                                                        timeout)  # fmt: skip
            del encoded
        if "latency" in parts:
            for variant in args.latency_variants.split(","):
                lats.append(measure_latency(bench, variant, args.latency_rate,
                                            args.latency_seconds, args.queues))  # fmt: skip
        if "memory" in parts:
            mem = measure_memory(bench, args.memory_queues, args.memory_rate)
        lines = report(args, runs, lats, mem, args.events)
        lines.append("")
        lines.append(f"total bench time {time.monotonic() - t_all:.0f} s")
        print("\n".join(lines), flush=True)
        if args.json:
            args.json.write_text(json.dumps({
                "runs": [asdict(r) for r in runs.values()],
                "latency": [asdict(x) for x in lats],
                "memory": asdict(mem) if mem else None,
            }, indent=2, default=str))  # fmt: skip
    finally:  # every process this bench started, then its files
        bench.stop_all()
        redis_service.stop()
        broker.stop()
        if args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
