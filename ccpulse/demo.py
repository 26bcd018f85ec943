"""`ccpulse simulate` and `ccpulse demo`: simulated contact-centre traffic, and the whole pipeline
on the embedded broker and Redis in one command."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import orjson

from ccpulse.config import Settings, mask_url
from ccpulse.embedded import (
    Service,
    ServiceError,
    die_with_parent,
    free_port,
    start_broker,
    start_prometheus,
    start_redis,
)
from ccpulse.kafka_auth import client_options
from ccpulse.sources.produce import EventProducer, paced
from ccpulse.sources.simulator import SimConfig, default_queues, simulate


def simulated_events(
    seed: int, start_ms: int, hours: float, drain: bool = True
) -> Iterator[dict[str, Any]]:
    """The demo's queues from `start_ms` for `hours`; with `drain`, contacts still in progress at
    the end are finished (their last events fall after it)."""
    return simulate(SimConfig(default_queues(), seed, start_ms, hours * 3600, drain=drain))


def write_events(events: Iterator[dict[str, Any]], out: IO[bytes]) -> int:
    count = 0
    for event in events:
        out.write(orjson.dumps(event) + b"\n")
        count += 1
    return count


async def send_events(
    settings: Settings,
    events: Iterator[dict[str, Any]],
    batch_size: int,
    realtime_after_ms: int | None,
    stop: asyncio.Event | None = None,
) -> int:
    """Produce events; those after `realtime_after_ms` are paced to the wall clock."""
    sent = 0
    backlog: list[dict[str, Any]] = []
    async with EventProducer(
        settings.kafka.broker, settings.kafka.contacts_topic, **client_options(settings.kafka)
    ) as producer:
        live: Iterator[dict[str, Any]] | None = None
        for event in events:
            if realtime_after_ms is not None and event["ts"] > realtime_after_ms:
                live = _chain([event], events)
                break
            backlog.append(event)
            if len(backlog) >= 20_000:
                await producer.send(backlog, batch_size)
                sent += len(backlog)
                backlog = []
        await producer.send(backlog, batch_size)
        sent += len(backlog)
        if live is not None:
            async for chunk in paced(live, speed=1.0, stop=stop):
                if stop is not None and stop.is_set():
                    break
                await producer.send(chunk, batch_size)
                sent += len(chunk)
    return sent


def _chain(first: list[dict[str, Any]], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from first
    yield from rest


def _port_or_free(preferred: int) -> int:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def run_demo(settings: Settings, backfill_hours: float, duration: float | None, seed: int) -> int:
    """Start broker, Redis and a worker, feed them simulated traffic, stop all on Ctrl-C."""
    services: list[Service] = []
    worker: subprocess.Popen[bytes] | None = None
    wallboard: subprocess.Popen[bytes] | None = None
    # `kill` (or a supervisor's stop) shuts everything down as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        broker = start_broker(_port_or_free(9092))
        services.append(broker)
        redis = start_redis(_port_or_free(6379))
        services.append(redis)
        metrics_port = _port_or_free(settings.metrics.port)
        settings = replace(
            settings,
            kafka=replace(settings.kafka, broker=f"kafka://127.0.0.1:{broker.port}"),
            redis=replace(settings.redis, url=f"redis://127.0.0.1:{redis.port}/0"),
            metrics=replace(settings.metrics, port=metrics_port),
        )
        env = {
            **os.environ,
            "CCPULSE_KAFKA_BROKER": settings.kafka.broker,
            "CCPULSE_REDIS_URL": settings.redis.url,
            "CCPULSE_METRICS_PORT": str(metrics_port),
        }
        log_dir = Path(".ccpulse")
        log_dir.mkdir(exist_ok=True)
        with open(log_dir / "demo-worker.log", "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "ccpulse.cli", "worker", "--loglevel", "info"],
                env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            )  # fmt: skip
            wallboard_port = _port_or_free(settings.wallboard.port)
            wallboard = subprocess.Popen(
                [sys.executable, "-m", "ccpulse.cli", "wallboard", "--port", str(wallboard_port)],
                env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            )  # fmt: skip
        prometheus = _start_prometheus(metrics_port)
        if prometheus is not None:
            services.append(prometheus)
            ui = f"http://127.0.0.1:{prometheus.port}{_prometheus_ui_prefix(prometheus.port)}"
            prometheus_line = f"{ui}/alerts  (rules: {ui}/rules, queries: {ui}/graph)"
        else:
            prometheus_line = "not started: no prometheus binary (apt-get install prometheus)"
        prefix = settings.redis.key_prefix
        topic = settings.kafka.contacts_topic
        print(
            f"""
ccpulse demo running (Ctrl-C stops everything)
  broker      {mask_url(settings.kafka.broker)}  (embedded Tansu, topic {topic})
  redis       {mask_url(settings.redis.url)}
  metrics     http://127.0.0.1:{metrics_port}/metrics  (health: /healthz)
  wallboard   http://{settings.wallboard.host}:{wallboard_port}/
  prometheus  {prometheus_line}
  worker log  {log_dir / "demo-worker.log"}
  queues      redis-cli -p {redis.port} zrange {prefix}:queues 0 -1
  queue hash  redis-cli -p {redis.port} hgetall {prefix}:queue:acme:sales
  updates     redis-cli -p {redis.port} subscribe {prefix}:updates
""",
            flush=True,
        )
        now = int(time.time() * 1000)
        hours = backfill_hours + (duration / 3600 if duration else 24.0)
        events = simulated_events(seed, now - int(backfill_hours * 3_600_000), hours)
        sent = asyncio.run(_demo_loop(settings, events, now, duration))
        print(f"sent {sent} events", flush=True)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up
        print("stopping worker, broker and redis...", flush=True)
        if wallboard is not None and wallboard.poll() is None:
            wallboard.terminate()
            wallboard.wait(10)
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        for service in reversed(services):
            service.stop()
        signal.signal(signal.SIGTERM, previous)


def _start_prometheus(metrics_port: int) -> Service | None:
    """Prometheus with the shipped rules scraping the worker, when the binary is there."""
    from ccpulse.monitoring.generate import rule_files

    try:
        return start_prometheus(
            [f"127.0.0.1:{metrics_port}"], rule_files(), port=_port_or_free(9090)
        )
    except ServiceError:
        return None


def _prometheus_ui_prefix(port: int) -> str:
    """Where the web pages are: Debian's build serves only the classic UI, under /classic."""
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/alerts", timeout=5).close()
        return ""
    except OSError:
        return "/classic"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


async def _demo_loop(
    settings: Settings, events: Iterator[dict[str, Any]], now: int, duration: float | None
) -> int:
    stop = asyncio.Event()
    task = asyncio.create_task(send_events(settings, events, 100, now, stop))
    if duration is None:
        return await task
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), duration)
    stop.set()
    return await task
