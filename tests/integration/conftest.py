"""Real services for integration tests: the embedded Kafka-protocol broker and Redis, started on
free loopback ports. A missing binary fails the test loudly; nothing is mocked here."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from ccpulse.embedded import Service, free_port, start_broker, start_redis
from ccpulse.processes import ccpulse_argv, start_process, stop_process, worker_env
from ccpulse.sources.produce import EventProducer, bootstrap_servers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def broker() -> Iterator[Service]:
    service = start_broker()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Service]:
    service = start_redis()
    yield service
    service.stop()


@pytest.fixture
def client(redis_server: Service) -> Iterator[redis.Redis]:
    """A client of the session's Redis, emptied for the test."""
    c = redis.Redis(port=redis_server.port)
    c.flushdb()
    yield c
    c.close()


@dataclass
class Deployment:
    """One isolated pipeline deployment: its own topics, consumer group and Redis prefix."""

    broker: Service
    redis: Service
    name: str
    partitions: int = 4
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    metrics_ports: list[int] = field(default_factory=list)
    config: Path | None = None
    #: More CCPULSE_* settings for workers and commands (e.g. the repartition stage).
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def broker_url(self) -> str:
        return f"kafka://127.0.0.1:{self.broker.port}"

    @property
    def topic(self) -> str:
        return f"{self.name}.contacts"

    @property
    def deadletter(self) -> str:
        return f"{self.name}.deadletter"

    def env(self, metrics_port: int) -> dict[str, str]:
        return {
            **os.environ,
            **worker_env(self.name, self.broker, self.redis, self.partitions, metrics_port),
            **({"CCPULSE_CONFIG": str(self.config)} if self.config else {}),
            **self.settings,
        }

    def start_worker(self) -> subprocess.Popen[bytes]:
        port = free_port()
        log = ROOT / ".ccpulse" / "test-logs" / f"{self.name}-{len(self.logs)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        proc = start_process(ccpulse_argv("worker", "--loglevel", "info"), log, self.env(port))
        self.workers.append(proc)
        self.logs.append(log)
        self.metrics_ports.append(port)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.workers:
            stop_process(proc, 15)

    def produce(
        self, events: list[dict[str, Any]], batch_size: int = 100, keyed: bool = True
    ) -> None:
        async def go() -> None:
            async with EventProducer(self.broker_url, self.topic) as producer:
                await producer.send(events, batch_size=batch_size, keyed=keyed)

        asyncio.run(go())

    def produce_raw(self, items: list[tuple[bytes | None, bytes]]) -> None:
        async def go() -> None:
            async with EventProducer(self.broker_url, self.topic) as producer:
                for key, value in items:
                    await producer.send_raw(key, value)

        asyncio.run(go())

    def create_topics(self) -> None:
        from ccpulse.config import load_settings
        from ccpulse.streams.app import ensure_topics

        asyncio.run(ensure_topics(load_settings(env=self.env(0))))

    def redis_client(self) -> redis.Redis:
        return redis.Redis(port=self.redis.port)

    def queue_hash(self, tenant: str, queue: str) -> dict[str, str]:
        raw = self.redis_client().hgetall(f"{self.name}:queue:{tenant}:{queue}")
        return {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]

    def dead_letters(self, expected: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        from aiokafka import AIOKafkaConsumer

        async def go() -> list[dict[str, Any]]:
            consumer = AIOKafkaConsumer(
                self.deadletter, bootstrap_servers=bootstrap_servers(self.broker_url),
                auto_offset_reset="earliest", group_id=None,
            )  # fmt: skip
            await consumer.start()
            out: list[dict[str, Any]] = []
            try:
                deadline = time.monotonic() + timeout
                while len(out) < expected and time.monotonic() < deadline:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        out.extend(orjson.loads(r.value) for r in records)
            finally:
                await consumer.stop()
            return out

        return asyncio.run(go())

    def tail_logs(self) -> str:
        return "\n".join(
            f"--- {log}\n" + log.read_text()[-3000:] for log in self.logs if log.exists()
        )


@pytest.fixture
def deployment(broker: Service, redis_server: Service) -> Iterator[Deployment]:
    dep = Deployment(broker, redis_server, f"t{uuid.uuid4().hex[:8]}")
    dep.create_topics()
    yield dep
    dep.stop_all()
