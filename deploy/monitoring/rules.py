"""Recording rules: per-queue service level, ASA, abandonment, blockage, AHT and agent occupancy
over fixed ranges, named `level:metric:operations` (docs/alerts.md lists them).

Every ratio is a rate of counters summed over workers before dividing, so restarts, counter
resets and partitions moving between workers leave it right; a range with no contact gives no
sample (the denominator is filtered by `> 0`), never a made-up 0 or 1.
"""

from __future__ import annotations

from typing import Any, Final

#: Ranges of the KPI recording rules (dashboards, alerts).
RANGES: Final = ("5m", "30m", "1h")
#: Ranges of the service-level error ratio: the windows of the burn-rate alerts (alerts.py).
SLO_RANGES: Final = ("5m", "30m", "1h", "6h")
BY: Final = "tenant, queue"


def _sum_rate(metric: str, rng: str) -> str:
    return f"sum by ({BY}) (rate({metric}[{rng}]))"


def _ratio(numerator: str, denominator: str) -> str:
    return f"{numerator}\n/\n({denominator} > 0)\n"


def _rule(record: str, expr: str) -> dict[str, Any]:
    return {"record": record, "expr": expr}


def service_level_rules() -> list[dict[str, Any]]:
    """Service level and its error ratio by the queue's own formula (the engine exports the
    formula's numerator and denominator as counters), the volume behind them, and the target."""
    rules = [
        _rule(
            "tenant_queue:ccpulse_service_level_target:ratio",
            f"max by ({BY}) (ccpulse_queue_service_level_target_ratio"
            '{channel="all", window="today"})',
        )
    ]
    for rng in SLO_RANGES:
        met = _sum_rate("ccpulse_contacts_service_level_met_total", rng)
        counted = _sum_rate("ccpulse_contacts_service_level_counted_total", rng)
        rules += [
            _rule(f"tenant_queue:ccpulse_service_level:ratio_rate{rng}", _ratio(met, counted)),
            _rule(
                f"tenant_queue:ccpulse_service_level_errors:ratio_rate{rng}",
                f"1 - tenant_queue:ccpulse_service_level:ratio_rate{rng}",
            ),
            _rule(
                f"tenant_queue:ccpulse_contacts_service_level_counted:increase{rng}",
                f"sum by ({BY}) (increase(ccpulse_contacts_service_level_counted_total[{rng}]))",
            ),
        ]
    return rules


def queue_rules() -> list[dict[str, Any]]:
    """ASA, AHT, abandonment and blockage ratios and offered volume, per queue and range."""
    rules = []
    for rng in RANGES:
        offered = _sum_rate("ccpulse_contacts_offered_total", rng)
        blocked = _sum_rate("ccpulse_contacts_blocked_total", rng)
        rules += [
            _rule(
                f"tenant_queue:ccpulse_asa_seconds:mean{rng}",
                _ratio(
                    _sum_rate("ccpulse_answered_wait_seconds_sum", rng),
                    _sum_rate("ccpulse_answered_wait_seconds_count", rng),
                ),
            ),
            _rule(
                f"tenant_queue:ccpulse_aht_seconds:mean{rng}",
                _ratio(
                    _sum_rate("ccpulse_handle_seconds_total", rng),
                    _sum_rate("ccpulse_contacts_completed_total", rng),
                ),
            ),
            _rule(
                f"tenant_queue:ccpulse_abandonment:ratio_rate{rng}",
                _ratio(_sum_rate("ccpulse_contacts_abandoned_total", rng), offered),
            ),
            _rule(
                f"tenant_queue:ccpulse_blockage:ratio_rate{rng}",
                _ratio(blocked, f"({offered} + {blocked})"),
            ),
            _rule(
                f"tenant_queue:ccpulse_contacts_offered:increase{rng}",
                f"sum by ({BY}) (increase(ccpulse_contacts_offered_total[{rng}]))",
            ),
        ]
    # The abandonment-spike alert compares the last 30 minutes with the last 6 hours.
    rules.append(
        _rule(
            "tenant_queue:ccpulse_abandonment:ratio_rate6h",
            _ratio(
                _sum_rate("ccpulse_contacts_abandoned_total", "6h"),
                _sum_rate("ccpulse_contacts_offered_total", "6h"),
            ),
        )
    )
    return rules


def agent_rules() -> list[dict[str, Any]]:
    """Occupancy over each range: (on contact + wrap-up) / (logged in - paused), from how much
    the agents' time today grew in the range.

    `delta()`, not `increase()`: these are gauges of event time that a late event may move back
    a little (time re-attributed from available to on contact), which `increase()` would read
    as a counter reset and count whole. They restart at local midnight: a range across
    midnight has a negative change and gives no sample rather than a wrong one."""

    def grew(states: str, rng: str) -> str:
        return (
            f"sum by ({BY}) (delta(ccpulse_agent_state_seconds"
            f'{{window="today", state=~"{states}"}}[{rng}]))'
        )

    return [
        _rule(
            f"tenant_queue:ccpulse_agent_occupancy:ratio_rate{rng}",
            _ratio(
                f"({grew('on_contact|wrap_up', rng)} >= 0)",
                f"({grew('logged_in', rng)} - {grew('paused', rng)})",
            ),
        )
        for rng in RANGES
    ]


def recording_groups() -> list[dict[str, Any]]:
    return [
        {"name": "ccpulse-service-level.rules", "rules": service_level_rules()},
        {"name": "ccpulse-queues.rules", "rules": queue_rules()},
        {"name": "ccpulse-agents.rules", "rules": agent_rules()},
    ]
