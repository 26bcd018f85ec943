"""Send contract events to Kafka the way ccpulse expects them: keyed "tenant/queue", in JSON-array
batches of one queue's events (docs/partitioning.md)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from ccpulse.schemas.events import AGENTS_KEY, SURVEYS_KEY, TICKETS_KEY


def bootstrap_servers(broker: str) -> str:
    """faust-style broker URLs ("kafka://h:p;kafka://h2:p") to an aiokafka bootstrap string."""
    return ",".join(u.split("://", 1)[-1] for u in broker.split(";"))


_FAMILY_KEYS = {"agent": AGENTS_KEY, "ticket": TICKETS_KEY, "survey": SURVEYS_KEY}


def queue_key(event: dict[str, Any]) -> str:
    """The message key of a wire event: "tenant/queue" for contacts, "tenant/#agents" etc."""
    family = str(event.get("type", "")).partition(".")[0]
    tail = _FAMILY_KEYS.get(family) or event["queue"]
    return f"{event.get('tenant', 'default')}/{tail}"


def group_by_queue(
    events: Iterable[dict[str, Any]], size: int
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Split events into per-queue batches of at most `size`, keeping each queue's order."""
    open_batches: dict[str, list[dict[str, Any]]] = {}
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for event in events:
        key = queue_key(event)
        batch = open_batches.setdefault(key, [])
        batch.append(event)
        if len(batch) >= size:
            out.append((key, batch))
            open_batches[key] = []
    out.extend((key, batch) for key, batch in open_batches.items() if batch)
    return out


class EventProducer:
    """An aiokafka producer of contract events."""

    def __init__(self, broker: str, topic: str, **client_options: Any) -> None:
        """`client_options`: aiokafka connection settings (`ccpulse.kafka_auth.client_options`)."""
        self.topic = topic
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers(broker), linger_ms=5, acks="all",
            max_batch_size=256 * 1024, **client_options,
        )  # fmt: skip

    async def __aenter__(self) -> EventProducer:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, events: list[dict[str, Any]], batch_size: int = 100) -> int:
        """Send events (batch_size 1: one event per message); returns messages sent."""
        futures = []
        for key, batch in group_by_queue(events, batch_size):
            if batch_size == 1:
                for event in batch:
                    futures.append(await self.producer.send(
                        self.topic, orjson.dumps(event), key=key.encode()))  # fmt: skip
            else:
                futures.append(
                    await self.producer.send(self.topic, orjson.dumps(batch), key=key.encode())
                )
        await asyncio.gather(*futures)
        return len(futures)

    async def send_raw(self, key: bytes | None, value: bytes) -> None:
        await (await self.producer.send(self.topic, value, key=key))


async def paced(
    events: Iterable[dict[str, Any]],
    speed: float,
    chunk_seconds: float = 0.5,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Release time-ordered events in chunks as their event time comes, `speed` times real time.

    Setting `stop` ends the stream at once, also while it waits for a quiet night's next event
    (which can be minutes away).
    """
    chunk: list[dict[str, Any]] = []
    wall0 = time.monotonic()
    ts0: int | None = None
    for event in events:
        ts = int(event["ts"])
        if ts0 is None:
            ts0 = ts
        due = (ts - ts0) / 1000 / speed
        if due - (time.monotonic() - wall0) > chunk_seconds and chunk:
            yield chunk
            chunk = []
            wait = max(0.0, due - (time.monotonic() - wall0))
            if stop is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                if stop.is_set():
                    return
        chunk.append(event)
    if chunk:
        yield chunk
