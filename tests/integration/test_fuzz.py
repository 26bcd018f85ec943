"""Hostile messages between valid ones, through the real pipeline (broker, worker, Redis): every
Redis figure equals `ccpulse report` on the valid events alone, and every hostile element is in
the dead-letter topic, one by one or counted in a summary record (tests/hostile.py)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from ccpulse.sources.produce import bootstrap_servers
from tests.hostile import dead_letter_records, elements, every_kind, hostile_messages, nested
from tests.integration.conftest import Deployment
from tests.integration.helpers import history, wait_until_published_equals_report

pytestmark = pytest.mark.integration

#: A queue of the valid history: hostile messages share its key, partition and batches.
KEY = b"acme/billing"


def produce_raw(dep: Deployment, items: list[tuple[bytes | None, bytes]]) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(dep.broker_url),
                                    max_request_size=2 * 1024 * 1024, linger_ms=5)  # fmt: skip
        await producer.start()
        try:
            for key, value in items:
                await producer.send(dep.topic, value, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(go())


def test_hostile_messages_cost_no_valid_event_and_are_all_dead_lettered(
    deployment: Deployment,
) -> None:
    now = int(time.time() * 1000)
    events = history(seed=31, contacts=800, end_ms=now - 60_000, span_ms=2 * 3_600_000)
    hostile = [(k, v) for _, k, v in every_kind(key=KEY)]
    hostile += [(KEY, nested(depth)) for depth in range(1, 2001)]
    hostile += [(k, v) for _, k, v in hostile_messages(5, 400, key=KEY)]
    deployment.start_worker()
    chunks = 20
    size, step = len(events) // chunks + 1, len(hostile) // chunks + 1
    for i in range(chunks):  # valid, hostile, valid, ...: each hostile run between valid ones
        deployment.produce(events[i * size : (i + 1) * size], batch_size=25)
        produce_raw(deployment, hostile[i * step : (i + 1) * step])
    wait_until_published_equals_report(deployment, events, None, timeout=180)
    records = sum(dead_letter_records(v) for _, v in hostile)
    letters = deployment.dead_letters(records, timeout=60)
    assert len(letters) == records
    assert {d["reason"] for d in letters} == {"invalid"}
    assert sum(d.get("count", 1) for d in letters) == sum(elements(v) for _, v in hostile)
    assert max(len(orjson.dumps(d)) for d in letters) <= 65_536
    assert all(w.poll() is None for w in deployment.workers), deployment.tail_logs()
    assert "could not be processed" not in deployment.logs[0].read_text()
