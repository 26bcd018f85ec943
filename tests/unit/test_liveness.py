"""`/healthz` and the flush metrics: healthy while the worker ticks, consumes what waits and
writes to Redis; failing, with the reason, when one of them stops."""

from __future__ import annotations

import itertools
import logging
import time
import urllib.error
import urllib.request

import orjson
import pytest
from prometheus_client.registry import CollectorRegistry

from ccpulse.embedded import free_port
from ccpulse.sinks.metrics_server import start_metrics_server
from ccpulse.sinks.prometheus_sink import MetricsView, PrometheusSink
from ccpulse.streams.liveness import (
    FAILING_WRITES_SECONDS,
    RETRY_MAX_SECONDS,
    STALLED_LOOP_SECONDS,
    STUCK_CONSUMER_SECONDS,
    RedisOutage,
    WorkerLiveness,
)


def _ticking(now: float = 100.0) -> WorkerLiveness:
    live = WorkerLiveness()
    live.observe_progress(messages=10, lag_messages=0, now=now)
    live.observe_flush(0.003, True, now, 1_700_000_000.0)
    return live


def test_starting_until_the_first_flush() -> None:
    healthy, details = WorkerLiveness().status(0.0)
    assert not healthy
    assert details["problems"] == ["starting: no flush yet"]


def test_healthy_while_ticking_and_writing() -> None:
    healthy, details = _ticking().status(101.0)
    assert healthy and details["status"] == "ok"


def test_a_silent_loop_is_failing() -> None:
    live = _ticking()
    assert not live.status(100.0 + STALLED_LOOP_SECONDS + 1)[0]


def test_input_waiting_but_not_processed_is_failing() -> None:
    live = _ticking()
    later = 100.0 + STUCK_CONSUMER_SECONDS + 1
    live.observe_progress(messages=10, lag_messages=500, now=later)
    healthy, details = live.status(later)
    assert not healthy and "500 input messages waiting" in details["problems"][0]
    # An idle worker (nothing waiting) is healthy however long no message came.
    live.observe_progress(messages=10, lag_messages=0, now=later)
    assert live.status(later)[0]


def test_redis_failing_for_long_is_failing_and_recovers() -> None:
    live = _ticking()
    live.observe_flush(1.0, False, 101.0, 0.0)
    assert live.status(101.0 + FAILING_WRITES_SECONDS - 1)[0]  # a blip is not an outage
    live.observe_progress(10, 0, 140.0)
    healthy, details = live.status(101.0 + FAILING_WRITES_SECONDS + 1)
    assert not healthy and details["problems"][0].startswith("redis writes failing")
    live.observe_flush(0.002, True, 140.0, 0.0)
    assert live.status(140.0)[0]


def test_flush_histogram_and_failure_counter() -> None:
    live = _ticking()
    live.observe_flush(0.3, False, 101.0, 0.0)
    registry = CollectorRegistry()
    PrometheusSink(registry).update(MetricsView(health=_health(live)))
    get = registry.get_sample_value
    assert get("ccpulse_redis_publishes_total") == 2
    assert get("ccpulse_redis_publish_failures_total") == 1
    assert get("ccpulse_redis_last_publish_success_timestamp_seconds") == 1_700_000_000.0
    assert get("ccpulse_flush_duration_seconds_bucket", {"le": "0.005"}) == 1
    assert get("ccpulse_flush_duration_seconds_bucket", {"le": "0.25"}) == 1
    assert get("ccpulse_flush_duration_seconds_bucket", {"le": "0.5"}) == 2
    assert get("ccpulse_flush_duration_seconds_count") == 2


def _health(live: WorkerLiveness) -> dict[str, object]:
    return {"messages": 0, "verdicts": {}, "invalid": 0, "misrouted": 0, "last_event_ms": {},
            "lag_messages": {}, "liveness": live}  # fmt: skip


def test_healthz_and_metrics_over_http() -> None:
    live = WorkerLiveness()
    registry = CollectorRegistry()
    PrometheusSink(registry).update(MetricsView(health=_health(live)))
    port = free_port()
    server = start_metrics_server("127.0.0.1", port, registry, live.status)
    try:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
            raise AssertionError("a worker with no flush yet must answer 503")
        except urllib.error.HTTPError as err:
            assert err.code == 503
            assert orjson.loads(err.read())["status"] == "failing"
        live.observe_progress(1, 0, time.monotonic())
        live.observe_flush(0.001, True, time.monotonic(), time.time())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200 and orjson.loads(resp.read())["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert b"ccpulse_redis_publishes_total 1.0" in resp.read()
    finally:
        server.shutdown()


def test_a_redis_outage_logs_once_when_it_starts_and_once_with_its_length_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = RedisOutage()
    tried = []
    with caplog.at_level(logging.WARNING, "ccpulse.worker"):
        now = 0.0
        while now < 60:  # the publish loop ticks every 0.5 s
            if outage.due(now):
                tried.append(now)
                outage.failed(now, "Connection refused")
            now += 0.5
        assert outage.due(now + RETRY_MAX_SECONDS)
        outage.succeeded(61.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("redis unavailable") and "Connection refused" in lines[0]
    assert lines[1] == f"redis back after 61.0 s ({len(tried)} failed attempts)"
    gaps = [b - a for a, b in itertools.pairwise(tried)]
    assert gaps == sorted(gaps) and max(gaps) <= RETRY_MAX_SECONDS + 0.5
    assert len(tried) < 15  # not 120 attempts (and log lines) a minute
