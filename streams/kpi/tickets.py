"""Ticket KPIs per tenant: volumes, first response and resolution times, one-touch resolution,
reopens, SLA breaches, backlog and tickets at risk; exactly once, whatever the event order.

Each ticket's contribution is a pure function of its events (tickets_hours.py). On every change
the engine subtracts the ticket's old contribution and adds the new one (as contact.py does for
queues) into interval buckets, which are changelog records guarded by `pos`. What depends on the
clock (open tickets, backlog ages, breaches of tickets still unanswered or unsolved) is read from
the open tickets at snapshot time. Definitions and worked examples: docs/ticket-kpis.md.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from ccpulse.schemas.events import TICKET_PRIORITIES, TICKETS_KEY, TicketEvent
from ccpulse.streams.kpi.business_hours import BusinessSchedule, make_clock
from ccpulse.streams.kpi.contact import Absorbed
from ccpulse.streams.kpi.engine import Verdict
from ccpulse.streams.kpi.family import RecordKey, RecordWrite
from ccpulse.streams.kpi.policy import PolicyBook
from ccpulse.streams.kpi.tickets_buckets import (
    BucketKey,
    TicketBucket,
    bucket_keys,
    difference,
    figures,
    figures_with_breakdowns,
    nearest_rank,
)
from ccpulse.streams.kpi.tickets_hours import (
    DEFAULT_TARGETS,
    DUPLICATES,
    FRT,
    FRT_BREACH,
    FRT_COUNT,
    FRT_SUM,
    RES_BREACH,
    RES_COUNT,
    RES_SUM,
    TOO_LATE,
    Derived,
    Item,
    SlaTarget,
    Ticket,
    TicketSettings,
    derive,
)
from ccpulse.streams.kpi.windows import Calendar

__all__ = [
    "DEFAULT_TARGETS",
    "BusinessSchedule",
    "SlaTarget",
    "Ticket",
    "TicketBucket",
    "TicketEngine",
    "TicketSettings",
    "derive",
    "figures",
    "nearest_rank",
]

# -- the engine ------------------------------------------------------------------------------


class TenantState:
    """All ticket state of one tenant."""

    def __init__(self, tenant: str, book: PolicyBook, settings: TicketSettings) -> None:
        self.tenant = tenant
        self.policy = book.for_queue(tenant, TICKETS_KEY)
        self.calendar = Calendar(self.policy.time_zone, self.policy.interval_ms)
        self.clock = make_clock(settings.schedule_for(tenant), self.policy.time_zone)
        self.tickets: dict[str, Ticket] = {}
        self.buckets: dict[BucketKey, TicketBucket] = {}
        self.total = TicketBucket()  # running totals since first seen; never dropped
        self.open: set[str] = set()  # derived: ids of tickets created and not solved
        self.watermark_ms = 0
        self.pos = -1


class TicketEngine:
    """Ticket KPIs of any number of tenants; one instance per input partition (FamilyEngine)."""

    family = "tickets"

    def __init__(
        self, book: PolicyBook | None = None, settings: TicketSettings | None = None
    ) -> None:
        self.book = book or PolicyBook()
        self.settings = settings or TicketSettings()
        self.lateness_ms = self.book.engine.lateness_seconds * 1000
        self.retention_ms = self.book.engine.interval_retention_hours * 3_600_000
        self.states: dict[str, TenantState] = {}
        self._writes: dict[RecordKey, int] = {}  # ticket and meta record key -> write order
        #: Buckets changed, (tenant, bucket key, None for the totals), written first.
        self._bucket_writes: dict[tuple[str, BucketKey | None], None] = {}
        self._dirty: set[str] = set()

    def state(self, tenant: str) -> TenantState:
        st = self.states.get(tenant)
        if st is None:
            st = self.states[tenant] = TenantState(tenant, self.book, self.settings)
        return st

    # -- applying events -----------------------------------------------------------------

    def apply(self, event: TicketEvent, pos: int | None = None) -> Verdict:
        """Apply one valid ticket event; `pos` (increasing per partition) makes replay safe."""
        st = self.state(event.tenant)
        if pos is not None and st.pos >= pos:
            return Verdict.REPLAYED
        ticket = st.tickets.get(event.ticket_id)
        if pos is not None and ticket is not None and ticket.pos >= pos:
            self._advance(st, event.ts_ms, pos)
            return Verdict.REPLAYED
        if st.watermark_ms - event.ts_ms > self.lateness_ms:
            self._apply_diff(st, [], [], pos, {TOO_LATE: 1})
            self._advance(st, event.ts_ms, pos)
            return Verdict.TOO_LATE
        if ticket is not None and self._expired(st, ticket):
            self._drop(st, event.ticket_id)  # as if garbage collection had run before
            ticket = None
        old = [] if ticket is None else self._items(st, ticket)
        ticket = ticket or Ticket()
        absorbed = ticket.absorb(event)
        if absorbed is Absorbed.DUPLICATE:
            self._apply_diff(st, [], [], pos, {DUPLICATES: 1})
            self._advance(st, event.ts_ms, pos)
            return Verdict.DUPLICATE
        st.tickets[event.ticket_id] = ticket
        extra = {DUPLICATES: 1} if absorbed is Absorbed.REPLACED else {}
        self._apply_diff(st, old, self._items(st, ticket), pos, extra)
        if pos is not None:
            ticket.pos = pos
        self._track(st, event.ticket_id, ticket)
        self._writes[(st.tenant, "ticket", event.ticket_id)] = 1
        self._advance(st, event.ts_ms, pos)
        return Verdict.APPLIED

    def apply_all(self, events: Iterable[TicketEvent]) -> dict[Verdict, int]:
        """Apply events without positions; returns how many got each verdict."""
        counts = dict.fromkeys(Verdict, 0)
        for event in events:
            counts[self.apply(event)] += 1
        return counts

    def _derived(self, st: TenantState, ticket: Ticket) -> Derived | None:
        return ticket.derived(st.clock, self.settings.targets)

    def _items(self, st: TenantState, ticket: Ticket) -> list[Item]:
        d = self._derived(st, ticket)
        return [] if d is None else d.items

    def _track(self, st: TenantState, ticket_id: str, ticket: Ticket) -> None:
        d = self._derived(st, ticket)
        if d is not None and d.open:
            st.open.add(ticket_id)
        else:
            st.open.discard(ticket_id)

    def _advance(self, st: TenantState, ts_ms: int, pos: int | None) -> None:
        st.watermark_ms = max(st.watermark_ms, ts_ms)
        if pos is not None:
            st.pos = max(st.pos, pos)
        self._writes[(st.tenant, "meta")] = 2
        self._dirty.add(st.tenant)

    def _floor(self, st: TenantState) -> int | None:
        """Intervals starting before this are past retention (None: all are kept)."""
        if not self.retention_ms:
            return None
        return st.watermark_ms - max(self.retention_ms, self.lateness_ms)

    def _apply_diff(
        self,
        st: TenantState,
        old: list[Item],
        new: list[Item],
        pos: int | None,
        extra: dict[int, int],
    ) -> None:
        """Move a ticket's contribution from `old` to `new` (multisets), and add `extra`
        input accounting to the running totals; each bucket skips a position it holds."""
        ops: dict[BucketKey | None, list[tuple[int, int, int]]] = {}
        total_ops = ops.setdefault(None, [(1, kind, n) for kind, n in extra.items()])
        interval_start = st.calendar.interval_start
        for sign, items in difference(old, new):
            for (at, kind, value, channel, group, priority), n in items:
                start = interval_start(at)
                op = (sign, kind, value)
                for _ in range(n):
                    total_ops.append(op)
                    for key in bucket_keys(start, channel, group, priority):
                        found = ops.get(key)
                        if found is None:
                            ops[key] = [op]
                        else:
                            found.append(op)
        floor = self._floor(st)
        for bkey, bucket_ops in ops.items():
            if not bucket_ops:
                continue
            bucket = st.total if bkey is None else st.buckets.get(bkey)
            if bucket is None:
                assert bkey is not None
                if all(s < 0 for s, _, _ in bucket_ops) or (floor is not None and bkey[0] < floor):
                    continue  # past retention: never brought back
                bucket = st.buckets[bkey] = TicketBucket()
            if pos is not None and bucket.pos >= pos:
                continue
            counts = bucket.counts
            for sign, kind, value in bucket_ops:
                if kind < FRT:
                    counts[kind] += sign * value
                elif bkey is None:  # totals keep counts and sums, not the values
                    c, t = (FRT_COUNT, FRT_SUM) if kind == FRT else (RES_COUNT, RES_SUM)
                    counts[c] += sign
                    counts[t] += sign * value
                else:
                    bucket.change(sign, kind, value)
            if pos is not None:
                bucket.pos = pos
            self._bucket_writes[(st.tenant, bkey)] = None

    def _expired(self, st: TenantState, ticket: Ticket) -> bool:
        """Solved or closed (or never created) with no event for lateness + retention."""
        if not self.retention_ms:
            return False
        d = self._derived(st, ticket)
        if d is not None and d.open:
            return False
        return st.watermark_ms - ticket.last_ts_ms > self.lateness_ms + self.retention_ms

    def _drop(self, st: TenantState, ticket_id: str) -> None:
        """Forget a ticket; its contribution stays in the buckets (nothing is subtracted)."""
        del st.tickets[ticket_id]
        st.open.discard(ticket_id)
        self._writes[(st.tenant, "ticket", ticket_id)] = 1
        self._dirty.add(st.tenant)

    # -- changelog -----------------------------------------------------------------------

    def drain_writes(self) -> list[RecordWrite]:
        """Changed records: buckets, then tickets, then tenant meta (a record found written
        implies every record before it was), each the current record or None if deleted."""
        writes, self._writes = self._writes, {}
        buckets, self._bucket_writes = self._bucket_writes, {}
        keys = sorted(_bucket_record_key(tenant, bkey) for tenant, bkey in buckets)
        keys += sorted(key for key, order in writes.items() if order == 1)
        keys += sorted(key for key, order in writes.items() if order == 2)
        return [(key, self._record(key)) for key in keys]

    def _record(self, key: RecordKey) -> list[Any] | None:
        st = self.states[key[0]]
        kind = key[1]
        if kind == "meta":
            return [st.pos, st.watermark_ms]
        if kind == "total":
            return st.total.to_record()
        if kind == "ticket":
            ticket = st.tickets.get(key[2])
            return None if ticket is None else ticket.to_record()
        bucket = st.buckets.get((int(key[2]), key[3], key[4]))
        return None if bucket is None else bucket.to_record()

    def restore(self, key: RecordKey, record: list[Any]) -> None:
        """Load one record read back from the changelog (any order)."""
        st = self.state(key[0])
        kind = key[1]
        if kind == "meta":
            st.pos, st.watermark_ms = record[0], record[1]
        elif kind == "total":
            st.total = TicketBucket.from_record(record)
        elif kind == "ticket":
            st.tickets[key[2]] = Ticket.from_record(record)
        else:
            st.buckets[(int(key[2]), key[3], key[4])] = TicketBucket.from_record(record)

    def finish_restore(self) -> None:
        """Rebuild the open-ticket index (the only derived state) from the tickets."""
        for st in self.states.values():
            st.open.clear()
            for ticket_id, ticket in st.tickets.items():
                self._track(st, ticket_id, ticket)
            self._dirty.add(st.tenant)

    def dirty_tenants(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def tenants(self) -> list[str]:
        return sorted(self.states)

    def collect_garbage(self) -> None:
        """Drop expired tickets (their contribution stays in the buckets) and interval buckets
        past retention; driven by event time, so no retained figure changes."""
        for st in self.states.values():
            for ticket_id in [t for t, x in st.tickets.items() if self._expired(st, x)]:
                self._drop(st, ticket_id)
            floor = self._floor(st)
            for key in [k for k in st.buckets if floor is not None and k[0] < floor]:
                del st.buckets[key]
                self._bucket_writes[(st.tenant, key)] = None

    # -- reading -------------------------------------------------------------------------

    def snapshot(self, tenant: str, now_ms: int, history: bool = True) -> dict[str, Any]:
        """Every ticket figure of one tenant as of `now_ms`, JSON-ready; `intervals` only with
        `history`."""
        st = self.states.get(tenant) or TenantState(tenant, self.book, self.settings)
        cal = st.calendar
        floor = self._floor(st)
        parts: dict[int, dict[tuple[str, str], TicketBucket]] = {}
        for (start, dim, value), bucket in st.buckets.items():
            if start <= now_ms and (floor is None or start >= floor):
                merged = parts.setdefault(start, {}).setdefault((dim, value), TicketBucket())
                merged.add(bucket)
        live = self._now(st, now_ms, parts, floor)
        parts = {s: p for s, p in parts.items() if any(any(b.counts) for b in p.values())}
        day_start, _ = cal.day_bounds(now_ms)
        today: dict[tuple[str, str], TicketBucket] = {}
        for start, p in parts.items():
            if start >= day_start:
                for dim_value, bucket in p.items():
                    today.setdefault(dim_value, TicketBucket()).add(bucket)
        current = cal.interval_start(now_ms)

        def entry(start: int) -> dict[str, Any]:
            return {
                "start": cal.label(start),
                "end": cal.label(cal.interval_end(start)),
                "figures": figures_with_breakdowns(parts.get(start, {})),
            }

        total = st.total.counts
        return {
            "tenant": tenant,
            "as_of": cal.label(now_ms),
            "as_of_ms": now_ms,
            "time_zone": st.policy.time_zone,
            "interval_minutes": st.policy.interval_minutes,
            "clock": "business" if st.clock.business else "elapsed",
            "now": live,
            "current_interval": entry(current),
            "today": {"start": cal.label(day_start), "figures": figures_with_breakdowns(today)},
            **({"intervals": [entry(s) for s in sorted(parts)]} if history else {}),
            "pipeline": {
                "too_late": total[TOO_LATE],
                "duplicates": total[DUPLICATES],
                "awaiting_creation": sum(
                    1 for t in st.tickets.values() if self._derived(st, t) is None
                ),
                "watermark": cal.label(st.watermark_ms) if st.watermark_ms else None,
            },
        }

    def _now(
        self,
        st: TenantState,
        now_ms: int,
        parts: dict[int, dict[tuple[str, str], TicketBucket]],
        floor: int | None,
    ) -> dict[str, Any]:
        """Open tickets, backlog ages and targets at risk or overdue at `now_ms`; breaches of
        open tickets whose instant has come are added to `parts` (their intervals)."""
        labels = self.settings.backlog_labels()
        bounds = [s * 1000 for s in self.settings.backlog_bounds_seconds]
        horizon = now_ms + self.settings.at_risk_seconds * 1000
        by_group: dict[str, int] = {}
        by_priority: dict[str, int] = {}
        backlog: dict[str, list[int]] = {}
        at_risk = {FRT_BREACH: 0, RES_BREACH: 0}
        overdue = {FRT_BREACH: 0, RES_BREACH: 0}
        oldest: int | None = None
        for ticket_id in st.open:
            d = self._derived(st, st.tickets[ticket_id])
            if d is None or d.created_ms > now_ms:
                continue
            by_group[d.group] = by_group.get(d.group, 0) + 1
            by_priority[d.priority] = by_priority.get(d.priority, 0) + 1
            slot = bisect_right(bounds, now_ms - d.created_ms)
            for name in ("", d.group):
                backlog.setdefault(name, [0] * len(labels))[slot] += 1
            oldest = d.created_ms if oldest is None else min(oldest, d.created_ms)
            for at, kind, channel, group, priority in d.pending:
                if at > now_ms:
                    at_risk[kind] += at <= horizon
                    continue
                overdue[kind] += 1
                start = st.calendar.interval_start(at)
                if floor is not None and start < floor:
                    continue
                p = parts.setdefault(start, {})
                for _, dim, value in bucket_keys(start, channel, group, priority):
                    p.setdefault((dim, value), TicketBucket()).counts[kind] += 1
        return {
            "open": sum(by_group.values()),
            "open_by_group": dict(sorted(by_group.items())),
            "open_by_priority": {p: by_priority[p] for p in TICKET_PRIORITIES if p in by_priority},
            "backlog_by_age": {
                "all": dict(zip(labels, backlog.get("", [0] * len(labels)), strict=True)),
                "by_group": {
                    g: dict(zip(labels, n, strict=True)) for g, n in sorted(backlog.items()) if g
                },
            },
            "at_risk_window_seconds": self.settings.at_risk_seconds,
            "at_risk": {"first_response": at_risk[FRT_BREACH], "resolution": at_risk[RES_BREACH]},
            "overdue": {"first_response": overdue[FRT_BREACH], "resolution": overdue[RES_BREACH]},
            "oldest_open_age_seconds": None if oldest is None else (now_ms - oldest) / 1000,
        }


def _bucket_record_key(tenant: str, key: BucketKey | None) -> RecordKey:
    if key is None:
        return (tenant, "total")
    return (tenant, "interval", str(key[0]), key[1], key[2])
