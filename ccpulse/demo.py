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
from typing import IO, Any, Final

import orjson

from ccpulse.config import Settings
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
from ccpulse.sources.produce import EventProducer, paced, produce_values, read_event_lines
from ccpulse.sources.simulator import SimConfig, default_queues, simulate


def simulated_events(
    seed: int, start_ms: int, hours: float, drain: bool = True
) -> Iterator[dict[str, Any]]:
    """The demo's queues from `start_ms` for `hours`; with `drain`, contacts still in progress at
    the end are finished (their last events fall after it)."""
    return simulate(SimConfig(default_queues(), seed, start_ms, hours * 3600, drain=drain))


def write_events(
    events: Iterator[dict[str, Any]], out: IO[bytes], until_ms: int | None = None
) -> tuple[int, int]:
    """Write JSON lines, those after `until_ms` left out; returns (written, left out)."""
    count = later = 0
    for event in events:
        if until_ms is not None and event["ts"] > until_ms:
            later += 1
            continue
        out.write(orjson.dumps(event) + b"\n")
        count += 1
    return count, later


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


#: The demo's configuration, matching the simulated contact centre (time zones, thresholds,
#: opening hours, ticket business hours); `ccpulse demo` uses it when no file is given.
DEMO_CONFIG: Final = Path(__file__).with_name("demo.toml")


def run_demo(
    settings: Settings,
    backfill_hours: float,
    duration: float | None,
    seed: int,
    config_path: str | Path = DEMO_CONFIG,
    replay: Path | None = None,
) -> int:
    """Start broker, Redis and a worker, feed them simulated traffic (or, with `replay`, the
    events of that file, as `ccpulse produce` sends them), stop all on Ctrl-C.

    The worker and the wallboard read `config_path` (the file `settings` came from), with the
    demo's own broker, Redis and metrics addresses set over it through the environment."""
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
                [sys.executable, "-m", "ccpulse.cli", "worker", "--loglevel", "info",
                 "--config", str(config_path)],
                env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            )  # fmt: skip
            wallboard_port = _port_or_free(settings.wallboard.port)
            wallboard = subprocess.Popen(
                [sys.executable, "-m", "ccpulse.cli", "wallboard", "--port", str(wallboard_port),
                 "--config", str(config_path)],
                env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            )  # fmt: skip
        prometheus = _start_prometheus(metrics_port)
        if prometheus is not None:
            services.append(prometheus)
            ui = f"http://127.0.0.1:{prometheus.port}{_prometheus_ui_prefix(prometheus.port)}"
            prometheus_line = f"{ui}/alerts  (rules: {ui}/rules, queries: {ui}/graph)"
        else:
            prometheus_line = "not started: no prometheus binary (apt-get install prometheus)"
        print(
            banner(settings, config_path, broker.port, redis.port, metrics_port,
                   f"http://{settings.wallboard.host}:{wallboard_port}/", prometheus_line,
                   log_dir / "demo-worker.log"),
            flush=True,
        )  # fmt: skip
        if replay is not None:
            sent = asyncio.run(_replay_loop(settings, replay, duration))
            print(f"sent {sent} events", flush=True)
            return 0
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
            try:
                wallboard.wait(10)
            except subprocess.TimeoutExpired:  # the rest must still be stopped
                wallboard.kill()
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        for service in reversed(services):
            service.stop()
        signal.signal(signal.SIGTERM, previous)


def banner(
    settings: Settings, config_path: str | Path, broker_port: int, redis_port: int,
    metrics_port: int, wallboard_url: str, prometheus_line: str, worker_log: Path,
) -> str:  # fmt: skip
    """What the demo prints once everything runs: where each part is, and how to watch every
    family's Redis keys (docs/redis-keys.md) under the configured prefix."""
    p = settings.redis.key_prefix
    cli = f"redis-cli -p {redis_port}"
    topic = settings.kafka.contacts_topic
    return f"""
ccpulse demo running (Ctrl-C stops everything)
  config      {config_path}
  broker      kafka://127.0.0.1:{broker_port}  (embedded Tansu, topic {topic})
  redis       redis://127.0.0.1:{redis_port}/0
  metrics     http://127.0.0.1:{metrics_port}/metrics  (health: /healthz)
  wallboard   {wallboard_url}
  prometheus  {prometheus_line}
  worker log  {worker_log}
  queues      {cli} zrange {p}:queues 0 -1
  queue hash  {cli} hgetall {p}:queue:acme:sales
  intervals   {cli} zrange {p}:intervals:acme:sales 0 -1
  agents      {cli} hgetall {p}:agent-summary:acme:#all
  one agent   {cli} hgetall {p}:agent:acme:agent-sales-1
  tickets     {cli} hgetall {p}:tickets:acme
  surveys     {cli} hgetall {p}:surveys:acme
  updates     {cli} subscribe {p}:updates
"""


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


async def _replay_loop(settings: Settings, path: Path, duration: float | None) -> int:
    """Send the file's events at once, then keep everything running until the end."""
    started = time.monotonic()
    async with EventProducer(
        settings.kafka.broker, settings.kafka.contacts_topic, **client_options(settings.kafka)
    ) as producer:
        with open(path, "rb") as fh:
            sent, _ = await produce_values(producer, read_event_lines(fh), 100)
    print(f"replayed {sent} events from {path}", flush=True)
    if duration is None:
        await asyncio.Event().wait()  # until Ctrl-C or SIGTERM
    else:
        await asyncio.sleep(max(0.0, duration - (time.monotonic() - started)))
    return sent
