"""Tickets and surveys board: the ticket backlog now and its age, tickets at risk of or past
their SLA target, today's created and solved tickets and first response times; customer
satisfaction (CSAT), net promoter score (NPS) and customer effort (CES) beside their
responses."""

from __future__ import annotations

from typing import Any, Final

from grafana_foundation_sdk.builders import bargauge, stat
from grafana_foundation_sdk.models import common as cm

from ccpulse.monitoring.dashboards.panels import (
    BAD,
    GOOD,
    WATCH,
    assemble,
    dashboard,
    datasource_variable,
    last_value,
    panel,
    query_variable,
    sel,
    series,
    target,
    thresholds,
)

UID: Final = "ccpulse-tickets-surveys"
T: Final = ("tenant",)
TODAY: Final = 'window="today"'


def variables() -> list[Any]:
    csat_responses = "ccpulse_survey_csat_responses"
    return [
        datasource_variable(),
        query_variable(
            "tenant",
            "Tenant",
            '{__name__=~"ccpulse_tickets_open|ccpulse_survey_csat_responses"}',
            "Tenants with tickets or survey responses",
        ),
        query_variable(
            "queue",
            "Queue",
            sel(csat_responses, by=T),
            "Queues of the survey panels; #all is every response of the tenant, (none) the "
            "responses without a queue",
        ),
    ]


def _max(by: str, metric: str, *matchers: str, labels: tuple[str, ...] = T) -> str:
    return f"max by ({by}) ({sel(metric, *matchers, by=labels)})"


def _bars() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .reduce_options(last_value())
        .display_mode(cm.BarGaugeDisplayMode.BASIC)
        .orientation(cm.VizOrientation.HORIZONTAL)
    )


def backlog_row() -> list[Any]:
    return [
        panel(
            stat.Panel().reduce_options(last_value()),
            "Open tickets",
            "Tickets open now (not solved or closed), all groups.",
            [
                target(
                    _max("tenant", "ccpulse_tickets_open", 'group="#all"'),
                    "{{tenant}}",
                    instant=True,
                )
            ],
            width=4,
        ),
        panel(
            _bars(),
            "Open tickets by group",
            "Tickets open now per agent group.",
            [
                target(
                    _max("tenant, group", "ccpulse_tickets_open", 'group!="#all"'),
                    "{{tenant}}/{{group}}",
                    instant=True,
                )
            ],
            width=6,
        ),
        panel(
            _bars(),
            "Backlog by age",
            "Open tickets now by how long ago they were created: under 1 h, 1-8 h, 8 h-1 d, "
            "1-3 d, over 3 d.",
            [
                target(
                    _max("tenant, age", "ccpulse_tickets_backlog", 'group="#all"'),
                    "{{tenant}} {{age}}",
                    instant=True,
                )
            ],
            width=7,
        ).thresholds(thresholds(GOOD)),
        panel(
            stat.Panel().reduce_options(last_value()),
            "At risk and overdue",
            "Open tickets whose first-response or resolution target falls due soon (at risk) "
            "or has passed (overdue). Orange from 1 at risk or overdue, red from 10.",
            [
                target(
                    _max("tenant, target", "ccpulse_tickets_at_risk"),
                    "{{tenant}} {{target}} at risk",
                    instant=True,
                ),
                target(
                    _max("tenant, target", "ccpulse_tickets_overdue"),
                    "{{tenant}} {{target}} overdue",
                    instant=True,
                ),
            ],
            width=7,
        ).thresholds(thresholds(GOOD, (1, WATCH), (10, BAD))),
    ]


def today_row() -> list[Any]:
    def today(metric: str, legend: str) -> Any:
        return target(_max("tenant", metric, TODAY), "{{tenant}} " + legend)

    return [
        panel(
            series(),
            "Tickets created, solved and reopened today",
            "Tickets created, solved and reopened since local midnight, as the day goes.",
            [
                today("ccpulse_tickets_created", "created"),
                today("ccpulse_tickets_solved", "solved"),
                today("ccpulse_tickets_reopened", "reopened"),
            ],
            width=12,
        ),
        panel(
            series(),
            "First response time today",
            "Time from a ticket's creation to the first agent reply (business time when a "
            "schedule is set), over "
            "the tickets first answered today: average, median and 90th percentile.",
            [
                today("ccpulse_ticket_first_response_avg_seconds", "average"),
                today("ccpulse_ticket_first_response_median_seconds", "median"),
                today("ccpulse_ticket_first_response_p90_seconds", "90th percentile"),
            ],
            "s",
            width=12,
        ),
    ]


def survey_row() -> list[Any]:
    def score(metric: str, legend: str = "{{tenant}}/{{queue}}") -> Any:
        return target(
            _max("tenant, queue", metric, TODAY, labels=("tenant", "queue")), legend, instant=True
        )

    return [
        panel(
            stat.Panel().reduce_options(last_value()),
            "CSAT today",
            "Customer satisfaction: satisfied CSAT responses over all CSAT responses today. "
            "Red under 70 %, orange under 85 %.",
            [score("ccpulse_survey_csat_ratio")],
            "percentunit",
        ).thresholds(thresholds(BAD, (0.7, WATCH), (0.85, GOOD))),
        panel(
            stat.Panel().reduce_options(last_value()),
            "NPS today",
            "Net promoter score today: promoters (9-10) less detractors (0-6) in % of NPS "
            "responses, -100 to 100. Red under 0, orange under 30.",
            [score("ccpulse_survey_nps_score")],
        ).thresholds(thresholds(BAD, (0, WATCH), (30, GOOD))),
        panel(
            stat.Panel().reduce_options(last_value()),
            "CES today",
            'Customer effort score today: the average answer to "how easy was it" on the '
            "survey's scale.",
            [score("ccpulse_survey_ces_average")],
        ),
        panel(
            stat.Panel().reduce_options(last_value()),
            "Survey responses today",
            "Responses today behind CSAT, NPS and CES: a score over a handful of responses "
            "says little.",
            [
                score("ccpulse_survey_csat_responses", "{{tenant}}/{{queue}} CSAT"),
                score("ccpulse_survey_nps_responses", "{{tenant}}/{{queue}} NPS"),
                score("ccpulse_survey_ces_responses", "{{tenant}}/{{queue}} CES"),
            ],
        ),
    ]


def build() -> dict[str, Any]:
    board = dashboard(
        UID,
        "ccpulse / Tickets and surveys",
        "Ticket backlog, SLA risk, today's tickets and first response times; CSAT, NPS and "
        "CES with their responses.",
        ["tickets", "surveys"],
    )
    rows = (
        ("Tickets now", backlog_row()),
        ("Tickets today", today_row()),
        ("Surveys", survey_row()),
    )
    return assemble(board, variables(), rows)
