"""Agent and survey figures as wallboards (Redis hashes) and Prometheus see them."""

from __future__ import annotations

from typing import Any

import orjson
from prometheus_client.registry import CollectorRegistry

from ccpulse.report import build_report
from ccpulse.sinks.prometheus_sink import PrometheusSink
from ccpulse.sinks.redis_families import agent_hashes, survey_hashes, ticket_hashes
from ccpulse.streams.kpi import PolicyBook

T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z
EVENTS: list[dict[str, Any]] = [
    {"event_id": "l1", "type": "agent.login", "ts": T0, "agent_id": "alice", "queue": "sales"},
    {"event_id": "l2", "type": "agent.login", "ts": T0, "agent_id": "bob", "queue": "sales"},
    {"event_id": "s1", "type": "agent.state", "ts": T0 + 300_000, "agent_id": "alice",
     "state": "on_contact", "queue": "sales"},
    {"event_id": "s2", "type": "agent.state", "ts": T0 + 360_000, "agent_id": "bob",
     "state": "paused", "reason": "break"},
    {"event_id": "v1", "type": "survey.response", "ts": T0 + 400_000, "survey": "csat",
     "score": 5, "queue": "sales", "agent_id": "alice"},
    {"event_id": "v2", "type": "survey.response", "ts": T0 + 410_000, "survey": "csat",
     "score": 2, "queue": "sales", "agent_id": "alice"},
    {"event_id": "v3", "type": "survey.response", "ts": T0 + 420_000, "survey": "nps",
     "score": 10, "queue": "sales"},
]  # fmt: skip
NOW = T0 + 600_000


def _report() -> dict[str, Any]:
    return build_report([orjson.dumps(e) for e in EVENTS], PolicyBook(), NOW)


def test_agent_hash_and_queue_summary() -> None:
    (snap,) = _report()["agents"]
    hashes = dict(agent_hashes("cc", snap))
    alice = hashes["cc:agent:default:alice"]
    assert (alice["state"], alice["queues"], alice["time_in_state_seconds"]) == (
        "on_contact", "sales", "300.0",
    )  # fmt: skip
    assert alice["today.logged_in_seconds"] == "600.0"
    assert alice["today.on_contact_seconds"] == "300.0"
    assert alice["today.handled"] == "1"
    bob = hashes["cc:agent:default:bob"]
    assert (bob["state"], bob["reason"]) == ("paused", "break")
    assert bob["today.paused_seconds_by_reason.break"] == "240.0"
    summary = hashes["cc:agent-summary:default:sales"]
    assert (summary["logged_in"], summary["available"]) == ("2", "0")
    assert (summary["state.on_contact"], summary["state.paused"]) == ("1", "1")
    assert summary["today.logged_in_seconds"] == "1200.0"
    assert hashes["cc:agent-summary:default:#all"]["logged_in"] == "2"


def test_survey_hash_keeps_counts_beside_ratios() -> None:
    (snap,) = _report()["surveys"]
    ((key, fields),) = survey_hashes("cc", snap)
    assert key == "cc:surveys:default"
    assert fields["today.all.csat"] == "0.5"
    assert fields["today.all.csat_responses"] == "2"
    assert fields["today.agent.alice.csat"] == "0.5"
    assert fields["today.all.nps"] == "100.0"
    assert fields["today.all.nps_responses"] == "1"
    assert fields["today.queue.sales.ces_average"] == ""  # no CES answer: no value


def test_prometheus_agent_and_survey_series() -> None:
    report = _report()
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    sink.update_families([("agents", s) for s in report["agents"]]
                         + [("surveys", s) for s in report["surveys"]])  # fmt: skip
    value = registry.get_sample_value
    assert value("ccpulse_agents_logged_in", {"tenant": "default", "queue": "sales"}) == 2
    assert value("ccpulse_agents_in_state",
                 {"tenant": "default", "queue": "#all", "state": "paused"}) == 1  # fmt: skip
    today = {"tenant": "default", "queue": "sales", "window": "today"}
    assert value("ccpulse_agent_state_seconds", {**today, "state": "on_contact"}) == 300
    assert value("ccpulse_agent_handled_contacts", today) == 1
    assert value("ccpulse_survey_csat_ratio", today) == 0.5
    assert value("ccpulse_survey_csat_responses", today) == 2
    assert value("ccpulse_agent_state_seconds_by_agent",
                 {"tenant": "default", "agent": "alice", "window": "today",
                  "state": "on_contact"}) is None  # per-agent series are opt-in  # fmt: skip
    labelled = CollectorRegistry()
    PrometheusSink(labelled, agent_labels=True).update_families(
        [("agents", s) for s in report["agents"]]
    )
    assert labelled.get_sample_value(
        "ccpulse_agent_state_seconds_by_agent",
        {"tenant": "default", "agent": "alice", "window": "today", "state": "on_contact"},
    ) == 300


TICKETS: list[dict[str, Any]] = [
    {"event_id": "t1", "type": "ticket.created", "ts": T0, "ticket_id": "A", "group": "billing",
     "priority": "high"},
    {"event_id": "t2", "type": "ticket.replied", "ts": T0 + 600_000, "ticket_id": "A",
     "agent_id": "x"},
    {"event_id": "t3", "type": "ticket.status_changed", "ts": T0 + 900_000, "ticket_id": "A",
     "status": "solved"},
    {"event_id": "t4", "type": "ticket.created", "ts": T0 + 100_000, "ticket_id": "B",
     "group": "tech"},
]  # fmt: skip


def test_ticket_hash_and_series() -> None:
    at = T0 + 3_600_000
    (snap,) = build_report([orjson.dumps(e) for e in TICKETS], PolicyBook(), at)["tickets"]
    ((key, fields),) = ticket_hashes("cc", snap)
    assert key == "cc:tickets:default"
    assert fields["now.open"] == "1"
    assert fields["now.open_by_group.tech"] == "1"
    assert fields["now.backlog_by_age.by_group.tech.under_1h"] == "1"  # created 58 min 20 s ago
    assert fields["today.created"] == "2"
    assert fields["today.frt_avg_seconds"] == "600.0"  # A: replied 10 min after creation
    assert fields["today.by_group.billing.resolution_avg_seconds"] == "900.0"
    registry = CollectorRegistry()
    PrometheusSink(registry).update_families([("tickets", snap)])
    value = registry.get_sample_value
    assert value("ccpulse_tickets_open", {"tenant": "default", "group": "#all"}) == 1
    assert value("ccpulse_tickets_backlog",
                 {"tenant": "default", "group": "tech", "age": "under_1h"}) == 1  # fmt: skip
    assert value("ccpulse_tickets_created", {"tenant": "default", "window": "today"}) == 2
