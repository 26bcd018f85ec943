"""Pipeline-health board: is ccpulse keeping up and are its figures complete? Input throughput,
what the engine did with the events (applied, duplicate, too late, replayed), dead letters,
consumer lag, how far event time is behind, Redis flushes and the workers themselves."""

from __future__ import annotations

from typing import Any, Final

from grafana_foundation_sdk.builders import stat
from grafana_foundation_sdk.models import dashboard as dm

from ccpulse.monitoring.alerts import LAG_MESSAGES
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
    series,
    target,
    thresholds,
)

UID: Final = "ccpulse-pipeline"
#: The scrape job of the workers (deploy/prometheus.yml): `up` and `process_*` are per target.
JOB: Final = 'job="ccpulse"'


def _rate(metric: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}[$__rate_interval]))"


def _quantile(q: float) -> str:
    return (
        f"histogram_quantile({q:g}, sum by (le) "
        "(rate(ccpulse_flush_duration_seconds_bucket[$__rate_interval])))"
    )


def input_row() -> list[Any]:
    return [
        panel(
            series(),
            "Messages consumed",
            "Input messages consumed per second, all workers; each message holds one or more "
            "events.",
            [target(_rate("ccpulse_messages_total"), "messages/s")],
            "suffix: msg/s",
            width=8,
        ),
        panel(
            series(),
            "Events by verdict",
            "Valid events per second by what the engine did: applied, duplicate (changed "
            "nothing), too_late (past the window it could still change) and replayed (already "
            "held after a restart).",
            [target(_rate("ccpulse_events_total", "verdict"), "{{verdict}}")],
            "suffix: events/s",
            width=8,
        ),
        panel(
            stat.Panel().reduce_options(last_value()),
            "Late, duplicate and dead-lettered events",
            "Over the dashboard's time range: events that came too late or twice, and events "
            "sent to the dead-letter topic by reason (invalid, misrouted, too_late). Orange "
            "from 1.",
            [
                target(
                    'sum by (verdict) (increase(ccpulse_events_total{verdict=~"duplicate|'
                    'too_late"}[$__range]))',
                    "{{verdict}}",
                    instant=True,
                ),
                target(
                    "sum by (reason) (increase(ccpulse_events_dead_lettered_total[$__range]))",
                    "dead letters {{reason}}",
                    instant=True,
                ),
            ],
            width=8,
        ).thresholds(thresholds(GOOD, (1, WATCH))),
        panel(
            series(),
            "Dead letters by reason",
            "Events sent to the dead-letter topic per second: invalid (fails the event "
            "contract), misrouted (keyed to the wrong partition), too_late.",
            [target(_rate("ccpulse_events_dead_lettered_total", "reason"), "{{reason}}")],
            "suffix: events/s",
            width=8,
        ),
        panel(
            series(),
            "Consumer lag by partition",
            "Input messages on the broker not yet processed, per partition, as of each worker's "
            f"last flush; the dashed line is the lag alert's {LAG_MESSAGES} messages.",
            [
                target(
                    "max by (partition) (ccpulse_consumer_lag_messages)", "partition {{partition}}"
                ),
                target(f"vector({LAG_MESSAGES})", "alert threshold"),
            ],
            width=8,
        ).override_by_query(*dashed("B", BAD)),
        panel(
            series(),
            "Event time behind now",
            "How far the newest event seen is behind the clock, per input topic: grows when "
            "input stalls or workers fall behind.",
            [target("time() - max by (topic) (ccpulse_last_event_timestamp_seconds)", "{{topic}}")],
            "s",
            width=8,
        ),
    ]


def output_row() -> list[Any]:
    return [
        panel(
            series(),
            "Flush duration",
            "Time one flush of figures to Redis takes, all workers: median and 99th percentile.",
            [target(_quantile(0.5), "p50"), target(_quantile(0.99), "p99")],
            "s",
            width=8,
        ),
        panel(
            series(),
            "Redis publishes and failures",
            "Flushes of figures to Redis per second, and those that failed (retried at the "
            "next flush).",
            [
                target(_rate("ccpulse_redis_publishes_total"), "publishes"),
                target(_rate("ccpulse_redis_publish_failures_total"), "failures"),
            ],
            "suffix: flushes/s",
            width=8,
        ).override_by_query("B", [_red()]),
        panel(
            stat.Panel().reduce_options(last_value()),
            "Since last Redis publish",
            "Time since each worker last published figures to Redis: wallboards show stale "
            "figures while it grows. Orange from 10 s, red from 60 s.",
            [
                target(
                    "time() - max by (instance) "
                    "(ccpulse_redis_last_publish_success_timestamp_seconds)",
                    "{{instance}}",
                    instant=True,
                )
            ],
            "s",
            width=8,
        ).thresholds(thresholds(GOOD, (10, WATCH), (60, BAD))),
        panel(
            stat.Panel().reduce_options(last_value()),
            "Workers up",
            "Worker targets Prometheus scraped successfully at the last scrape (1 up, 0 down).",
            [target(f"up{{{JOB}}}", "{{instance}}", instant=True)],
            width=8,
        ).thresholds(thresholds(BAD, (1, GOOD))),
        panel(
            series(),
            "Worker memory (RSS)",
            "Resident memory of each worker process.",
            [target(f"process_resident_memory_bytes{{{JOB}}}", "{{instance}}")],
            "bytes",
            width=8,
        ),
        panel(
            series(),
            "Worker CPU",
            "CPU time each worker process uses per second (1 = one core busy).",
            [target(f"rate(process_cpu_seconds_total{{{JOB}}}[$__rate_interval])", "{{instance}}")],
            "percentunit",
            width=8,
        ),
    ]


def _red() -> dm.DynamicConfigValue:
    return dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": BAD})


def build() -> dict[str, Any]:
    board = dashboard(
        UID,
        "ccpulse / Pipeline health",
        "Throughput, event verdicts, dead letters, consumer lag, Redis flushes and the "
        "workers of the ccpulse pipeline.",
        ["pipeline"],
    )
    rows = (("Input", input_row()), ("Output and workers", output_row()))
    return assemble(board, [datasource_variable()], rows)
