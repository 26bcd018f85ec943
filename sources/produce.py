"""Send contract events to Kafka the way ccpulse expects them: keyed "tenant/queue", in JSON-array
batches of one queue's events (docs/partitioning.md)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

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
        self.broker = broker
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers(broker), linger_ms=5, acks="all",
            max_batch_size=256 * 1024, **client_options,
        )  # fmt: skip

    async def __aenter__(self) -> EventProducer:
        try:
            await self.producer.start()
        except KafkaConnectionError:
            await self.producer.stop()  # else aiokafka warns of an unclosed producer at exit
            raise BrokerUnreachable(self.broker) from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(
        self, events: list[dict[str, Any]], batch_size: int = 100, keyed: bool = True
    ) -> int:
        """Send events (batch_size 1: one event per message), keyed "tenant/queue" or, with
        `keyed=False`, without keys; returns messages sent."""
        futures = []
        for key, batch in group_by_queue(events, batch_size):
            kafka_key = key.encode() if keyed else None
            if batch_size == 1:
                for event in batch:
                    futures.append(await self.producer.send(
                        self.topic, orjson.dumps(event), key=kafka_key))  # fmt: skip
            else:
                futures.append(
                    await self.producer.send(self.topic, orjson.dumps(batch), key=kafka_key)
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


class BrokerUnreachable(KafkaConnectionError):  # type: ignore[misc]  # untyped aiokafka
    """The producer could not connect: names the broker and how to fix it."""

    def __init__(self, broker: str) -> None:
        super().__init__(
            f"cannot reach the Kafka broker at {broker}: start it (`ccpulse demo` runs one), "
            "or set [kafka] broker or CCPULSE_KAFKA_BROKER"
        )


def contract_key(event: Any) -> str | None:
    """`queue_key` of a JSON value that looks like an event; None when it cannot be keyed (the
    worker then dead-letters it with the reason)."""
    if not isinstance(event, dict):
        return None
    family = str(event.get("type", "")).partition(".")[0]
    tail = _FAMILY_KEYS.get(family) or event.get("queue")
    if not isinstance(tail, str):
        return None
    return f"{event.get('tenant', 'default')}/{tail}"


def read_event_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, value) of JSON lines; a line holding an array yields its elements, a line
    that is not JSON yields `bytes` (sent as it is, so the worker dead-letters it)."""
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield number, bytes(line)
            continue
        if isinstance(value, list):
            for element in value:
                yield number, element
        else:
            yield number, value


async def produce_values(
    producer: EventProducer,
    values: Iterable[tuple[int, Any]],
    batch_size: int,
    *,
    keyed: bool = True,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 20_000,
) -> tuple[int, int]:
    """Send `read_event_lines` values: per-queue JSON arrays of up to `batch_size` events (1: one
    event per message), keyed "tenant/queue" as the contract says or, with `keyed=False`, with no
    key (for a topic read through the repartition stage). Values that cannot be keyed go alone.
    `progress(events, messages)` is called after each chunk; returns (events, messages)."""
    events = messages = 0
    pending: list[Any] = []

    async def flush() -> None:
        nonlocal events, messages, pending
        groups: dict[str | None, list[Any]] = {}
        futures = []
        for value in pending:
            key = contract_key(value)
            if key is None:
                raw = value if isinstance(value, bytes) else orjson.dumps(value)
                futures.append(await producer.producer.send(producer.topic, raw, key=None))
                continue
            batch = groups.setdefault(key, [])
            batch.append(value)
            if len(batch) >= batch_size:
                futures.append(await _send_batch(producer, key, batch, keyed))
                groups[key] = []
        for key, batch in groups.items():
            if batch and key is not None:
                futures.append(await _send_batch(producer, key, batch, keyed))
        await asyncio.gather(*futures)
        events += len(pending)
        messages += len(futures)
        pending = []
        if progress is not None:
            progress(events, messages)

    for _, value in values:
        pending.append(value)
        if len(pending) >= chunk:
            await flush()
    await flush()
    return events, messages


async def _send_batch(
    producer: EventProducer, key: str, batch: list[Any], keyed: bool
) -> asyncio.Future[Any]:
    value = orjson.dumps(batch[0] if len(batch) == 1 else batch)
    sent: asyncio.Future[Any] = await producer.producer.send(
        producer.topic, value, key=key.encode() if keyed else None
    )
    return sent
