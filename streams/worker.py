"""`ccpulse worker`: the Faust app with its sinks, against the configured Kafka and Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from prometheus_client import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from ccpulse.config import Settings
from ccpulse.sinks.metrics_server import start_metrics_server
from ccpulse.sinks.prometheus_sink import MetricsView, PrometheusSink, compact
from ccpulse.sinks.redis_sink import RedisSink
from ccpulse.streams.app import create_app, ensure_topics
from ccpulse.streams.faust_parts import Worker
from ccpulse.streams.kpi.engine import QueueKey
from ccpulse.streams.liveness import WorkerLiveness
from ccpulse.streams.pipeline import Pipeline

log = logging.getLogger("ccpulse.worker")


def metrics_view(
    pipeline: Pipeline,
    snapshots: list[dict[str, Any]],
    latest: dict[QueueKey, dict[str, Any]],
    liveness: WorkerLiveness | None = None,
) -> MetricsView:
    """What /metrics shows after this publish: the newest snapshot of every owned queue, the
    running totals and pipeline health. Queues of partitions given up drop out."""
    owned = {qkey for engine in pipeline.engines.values() for qkey in engine.queues}
    for snap in snapshots:
        latest[(snap["tenant"], snap["queue"])] = compact(snap)
    for gone in set(latest) - owned:
        del latest[gone]
    totals = {
        (tenant, queue, channel): (list(bucket.tally), qs.policy_for(channel))
        for engine in pipeline.engines.values()
        for (tenant, queue), qs in engine.queues.items()
        for (gran, channel, _), bucket in qs.buckets.items()
        if gran == "t"
    }
    health = pipeline.health
    return MetricsView(
        dict(latest),
        totals,
        {
            "messages": health.messages,
            "verdicts": dict(health.verdicts),
            "invalid": health.invalid,
            "misrouted": health.misrouted,
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
    generation = -1
    open_intervals_due = 0.0

    async def publish(snapshots: list[dict[str, Any]], pipeline: Pipeline) -> None:
        nonlocal generation, open_intervals_due
        if pipeline.assignment_generation != generation:
            generation = pipeline.assignment_generation
            redis_sink.forget_written()
        started = time.monotonic()
        health = pipeline.health
        liveness.observe_progress(health.messages, sum(health.lag_messages.values()), started)
        prometheus.update(metrics_view(pipeline, snapshots, latest, liveness))
        # Intervals still open go out every `open_interval_refresh_seconds`, ended ones (and
        # late changes to them) at every flush.
        now = time.monotonic()
        open_intervals = now >= open_intervals_due
        if open_intervals:
            open_intervals_due = now + settings.redis.open_interval_refresh_seconds
        intervals = pipeline.interval_records(open_intervals=open_intervals)
        families = pipeline.family_snapshots(int(time.time() * 1000))
        prometheus.update_families(families)
        try:
            await redis_sink.publish(snapshots, intervals, families)
        except Exception as exc:  # Redis down: keep processing, publish again on the next flush
            liveness.observe_flush(time.monotonic() - started, False, time.monotonic(), time.time())
            log.warning("redis publish failed, will retry: %s", exc)
            for snap in snapshots:
                pipeline.mark_dirty(snap["tenant"], snap["queue"])
            for record in intervals:
                pipeline.mark_dirty(record["tenant"], record["queue"], record["start_ms"])
        else:
            liveness.observe_flush(time.monotonic() - started, True, time.monotonic(), time.time())

    app, _ = create_app(settings, on_snapshots=publish)
    return app


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
                            settings.kafka.broker, exc, delay)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
    finally:
        client_log.setLevel(level)


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    """Create topics if needed, serve /metrics, and run the Faust worker until stopped."""
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(wait_for_broker(settings))
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, CPU seconds...
    liveness = WorkerLiveness()
    app = build_worker_app(settings, registry, liveness)
    start_metrics_server(settings.metrics.host, settings.metrics.port, registry, liveness.status)
    log.warning(
        "ccpulse worker: broker %s, redis %s, metrics http://%s:%d/metrics (health: /healthz)",
        settings.kafka.broker, settings.redis.url, settings.metrics.host, settings.metrics.port,
    )  # fmt: skip
    worker = Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
