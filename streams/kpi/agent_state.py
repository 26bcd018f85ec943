"""An agent's state and what its state segments and events contribute (pure functions of the
agent's time-ordered events), and the timelines that hold them; shared by the agent engine
(agents.py, agent_records.py) and its views (agent_views.py). Definitions: docs/agent-kpis.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

from ccpulse.schemas.events import AGENT_LOGIN, AGENT_LOGOUT, AGENT_RING_NO_ANSWER, AgentEvent
from ccpulse.streams.kpi.agent_tally import LOGGED_IN_MS, AgentTally
from ccpulse.streams.kpi.windows import Calendar

ALL: Final = "all"
#: Scope kinds of a tally: one agent, one queue, or every agent of the tenant.
AGENT: Final = "agent"
QUEUE: Final = "queue"
Tally = AgentTally
#: A sum of tallies, by field name (the live views' kept sums).
Sums = dict[str, int]
#: (scope kind, scope name, interval start) -> tally.
BucketKey = tuple[str, str, int]
#: A contribution item: (scope kind, scope name, instant, field, amount).
Item = tuple[str, str, int, str, int]
#: The fields a state segment adds to one scope: (scope kind, scope name, fields).
ScopeFields = tuple[str, str, tuple[str, ...]]
TIMED_STATES: Final = ("available", "on_contact", "wrap_up", "paused")
HANDLING_STATES: Final = frozenset(("on_contact", "wrap_up"))


class AgentState(NamedTuple):
    """What an agent is doing: derived by folding its events in time order. A named tuple, not
    a frozen dataclass: one is built per event, four times as fast."""

    logged_in: bool = False
    queues: frozenset[str] = frozenset()
    state: str = "offline"
    reason: str | None = None
    #: The queue of the contact being handled (on_contact / wrap_up), if known.
    contact_queue: str | None = None
    since_ms: int = 0
    #: Whether any login, logout or state event has been folded: only an agent's first such
    #: event can be an implicit login.
    seen: bool = False

    def to_record(self) -> list[Any]:
        return [self.logged_in, sorted(self.queues), self.state, self.reason,
                self.contact_queue, self.since_ms, self.seen]  # fmt: skip

    @classmethod
    def from_record(cls, r: list[Any]) -> AgentState:
        # Records written before `seen` existed: an agent with a state start had been seen.
        seen = bool(r[6]) if len(r) > 6 else bool(r[0] or r[5])
        return cls(r[0], frozenset(r[1]), r[2], r[3], r[4], r[5], seen)


OFFLINE: Final = AgentState()
_new_state: Final = tuple.__new__


def fold(before: AgentState, e: AgentEvent) -> AgentState:
    """The state after event `e` (see docs/agent-kpis.md for each rule)."""
    queues, logged_in = before.queues, before.logged_in
    state, reason, cq = before.state, before.reason, before.contact_queue
    if e.type == AGENT_LOGIN:
        queues = queues | {e.queue} if e.queue else queues
        logged_in = True
        if state == "offline":
            state, reason, cq = "available", None, None
    elif e.type == AGENT_LOGOUT:
        queues = queues - {e.queue} if e.queue else frozenset()
        if not queues:
            logged_in, state, reason, cq = False, "offline", None, None
    elif e.type == AGENT_RING_NO_ANSWER:
        return before
    elif e.state == "offline":
        queues, logged_in, state, reason, cq = frozenset(), False, "offline", None, None
    elif not logged_in and before.seen:
        # A state of an agent who logged out (Wazo's UNPAUSEALL right after the logoff, a
        # completion after a logoff mid-call): only a first event is an implicit login.
        return before
    else:  # a first event that is a state: the agent logged in before the log started
        logged_in = True
        if e.queue and e.state in ("on_contact", "wrap_up"):
            cq = e.queue
        elif e.state == "wrap_up" and state == "on_contact":
            cq = before.contact_queue
        else:
            cq = None
        state, reason = e.state or "available", e.reason if e.state == "paused" else None
    changed = (state, reason, cq) != (before.state, before.reason, before.contact_queue)
    since = e.ts_ms if changed or not before.logged_in else before.since_ms
    # Built as a tuple of its fields: calling the class runs its generated Python __new__.
    return _new_state(AgentState, (logged_in, queues, state, reason, cq, since, True))


def segment_items(agent: str, s: AgentState, start: int, end: int, cal: Calendar) -> list[Item]:
    """Time of one state segment [start, end), split at interval boundaries, per scope."""
    if not s.logged_in or end <= start:
        return []
    fields = ["logged_in_ms", f"{s.state}_ms"]
    if s.state == "paused":
        fields.append(f"paused_ms:{s.reason or 'unspecified'}")
    handling = s.state in ("on_contact", "wrap_up")
    member = s.queues or frozenset()
    items: list[Item] = []
    t = start
    while t < end:
        stop = min(end, cal.interval_end(cal.interval_start(t)))
        d = stop - t
        for f in fields:
            items.append((AGENT, agent, t, f, d))
            items.append((ALL, "", t, f, d))
            for q in sorted(member):  # one order, however the set was built
                if handling and s.contact_queue and q != s.contact_queue and f != "logged_in_ms":
                    continue  # handling time belongs to the contact's own queue
                items.append((QUEUE, q, t, f, d))
            if (
                handling and s.contact_queue and s.contact_queue not in member
            ):  # handling a queue's contact counts as logged in to it, so occupancy stays <= 1
                items.append((QUEUE, s.contact_queue, t, f, d))
        t = stop
    return items


def segment_scopes(agent: str, s: AgentState) -> list[ScopeFields]:
    """The scopes a segment of logged-in state `s` counts in, each with its fields: the items
    of `segment_items` grouped by scope, in the order each scope first occurs there (its first
    field, logged-in time, counts in every scope), each scope's fields in their item order."""
    fields: tuple[str, ...] = (LOGGED_IN_MS, f"{s.state}_ms")
    if s.state == "paused":
        fields += (f"paused_ms:{s.reason or 'unspecified'}",)
    scopes: list[ScopeFields] = [(AGENT, agent, fields), (ALL, "", fields)]
    cq = s.contact_queue if s.state in HANDLING_STATES else None
    if not cq:
        scopes += [(QUEUE, q, fields) for q in sorted(s.queues)]
        return scopes
    logged_in_only = tuple(f for f in fields if f == LOGGED_IN_MS)
    scopes += [(QUEUE, q, fields if q == cq else logged_in_only) for q in sorted(s.queues)]
    if cq not in s.queues:
        scopes.append((QUEUE, cq, fields))
    return scopes


#: Whether a queue attributes contacts by arrival: (tenant, queue) -> bool.
ByArrival = Callable[[str, str], bool]


def point_field(e: AgentEvent, after: AgentState) -> str | None:
    """The count an event carries itself, if any: a contact handled, a ring left unanswered."""
    if e.type == AGENT_RING_NO_ANSWER:
        return "ring_no_answer"
    if e.state == "on_contact" and after.state == "on_contact":  # not by a logged-out agent
        return "handled"
    return None


def point_instant(e: AgentEvent, field: str, by_arrival: ByArrival | None = None) -> int:
    """When an event's count counts: a contact handled in a queue that attributes by arrival
    counts at its entry, the `on_contact`'s instant minus its `wait_seconds`."""
    at = e.ts_ms
    if field == "handled" and e.wait_ms and e.queue and by_arrival is not None:
        at -= e.wait_ms if by_arrival(e.tenant, e.queue) else 0
    return at


def point_scopes(agent: str, e: AgentEvent, after: AgentState) -> list[tuple[str, str]]:
    """The scopes an event's count counts in: the agent, all, and its queue (else all the
    agent's queues)."""
    if e.queue:
        return [(AGENT, agent), (ALL, ""), (QUEUE, e.queue)]
    return [(AGENT, agent), (ALL, ""), *((QUEUE, q) for q in sorted(after.queues))]


def point_items(
    agent: str, e: AgentEvent, after: AgentState, by_arrival: ByArrival | None = None
) -> list[Item]:
    """Counts an event carries itself (`point_field`), at `point_instant`, per scope."""
    field = point_field(e, after)
    if field is None:
        return []
    at = point_instant(e, field, by_arrival)
    return [(kind, name, at, field, 1) for kind, name in point_scopes(agent, e, after)]


def event_order(e: AgentEvent) -> tuple[int, str]:
    """The order of a timeline's events: by instant, then by id (one order for equal instants,
    whatever order they arrive in)."""
    return e.ts_ms, e.event_id


class Timeline:
    """One agent's events since `base` (the state folded from events already dropped), and its
    state after them (`current`). The states in between are folded again when needed (an event
    out of order, garbage collection), not held: an agent's next event in time order needs
    only the current state, and every object held per event is one more for the garbage
    collector to visit."""

    __slots__ = ("base", "base_ms", "current", "events", "ids", "pos")

    def __init__(self) -> None:
        self.base = OFFLINE
        self.base_ms: int | None = None
        #: In `event_order`; each event held as it is, no tuple around it.
        self.events: list[AgentEvent] = []
        #: The ids of `events`, so that a duplicate is found without a scan of the timeline.
        self.ids: set[str] = set()
        #: The state after `events` (`base` when there are none).
        self.current = OFFLINE
        self.pos = -1

    def state_before(self, i: int) -> AgentState:
        """The state after `base` and the first `i` events."""
        s = self.base
        for e in self.events[:i]:
            s = fold(s, e)
        return s

    def refold(self, lo: int = 0, start: AgentState | None = None) -> None:
        """Set `current` again after `events` or `base` changed: folded from `start`, the
        state after the first `lo` events (when the caller has it), or from `base`."""
        s = self.state_before(lo) if start is None else start
        for e in self.events[lo:]:
            s = fold(s, e)
        self.current = s

    def closed_items(
        self, agent: str, first: int, cal: Calendar, by_arrival: ByArrival | None = None,
        start: AgentState | None = None,
    ) -> list[Item]:  # fmt: skip
        """Items of the closed segments from event `first - 1` on, and point items from `first`.
        `start`, when given, is `state_before(max(first - 1, 0))`: an event out of order
        folds the events before it once for its two calls."""
        items: list[Item] = []
        events = self.events
        lo = max(first - 1, 0)
        s = self.state_before(lo) if start is None else start
        states: list[AgentState] = []  # the state after each event from `lo` on
        for e in events[lo:]:
            s = fold(s, e)
            states.append(s)
        if first == 0 and self.base_ms is not None and events:
            items += segment_items(agent, self.base, self.base_ms, events[0].ts_ms, cal)
        for i in range(lo, len(events) - 1):
            items += segment_items(agent, states[i - lo], events[i].ts_ms, events[i + 1].ts_ms, cal)
        for i in range(first, len(events)):
            items += point_items(agent, events[i], states[i - lo], by_arrival)
        return items

    @property
    def last_ms(self) -> int | None:
        return self.events[-1].ts_ms if self.events else self.base_ms


class TenantAgents:
    """All agent state of one tenant."""

    __slots__ = (
        "batches",
        "buckets",
        "calendar",
        "closed",
        "duplicates",
        "pos",
        "timelines",
        "too_late",
        "watermark_ms",
    )

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self.timelines: dict[str, Timeline] = {}
        self.buckets: dict[BucketKey, list[Any]] = {}  # key -> [pos, tally]
        self.watermark_ms = 0
        self.pos = -1
        #: What the live view read of the closed intervals' buckets (`ClosedAgentSums`), kept
        #: for the views of the same interval (`new_bucket`, `add_closed`, `changed_interval`).
        self.closed: ClosedAgentSums | None = None
        #: The event records written (or to write), by (agent, event id, position) of their
        #: first event, with the latest instant of their events (in a list: agent_records.py).
        self.batches: dict[tuple[str, str, str], list[int]] = {}


class ClosedAgentSums:
    """What a tenant's live view (agent_views.py `scope_windows`) reads of the buckets of
    intervals before `current`: per scope with any such bucket not empty, the sum of those of
    the day from `day_start`. Kept on the tenant (`TenantAgents.closed`) for the views of the
    same interval, so that a flush late in the day reads the current interval's buckets, not
    every bucket of the day. An event appended to its agent's timeline adds to them what it
    adds to a bucket before `current`; any other change to such a bucket (an event out of
    order, a restore, the garbage collector) drops them. So do more such additions than the
    buckets read to make them (`budget`): a worker catching up adds to closed intervals at
    nearly every event, and there reading the buckets afresh at the next view costs less. A
    bucket made for `current` or later is listed, and read at each view."""

    __slots__ = ("budget", "current", "current_scopes", "day_start", "later", "today")

    def __init__(self, day_start: int, current: int, budget: int = 0) -> None:
        self.day_start = day_start
        self.current = current
        #: Additions (`add_closed` calls) left before they cost more than reading afresh.
        self.budget = budget
        #: Scope -> its closed buckets' tally of the day (empty: none of the day).
        self.today: dict[tuple[str, str], Sums] = {}
        #: The scopes with a bucket of `current`, empty or not.
        self.current_scopes: dict[tuple[str, str], None] = {}
        #: The buckets after `current` (events ahead of the wall clock), read once it reaches
        #: them.
        self.later: dict[BucketKey, None] = {}


def new_bucket(t: TenantAgents, bkey: Any) -> list[Any]:
    """A new empty bucket `[pos, tally]` of tenant `t` at `bkey` (a `BucketKey`, typed Any so
    that the compiled build stores the caller's tuple rather than a copy), told to its kept
    live sums."""
    bucket: list[Any] = [-1, AgentTally()]
    t.buckets[bkey] = bucket
    closed = t.closed
    if closed is not None:
        start: int = bkey[2]
        if start == closed.current:
            closed.current_scopes[(bkey[0], bkey[1])] = None
        elif start > closed.current:
            closed.later[bkey] = None
        # Before `current` (or the totals, at 0): empty, it adds nothing; what is added to it
        # next is told (`add_closed`, `changed_interval`).
    return bucket


def add_closed(
    t: TenantAgents, kind: str, name: str, start: int, fields: tuple[str, ...], amount: int,
    tally: Tally,
) -> None:  # fmt: skip
    """`amount` was just added to each of `fields` of the bucket of scope (kind, name) at
    `start`, before the kept sums' current interval; `tally` is the bucket's tally after it.
    Add the same to the kept sums, unless it was not a plain addition to positive counts or
    their budget is spent (then they are dropped and read afresh)."""
    closed = t.closed
    if closed is None:
        return
    closed.budget -= 1
    if closed.budget < 0:
        t.closed = None
        return
    for field in fields:
        if tally.get(field) <= 0:
            t.closed = None
            return
    scope = (kind, name)
    summed = closed.today.get(scope)
    if summed is None:
        summed = closed.today[scope] = {}
    if start >= closed.day_start:
        for field in fields:
            summed[field] = summed.get(field, 0) + amount


def changed_interval(t: TenantAgents, start: int) -> None:
    """A bucket of the interval at `start` changed (0: the tenant's totals, which the live sums
    do not read): drop the kept live sums if they hold it."""
    closed = t.closed
    if closed is not None and start and start < closed.current:
        t.closed = None
