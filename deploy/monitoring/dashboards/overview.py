"""Contact-centre overview: the supervisor's questions about the queues. Are we on target, how
much came in and what became of it, how long do callers wait, who is waiting now."""

from __future__ import annotations

from typing import Any, Final

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import gauge, stat, timeseries

from ccpulse.monitoring.dashboards.panels import (
    BAD,
    GOOD,
    WATCH,
    assemble,
    dashboard,
    dashed,
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

UID: Final = "ccpulse-overview"
#: Gauges carry `channel="all"` (the whole queue) besides each channel; counters only the
#: channels, so the sums below never count a contact twice.
CH: Final = ("tenant", "queue", "channel")
Q_LEGEND: Final = "{{tenant}}/{{queue}}"
CH_LEGEND: Final = "{{tenant}}/{{queue}} {{channel}}"
#: Default colours of a service level against an 80 % target (the panels over time draw each
#: queue's own configured target).
SL_STEPS: Final = ((0.7, WATCH), (0.8, GOOD))


def variables() -> list[db.QueryVariable | db.DatasourceVariable]:
    counter = "ccpulse_contacts_offered_total"
    return [
        datasource_variable(),
        query_variable("tenant", "Tenant", counter, "Tenants of the queues ccpulse counts"),
        query_variable("queue", "Queue", sel(counter, by=("tenant",)), "Queues of the tenants"),
        query_variable(
            "channel", "Channel", sel(counter), "Channels (voice, chat, email...) of the queues"
        ),
    ]


def _per_channel(metric: str, *matchers: str) -> str:
    """A gauge per queue and channel; `max` keeps one series when a queue moves between
    workers."""
    return f"max by (tenant, queue, channel) ({sel(metric, *matchers, by=CH)})"


def _range_sum(metric: str) -> str:
    return f"sum(increase({sel(metric, by=CH)}[$__range]))"


def now_row() -> list[Any]:
    return [
        panel(
            gauge.Panel().min(0).max(1).reduce_options(last_value()),
            "Service level, current interval",
            "Share of this interval's contacts answered within the queue's threshold, by the "
            "queue's service-level formula, as on the wallboard. Channel `all` is the whole "
            "queue. Red under 70 %, orange under 80 %.",
            [
                target(
                    _per_channel("ccpulse_queue_service_level_ratio", 'window="current_interval"'),
                    CH_LEGEND,
                    instant=True,
                )
            ],
            "percentunit",
        ).thresholds(thresholds(BAD, *SL_STEPS)),
        panel(
            stat.Panel().reduce_options(last_value()),
            "In queue now",
            "Contacts waiting in queue now. Channel `all` is the whole queue; a channel with "
            "nobody waiting shows no value.",
            [
                target(
                    _per_channel("ccpulse_queue_contacts_waiting"),
                    CH_LEGEND,
                    instant=True,
                )
            ],
            "short",
        ).thresholds(thresholds(GOOD, (5, WATCH), (20, BAD))),
        panel(
            stat.Panel().reduce_options(last_value()),
            "Longest wait now",
            "How long the contact that has waited longest is waiting now (0 when nobody "
            "waits). Orange from 1 min, red from 3 min.",
            [
                target(
                    _per_channel("ccpulse_queue_longest_wait_seconds"),
                    CH_LEGEND,
                    instant=True,
                )
            ],
            "s",
        ).thresholds(thresholds(GOOD, (60, WATCH), (180, BAD))),
        panel(
            stat.Panel().reduce_options(last_value()),
            "Contacts in the time range",
            "Offered, answered, abandoned and blocked (refused entry) contacts over the "
            "dashboard's time range, summed over the selected queues and channels.",
            [
                target(_range_sum("ccpulse_contacts_offered_total"), "Offered", instant=True),
                target(_range_sum("ccpulse_contacts_answered_total"), "Answered", instant=True),
                target(_range_sum("ccpulse_contacts_abandoned_total"), "Abandoned", instant=True),
                target(_range_sum("ccpulse_contacts_blocked_total"), "Blocked", instant=True),
            ],
            "short",
        ),
    ]


def service_level_row() -> list[Any]:
    met = sel("ccpulse_contacts_service_level_met_total", by=CH)
    counted = sel("ccpulse_contacts_service_level_counted_total", by=CH)
    return [
        panel(
            series(),
            "Service level vs target, last hour",
            "Each queue's service level over the last hour, by its own formula and over all "
            "its channels (the recorded rule the alerts use), with its configured target "
            "dashed.",
            [
                target(
                    "tenant_queue:ccpulse_service_level:ratio_rate1h" + _q(),
                    f"{Q_LEGEND} service level",
                ),
                target(
                    "tenant_queue:ccpulse_service_level_target:ratio" + _q(), f"{Q_LEGEND} target"
                ),
            ],
            "percentunit",
            width=16,
        )
        .override_by_query(*dashed("B", BAD))
        .min(0)
        .max(1),
        panel(
            stat.Panel().reduce_options(last_value()),
            "Service level over the time range",
            "Service level of the dashboard's time range for the selected channels: contacts "
            "that met the service level over the contacts it is taken over, by each queue's "
            "formula. Red under 70 %, orange under 80 %.",
            [
                target(
                    ratio(
                        f"sum by (tenant, queue) (increase({met}[$__range]))",
                        f"sum by (tenant, queue) (increase({counted}[$__range]))",
                    ),
                    Q_LEGEND,
                    instant=True,
                )
            ],
            "percentunit",
            width=8,
        ).thresholds(thresholds(BAD, *SL_STEPS)),
    ]


def volume_row() -> list[Any]:
    def per_min(metric: str) -> str:
        return f"60 * sum(rate({sel(metric, by=CH)}[$__rate_interval]))"

    return [
        panel(
            series(),
            "Offered, answered, abandoned",
            "Contacts per minute offered to the selected queues and channels, answered and "
            "abandoned. A gap between offered and answered plus abandoned is contacts still "
            "waiting, blocked or dequeued.",
            [
                target(per_min("ccpulse_contacts_offered_total"), "Offered"),
                target(per_min("ccpulse_contacts_answered_total"), "Answered"),
                target(per_min("ccpulse_contacts_abandoned_total"), "Abandoned"),
            ],
            "cpm",
            width=8,
        ),
        panel(
            series(),
            "In queue vs limit",
            "Contacts waiting per queue and channel, with each channel's configured limit of "
            "contacts waiting dashed (the limit the queue alert fires on).",
            [
                target(
                    _per_channel("ccpulse_queue_contacts_waiting"),
                    f"{CH_LEGEND} waiting",
                ),
                target(
                    _per_channel("ccpulse_queue_contacts_waiting_limit"),
                    f"{CH_LEGEND} limit",
                ),
            ],
            "short",
            width=8,
        ).override_by_query(*dashed("B", BAD)),
        panel(
            series(),
            "Longest wait vs limit",
            "Wait so far of the contact waiting longest, per queue and channel, with each "
            "channel's configured longest-wait limit dashed (the limit the wait alert fires "
            "on).",
            [
                target(
                    _per_channel("ccpulse_queue_longest_wait_seconds"),
                    f"{CH_LEGEND} longest wait",
                ),
                target(
                    _per_channel("ccpulse_queue_longest_wait_limit_seconds"),
                    f"{CH_LEGEND} limit",
                ),
            ],
            "s",
            width=8,
        ).override_by_query(*dashed("B", BAD)),
    ]


def speed_row() -> list[Any]:
    def recorded(
        name: str, title: str, description: str, unit: str, *steps: tuple[float, str]
    ) -> timeseries.Panel:
        return panel(
            threshold_lines(series(), GOOD, *steps) if steps else series(),
            title,
            description + " Over the last 30 minutes, all channels of the queue (recorded rule).",
            [target(f"tenant_queue:{name}" + _q(), Q_LEGEND)],
            unit,
        )

    return [
        recorded(
            "ccpulse_asa_seconds:mean30m",
            "Average speed of answer (ASA)",
            "Average wait in queue of answered contacts with a known wait.",
            "s",
        ),
        recorded(
            "ccpulse_abandonment:ratio_rate30m",
            "Abandonment",
            "Abandoned contacts over offered contacts. Dashed: 5 % and 10 %.",
            "percentunit",
            (0.05, WATCH),
            (0.1, BAD),
        ),
        recorded(
            "ccpulse_aht_seconds:mean30m",
            "Average handle time (AHT)",
            "Talk, hold and wrap-up time over completed contacts.",
            "s",
        ),
        recorded(
            "ccpulse_blockage:ratio_rate30m",
            "Blockage",
            "Contacts refused entry (queue full, no agents, closed) over contacts that tried "
            "to enter.",
            "percentunit",
        ),
    ]


def _q() -> str:
    return '{tenant=~"$tenant", queue=~"$queue"}'


def build() -> dict[str, Any]:
    board = dashboard(
        UID,
        "ccpulse / Contact-centre overview",
        "Service level against target, volumes, waits and handling of the contact-centre "
        "queues, from ccpulse's exact counters and gauges.",
        ["contact-centre"],
    )
    rows = (
        ("Now", now_row()),
        ("Service level", service_level_row()),
        ("Volume and waits", volume_row()),
        ("Speed and handling", speed_row()),
    )
    return assemble(board, variables(), rows)
