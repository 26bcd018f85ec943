"""`ccpulse worker`: the Faust app with its sinks, against the configured Kafka and Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from prometheus_client import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from ccpulse import native
from ccpulse.config import Settings, mask_url
from ccpulse.sinks.metrics_server import start_metrics_server
from ccpulse.sinks.prometheus_sink import MetricsView, PrometheusSink, compact
from ccpulse.sinks.redis_sink import RedisSink
from ccpulse.streams.allocator import tune_allocator
from ccpulse.streams.app import create_app, ensure_topics
from ccpulse.streams.faust_parts import Worker
from ccpulse.streams.kpi.engine import QueueKey
from ccpulse.streams.kpi.policy import QueuePolicy
from ccpulse.streams.liveness import RedisOutage, WorkerLiveness
from ccpulse.streams.pipeline import Pipeline

log = logging.getLogger("ccpulse.worker")


def metrics_view(
    pipeline: Pipeline,
    snapshots: list[dict[str, Any]],
    latest: dict[QueueKey, dict[str, Any]],
    liveness: WorkerLiveness | None = None,
    totals: dict[tuple[str, str, str], tuple[list[int], QueuePolicy]] | None = None,
) -> MetricsView:
    """What /metrics shows after this publish: the newest snapshot of every owned queue, the
    running totals and pipeline health. Queues of partitions given up drop out.

    `latest` and `totals` ((tenant, queue, channel) -> running-total tally and policy) are kept
    by the caller from one publish to the next. A queue's running totals are copied when its
    snapshot is: they move only with its events, which make it due for one, so the counters
    and the gauges of a queue change together, and a publish costs what changed rather than
    every queue held (10,000 on a big worker): the view gets copies of the two mappings."""
    owned = {qkey for engine in pipeline.engines.values() for qkey in engine.queues}
    totals = {} if totals is None else totals
    engines = list(pipeline.engines.values())
    for snap in snapshots:
        qkey = (tenant, queue) = (snap["tenant"], snap["queue"])
        latest[qkey] = compact(snap)
        for engine in engines:
            qs = engine.queues.get(qkey)
            if qs is not None:
                for channel, bucket in qs.totals.items():
                    totals[(tenant, queue, channel)] = (list(bucket.tally), qs.policy_for(channel))
                break
    gone = set(latest) - owned
    if gone:  # a partition given up: its queues' series go (totals are kept with `latest`)
        for qkey in gone:
            del latest[qkey]
        for key in [key for key in totals if key[:2] in gone]:
            del totals[key]
    health = pipeline.health
    return MetricsView(
        dict(latest),
        dict(totals),
        {
            "messages": health.messages,
            "verdicts": dict(health.verdicts),
            "invalid": health.invalid,
            "misrouted": health.misrouted,
            "over_limit": dict(pipeline.admission.refused),
            "dead_letter_failures": health.dead_letter_failures,
            "last_event_ms": dict(health.last_event_ms),
            "lag_messages": dict(health.lag_messages),
            "liveness": liveness,
        },
    )


def build_worker_app(
    settings: Settings, registry: CollectorRegistry, liveness: WorkerLiveness | None = None
) -> faust.App:
    """The app plus a publish step that feeds Redis and the Prometheus collector."""
    liveness = liveness or WorkerLiveness()
    prometheus = PrometheusSink(registry, agent_labels=settings.metrics.agent_labels)
    redis_sink = RedisSink(settings.redis)
    latest: dict[QueueKey, dict[str, Any]] = {}
    totals: dict[tuple[str, str, str], tuple[list[int], QueuePolicy]] = {}
    generation = -1
    open_intervals_due = 0.0
    outage = RedisOutage()
    family_latest: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    family_generation = -1

    async def publish(snapshots: list[dict[str, Any]], pipeline: Pipeline) -> None:
        nonlocal generation, open_intervals_due, family_generation
        if pipeline.assignment_generation != generation:
            generation = pipeline.assignment_generation
            redis_sink.forget_written()
        started = time.monotonic()
        health = pipeline.health
        liveness.observe_progress(health.messages, sum(health.lag_messages.values()), started)
        prometheus.update(metrics_view(pipeline, snapshots, latest, liveness, totals))
        if not outage.due(started):  # Redis is down: try again after the back-off
            for snap in snapshots:
                pipeline.mark_dirty(snap["tenant"], snap["queue"])
            return
        # Intervals still open go out every `open_interval_refresh_seconds`, ended ones (and
        # late changes to them) at every flush.
        now = time.monotonic()
        open_intervals = now >= open_intervals_due
        if open_intervals:
            open_intervals_due = now + settings.redis.open_interval_refresh_seconds
        intervals = pipeline.interval_records(open_intervals=open_intervals)
        families = pipeline.family_snapshots(int(time.time() * 1000))
        for name, snap in families:  # /metrics shows every tenant's newest figures
            family_latest[(name, snap["tenant"])] = (name, snap)
        if pipeline.assignment_generation != family_generation:  # drop tenants given up
            held = {(n, t) for fams in pipeline.families.values() for n, f in fams.items()
                    for t in f.tenants()}  # fmt: skip
            for gone in set(family_latest) - held:
                del family_latest[gone]
            family_generation = pipeline.assignment_generation
        prometheus.update_families(list(family_latest.values()))
        had_written = redis_sink.has_written
        try:
            await redis_sink.publish(snapshots, intervals, families)
        except Exception as exc:  # Redis down: keep processing, publish again after a back-off
            liveness.observe_flush(time.monotonic() - started, False, time.monotonic(), time.time())
            outage.failed(time.monotonic(), mask_url(str(exc)))
            for snap in snapshots:
                pipeline.mark_dirty(snap["tenant"], snap["queue"])
            for record in intervals:
                pipeline.mark_dirty(record["tenant"], record["queue"], record["start_ms"])
        else:
            liveness.observe_flush(time.monotonic() - started, True, time.monotonic(), time.time())
            outage.succeeded(time.monotonic())
            if redis_sink.lost:  # Redis came back empty or older: write everything held again
                redis_sink.lost = False
                redis_sink.forget_written()
                pipeline.republish_all(int(time.time() * 1000))
                if had_written:
                    log.warning("redis lost this worker's writes (restarted empty or from an "
                                "older snapshot?): writing every queue and interval held again")
                else:  # the first writer into an empty Redis: a fresh deployment
                    log.info("redis holds no figures yet: writing every queue and interval held")

    app, _ = create_app(settings, on_snapshots=publish)
    return app


def startup_line(settings: Settings) -> str:
    """The first log line: where the worker reads and writes, credentials masked."""
    return (
        f"ccpulse worker: broker {mask_url(settings.kafka.broker)}, redis "
        f"{mask_url(settings.redis.url)}, metrics http://{settings.metrics.host}:"
        f"{settings.metrics.port}/metrics (health: /healthz), KPI core {native.in_use}"
    )


async def wait_for_broker(
    settings: Settings, first_delay: float = 1.0, max_delay: float = 30.0
) -> None:
    """Create the topics, waiting with backoff (logged) while the broker is not up yet: a worker
    started before its broker, or with it by a supervisor, starts once the broker answers."""
    from aiokafka.errors import KafkaConnectionError

    delay = first_delay
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)  # one line per attempt: ours
    try:
        while True:
            try:
                await ensure_topics(settings)
                return
            except (KafkaConnectionError, OSError) as exc:
                log.warning("waiting for the Kafka broker at %s (%s); retrying in %.0f s",
                            mask_url(settings.kafka.broker), exc, delay)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
    finally:
        client_log.setLevel(level)


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    """Create topics if needed, serve /metrics, and run the Faust worker until stopped."""
    malloc_settings = tune_allocator()  # first: before any thread has an arena of its own
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(wait_for_broker(settings))
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, CPU seconds...
    liveness = WorkerLiveness()
    app = build_worker_app(settings, registry, liveness)
    start_metrics_server(settings.metrics.host, settings.metrics.port, registry, liveness.status)
    log.warning("%s", startup_line(settings))
    log.info("malloc settings: %s", ", ".join(malloc_settings) or "as the environment gives")
    worker = Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
