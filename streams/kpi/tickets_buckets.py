"""A ticket engine's interval buckets (tickets.py): counts of one interval and dimension value,
the KPIs they give, and how a ticket's contribution moves between them."""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any, Final

from ccpulse.streams.kpi.figures import ratio
from ccpulse.streams.kpi.tickets_hours import (
    CREATED,
    FIELDS,
    FRT,
    FRT_BREACH,
    FRT_COUNT,
    FRT_SUM,
    ONE_TOUCH,
    REOPENED,
    RES_BREACH,
    RES_COUNT,
    RES_SUM,
    RESOLVED,
    SOLVED,
    Item,
)

#: Bucket key within a tenant: (interval start ms, dimension, value); dimension "all" has "".
BucketKey = tuple[int, str, str]
DIMENSIONS: Final = ("channel", "group", "priority")

# -- buckets and figures ---------------------------------------------------------------------


class TicketBucket:
    """Counts of one interval and dimension value, with every FRT and resolution time (ms) kept
    sorted, so that medians and percentiles are exact."""

    __slots__ = ("counts", "frt", "pos", "res")

    def __init__(self) -> None:
        self.counts = [0] * len(FIELDS)
        self.frt: list[int] = []
        self.res: list[int] = []
        self.pos = -1

    def change(self, sign: int, kind: int, value: int) -> None:
        if kind < FRT:
            self.counts[kind] += sign * value
            return
        count, total, values = (
            (FRT_COUNT, FRT_SUM, self.frt) if kind == FRT else (RES_COUNT, RES_SUM, self.res)
        )
        self.counts[count] += sign
        self.counts[total] += sign * value
        if sign > 0:
            insort(values, value)
        else:
            i = bisect_left(values, value)
            if i < len(values) and values[i] == value:
                del values[i]

    def add(self, other: TicketBucket) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.frt.extend(other.frt)
        self.res.extend(other.res)

    def to_record(self) -> list[Any]:
        return [self.pos, self.counts, self.frt, self.res]

    @classmethod
    def from_record(cls, record: list[Any]) -> TicketBucket:
        b = cls()
        b.pos, b.counts, b.frt, b.res = record[0], list(record[1]), list(record[2]), list(record[3])
        return b


def nearest_rank(values: list[int], percent: int) -> int | None:
    """Nearest-rank percentile of sorted values: the ceil(percent/100 * n)-th smallest."""
    if not values:
        return None
    return values[max(1, -(-percent * len(values) // 100)) - 1]


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def figures(b: TicketBucket) -> dict[str, Any]:
    """The KPIs of one bucket (or a sum of buckets); ratios None without a denominator."""
    c = b.counts
    frt, res = sorted(b.frt), sorted(b.res)
    return {
        "created": c[CREATED],
        "solved": c[SOLVED],
        "reopened": c[REOPENED],
        "resolved": c[RESOLVED],
        "one_touch_resolved": c[ONE_TOUCH],
        "frt_count": c[FRT_COUNT],
        "frt_avg_seconds": c[FRT_SUM] / c[FRT_COUNT] / 1000 if c[FRT_COUNT] else None,
        "frt_median_seconds": _seconds(nearest_rank(frt, 50)),
        "frt_p90_seconds": _seconds(nearest_rank(frt, 90)),
        "resolution_count": c[RES_COUNT],
        "resolution_avg_seconds": c[RES_SUM] / c[RES_COUNT] / 1000 if c[RES_COUNT] else None,
        "resolution_median_seconds": _seconds(nearest_rank(res, 50)),
        "resolution_p90_seconds": _seconds(nearest_rank(res, 90)),
        "fcr_rate": ratio(c[ONE_TOUCH], c[RESOLVED]),
        "reopen_rate": ratio(c[REOPENED], c[SOLVED]),
        "frt_breaches": c[FRT_BREACH],
        "resolution_breaches": c[RES_BREACH],
    }


def figures_with_breakdowns(parts: dict[tuple[str, str], TicketBucket]) -> dict[str, Any]:
    out = figures(parts.get(("all", ""), TicketBucket()))
    used = sorted((dv, b) for dv, b in parts.items() if any(b.counts))
    out["created_by_channel"] = {
        v: b.counts[CREATED] for (d, v), b in used if d == "channel" and b.counts[CREATED]
    }
    for dim in DIMENSIONS:
        out[f"by_{dim}"] = {v: figures(b) for (d, v), b in used if d == dim}
    return out


def _counts(items: list[Item]) -> dict[Item, int]:
    counts: dict[Item, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def difference(old: list[Item], new: list[Item]) -> list[tuple[int, list[tuple[Item, int]]]]:
    """The multiset differences old - new (sign -1) and new - old (sign 1), each item with its
    count, in the order of `Counter(old) - Counter(new)` and `Counter(new) - Counter(old)`."""
    after = _counts(new)
    if not old:  # a new ticket: nothing to take back
        return [(-1, []), (1, list(after.items()))]
    before = _counts(old)
    return [
        (-1, [(item, n - after.get(item, 0)) for item, n in before.items()
              if n > after.get(item, 0)]),
        (1, [(item, n - before.get(item, 0)) for item, n in after.items()
             if n > before.get(item, 0)]),
    ]  # fmt: skip


def bucket_keys(start: int, channel: str, group: str, priority: str) -> tuple[BucketKey, ...]:
    """The buckets an item at interval `start` counts in: all, its channel, group, priority."""
    return (
        (start, "all", ""),
        (start, "channel", channel),
        (start, "group", group),
        (start, "priority", priority),
    )
