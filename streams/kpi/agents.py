"""Agent states: logged-in, available, on-contact, wrap-up and paused time, contacts handled,
occupancy and utilisation, per agent, per queue and for all agents; and who is in what state now.

An agent's figures are a pure function of its time-ordered events (agent_state.py). State
segments between two consecutive events are split exactly at interval boundaries; the open
segment after the last event counts up to the instant a snapshot is taken. An event arriving out
of order re-derives the segments after it (their old contribution is subtracted, the new one
added), so figures do not depend on arrival order. Definitions: docs/agent-kpis.md.

The engine's records, its restore and garbage collection are in agent_records.py.
"""

from __future__ import annotations

from typing import Any, Final

from ccpulse.schemas.events import AgentEvent
from ccpulse.streams.kpi.agent_records import AgentRecords
from ccpulse.streams.kpi.agent_state import (
    AGENT,
    ALL,
    OFFLINE,
    QUEUE,
    TIMED_STATES,
    AgentState,
    BucketKey,
    ByArrival,
    Item,
    ScopeFields,
    Tally,
    TenantAgents,
    Timeline,
    add_closed,
    changed_interval,
    event_order,
    fold,
    new_bucket,
    point_field,
    point_instant,
    point_items,
    point_scopes,
    segment_items,
    segment_scopes,
)
from ccpulse.streams.kpi.policy import Attribution, PolicyBook
from ccpulse.streams.kpi.windows import Calendar

#: Segment scopes kept for the agents' states (`AgentEngine._scopes`) at most.
MAX_CACHED_SCOPES: Final = 65_536

__all__ = [
    "AGENT",
    "ALL",
    "OFFLINE",
    "QUEUE",
    "TIMED_STATES",
    "AgentEngine",
    "AgentState",
    "BucketKey",
    "ByArrival",
    "Item",
    "Tally",
    "TenantAgents",
    "Timeline",
    "fold",
    "point_items",
    "segment_items",
]


class AgentEngine(AgentRecords):
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
        self._init_records()
        self._dirty: set[str] = set()
        self._arrival: dict[tuple[str, str], bool] = {}
        self._scope_cache: dict[tuple[Any, ...], Scopes] = {}
        #: At least the highest position any bucket holds: an event past it finds no bucket
        #: that already holds it, so its items need no replay guard.
        self._bucket_pos = -1

    def _tenant(self, tenant: str) -> TenantAgents:
        found = self.data.get(tenant)
        if found is None:
            policy = self.book.for_queue(tenant, "#agents")
            found = self.data[tenant] = TenantAgents(Calendar(policy.time_zone, policy.interval_ms))
        return found

    def tenants(self) -> list[str]:
        return sorted(self.data)

    def apply(self, event: AgentEvent, pos: int | None = None) -> str:
        tenant = event.tenant
        t = self.data.get(tenant) or self._tenant(tenant)
        if pos is not None and t.pos >= pos:
            return "replayed"
        agent = event.agent_id
        tl = t.timelines.get(agent)
        if pos is not None and tl is not None and tl.pos >= pos:
            self._advance(t, event, pos)
            return "replayed"
        ts = event.ts_ms
        if t.watermark_ms - ts > self.lateness_ms or (
            tl is not None and tl.base_ms is not None and ts <= tl.base_ms
        ):
            self._count(t, tenant, "too_late", pos)
            self._advance(t, event, pos)
            return "too_late"
        if tl is None:
            tl = t.timelines[agent] = Timeline()
        eid = event.event_id
        if eid in tl.ids:
            self._count(t, tenant, "duplicates", pos)
            self._advance(t, event, pos)
            return "duplicate"
        events = tl.events
        n = len(events)
        last = events[-1] if n else None
        if last is None or last.ts_ms < ts or (last.ts_ms == ts and last.event_id < eid):
            # The usual case: the agent's next event in time order. It closes the segment of
            # the state before it and adds its own counts; nothing is taken back.
            before = tl.current
            after = tl.current = fold(before, event)
            events.append(event)
            tl.ids.add(eid)
            prev_ms = events[n - 1].ts_ms if n else tl.base_ms
            if pos is None or pos > self._bucket_pos:
                self._add_appended(t, tenant, agent, before, prev_ms, event, after, pos)
            else:  # a replay: buckets may hold this event already
                new = [] if prev_ms is None else segment_items(agent, before, prev_ms, ts,
                                                               t.calendar)  # fmt: skip
                new += point_items(agent, event, after, self.by_arrival)
                self._apply_diff(t, tenant, [], new, pos)
        else:
            index = _insertion_index(events, event)
            # The events before it are folded once: the state its closed items start from.
            lo = max(index - 1, 0)
            start = tl.state_before(lo)
            old = tl.closed_items(agent, index, t.calendar, self.by_arrival, start)
            events.insert(index, event)
            tl.ids.add(eid)
            tl.refold(lo, start)
            new = tl.closed_items(agent, index, t.calendar, self.by_arrival, start)
            self._apply_diff(t, tenant, old, new, pos)
        if pos is not None:
            tl.pos = pos
        if self.changelog:
            self._write_event(t, tenant, event, -1 if pos is None else pos)
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
        if e.ts_ms > t.watermark_ms:
            t.watermark_ms = e.ts_ms
        if pos is not None and pos > t.pos:
            t.pos = pos
        if self.changelog:
            self._tenant_writes[e.tenant] = None
            self._dirty.add(e.tenant)

    def _count(self, t: TenantAgents, tenant: str, what: str, pos: int | None) -> None:
        self._apply_diff(t, tenant, [], [(ALL, "", 0, what, 1)], pos, total=True)

    def _add_appended(
        self, t: TenantAgents, tenant: str, agent: str, before: AgentState, prev_ms: int | None,
        e: AgentEvent, after: AgentState, pos: int | None,
    ) -> None:  # fmt: skip
        """Add the items of an event appended to its agent's timeline straight to their buckets:
        the segment of `before` it closes (from `prev_ms`) and its point items. Only when no
        bucket holds `pos` or later. Each bucket gets the additions `_apply_diff` would make of
        the same items, in the same order, and the buckets are met in the same order."""
        cal = t.calendar
        buckets = t.buckets
        writes = self._tenant_bucket_writes(tenant) if self.changelog else None
        end = e.ts_ms
        point = point_field(e, after)
        #: The scopes and buckets of the segment's last piece, which the point items mostly
        #: count in (a few scopes: looked through, no dict of them built).
        last_scopes: list[ScopeFields] = []
        last_held: list[list[Any]] = []
        last_interval = -1
        if prev_ms is not None and before.logged_in and prev_ms < end:
            scopes = self._scopes(agent, before)
            start = prev_ms
            while start < end:
                interval, stop = cal.interval_bounds(start)
                if stop > end:
                    stop = end
                closed = t.closed  # a closed interval's additions go to the kept sums too
                summed = closed is not None and interval < closed.current
                d = stop - start
                held_all = self._scope_buckets(t, scopes, interval, writes)
                for i, held in enumerate(held_all):
                    kind, name, fields = scopes.scopes[i]
                    tally: Tally = held[1]
                    for field in fields:
                        tally.add(field, d)
                    if summed:
                        add_closed(t, kind, name, interval, fields, d, tally)
                    if pos is not None:
                        held[0] = pos
                last_scopes, last_held, last_interval = scopes.scopes, held_all, interval
                start = stop
        if point is None:
            if pos is not None:
                self._bucket_pos = pos
            return
        interval = cal.interval_bounds(point_instant(e, point, self.by_arrival))[0]
        if interval != last_interval:
            last_held = []
        closed = t.closed
        summed = closed is not None and interval < closed.current
        for scope in point_scopes(agent, e, after):
            bucket: list[Any] | None = None
            for i, held in enumerate(last_held):
                if last_scopes[i][0] == scope[0] and last_scopes[i][1] == scope[1]:
                    bucket = held
                    break
            if bucket is None:  # not met by the segment: look it up, and write it
                bkey = (scope[0], scope[1], interval)
                bucket = buckets.get(bkey)
                if bucket is None:
                    bucket = new_bucket(t, bkey)
                if writes is not None:
                    writes[bkey] = None
            tally = bucket[1]
            tally.add(point, 1)
            if summed:
                add_closed(t, scope[0], scope[1], interval, (point,), 1, tally)
            if pos is not None:
                bucket[0] = pos
        if pos is not None:
            self._bucket_pos = pos

    def _scopes(self, agent: str, s: AgentState) -> Scopes:
        """`segment_scopes`, kept for the few states an agent goes through."""
        key = (agent, s.state, s.reason, s.contact_queue, s.queues)
        found = self._scope_cache.get(key)
        if found is None:
            if len(self._scope_cache) >= MAX_CACHED_SCOPES:
                self._scope_cache.clear()
            found = self._scope_cache[key] = Scopes(segment_scopes(agent, s))
        return found

    def _scope_buckets(
        self, t: TenantAgents, scopes: Scopes, interval: int, writes: dict[BucketKey, None] | None
    ) -> list[list[Any]]:
        """The buckets of `scopes` in an interval of tenant `t` (new ones made), as held by
        `scopes` since its last use when that was for the same tenant and interval; listed
        among the tenant's changed buckets (`writes`) once per drain."""
        if scopes.owner is not t or scopes.interval != interval:
            # Keys typed Any: compiled, a key stays one tuple object here (a typed key would
            # be rebuilt at each use).
            buckets: dict[Any, list[Any]] = t.buckets
            found: list[list[Any]] = []
            keys: list[Any] = []
            for kind, name, _ in scopes.scopes:
                bkey: Any = (kind, name, interval)
                bucket = buckets.get(bkey)
                if bucket is None:
                    bucket = new_bucket(t, bkey)
                found.append(bucket)
                keys.append(bkey)
            scopes.owner, scopes.interval = t, interval
            scopes.buckets, scopes.keys, scopes.mark = found, keys, -1
        if writes is not None and scopes.mark != self._writes_generation:
            scopes.mark = self._writes_generation
            changed: dict[Any, None] = writes
            for key in scopes.keys:
                changed[key] = None
        return scopes.buckets

    def _tenant_bucket_writes(self, tenant: str) -> dict[BucketKey, None]:
        found = self._bucket_writes.get(tenant)
        if found is None:
            found = self._bucket_writes[tenant] = {}
        return found

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
                bucket = new_bucket(t, bkey)
            elif pos is not None and bucket[0] >= pos:
                continue
            if t.closed is not None:
                changed_interval(t, bkey[2])
            tally: Tally = bucket[1]
            for field, amount in changes:
                tally.add(field, amount)
            if pos is not None:
                bucket[0] = pos
            if self.changelog:
                self._tenant_bucket_writes(tenant)[bkey] = None
        if pos is not None and pos > self._bucket_pos:
            self._bucket_pos = pos

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self, tenant: str, now_ms: int, history: bool = True) -> dict[str, Any]:
        """Every agent figure of a tenant as of `now_ms` (open segments count up to it)."""
        from ccpulse.streams.kpi.agent_views import tenant_snapshot

        return tenant_snapshot(self._tenant(tenant), tenant, now_ms, history)


class Scopes:
    """The scopes a state's segments count in (`segment_scopes`), with the buckets of the
    interval and tenant they last counted in: an agent's next event most often closes a
    segment in the same interval. Forgotten (with the engine's cache of them) whenever a
    tenant's buckets are dropped or read back (agent_records.py)."""

    __slots__ = ("buckets", "interval", "keys", "mark", "owner", "scopes")

    def __init__(self, scopes: list[ScopeFields]) -> None:
        self.scopes = scopes
        self.owner: TenantAgents | None = None
        self.interval = -1
        #: The buckets of each scope in `interval` of `owner`, and their keys (`BucketKey`s).
        self.buckets: list[list[Any]] = []
        self.keys: list[Any] = []
        #: The engine's `_writes_generation` in which `keys` were last listed as changed.
        self.mark = -1


def _insertion_index(events: list[AgentEvent], event: AgentEvent) -> int:
    lo, hi = 0, len(events)
    key = event_order(event)
    if not hi or event_order(events[-1]) < key:
        return hi  # the usual case: the agent's next event in time order
    while lo < hi:
        mid = (lo + hi) // 2
        if event_order(events[mid]) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo
