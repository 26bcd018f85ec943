"""Agent states: logged-in, available, on-contact, wrap-up and paused time, contacts handled,
occupancy and utilisation, per agent, per queue and for all agents; and who is in what state now.

An agent's figures are a pure function of its time-ordered events. State segments between two
consecutive events are split exactly at interval boundaries; the open segment after the last
event counts up to the instant a snapshot is taken. An event arriving out of order re-derives
the segments after it (their old contribution is subtracted, the new one added), so figures do
not depend on arrival order. Definitions: docs/agent-kpis.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccpulse.schemas.events import AGENT_LOGIN, AGENT_LOGOUT, AGENT_RING_NO_ANSWER, AgentEvent
from ccpulse.streams.kpi.family import RecordWrite
from ccpulse.streams.kpi.policy import Attribution, PolicyBook
from ccpulse.streams.kpi.windows import Calendar

ALL = "all"
#: Scope kinds of a tally: one agent, one queue, or every agent of the tenant.
AGENT, QUEUE = "agent", "queue"
Tally = dict[str, int]
#: (scope kind, scope name, interval start) -> tally.
BucketKey = tuple[str, str, int]
#: A contribution item: (scope kind, scope name, instant, field, amount).
Item = tuple[str, str, int, str, int]
TIMED_STATES = ("available", "on_contact", "wrap_up", "paused")


@dataclass(frozen=True, slots=True)
class AgentState:
    """What an agent is doing: derived by folding its events in time order."""

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


OFFLINE = AgentState()


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
    return AgentState(logged_in, queues, state, reason, cq, since, True)


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
            for q in member:
                if handling and s.contact_queue and q != s.contact_queue and f != "logged_in_ms":
                    continue  # handling time belongs to the contact's own queue
                items.append((QUEUE, q, t, f, d))
            if (
                handling
                and s.contact_queue
                and s.contact_queue not in member
            ):  # handling a queue's contact counts as logged in to it, so occupancy stays <= 1
                items.append((QUEUE, s.contact_queue, t, f, d))
        t = stop
    return items


#: Whether a queue attributes contacts by arrival: (tenant, queue) -> bool.
ByArrival = Callable[[str, str], bool]


def point_items(
    agent: str, e: AgentEvent, after: AgentState, by_arrival: ByArrival | None = None
) -> list[Item]:
    """Counts an event carries itself: a contact handled, a ring left unanswered. A contact
    handled in a queue that attributes by arrival counts at its entry: the `on_contact`'s
    instant minus its `wait_seconds`."""
    if e.type == AGENT_RING_NO_ANSWER:
        field = "ring_no_answer"
    elif e.state == "on_contact" and after.state == "on_contact":  # not by a logged-out agent
        field = "handled"
    else:
        return []
    queues = {e.queue} if e.queue else set(after.queues)
    at = e.ts_ms
    if field == "handled" and e.wait_ms and e.queue and by_arrival is not None:
        at -= e.wait_ms if by_arrival(e.tenant, e.queue) else 0
    return [(AGENT, agent, at, field, 1), (ALL, "", at, field, 1)] + [
        (QUEUE, q, at, field, 1) for q in sorted(queues)
    ]


class Timeline:
    """One agent's events since `base` (the state folded from events already dropped)."""

    __slots__ = ("base", "base_ms", "events", "ids", "pos", "states")

    def __init__(self) -> None:
        self.base = OFFLINE
        self.base_ms: int | None = None
        self.events: list[tuple[int, str, AgentEvent]] = []
        #: The ids of `events`, so that a duplicate is found without a scan of the timeline.
        self.ids: set[str] = set()
        self.states: list[AgentState] = []
        self.pos = -1

    def state_before(self, i: int) -> AgentState:
        return self.states[i - 1] if i > 0 else self.base

    def refold(self, start: int) -> None:
        del self.states[start:]
        s = self.state_before(start)
        for _, _, e in self.events[start:]:
            s = fold(s, e)
            self.states.append(s)

    def closed_items(
        self, agent: str, first: int, cal: Calendar, by_arrival: ByArrival | None = None
    ) -> list[Item]:
        """Items of the closed segments from event `first - 1` on, and point items from `first`."""
        items: list[Item] = []
        lo = max(first - 1, 0)
        if first == 0 and self.base_ms is not None and self.events:
            items += segment_items(agent, self.base, self.base_ms, self.events[0][0], cal)
        for i in range(lo, len(self.events) - 1):
            items += segment_items(
                agent, self.states[i], self.events[i][0], self.events[i + 1][0], cal
            )
        for i in range(first, len(self.events)):
            items += point_items(agent, self.events[i][2], self.states[i], by_arrival)
        return items

    @property
    def current(self) -> AgentState:
        return self.states[-1] if self.states else self.base

    @property
    def last_ms(self) -> int | None:
        return self.events[-1][0] if self.events else self.base_ms


class TenantAgents:
    """All agent state of one tenant."""

    __slots__ = (
        "buckets",
        "calendar",
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


class AgentEngine:
    """Agent figures for any number of tenants; one instance per input partition."""

    family = "agents"

    def __init__(self, book: PolicyBook | None = None, *, changelog: bool = True) -> None:
        self.book = book or PolicyBook()
        #: False in report mode (a batch report, never the streaming worker): the records to
        #: write and the tenants to publish are not tracked, since nothing reads them.
        self.changelog = changelog
        self.lateness_ms = self.book.engine.lateness_seconds * 1000
        self.retention_ms = self.book.engine.interval_retention_hours * 3_600_000
        self.data: dict[str, TenantAgents] = {}
        self._writes: dict[tuple[str, ...], None] = {}  # ordered set of dirty record keys
        self._dirty: set[str] = set()
        self._arrival: dict[tuple[str, str], bool] = {}

    def _tenant(self, tenant: str) -> TenantAgents:
        found = self.data.get(tenant)
        if found is None:
            policy = self.book.for_queue(tenant, "#agents")
            found = self.data[tenant] = TenantAgents(Calendar(policy.time_zone, policy.interval_ms))
        return found

    def tenants(self) -> list[str]:
        return sorted(self.data)

    def apply(self, event: AgentEvent, pos: int | None = None) -> str:
        t = self._tenant(event.tenant)
        if pos is not None and t.pos >= pos:
            return "replayed"
        tl = t.timelines.get(event.agent_id)
        if pos is not None and tl is not None and tl.pos >= pos:
            self._advance(t, event, pos)
            return "replayed"
        if t.watermark_ms - event.ts_ms > self.lateness_ms or (
            tl is not None and tl.base_ms is not None and event.ts_ms <= tl.base_ms
        ):
            self._count(t, event.tenant, "too_late", pos)
            self._advance(t, event, pos)
            return "too_late"
        if tl is None:
            tl = t.timelines[event.agent_id] = Timeline()
        entry = (event.ts_ms, event.event_id, event)
        if event.event_id in tl.ids:
            self._count(t, event.tenant, "duplicates", pos)
            self._advance(t, event, pos)
            return "duplicate"
        index = _insertion_index(tl.events, entry)
        old = tl.closed_items(event.agent_id, index, t.calendar, self.by_arrival)
        tl.events.insert(index, entry)
        tl.ids.add(event.event_id)
        tl.refold(index)
        new = tl.closed_items(event.agent_id, index, t.calendar, self.by_arrival)
        self._apply_diff(t, event.tenant, old, new, pos)
        if pos is not None:
            tl.pos = pos
        if self.changelog:
            self._writes[(event.tenant, "a", event.agent_id)] = None
        self._advance(t, event, pos)
        return "applied"

    def by_arrival(self, tenant: str, queue: str) -> bool:
        """Whether the queue attributes contacts by arrival (its agents' `handled` then counts
        at the contact's entry)."""
        found = self._arrival.get((tenant, queue))
        if found is None:
            policy = self.book.for_queue(tenant, queue)
            found = self._arrival[(tenant, queue)] = policy.attribution is Attribution.ARRIVAL
        return found

    def _advance(self, t: TenantAgents, e: AgentEvent, pos: int | None) -> None:
        t.watermark_ms = max(t.watermark_ms, e.ts_ms)
        if pos is not None and pos > t.pos:
            t.pos = pos
        if self.changelog:
            self._writes[(e.tenant, "q")] = None
            self._dirty.add(e.tenant)

    def _count(self, t: TenantAgents, tenant: str, what: str, pos: int | None) -> None:
        self._apply_diff(t, tenant, [], [(ALL, "", 0, what, 1)], pos, total=True)

    def _apply_diff(
        self, t: TenantAgents, tenant: str, old: list[Item], new: list[Item], pos: int | None,
        total: bool = False,
    ) -> None:  # fmt: skip
        ops: dict[BucketKey, list[tuple[str, int]]] = {}
        interval_start = t.calendar.interval_start
        last_at = start = -1
        for sign, items in ((-1, old), (1, new)):
            for kind, name, at, field, amount in items:
                if at != last_at:  # the items of one segment piece share their instant
                    last_at, start = at, 0 if total else interval_start(at)
                bkey = (kind, name, start)
                found = ops.get(bkey)
                if found is None:
                    ops[bkey] = [(field, sign * amount)]
                else:
                    found.append((field, sign * amount))
        for bkey, changes in ops.items():
            bucket = t.buckets.get(bkey)
            if bucket is None:
                bucket = t.buckets[bkey] = [-1, {}]
            elif pos is not None and bucket[0] >= pos:
                continue
            tally: Tally = bucket[1]
            for field, amount in changes:
                value = tally.get(field, 0) + amount
                if value:
                    tally[field] = value
                else:
                    tally.pop(field, None)
            if pos is not None:
                bucket[0] = pos
            if self.changelog:
                self._writes[(tenant, "b", bkey[0], bkey[1], str(bkey[2]))] = None

    # -- changelog -------------------------------------------------------------------------

    def drain_writes(self) -> list[RecordWrite]:
        """Buckets first, then timelines, then tenant metas (replay-safe order)."""
        keys = list(self._writes)
        self._writes.clear()
        rank = {"b": 0, "a": 1, "q": 2}
        keys.sort(key=lambda k: rank[k[1]])
        out: list[RecordWrite] = []
        for key in keys:
            t = self.data.get(key[0])
            out.append((key, None if t is None else self._record(t, key)))
        return out

    def _record(self, t: TenantAgents, key: tuple[str, ...]) -> list[Any] | None:
        if key[1] == "b":
            bucket = t.buckets.get((key[2], key[3], int(key[4])))
            return None if bucket is None else [bucket[0], dict(bucket[1])]
        if key[1] == "a":
            tl = t.timelines.get(key[2])
            if tl is None:
                return None
            return [tl.pos, tl.base_ms, tl.base.to_record(),
                    [_event_record(e) for _, _, e in tl.events]]  # fmt: skip
        return [t.pos, t.watermark_ms]

    def restore(self, key: tuple[str, ...], record: list[Any]) -> None:
        t = self._tenant(key[0])
        if key[1] == "b":
            t.buckets[(key[2], key[3], int(key[4]))] = [record[0], dict(record[1])]
        elif key[1] == "a":
            tl = t.timelines[key[2]] = Timeline()
            tl.pos, tl.base_ms, tl.base = record[0], record[1], AgentState.from_record(record[2])
            tl.events = [(r[2], r[0], AgentEvent(*r)) for r in record[3]]
            tl.ids = {eid for _, eid, _ in tl.events}
        else:
            t.pos, t.watermark_ms = record[0], record[1]

    def finish_restore(self) -> None:
        for t in self.data.values():
            for tl in t.timelines.values():
                tl.refold(0)
        self._writes.clear()
        self._dirty.update(self.data)

    def dirty_tenants(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def collect_garbage(self) -> None:
        """Fold events past lateness into each timeline's base; drop buckets past retention."""
        for tenant, t in self.data.items():
            horizon = t.watermark_ms - self.lateness_ms
            for agent, tl in t.timelines.items():
                old = sum(1 for ts, _, _ in tl.events if ts < horizon)
                if old:
                    tl.base, tl.base_ms = tl.states[old - 1], tl.events[old - 1][0]
                    tl.ids.difference_update(eid for _, eid, _ in tl.events[:old])
                    del tl.events[:old]
                    del tl.states[:old]
                    self._writes[(tenant, "a", agent)] = None
            floor = t.watermark_ms - max(self.retention_ms, self.lateness_ms)
            for bkey in [b for b in t.buckets if b[2] and b[2] < floor]:
                del t.buckets[bkey]
                self._writes[(tenant, "b", *map(str, bkey))] = None

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self, tenant: str, now_ms: int) -> dict[str, Any]:
        """Every agent figure of a tenant as of `now_ms` (open segments count up to it)."""
        from ccpulse.streams.kpi.agent_views import tenant_snapshot

        return tenant_snapshot(self._tenant(tenant), tenant, now_ms)


def _insertion_index(events: list[tuple[int, str, AgentEvent]], entry: tuple[int, str, Any]) -> int:
    lo, hi = 0, len(events)
    key = (entry[0], entry[1])
    if not hi or (events[-1][0], events[-1][1]) < key:
        return hi  # the usual case: the agent's next event in time order
    while lo < hi:
        mid = (lo + hi) // 2
        if (events[mid][0], events[mid][1]) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _event_record(e: AgentEvent) -> list[Any]:
    return [e.event_id, e.type, e.ts_ms, e.tenant, e.agent_id, e.queue, e.state, e.reason,
            e.contact_id, e.ring_ms, e.wait_ms]  # fmt: skip
