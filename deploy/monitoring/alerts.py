"""Alert rules: the queues' service level (multi-window, multi-burn-rate over a day, and the
supervisor's "this interval is below target"), waits over per-queue limits, abandonment spikes,
queues without agents, and the pipeline itself. Each alert links to its section of
docs/alerts.md, which says what it means and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

#: Where `runbook_url` points: the runbook's path in the repository by default; give the URL
#: where your team reads docs/alerts.md with `python -m ccpulse.monitoring --runbook-base URL`.
RUNBOOK: Final = "docs/alerts.md"


@dataclass(frozen=True)
class BurnRateAlert:
    """One pair of windows of the service-level SLO (docs/alerts.md, "Service level")."""

    alert: str
    severity: str
    long: str
    short: str
    #: Burn-rate factor over a one-day period: the error budget of a day (1 - target of the
    #: day's counted contacts) spent `factor` times as fast as the day allows.
    factor: float
    #: Least contacts counted in the long window: one missed call at night is not an outage.
    min_counted: int
    for_: str


#: A contact centre is judged per interval and per day: the SLO period is a day. The fast pair
#: pages when an hour spends the day's budget twice as fast as allowed (8 % of it per hour); the
#: slow pair opens a ticket when six hours spend it at the rate that misses the day's target.
BURN_RATE_ALERTS: Final = (
    BurnRateAlert("QueueServiceLevelBudgetBurnFast", "page", "1h", "5m", 2.0, 20, "2m"),
    BurnRateAlert("QueueServiceLevelBudgetBurnSlow", "ticket", "6h", "30m", 1.0, 50, "15m"),
)
#: Highest error ratio a burn-rate threshold may demand. The most a queue can burn is
#: 1 / (1 - target): 5x at an 80 % target, 2x at 50 %. A threshold at or above an error ratio
#: of 1 could never fire, so a low target's threshold stops at 90 % of contacts missed.
MAX_ERROR_RATIO: Final = 0.9
#: Least contacts offered in the current interval before "below target" is worth a look.
INTERVAL_MIN_OFFERED: Final = 10
#: Abandonment spike: over this share of the last 30 minutes' offered contacts, and at least
#: `SPIKE_FACTOR` times the last 6 hours' share, with at least `SPIKE_MIN_OFFERED` offered.
SPIKE_ABANDONMENT: Final = 0.2
SPIKE_FACTOR: Final = 2.0
SPIKE_MIN_OFFERED: Final = 10
#: Input waiting on the broker beyond which a growing lag is worth a ticket.
LAG_MESSAGES: Final = 1000


def _alert(
    name: str, expr: str, for_: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    """One rule; `runbook_url` is completed with the runbook's base by `alert_groups`."""
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"#{name.lower()}",
        },
    }


def _threshold(factor: float) -> str:
    return (
        f"clamp_max({factor:g} * (1 - tenant_queue:ccpulse_service_level_target:ratio), "
        f"{MAX_ERROR_RATIO:g})"
    )


def service_level_alerts() -> list[dict[str, Any]]:
    out = []
    for b in BURN_RATE_ALERTS:
        threshold = _threshold(b.factor)
        expr = (
            f"(\n    tenant_queue:ccpulse_service_level_errors:ratio_rate{b.long}\n"
            f"  > on (tenant, queue) {threshold}\n"
            f"and\n    tenant_queue:ccpulse_service_level_errors:ratio_rate{b.short}\n"
            f"  > on (tenant, queue) {threshold}\n)\n"
            f"and on (tenant, queue)\n"
            f"  tenant_queue:ccpulse_contacts_service_level_counted:increase{b.long}"
            f" >= {b.min_counted}\n"
        )
        out.append(_alert(
            b.alert, expr, b.for_, b.severity,
            "{{ $labels.tenant }}/{{ $labels.queue }}: service level far below target "
            f"over the last {b.long}",
            f"{{{{ $value | humanizePercentage }}}} of the contacts of the last {b.long} (and of "
            f"the last {b.short}) missed the service-level threshold: the day's error budget is "
            f"burning {b.factor:g}x as fast as the target allows.",
        ))  # fmt: skip
    out.append(_alert(
        "QueueServiceLevelBelowTarget",
        "max by (tenant, queue) (ccpulse_queue_service_level_ratio"
        '{channel="all", window="current_interval"})\n'
        "  < on (tenant, queue) tenant_queue:ccpulse_service_level_target:ratio\n"
        "and on (tenant, queue)\n"
        "  max by (tenant, queue) (ccpulse_queue_offered_contacts"
        f'{{channel="all", window="current_interval"}}) >= {INTERVAL_MIN_OFFERED}\n'
        "and on (tenant, queue)\n"
        "  max by (tenant, queue) (ccpulse_queue_current_interval_end_timestamp_seconds)"
        " > time()\n",
        "5m", "warning",
        "{{ $labels.tenant }}/{{ $labels.queue }}: service level of this interval below target",
        "The current interval's service level is {{ $value | humanizePercentage }}, under the "
        f"queue's target, with at least {INTERVAL_MIN_OFFERED} contacts offered.",
    ))  # fmt: skip
    return out


def queue_alerts() -> list[dict[str, Any]]:
    by = "tenant, queue, channel"
    return [
        _alert(
            "QueueContactsWaitingHigh",
            f'max by ({by}) (ccpulse_queue_contacts_waiting{{channel!="all"}})\n'
            f"  > on ({by}) (max by ({by}) (ccpulse_queue_contacts_waiting_limit) > 0)\n",
            "2m", "warning",
            "{{ $labels.tenant }}/{{ $labels.queue }} ({{ $labels.channel }}): "
            "{{ $value }} contacts waiting",
            "More contacts wait in the queue than its contacts_waiting_limit allows.",
        ),
        _alert(
            "QueueLongestWaitHigh",
            f'max by ({by}) (ccpulse_queue_longest_wait_seconds{{channel!="all"}})\n'
            f"  > on ({by}) (max by ({by}) (ccpulse_queue_longest_wait_limit_seconds) > 0)\n",
            "1m", "warning",
            "{{ $labels.tenant }}/{{ $labels.queue }} ({{ $labels.channel }}): "
            "a contact has waited {{ $value | humanizeDuration }}",
            "The oldest contact in the queue has waited longer than the queue's "
            "longest_wait_limit_seconds.",
        ),
        _alert(
            "QueueAbandonmentSpike",
            f"tenant_queue:ccpulse_abandonment:ratio_rate30m > {SPIKE_ABANDONMENT:g}\n"
            "and\n"
            f"  tenant_queue:ccpulse_abandonment:ratio_rate30m\n"
            f"  > {SPIKE_FACTOR:g} * tenant_queue:ccpulse_abandonment:ratio_rate6h\n"
            "and on (tenant, queue)\n"
            f"  tenant_queue:ccpulse_contacts_offered:increase30m >= {SPIKE_MIN_OFFERED}\n",
            "5m", "warning",
            "{{ $labels.tenant }}/{{ $labels.queue }}: {{ $value | humanizePercentage }} "
            "abandoned in the last 30 minutes",
            f"Over {SPIKE_ABANDONMENT:.0%} of the contacts offered in the last 30 minutes "
            f"abandoned, at least {SPIKE_FACTOR:g}x the share of the last 6 hours.",
        ),
        _alert(
            "QueueNoAgentLoggedIn",
            "sum by (tenant, queue) (\n"
            '  increase({__name__=~"ccpulse_contacts_(offered|blocked)_total"}[10m])\n'
            ") > 0\n"
            "unless on (tenant, queue)\n"
            "  (max by (tenant, queue) (ccpulse_agents_logged_in) > 0)\n"
            "and on (tenant)\n"
            '  max by (tenant) (ccpulse_agents_logged_in{queue="#all"})\n',
            "5m", "page",
            "{{ $labels.tenant }}/{{ $labels.queue }}: contacts arrive, no agent logged in",
            "The queue received contacts in the last 10 minutes and no agent is logged into it. "
            "Only tenants that send agent events are checked.",
        ),
    ]  # fmt: skip


def pipeline_alerts() -> list[dict[str, Any]]:
    return [
        _alert(
            "CcpulseWorkerDown",
            'up{job="ccpulse"} == 0\n',
            "1m", "page",
            "ccpulse worker {{ $labels.instance }} is down",
            "Prometheus cannot scrape the worker: its queues' figures stop until another "
            "worker takes its partitions over.",
        ),
        _alert(
            "CcpulseNoEventsProcessed",
            "sum by (job, instance) (ccpulse_consumer_lag_messages) > 0\n"
            "and\n"
            "sum by (job, instance) (increase(ccpulse_messages_total[5m])) == 0\n",
            "5m", "page",
            "ccpulse worker {{ $labels.instance }} processes no events",
            "{{ $value }} input messages wait on the broker and the worker processed none in "
            "5 minutes: its figures are frozen.",
        ),
        _alert(
            "CcpulseConsumerLagGrowing",
            f"sum by (job) (ccpulse_consumer_lag_messages) > {LAG_MESSAGES}\n"
            "and\n"
            "sum by (job) (deriv(ccpulse_consumer_lag_messages[10m])) > 0\n",
            "10m", "ticket",
            "ccpulse is falling behind its input: {{ $value }} messages waiting",
            "The workers consume more slowly than events arrive; figures lag behind real time.",
        ),
        _alert(
            "CcpulseDeadLettersRising",
            "sum by (job, reason) (increase(ccpulse_events_dead_lettered_total[15m])) > 0\n",
            "15m", "ticket",
            "ccpulse dead-letters events ({{ $labels.reason }}) for 15 minutes",
            "{{ $value }} events went to the dead-letter topic in the last 15 minutes, and "
            "more keep coming: a source sends events the contract refuses.",
        ),
        _alert(
            "CcpulseRedisWritesFailing",
            "sum by (job, instance) (rate(ccpulse_redis_publish_failures_total[2m]))\n"
            "  / sum by (job, instance) (rate(ccpulse_redis_publishes_total[2m])) > 0.5\n",
            "2m", "page",
            "ccpulse worker {{ $labels.instance }} cannot write to Redis",
            "{{ $value | humanizePercentage }} of the flushes to Redis failed in the last "
            "2 minutes: wallboards show stale figures.",
        ),
    ]  # fmt: skip


def alert_groups(runbook_base: str = RUNBOOK) -> list[dict[str, Any]]:
    groups = {
        "ccpulse-service-level.alerts": service_level_alerts(),
        "ccpulse-queues.alerts": queue_alerts(),
        "ccpulse-pipeline.alerts": pipeline_alerts(),
    }
    for rules in groups.values():
        for rule in rules:
            rule["annotations"]["runbook_url"] = runbook_base + rule["annotations"]["runbook_url"]
    return [{"name": name, "rules": rules} for name, rules in groups.items()]
