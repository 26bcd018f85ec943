"""Kafka helpers of the parent process: topics, pre-encoded messages, committed offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import orjson

from ccpulse.embedded import Service
from ccpulse.sources.produce import group_by_queue

from .workload import PARTITIONS


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
