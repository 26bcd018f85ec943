"""Agents board: who is logged in and what they are doing now, how busy they have been
(occupancy) and how much they handled. Queue `#all` is the whole tenant, each agent once."""

from __future__ import annotations

from typing import Any, Final

from grafana_foundation_sdk.builders import bargauge, gauge, stat
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.models import common as cm

from ccpulse.monitoring.dashboards.panels import (
    BAD,
    GOOD,
    IDLE,
    WATCH,
    assemble,
    dashboard,
    datasource_variable,
    last_value,
    panel,
    query_variable,
    ratio,
    sel,
    series,
    target,
    threshold_lines,
    thresholds,
)

UID: Final = "ccpulse-agents"
Q_LEGEND: Final = "{{tenant}}/{{queue}}"
STATE_LEGEND: Final = "{{tenant}}/{{queue}} {{state}}"
#: Occupancy: under 60 % agents wait for work, over 85 % they get no breath between contacts.
OCCUPANCY_STEPS: Final = ((0.6, GOOD), (0.85, WATCH), (0.95, BAD))


def variables() -> list[Any]:
    logged_in = "ccpulse_agents_logged_in"
    return [
        datasource_variable(),
        query_variable("tenant", "Tenant", logged_in, "Tenants with agents"),
        query_variable(
            "queue",
            "Queue",
            sel(logged_in, by=("tenant",)),
            "Queues agents log into; #all is the whole tenant, each agent counted once",
        ),
    ]


def _now(metric: str, *matchers: str, by: str = "tenant, queue") -> str:
    return f"max by ({by}) ({sel(metric, *matchers)})"


def now_row() -> list[Any]:
    return [
        panel(
            stat.Panel().reduce_options(last_value()),
            "Agents logged in",
            "Agents logged in now, per queue they are logged into.",
            [target(_now("ccpulse_agents_logged_in"), Q_LEGEND, instant=True)],
            width=6,
        ),
        panel(
            bargauge.Panel()
            .reduce_options(last_value())
            .display_mode(cm.BarGaugeDisplayMode.BASIC)
            .orientation(cm.VizOrientation.HORIZONTAL),
            "Agents by state now",
            "Logged-in agents now by state: available (ready for a contact), on contact, "
            "wrap-up (after-contact work) and paused. A state nobody is in shows no bar.",
            [
                target(
                    _now("ccpulse_agents_in_state", by="tenant, queue, state"),
                    STATE_LEGEND,
                    instant=True,
                )
            ],
            width=10,
        ),
        panel(
            gauge.Panel().min(0).max(1).reduce_options(last_value()),
            "Occupancy, current interval",
            "Time on contact and in wrap-up over logged-in time less paused time, this "
            "interval. Blue under 60 % (agents wait for work), orange from 85 %, red from "
            "95 % (no breath between contacts).",
            [
                target(
                    _now("ccpulse_agent_occupancy_ratio", 'window="current_interval"'),
                    Q_LEGEND,
                    instant=True,
                )
            ],
            "percentunit",
            width=8,
        ).thresholds(thresholds(IDLE, *OCCUPANCY_STEPS)),
    ]


def activity_row() -> list[Any]:
    handled = _now("ccpulse_agent_handled_contacts", 'window="today"')
    busy = (
        "sum by (tenant, queue) ("
        + _now(
            "ccpulse_agent_state_seconds",
            'window="today"',
            'state=~"on_contact|wrap_up"',
            by="tenant, queue, state",
        )
        + ")"
    )
    return [
        panel(
            threshold_lines(series().min(0).max(1), IDLE, *OCCUPANCY_STEPS),
            "Occupancy, last 30 minutes",
            "Occupancy over the last 30 minutes from the agents' time today (recorded rule): "
            "time on contact and in wrap-up over logged-in time less paused time. Dashed: 60 %, "
            "85 % and 95 %.",
            [
                target(
                    "tenant_queue:ccpulse_agent_occupancy:ratio_rate30m"
                    '{tenant=~"$tenant", queue=~"$queue"}',
                    Q_LEGEND,
                )
            ],
            "percentunit",
            width=12,
        ),
        panel(
            series().stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL)).fill_opacity(40),
            "Agents by state",
            "Logged-in agents by state over time, stacked: the stack's height is the agents "
            "logged in.",
            [target(_now("ccpulse_agents_in_state", by="tenant, queue, state"), STATE_LEGEND)],
            width=12,
        ),
        panel(
            stat.Panel().reduce_options(last_value()),
            "Contacts handled today",
            "Contacts agents started handling today (entries into on contact).",
            [target(handled, Q_LEGEND, instant=True)],
            width=6,
        ),
        panel(
            stat.Panel().reduce_options(last_value()),
            "Agent handle time today",
            "Time on contact and in wrap-up today over the contacts handled today.",
            [target(ratio(busy, handled), Q_LEGEND, instant=True)],
            "s",
            width=6,
        ),
        panel(
            bargauge.Panel()
            .reduce_options(last_value())
            .display_mode(cm.BarGaugeDisplayMode.BASIC)
            .orientation(cm.VizOrientation.HORIZONTAL),
            "Agent time today by state",
            "Time today summed over the agents: logged in, and of it available, on contact, "
            "wrap-up and paused.",
            [
                target(
                    _now(
                        "ccpulse_agent_state_seconds", 'window="today"', by="tenant, queue, state"
                    ),
                    STATE_LEGEND,
                    instant=True,
                )
            ],
            "s",
            width=12,
        ),
    ]


def build() -> dict[str, Any]:
    board = dashboard(
        UID,
        "ccpulse / Agents",
        "Agents logged in and by state now, occupancy, contacts handled and time by state, "
        "from ccpulse's agent snapshots.",
        ["agents"],
    )
    return assemble(board, variables(), (("Now", now_row()), ("Today", activity_row())))
