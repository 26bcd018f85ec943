"""Derived KPIs from a tally: service level, ASA, abandonment, blockage, AHT and the rest.

Every formula is written out in docs/kpi-definitions.md. Ratios are 0-1 and None when their
denominator is zero (a wallboard shows "-", never a made-up 0 % or 100 %); times are seconds.
"""

from __future__ import annotations

from typing import Final

from ccpulse.schemas.events import BLOCK_REASONS, DEQUEUE_REASONS
from ccpulse.streams.kpi import counters as k
from ccpulse.streams.kpi.counters import Tally
from ccpulse.streams.kpi.policy import QueuePolicy, SLFormula

Figures = dict[str, float | int | None]


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def blocked(t: Tally) -> int:
    return sum(t[i] for i in k.BLOCKED_BY_REASON.values())


def dequeued(t: Tally) -> int:
    return sum(t[i] for i in k.DEQUEUED_BY_REASON.values())


def service_level_parts(t: Tally, policy: QueuePolicy) -> tuple[int, int]:
    """(met, counted): the contacts that met the threshold and those the service level is
    taken over, by the queue's configured formula. Summed over channels or periods, they give
    the service level of the whole (docs/prometheus-metrics.md exports both as counters)."""
    met = t[k.ANSWERED_WITHIN]
    # Answered contacts whose wait is unknown can be judged neither met nor missed: like ASA,
    # the service level leaves them out (docs/kpi-definitions.md, "Unknown waits").
    base = t[k.ANSWERED_TIMED]
    formula = policy.sl_formula
    if formula is SLFormula.ANSWERED_AND_ABANDONED:
        base += t[k.ABANDONED]
    elif formula is SLFormula.EXCLUDE_SHORT_ABANDONS:
        base += t[k.ABANDONED] - t[k.SHORT_ABANDONED]
    elif formula is SLFormula.EXCLUDE_ABANDONS_WITHIN_THRESHOLD:
        base += t[k.ABANDONED] - t[k.ABANDONED_WITHIN]
    elif formula is SLFormula.ABANDONS_WITHIN_THRESHOLD_MET:
        met += t[k.ABANDONED_WITHIN]
        base += t[k.ABANDONED]
    if policy.sl_counts_dequeued:
        base += dequeued(t)
    return met, base


def service_level(t: Tally, policy: QueuePolicy) -> float | None:
    """Share of contacts that met the threshold, by the queue's configured formula."""
    met, counted = service_level_parts(t, policy)
    return ratio(met, counted)


def abandonment_rate(t: Tally, policy: QueuePolicy) -> float | None:
    """Abandoned over offered; with short abandons taken out of both when so configured."""
    if policy.abandon_rate_excludes_short:
        short = t[k.SHORT_ABANDONED]
        return ratio(t[k.ABANDONED] - short, t[k.OFFERED] - short)
    return ratio(t[k.ABANDONED], t[k.OFFERED])


def figures(t: Tally, policy: QueuePolicy) -> Figures:
    """All counts and derived KPIs of one tally, with units in the names."""
    n_blocked = blocked(t)
    handle_ms = t[k.TALK_SUM] + t[k.HOLD_SUM] + t[k.WRAP_SUM]
    out: Figures = {"offered": t[k.OFFERED], "blocked": n_blocked}
    for name, idx in _BLOCKED_BY_REASON:
        out[name] = t[idx]
    out.update({
        "answered": t[k.ANSWERED],
        "answered_within_threshold": t[k.ANSWERED_WITHIN],
        "abandoned": t[k.ABANDONED],
        "short_abandoned": t[k.SHORT_ABANDONED],
        "abandoned_within_threshold": t[k.ABANDONED_WITHIN],
        "dequeued": dequeued(t),
    })  # fmt: skip
    for name, idx in _DEQUEUED_BY_REASON:
        out[name] = t[idx]
    out.update({
        "completed": t[k.COMPLETED],
        "service_level": service_level(t, policy),
        "service_level_target": policy.sl_target,
        "service_level_threshold_seconds": policy.sl_threshold_seconds,
        "asa_seconds": _avg_seconds(t[k.ANSWERED_WAIT_SUM], t[k.ANSWERED_TIMED]),
        "answered_wait_seconds_sum": t[k.ANSWERED_WAIT_SUM] / 1000,
        "longest_answered_wait_seconds": t[k.ANSWERED_WAIT_MAX] / 1000,
        "abandonment_rate": abandonment_rate(t, policy),
        "average_abandon_seconds": _avg_seconds(t[k.ABANDONED_WAIT_SUM], t[k.ABANDONED_TIMED]),
        "abandoned_wait_seconds_sum": t[k.ABANDONED_WAIT_SUM] / 1000,
        "longest_abandoned_wait_seconds": t[k.ABANDONED_WAIT_MAX] / 1000,
        "blockage_rate": ratio(n_blocked, t[k.OFFERED] + n_blocked),
        "answer_rate": ratio(t[k.ANSWERED], t[k.OFFERED]),
        "aht_seconds": _avg_seconds(handle_ms, t[k.COMPLETED]),
        "talk_seconds_sum": t[k.TALK_SUM] / 1000,
        "hold_seconds_sum": t[k.HOLD_SUM] / 1000,
        "wrap_seconds_sum": t[k.WRAP_SUM] / 1000,
        "longest_talk_seconds": t[k.TALK_MAX] / 1000,
        "longest_hold_seconds": t[k.HOLD_MAX] / 1000,
        "longest_wrap_seconds": t[k.WRAP_MAX] / 1000,
        "first_contact_resolution_rate": ratio(t[k.RESOLVED], t[k.RESOLUTION_REPORTED]),
    })  # fmt: skip
    return out


#: (figure name, tally field) per block and dequeue reason, in the contract's reason order.
_BLOCKED_BY_REASON: Final = tuple((f"blocked_{r}", k.BLOCKED_BY_REASON[r]) for r in BLOCK_REASONS)
_DEQUEUED_BY_REASON: Final = tuple(
    (f"dequeued_{r}", k.DEQUEUED_BY_REASON[r]) for r in DEQUEUE_REASONS
)


def _avg_seconds(sum_ms: int, count: int) -> float | None:
    return sum_ms / count / 1000 if count > 0 else None
