"""The additive tally kept per bucket (queue, channel, interval or minute).

A tally is a plain list of integers, indexed by the constants below; durations are milliseconds.
Every field is a sum except the `*_max` fields, which are maxima. Derived KPIs (service level,
ASA, ...) are computed from tallies in `figures.py`, never stored.
"""

from __future__ import annotations

from bisect import bisect_left
from operator import add
from typing import Final

from ccpulse.schemas.events import BLOCK_REASONS, DEQUEUE_REASONS

FIELDS: Final[tuple[str, ...]] = (
    "offered",
    *(f"blocked_{r}" for r in BLOCK_REASONS),
    "answered",
    "answered_timed",
    "answered_within_threshold",
    "answered_wait_ms_sum",
    "answered_wait_ms_max",
    "abandoned",
    "abandoned_timed",
    "short_abandoned",
    "abandoned_within_threshold",
    "abandoned_wait_ms_sum",
    "abandoned_wait_ms_max",
    *(f"dequeued_{r}" for r in DEQUEUE_REASONS),
    "completed",
    "talk_ms_sum",
    "talk_ms_max",
    "hold_ms_sum",
    "hold_ms_max",
    "wrap_ms_sum",
    "wrap_ms_max",
    "resolution_reported",
    "resolved",
    # Input accounting, kept in the running-total bucket only (see engine.py).
    "duplicates",
    "too_late",
)
INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(FIELDS)}
SIZE: Final = len(FIELDS)
MAX_FIELDS: Final = frozenset(i for i, name in enumerate(FIELDS) if name.endswith("_max"))
#: The same as a bit mask (bit i set: field i is a maximum), tested without a set lookup:
#: `MAX_MASK >> idx & 1`; indexes past the fields (histogram slots) test 0.
MAX_MASK: Final = sum(1 << i for i in MAX_FIELDS)

OFFERED: Final = INDEX["offered"]
BLOCKED_BY_REASON: Final = {r: INDEX[f"blocked_{r}"] for r in BLOCK_REASONS}
ANSWERED: Final = INDEX["answered"]
ANSWERED_TIMED: Final = INDEX["answered_timed"]
ANSWERED_WITHIN: Final = INDEX["answered_within_threshold"]
ANSWERED_WAIT_SUM: Final = INDEX["answered_wait_ms_sum"]
ANSWERED_WAIT_MAX: Final = INDEX["answered_wait_ms_max"]
ABANDONED: Final = INDEX["abandoned"]
ABANDONED_TIMED: Final = INDEX["abandoned_timed"]
SHORT_ABANDONED: Final = INDEX["short_abandoned"]
ABANDONED_WITHIN: Final = INDEX["abandoned_within_threshold"]
ABANDONED_WAIT_SUM: Final = INDEX["abandoned_wait_ms_sum"]
ABANDONED_WAIT_MAX: Final = INDEX["abandoned_wait_ms_max"]
DEQUEUED_BY_REASON: Final = {r: INDEX[f"dequeued_{r}"] for r in DEQUEUE_REASONS}
COMPLETED: Final = INDEX["completed"]
TALK_SUM: Final = INDEX["talk_ms_sum"]
TALK_MAX: Final = INDEX["talk_ms_max"]
HOLD_SUM: Final = INDEX["hold_ms_sum"]
HOLD_MAX: Final = INDEX["hold_ms_max"]
WRAP_SUM: Final = INDEX["wrap_ms_sum"]
WRAP_MAX: Final = INDEX["wrap_ms_max"]
RESOLUTION_REPORTED: Final = INDEX["resolution_reported"]
RESOLVED: Final = INDEX["resolved"]
DUPLICATES: Final = INDEX["duplicates"]
TOO_LATE: Final = INDEX["too_late"]

#: Upper bounds (inclusive) of the wait-time histogram kept in running totals, in seconds. The
#: Prometheus histogram adds each queue's own SL threshold as a bucket of its own (from
#: answered_within_threshold), so any threshold can be used in PromQL.
WAIT_BUCKETS_SECONDS: Final = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600)
_WAIT_BOUNDS_MS: Final = tuple(s * 1000 for s in WAIT_BUCKETS_SECONDS)
#: Histogram slots follow the tally fields in running-total buckets only: a slot counts the waits
#: in (previous bound, bound]; the last slot is above every bound.
ANSWERED_WAIT_SLOTS: Final = SIZE
ABANDONED_WAIT_SLOTS: Final = SIZE + len(WAIT_BUCKETS_SECONDS) + 1
TOTAL_SIZE: Final = SIZE + 2 * (len(WAIT_BUCKETS_SECONDS) + 1)


def wait_slot(wait_ms: int) -> int:
    """Histogram slot (0 .. len(WAIT_BUCKETS_SECONDS)) of a wait."""
    return bisect_left(_WAIT_BOUNDS_MS, wait_ms)


Tally = list[int]
#: A sparse change to a tally: (field index, value) pairs.
Delta = tuple[tuple[int, int], ...]


def new_tally(size: int = SIZE) -> Tally:
    return [0] * size


#: Per tally field: True for a maximum, False for a sum (in field order).
_IS_MAX: Final = tuple(i in MAX_FIELDS for i in range(SIZE))


def summed(tallies: list[Tally]) -> Tally:
    """The tally of all of them together (sums add, maxima take the largest).

    Only the first SIZE fields are folded: histogram slots of running totals are not.
    """
    if len(tallies) == 2:  # a live snapshot's windows: kept sums and the current bucket
        first, second = tallies
        if len(first) == SIZE and len(second) == SIZE:
            out = list(map(add, first, second))  # in C; then the few maxima
            for idx in _MAX_INDEXES:
                out[idx] = max(0, first[idx], second[idx])
            return out
    if not tallies:
        return new_tally()
    # Column-wise: one C-level sum()/max() per field rather than a Python loop per value.
    return [
        max(0, max(column)) if is_max else sum(column)
        for is_max, column in zip(_IS_MAX, zip(*tallies, strict=False), strict=False)
    ]


_MAX_INDEXES: Final = tuple(sorted(MAX_FIELDS))


def as_dict(tally: Tally) -> dict[str, int]:
    return dict(zip(FIELDS, tally, strict=True))
