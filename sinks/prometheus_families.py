"""Prometheus series of the other event families (docs/prometheus-metrics.md): agents per queue
by state, state seconds, handled contacts, occupancy. Agent ids become a label only when
`metrics.agent_labels` is on: with hundreds of agents that is a cardinality the operator chooses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from ccpulse.streams.kpi.agents import TIMED_STATES

ALL_QUEUES = "#all"


def agent_metrics(snapshots: list[dict[str, Any]], agent_labels: bool) -> Iterator[Metric]:
    """Gauges of agent figures, per tenant and queue (`#all`: every agent once)."""
    logged_in = GaugeMetricFamily(
        "ccpulse_agents_logged_in", "Agents logged in now", labels=["tenant", "queue"]
    )
    in_state = GaugeMetricFamily(
        "ccpulse_agents_in_state", "Agents logged in now, by state",
        labels=["tenant", "queue", "state"],
    )  # fmt: skip
    base = ["tenant", "queue", "window"]
    seconds = GaugeMetricFamily(
        "ccpulse_agent_state_seconds", "Agent time by state in the window (summed over agents)",
        labels=[*base, "state"],
    )  # fmt: skip
    handled = GaugeMetricFamily(
        "ccpulse_agent_handled_contacts", "Contacts agents started handling in the window",
        labels=base,
    )  # fmt: skip
    occupancy = GaugeMetricFamily(
        "ccpulse_agent_occupancy_ratio",
        "Handling time over logged-in time less paused time, in the window",
        labels=base,
    )
    per_agent = GaugeMetricFamily(
        "ccpulse_agent_state_seconds_by_agent", "One agent's time by state in the window",
        labels=["tenant", "agent", "window", "state"],
    )  # fmt: skip
    for snap in snapshots:
        tenant = snap["tenant"]
        for queue, view in [(ALL_QUEUES, snap["all"]), *snap["queues"].items()]:
            live = view.get("live") or {"logged_in": 0, "by_state": {}}
            logged_in.add_metric([tenant, queue], live["logged_in"])
            for state, count in live["by_state"].items():
                in_state.add_metric([tenant, queue, state], count)
            for window in ("current_interval", "today"):
                figs = view[window]
                labels = [tenant, queue, window]
                seconds.add_metric([*labels, "logged_in"], figs["logged_in_seconds"])
                for state in TIMED_STATES:
                    seconds.add_metric([*labels, state], figs[f"{state}_seconds"])
                handled.add_metric(labels, figs["handled"])
                if figs["occupancy"] is not None:
                    occupancy.add_metric(labels, figs["occupancy"])
        if agent_labels:
            for agent, view in snap["agents"].items():
                for window in ("current_interval", "today"):
                    figs = view[window]
                    for state in ("logged_in", *TIMED_STATES):
                        per_agent.add_metric(
                            [tenant, agent, window, state], figs[f"{state}_seconds"]
                        )
    yield from (logged_in, in_state, seconds, handled, occupancy)
    if agent_labels:
        yield per_agent


SURVEY_GAUGES = (
    ("csat", "ccpulse_survey_csat_ratio", "Satisfied CSAT responses over all CSAT responses"),
    ("nps", "ccpulse_survey_nps_score", "Net promoter score (-100 to 100)"),
    ("ces_average", "ccpulse_survey_ces_average", "Average customer effort score"),
    ("csat_responses", "ccpulse_survey_csat_responses", "CSAT responses in the window"),
    ("nps_responses", "ccpulse_survey_nps_responses", "NPS responses in the window"),
    ("ces_responses", "ccpulse_survey_ces_responses", "CES responses in the window"),
)


def survey_metrics(snapshots: list[dict[str, Any]]) -> Iterator[Metric]:
    """Survey gauges per tenant, queue (`#all`: every response) and window."""
    for key, name, help_text in SURVEY_GAUGES:
        family = GaugeMetricFamily(name, help_text, labels=["tenant", "queue", "window"])
        for snap in snapshots:
            for window in ("current_interval", "today", "rolling_7d"):
                view = snap[window]
                for queue, figs in [(ALL_QUEUES, view["all"]), *view["by_queue"].items()]:
                    value = figs.get(key)
                    if value is not None:
                        family.add_metric([snap["tenant"], queue, window], float(value))
        yield family


TICKET_WINDOW_GAUGES = (
    ("created", "ccpulse_tickets_created", "Tickets created in the window"),
    ("solved", "ccpulse_tickets_solved", "Tickets solved in the window"),
    ("reopened", "ccpulse_tickets_reopened", "Tickets reopened in the window"),
    ("frt_avg_seconds", "ccpulse_ticket_first_response_avg_seconds", "Average first response time"),
    ("frt_median_seconds", "ccpulse_ticket_first_response_median_seconds", "Median FRT"),
    ("frt_p90_seconds", "ccpulse_ticket_first_response_p90_seconds", "90th percentile FRT"),
    ("fcr_rate", "ccpulse_ticket_one_touch_ratio", "Solved with at most one reply, never reopened"),
    ("reopen_rate", "ccpulse_ticket_reopen_ratio", "Reopened over solved"),
    ("frt_breaches", "ccpulse_ticket_first_response_breaches", "First-response SLA breaches"),
    ("resolution_breaches", "ccpulse_ticket_resolution_breaches", "Resolution SLA breaches"),
)  # fmt: skip


def ticket_metrics(snapshots: list[dict[str, Any]]) -> Iterator[Metric]:
    """Ticket backlog now (per group, age bucket) and windowed ticket figures per tenant."""
    open_now = GaugeMetricFamily(
        "ccpulse_tickets_open", "Open tickets now", labels=["tenant", "group"]
    )
    backlog = GaugeMetricFamily(
        "ccpulse_tickets_backlog", "Open tickets now by age bucket",
        labels=["tenant", "group", "age"],
    )  # fmt: skip
    at_risk = GaugeMetricFamily(
        "ccpulse_tickets_at_risk", "Open tickets whose SLA target falls due within the window",
        labels=["tenant", "target"],
    )  # fmt: skip
    overdue = GaugeMetricFamily(
        "ccpulse_tickets_overdue", "Open tickets past their SLA target", labels=["tenant", "target"]
    )
    for snap in snapshots:
        now, tenant = snap["now"], snap["tenant"]
        open_now.add_metric([tenant, ALL_QUEUES], now["open"])
        for group, count in now["open_by_group"].items():
            open_now.add_metric([tenant, group], count)
        for group, ages in [(ALL_QUEUES, now["backlog_by_age"]["all"]),
                            *now["backlog_by_age"]["by_group"].items()]:  # fmt: skip
            for age, count in ages.items():
                backlog.add_metric([tenant, group, age], count)
        for target, count in now["at_risk"].items():
            at_risk.add_metric([tenant, target], count)
        for target, count in now["overdue"].items():
            overdue.add_metric([tenant, target], count)
    yield from (open_now, backlog, at_risk, overdue)
    for key, name, help_text in TICKET_WINDOW_GAUGES:
        family = GaugeMetricFamily(name, help_text, labels=["tenant", "window"])
        for snap in snapshots:
            for window in ("current_interval", "today"):
                value = snap[window]["figures"].get(key)
                if value is not None:
                    family.add_metric([snap["tenant"], window], float(value))
        yield family
