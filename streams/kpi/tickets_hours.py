"""A ticket's clocks: when its first response and resolution are measured, fall due and breach.

A ticket is the set of its distinct events; `derive` reads them in time order and returns what
the ticket adds to the interval figures (items at the instant each counts) and, while it is open,
the breaches still to come. Everything is a pure function of the event set, the tenant's clock
(business or elapsed time, see business_hours.py) and the SLA targets, so arrival order and
duplicates cannot change it. Definitions and worked examples: docs/ticket-kpis.md.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Final

from ccpulse.schemas.events import (
    TICKET_CREATED,
    TICKET_PRIORITIES,
    TICKET_REOPENED,
    TICKET_REPLIED,
    TICKET_STATUS_CHANGED,
    TicketEvent,
)
from ccpulse.streams.kpi.business_hours import BusinessSchedule, Clock
from ccpulse.streams.kpi.contact import Absorbed

HOUR_S: Final = 3600
SOLVED_STATUSES: Final = frozenset(("solved", "closed"))

FIELDS: Final = (
    "created", "solved", "reopened", "resolved", "one_touch_resolved", "frt_breaches",
    "resolution_breaches", "frt_count", "frt_ms_sum", "resolution_count", "resolution_ms_sum",
    "duplicates", "too_late",
)  # fmt: skip
# The slots of FIELDS, in its order (Final: compiled, each is read as the number it is).
CREATED: Final = 0
SOLVED: Final = 1
REOPENED: Final = 2
RESOLVED: Final = 3
ONE_TOUCH: Final = 4
FRT_BREACH: Final = 5
RES_BREACH: Final = 6
FRT_COUNT: Final = 7
FRT_SUM: Final = 8
RES_COUNT: Final = 9
RES_SUM: Final = 10
DUPLICATES: Final = 11
TOO_LATE: Final = 12
if len(FIELDS) != TOO_LATE + 1:
    raise ImportError("tickets_hours: a slot of FIELDS has no index, or two share one")
#: Item kinds beyond plain counts: a first response time or a resolution time (value in ms).
FRT: Final = 100
RES: Final = 101

#: (instant it counts at, kind, value, channel, group, priority): what a ticket adds to a bucket.
Item = tuple[int, int, int, str, str, str]
#: A breach of an open ticket: (instant, FRT_BREACH or RES_BREACH, channel, group, priority).
Pending = tuple[int, int, str, str, str]


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """First-response and resolution targets of one priority, in (business) seconds."""

    first_response_seconds: int
    resolution_seconds: int


#: Common service-desk defaults; measured in business time when a schedule is set.
DEFAULT_TARGETS: Final = {
    "urgent": SlaTarget(1 * HOUR_S, 4 * HOUR_S),
    "high": SlaTarget(4 * HOUR_S, 24 * HOUR_S),
    "normal": SlaTarget(8 * HOUR_S, 72 * HOUR_S),
    "low": SlaTarget(24 * HOUR_S, 120 * HOUR_S),
}


@dataclass(frozen=True, slots=True)
class TicketSettings:
    """Settings of the ticket family; every field has a sensible default."""

    targets: Mapping[str, SlaTarget] = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    #: "At risk" = a target falls due within this many seconds from now.
    at_risk_seconds: int = HOUR_S
    #: Business hours for every tenant (None: 24/7, elapsed time) ...
    schedule: BusinessSchedule | None = None
    #: ... unless the tenant has its own entry here (None in it: 24/7 for that tenant).
    tenant_schedules: Mapping[str, BusinessSchedule | None] = field(default_factory=dict)
    #: Upper bounds of the backlog age buckets: < 1 h, 1-8 h, 8 h-1 d, 1-3 d, 3 d or more.
    backlog_bounds_seconds: tuple[int, ...] = (HOUR_S, 8 * HOUR_S, 24 * HOUR_S, 72 * HOUR_S)

    def __post_init__(self) -> None:
        missing = set(TICKET_PRIORITIES) - set(self.targets)
        if missing:
            raise ValueError(f"SLA targets missing for priorities: {', '.join(sorted(missing))}")
        for t in self.targets.values():
            if t.first_response_seconds <= 0 or t.resolution_seconds <= 0:
                raise ValueError("SLA targets must be positive")
        bounds = self.backlog_bounds_seconds
        if not bounds or bounds[0] <= 0 or any(a >= b for a, b in pairwise(bounds)):
            raise ValueError("backlog_bounds_seconds must be positive and increasing")
        if self.at_risk_seconds < 0:
            raise ValueError("at_risk_seconds must not be negative")

    def schedule_for(self, tenant: str) -> BusinessSchedule | None:
        return self.tenant_schedules.get(tenant, self.schedule)

    def backlog_labels(self) -> tuple[str, ...]:
        """Names of the age buckets, e.g. ("under_1h", "1h_to_8h", ..., "over_3d")."""
        spans = [_span(s) for s in self.backlog_bounds_seconds]
        middle = [f"{a}_to_{b}" for a, b in pairwise(spans)]
        return (f"under_{spans[0]}", *middle, f"over_{spans[-1]}")


def _span(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- one ticket ------------------------------------------------------------------------------


@dataclass(slots=True)
class Derived:
    """What a ticket's events say, read in time order (see `derive`)."""

    created_ms: int
    open: bool
    group: str
    priority: str
    items: list[Item]
    pending: list[Pending]


def _order(e: TicketEvent) -> tuple[int, int, str]:
    """Time order; at one instant the creation comes first, then event ids."""
    return (e.ts_ms, 0 if e.type == TICKET_CREATED else 1, e.event_id)


def _first_unsolved_since(transitions: list[tuple[int, bool]], due_ms: int) -> int | None:
    """First instant >= due at which the ticket is not solved (None: solved from due on)."""
    solved = False
    for ts, state in transitions:
        if ts > due_ms:
            if not solved:
                return due_ms
            if not state:
                return ts
        solved = state
    return None if solved else due_ms


def derive(
    events: Iterable[TicketEvent], clock: Clock, targets: Mapping[str, SlaTarget]
) -> Derived | None:
    """A ticket's contribution and state; None until its `ticket.created` is known."""
    evs = sorted(events, key=_order)
    created = next((e for e in evs if e.type == TICKET_CREATED), None)
    if created is None:
        return None
    start = created.ts_ms
    attrs = (created.channel or "other", created.group or "default", created.priority or "normal")
    stamps: list[int] = []
    after: list[tuple[str, str, str]] = []  # attributes in force after each event
    items: list[Item] = []
    transitions: list[tuple[int, bool]] = []
    solved = False
    first_reply = first_solve = final = None
    replies = reopens = 0
    for e in evs:
        attrs = (e.channel or attrs[0], e.group or attrs[1], e.priority or attrs[2])
        stamps.append(e.ts_ms)
        after.append(attrs)
        if e is created:
            items.append((start, CREATED, 1, *attrs))
        elif e.type == TICKET_REPLIED and e.public:
            replies += 1
            if first_reply is None and not created.by_agent:
                first_reply = e.ts_ms
                items.append((e.ts_ms, FRT, clock.between(start, e.ts_ms), *attrs))
        state = solved
        if e.type == TICKET_STATUS_CHANGED:
            state = e.status in SOLVED_STATUSES
        elif e.type == TICKET_REOPENED:
            state = False
        if state != solved:
            solved = state
            transitions.append((e.ts_ms, state))
            items.append((e.ts_ms, SOLVED if state else REOPENED, 1, *attrs))
            if state:
                final = (e.ts_ms, attrs)
                first_solve = e.ts_ms if first_solve is None else first_solve
            else:
                reopens += 1
    _, group, priority = attrs
    target = targets[priority]

    def breach_attrs(ts: int) -> tuple[str, str, str]:
        """Channel and group in force at `ts`; the priority whose target was breached."""
        channel, group_then, _ = after[max(0, bisect_right(stamps, ts) - 1)]
        return channel, group_then, priority

    pending: list[Pending] = []
    if not created.by_agent:
        due = clock.add(start, target.first_response_seconds * 1000)
        stops = [t for t in (first_reply, first_solve) if t is not None]
        if not stops:
            pending.append((due, FRT_BREACH, *breach_attrs(due)))
        elif min(stops) > due:
            items.append((due, FRT_BREACH, 1, *breach_attrs(due)))
    breach = _first_unsolved_since(transitions, clock.add(start, target.resolution_seconds * 1000))
    if final is not None and solved:
        end, end_attrs = final
        items.append((end, RESOLVED, 1, *end_attrs))
        items.append((end, RES, clock.between(start, end), *end_attrs))
        if replies <= 1 and reopens == 0:
            items.append((end, ONE_TOUCH, 1, *end_attrs))
        if breach is not None:
            items.append((breach, RES_BREACH, 1, *breach_attrs(breach)))
    elif breach is not None:
        pending.append((breach, RES_BREACH, *breach_attrs(breach)))
    return Derived(start, not solved, group, priority, items, pending)


def _canonical(e: TicketEvent) -> str:
    return repr(_event_record(e))


def _event_record(e: TicketEvent) -> list[Any]:
    return [
        e.event_id, e.type, e.ts_ms, e.tenant, e.ticket_id, e.channel, e.priority, e.group,
        e.agent_id, e.status, e.public, e.by_agent,
    ]  # fmt: skip


class Ticket:
    """The distinct events of one ticket, `pos` of the last one applied, and a derived cache."""

    __slots__ = ("_derived", "_fresh", "events", "pos")

    def __init__(self) -> None:
        self.events: dict[str, TicketEvent] = {}
        self.pos = -1
        self._derived: Derived | None = None
        self._fresh = False

    def absorb(self, event: TicketEvent) -> Absorbed:
        """Add `event`; of two events with one id the canonically smaller one is kept, so the
        kept set does not depend on arrival order (the other counts as a duplicate)."""
        held = self.events.get(event.event_id)
        if held is not None and (held == event or _canonical(held) <= _canonical(event)):
            return Absorbed.DUPLICATE
        self.events[event.event_id] = event
        self._fresh = False
        return Absorbed.NEW if held is None else Absorbed.REPLACED

    def derived(self, clock: Clock, targets: Mapping[str, SlaTarget]) -> Derived | None:
        if not self._fresh:
            self._derived = derive(self.events.values(), clock, targets)
            self._fresh = True
        return self._derived

    @property
    def last_ts_ms(self) -> int:
        return max(e.ts_ms for e in self.events.values())

    def to_record(self) -> list[Any]:
        return [self.pos, [_event_record(e) for e in self.events.values()]]

    @classmethod
    def from_record(cls, record: list[Any]) -> Ticket:
        t = cls()
        t.pos = record[0]
        t.events = {r[0]: TicketEvent(*r) for r in record[1]}
        return t
