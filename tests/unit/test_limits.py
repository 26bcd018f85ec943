"""Cardinality caps: a tenant, queue or agent past its cap is refused, dead-lettered with reason
`over_limit`, counted per limit in /metrics and logged once; tracked names are never refused."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from prometheus_client.registry import CollectorRegistry

from ccpulse.config import LimitsSettings, Settings, load_settings, mask_url
from ccpulse.sinks.prometheus_sink import PrometheusSink
from ccpulse.streams.deadletter import DeadLetter
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.pipeline import Message, Pipeline
from ccpulse.streams.worker import metrics_view, startup_line

NOW = 1_764_000_000_000


def offered(tenant: str, queue: str, n: int) -> tuple[bytes, bytes]:
    event = {
        "event_id": f"{tenant}-{queue}-{n}", "type": "contact.offered", "ts": NOW + n,
        "tenant": tenant, "queue": queue, "channel": "voice", "contact_id": f"c{n}",
    }  # fmt: skip
    return f"{tenant}/{queue}".encode(), orjson.dumps(event)


def login(tenant: str, agent: str, n: int) -> tuple[bytes, bytes]:
    event = {"event_id": f"{tenant}-{agent}-{n}", "type": "agent.state", "ts": NOW + n,
             "tenant": tenant, "agent_id": agent, "state": "available"}  # fmt: skip
    return f"{tenant}/#agents".encode(), orjson.dumps(event)


def feed(pipeline: Pipeline, items: list[tuple[bytes, bytes]]) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    for offset, (key, value) in enumerate(items):
        pipeline.process(Message("cc.contacts", 0, offset, key, value), letters.append)
    return letters


def held_queues(pipeline: Pipeline) -> set[tuple[str, str]]:
    return {qkey for engine in pipeline.engines.values() for qkey in engine.queues}


def test_queues_past_the_cap_are_dead_lettered_and_counted() -> None:
    pipeline = Pipeline(PolicyBook(), LimitsSettings(max_queues_per_tenant=2))
    letters = feed(pipeline, [offered("acme", f"q{i}", i) for i in range(5)]
                   + [offered("acme", "q0", 9), offered("acme", "q4", 10)])  # fmt: skip
    assert held_queues(pipeline) == {("acme", "q0"), ("acme", "q1")}
    assert [d.reason for d in letters] == ["over_limit"] * 4
    assert "max_queues_per_tenant = 2" in letters[0].error
    assert pipeline.admission.refused == {"tenants": 0, "queues": 4, "agents": 0}


def test_tenants_and_agents_past_their_caps_are_refused() -> None:
    pipeline = Pipeline(PolicyBook(), LimitsSettings(max_tenants=2, max_agents_per_tenant=3))
    items = [offered("t1", "q", 0), login("t2", "a0", 1), offered("t3", "q", 2)]
    items += [login("t1", f"a{i}", 10 + i) for i in range(5)]
    letters = feed(pipeline, items)
    assert [d.reason for d in letters] == ["over_limit"] * 3
    assert pipeline.admission.refused == {"tenants": 1, "queues": 0, "agents": 2}
    assert sorted(pipeline.admission.agents["t1"]) == ["a0", "a1", "a2"]


def test_a_name_over_the_cap_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    pipeline = Pipeline(PolicyBook(), LimitsSettings(max_queues_per_tenant=1))
    with caplog.at_level(logging.WARNING, "ccpulse.worker"):
        feed(pipeline, [offered("acme", "a", 0)] + [offered("acme", "b", n) for n in range(1, 6)])
    assert sum("over limit" in r.getMessage() for r in caplog.records) == 1


def test_restored_names_count_against_the_caps() -> None:
    limits = LimitsSettings(max_queues_per_tenant=2)
    first = Pipeline(PolicyBook(), limits)
    feed(first, [offered("acme", "a", 0), offered("acme", "b", 1)])
    writes = [(k, v) for _, k, v in first.table_writes() if v is not None]
    second = Pipeline(PolicyBook(), limits)
    second.restore(0, writes)
    letters = feed(second, [offered("acme", "c", 2), offered("acme", "a", 3)])
    assert [d.reason for d in letters] == ["over_limit"]


def test_over_limit_shows_in_the_metrics() -> None:
    pipeline = Pipeline(PolicyBook(), LimitsSettings(max_queues_per_tenant=1))
    feed(pipeline, [offered("acme", "a", 0), offered("acme", "b", 1), offered("acme", "c", 2)])
    registry = CollectorRegistry()
    PrometheusSink(registry).update(metrics_view(pipeline, pipeline.snapshots(NOW), {}))

    def sample(name: str, labels: dict[str, Any]) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("ccpulse_over_limit_events_total", {"limit": "queues"}) == 2
    assert sample("ccpulse_events_dead_lettered_total", {"reason": "over_limit"}) == 2
    assert sample("ccpulse_dead_letter_write_failures_total", {}) == 0


def test_limits_are_validated_and_read_from_the_environment() -> None:
    assert load_settings(env={"CCPULSE_LIMITS_MAX_TENANTS": "7"}).limits.max_tenants == 7
    with pytest.raises(ValueError, match="max_queues_per_tenant"):
        load_settings(env={"CCPULSE_LIMITS_MAX_QUEUES_PER_TENANT": "0"})


def test_credentials_never_show_in_the_startup_line() -> None:
    settings = load_settings(env={"CCPULSE_REDIS_URL": "redis://:secret@host:6379/0",
                                  "CCPULSE_KAFKA_BROKER": "kafka://u:pw@k:9092"})  # fmt: skip
    line = startup_line(settings)
    assert "secret" not in line and "pw" not in line
    assert "redis://***@host:6379/0" in line
    assert mask_url("rediss://ccpulse:p@ss@h:6380/0") == "rediss://***@h:6380/0"
    assert startup_line(Settings()).count("***") == 0


def test_every_event_of_a_refused_batch_is_counted() -> None:
    pipeline = Pipeline(PolicyBook(), LimitsSettings(max_queues_per_tenant=1))
    batch = [orjson.loads(offered("acme", "b", n)[1]) for n in range(3)]
    letters = feed(pipeline, [offered("acme", "a", 0), (b"acme/b", orjson.dumps(batch))])
    assert len(letters) == 3
    assert pipeline.admission.refused["queues"] == 3


def test_the_worker_wide_caps_bound_queues_and_agents_over_all_tenants() -> None:
    pipeline = Pipeline(PolicyBook(), LimitsSettings(max_queues=3, max_agents=2))
    items = [offered(f"t{i}", "q", i) for i in range(4)]
    items += [login(f"t{i}", "a", 10 + i) for i in range(3)]
    letters = feed(pipeline, items)
    assert [d.error.split("[limits] ")[1] for d in letters] == ["max_queues = 3", "max_agents = 2"]
    assert len(held_queues(pipeline)) == 3
