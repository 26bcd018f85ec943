"""Redis stopped for a minute and restarted empty (no persistence, as docker-compose runs it)
under a steady stream: afterwards the live hashes and the interval history equal the report,
and the worker logged the outage once when it began and once when it ended."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from ccpulse.embedded import Service, start_redis
from tests.integration.conftest import Deployment
from tests.integration.helpers import (
    history,
    wait_until_history_equals_report,
    wait_until_published_equals_report,
)

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 60


def test_a_minute_without_redis_then_an_empty_redis_loses_no_figure(broker: Service) -> None:
    redis = start_redis()  # this test's own: stopped and started again on the same port
    dep = Deployment(broker, redis, f"t{uuid.uuid4().hex[:8]}")
    try:
        dep.create_topics()
        now = int(time.time() * 1000)
        events = history(seed=21, contacts=1500, end_ms=now - 60_000, span_ms=3 * 3_600_000)
        chunks = 40
        size = len(events) // chunks + 1

        def stream() -> None:  # about two events a second per queue for 80 s
            for i in range(chunks):
                dep.produce(events[i * size : (i + 1) * size], batch_size=20)
                time.sleep(2.0)

        dep.start_worker()
        producer = threading.Thread(target=stream, daemon=True)
        producer.start()
        wait_until_figures_appear(dep)
        redis.stop()
        time.sleep(OUTAGE_SECONDS)
        redis = dep.redis = start_redis(redis.port)  # empty: no persistence
        producer.join(120)
        assert not producer.is_alive()
        wait_until_published_equals_report(dep, events, None, timeout=120)
        wait_until_history_equals_report(dep, events, timeout=120)
        log = dep.logs[0].read_text()
        assert log.count("redis unavailable") == 1, dep.tail_logs()
        assert log.count("redis back after") == 1, dep.tail_logs()
        # Redis restarted empty after the worker had written: a warning. Finding it empty at
        # the first flush, as a fresh deployment does, is not one.
        assert log.count("redis lost this worker's writes") == 1, dep.tail_logs()
        assert "redis holds no figures yet" in log
    finally:
        dep.stop_all()
        redis.stop()


def wait_until_figures_appear(dep: Deployment, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dep.redis_client().zcard(f"{dep.name}:queues"):
            return
        time.sleep(0.5)
    raise AssertionError("no queue published:\n" + dep.tail_logs())
