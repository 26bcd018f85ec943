"""Seeking to the committed offsets (what Faust does when a rebalance's recovery ends) puts every
partition where its next unprocessed record is, also one with no committed offset or offset 0:
records fetched and dropped before the seek are read again, never skipped."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from ccpulse.embedded import Service
from ccpulse.sources.produce import bootstrap_servers
from ccpulse.streams.faust_parts import seek_to_committed


async def _fetched_then_sought(broker: Service, committed: int | None) -> tuple[int, int]:
    """Fetch a 10-record partition to its end, commit `committed` (None: nothing), seek to the
    committed offsets: the position before and after the seek."""
    servers = bootstrap_servers(f"kafka://127.0.0.1:{broker.port}")
    topic = f"seek-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for n in range(10):
            await producer.send_and_wait(topic, str(n).encode(), partition=0)
    finally:
        await producer.stop()
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, group_id=f"g-{topic}", enable_auto_commit=False,
        auto_offset_reset="earliest",
    )  # fmt: skip
    consumer.assign([tp])
    await consumer.start()
    try:
        fetched = 0
        for _ in range(40):
            fetched += len((await consumer.getmany(tp, timeout_ms=250)).get(tp, []))
            if fetched == 10:
                break
        assert fetched == 10
        if committed is not None:
            await consumer.commit({tp: OffsetAndMetadata(committed, "")})
        before = await consumer.position(tp)
        await seek_to_committed(consumer)
        return before, await consumer.position(tp)
    finally:
        await consumer.stop()


def test_a_partition_without_a_committed_offset_goes_back_to_the_reset_position(
    broker: Service,
) -> None:
    assert asyncio.run(_fetched_then_sought(broker, None)) == (10, 0)


def test_a_partition_committed_at_offset_zero_goes_back_to_zero(broker: Service) -> None:
    assert asyncio.run(_fetched_then_sought(broker, 0)) == (10, 0)


def test_a_committed_partition_goes_back_to_its_committed_offset(broker: Service) -> None:
    assert asyncio.run(_fetched_then_sought(broker, 4)) == (10, 4)
