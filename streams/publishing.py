"""The pipeline's output side: what the engines changed goes out as state-table writes (the
changelog) and as queue snapshots, interval figures and family figures for the sinks, taken a
bounded amount per flush; and the partition bookkeeping that decides what is published (restore
from the state table, suspend while a rebalance settles, drop a partition given up).

`Pipeline` (pipeline.py, the message side) inherits these methods; kept free of Faust like it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

import orjson

from ccpulse.streams.kpi import Engine, PolicyBook, counters, figures, queue_snapshot, statekeys
from ccpulse.streams.kpi.engine import QueueKey
from ccpulse.streams.kpi.families import new_family_engines
from ccpulse.streams.kpi.family import FamilyEngine
from ccpulse.streams.kpi.snapshot import ALL_CHANNELS
from ccpulse.streams.kpi.state import QueueState
from ccpulse.streams.kpi.state_writes import TableWrite, drain_writes, record_bytes
from ccpulse.streams.limits import Admission

#: Interval hashes written to Redis per flush at most (see `Publishing.interval_records`).
MAX_INTERVALS_PER_FLUSH = 4000
#: The same while the worker catches up on a backlog (`Publishing.catching_up`): its flushes
#: spend their share of the time on the live queue figures first. Intervals that ended during
#: the backlog then go out at the full rate once it is caught up; this many per flush keep the
#: history moving in a worker that stays behind.
CATCH_UP_INTERVALS_PER_FLUSH = 500
#: Queue snapshots taken per flush at most: a flush of every queue of a big worker (after a
#: rebalance, or Redis came back empty) would be one enormous transaction that may never finish
#: in time. The rest stay pending and go out in the next flushes, in turn.
MAX_QUEUES_PER_FLUSH = 2000

#: An interval of a queue held for an input partition: (partition, queue, start, epoch ms).
IntervalKey = tuple[int, QueueKey, int]


class Publishing:
    """Tracks what changed since the sinks last looked, and takes it from the engines."""

    # Held by the pipeline: the policies, the admission limits and the engines per partition.
    book: PolicyBook
    admission: Admission
    engines: dict[int, Engine]
    families: dict[int, dict[str, FamilyEngine]]

    def __init__(self) -> None:
        #: Queues whose figures changed since the sinks last looked.
        self.dirty: set[tuple[int, QueueKey]] = set()
        self._published_minute = -1
        #: (minute, assignment generation) of the last family snapshots taken in full.
        self._families_published = (-1, -1)
        #: The last queue taken by a flush that could not take them all.
        self._snapshot_cursor: tuple[int, QueueKey] = (-1, ("", ""))
        #: Per queue, the interval (wall clock) its snapshot was last taken in.
        self._published_interval: dict[QueueKey, int] = {}
        #: Queues whose last snapshot had contacts waiting (within max_wait of its clock).
        self._shown_waiting: set[QueueKey] = set()
        #: Intervals whose figures changed since the sinks last took them, in the order they
        #: first changed (a dict used as an ordered set).
        self.dirty_intervals: dict[IntervalKey, None] = {}
        #: Raised whenever a partition is restored or dropped: sinks that write only changes
        #: must write everything again, since another worker may have written meanwhile.
        self.assignment_generation = 0
        #: Partitions revoked in a rebalance and not (yet) given back: not published, since
        #: their new owner may already be writing the same Redis hashes.
        self.suspended: set[int] = set()
        #: Tombstones for minute records found on restore, written with the next writes.
        self._stale_minutes: list[TableWrite] = []
        #: The wall clock the worker last read (`Pipeline.read_clock`); None in batch use.
        self.clock_ms: int | None = None
        #: Whether the worker is catching up on a backlog, as its flush pacer last found
        #: (streams/app.py `FlushPacer`): fewer interval hashes per flush meanwhile.
        self.catching_up = False

    # -- partitions --------------------------------------------------------------------------

    def restore(self, partition: int, items: Iterable[tuple[bytes, bytes]]) -> Engine:
        """Rebuild a partition's engines from the (recovered) state table's records."""
        self.assignment_generation += 1
        engine = self.engines[partition] = Engine(self.book)
        if self.clock_ms is not None:
            engine.read_clock(self.clock_ms)
        families = self.families[partition] = new_family_engines(self.book)
        metas, contacts = [], []
        rebuilt = engine.minutes_from_contacts
        for key, value in items:
            part, kind, rest = statekeys.parse(key)
            if part != partition or value is None or kind == "fence":
                continue
            if kind == "b" and rebuilt and rest[2] == "m":
                # Written by a version that kept minutes in the changelog: rebuilt below, and
                # deleted with the next writes so that no later restore reads them again.
                self._stale_minutes.append((partition, key, None))
                continue
            record = orjson.loads(value)
            if kind == "b":
                tenant, queue, gran, channel, start = rest
                engine.restore_bucket(tenant, queue, (gran, channel, int(start)), record)
            elif kind == "c":
                contacts.append((rest, record))
            elif kind == "f":
                families[rest[0]].restore(tuple(rest[1:]), record)
            else:
                metas.append((rest, record))
        for (tenant, queue, contact_id), record in contacts:
            engine.restore_contact(tenant, queue, contact_id, record)
        for (tenant, queue), record in metas:
            engine.restore_meta(tenant, queue, record)
        if rebuilt:
            engine.rebuild_minutes()  # from the contacts, by the watermarks and the clock
        engine.drain_changes()
        # As the live engine keeps them: the settled ones and the idle ones (the watermarks are
        # known now) frozen.
        engine.freeze_settled()
        engine.freeze_idle()
        for family in families.values():
            family.finish_restore()
        # Every queue and every interval it holds goes out again: changes written to the state
        # table before a crash (or before the partition moved) may never have reached Redis.
        self._republish(partition, engine, None)
        self.recount()
        return engine

    def suspend(self, partitions: Iterable[int]) -> None:
        """Stop publishing these partitions until `resume()` (a rebalance revoked them)."""
        self.suspended.update(partitions)
        self.assignment_generation += 1

    def resume(self) -> None:
        """Publish every partition held again (after a rebalance settled)."""
        self.suspended.clear()

    def drop(self, partition: int) -> list[QueueKey]:
        """Forget a partition given up in a rebalance; returns its queues."""
        self.assignment_generation += 1
        engine = self.engines.pop(partition, None)
        self.families.pop(partition, None)
        self.dirty = {d for d in self.dirty if d[0] != partition}
        self.dirty_intervals = {d: None for d in self.dirty_intervals if d[0] != partition}
        self._stale_minutes = [w for w in self._stale_minutes if w[0] != partition]
        self._published_interval.clear()
        self.recount()
        return list(engine.queues) if engine else []

    def recount(self) -> None:
        """Track exactly the names the engines hold (after a restore, drop or GC)."""
        queues = [qkey for engine in self.engines.values() for qkey in engine.queues]
        agents: list[tuple[str, str]] = []
        tenants: list[str] = []
        for families in self.families.values():
            for name, family in families.items():
                tenants.extend(family.tenants())
                data = getattr(family, "data", None) if name == "agents" else None
                for tenant, held in (data or {}).items():
                    agents.extend((tenant, agent) for agent in held.timelines)
        self.admission.reset(queues, agents, tenants)

    # -- the state table ---------------------------------------------------------------------

    def table_writes(self) -> list[TableWrite]:
        """Drain engine changes as state-table writes, buckets before contacts before metas.

        That order is what makes replay exact (see docs/exactly-once.md).
        """
        writes, self._stale_minutes = self._stale_minutes, []
        for partition, engine in self.engines.items():
            drain_writes(engine, partition, writes, self.dirty_intervals, self.dirty)
        sep = statekeys.SEP
        for partition, families in self.families.items():
            for name, family in families.items():
                prefix = statekeys.family_prefix(partition, name)  # + the record key's parts
                for record_key, record in family.drain_writes():
                    key = (prefix + sep.join(record_key)).encode()
                    writes.append(
                        (partition, key, None if record is None else record_bytes(record))
                    )
        return writes

    # -- the sinks ---------------------------------------------------------------------------

    def family_snapshots(self, now_ms: int) -> list[tuple[str, dict[str, Any]]]:
        """Figures of the other families' tenants that changed since the last call; once a
        minute (and after a rebalance) every tenant's, since agent state times tick with the
        clock. Flush cost follows what changed, not what is known."""
        minute = now_ms // 60_000
        everything = (minute, self.assignment_generation) != self._families_published
        self._families_published = (minute, self.assignment_generation)
        out = []
        for partition, families in self.families.items():
            if partition in self.suspended:
                continue
            for name, family in families.items():
                dirty = family.dirty_tenants()
                for tenant in family.tenants() if everything else sorted(dirty):
                    out.append((name, family.snapshot(tenant, now_ms, history=False)))
        return out

    def mark_dirty(self, tenant: str, queue: str, interval_start_ms: int | None = None) -> None:
        """Have the sinks publish a queue (or one of its intervals) again."""
        for partition, engine in self.engines.items():
            if (tenant, queue) in engine.queues:
                self.dirty.add((partition, (tenant, queue)))
                if interval_start_ms is not None:
                    self.dirty_intervals[(partition, (tenant, queue), interval_start_ms)] = None

    def republish_all(self, now_ms: int) -> None:
        """Have the sinks write every queue, and every interval within retention, again (Redis
        came back empty: its history is only in the engines now)."""
        floor = now_ms - self.book.engine.interval_retention_hours * 3_600_000
        self._families_published = (-1, -1)
        for partition, engine in self.engines.items():
            self._republish(partition, engine, floor)

    def _republish(self, partition: int, engine: Engine, floor: int | None) -> None:
        """Mark a partition's queues, and their intervals from `floor` on (None: all held),
        for the sinks to write again."""
        for qkey, qs in engine.queues.items():
            self.dirty.add((partition, qkey))
            starts = {s for (g, _, s) in qs.buckets if g == "i" and (floor is None or s >= floor)}
            for start in sorted(starts):
                self.dirty_intervals.setdefault((partition, qkey, start), None)

    def interval_records(
        self, limit: int | None = None, open_intervals: bool = True
    ) -> list[dict[str, Any]]:
        """Figures of intervals that changed since they were last taken, per channel and all.

        At most `limit`, those that changed first: after a worker catches up on a day, every
        interval of every queue has changed, and publishing all of them in one flush would build
        one enormous Redis transaction. The rest stay pending, in order, for the next flushes,
        so every changed interval goes out within (pending / limit) flushes. The default limit
        is `MAX_INTERVALS_PER_FLUSH`, or `CATCH_UP_INTERVALS_PER_FLUSH` while catching up.

        With `open_intervals` False, intervals still open (the queue's latest event lies before
        their end) stay pending: they change with nearly every event, their figures are in the
        queue snapshot's current interval anyway, and the sinks refresh them less often.
        """
        if limit is None:
            limit = CATCH_UP_INTERVALS_PER_FLUSH if self.catching_up else MAX_INTERVALS_PER_FLUSH
        pending = self.dirty_intervals
        suspended = self.suspended
        taken: list[IntervalKey]
        if len(pending) > limit or suspended or not open_intervals:
            taken = []
            for item in pending:
                if len(taken) >= limit:
                    break
                if item[0] in suspended or (not open_intervals and self._is_open(item)):
                    continue
                taken.append(item)
            for item in taken:
                del pending[item]
        else:
            taken = list(pending)
            pending.clear()
        out = []
        for partition, qkey, start in sorted(taken):
            engine = self.engines.get(partition)
            qs = engine.queues.get(qkey) if engine else None
            if qs is None:
                continue
            buckets = qs.buckets
            tallies = {
                ch: b.tally for ch in qs.totals if (b := buckets.get(("i", ch, start))) is not None
            }
            if not tallies:
                continue
            channels = {ch: figures(t, qs.policy_for(ch)) for ch, t in sorted(tallies.items())}
            only = next(iter(tallies)) if len(tallies) == 1 else None
            if only is not None and qs.policy == qs.policy_for(only):  # as in queue_snapshot
                channels[ALL_CHANNELS] = channels[only]  # one channel: its figures, shared
            else:
                channels[ALL_CHANNELS] = figures(counters.summed(list(tallies.values())), qs.policy)
            cal = qs.calendar
            out.append({
                "tenant": qkey[0], "queue": qkey[1], "start_ms": start,
                "start": cal.label(start), "end": cal.label(cal.interval_end(start)),
                "channels": channels,
                "tallies": {ch: list(t) for ch, t in sorted(tallies.items())},
            })  # fmt: skip
        return out

    def _is_open(self, item: IntervalKey) -> bool:
        """Whether an interval has not ended yet in its queue's event time."""
        partition, qkey, start = item
        engine = self.engines.get(partition)
        qs = engine.queues.get(qkey) if engine else None
        return qs is not None and qs.calendar.interval_end(start) > qs.watermark_ms

    def snapshots(
        self, now_ms: int, everything: bool = False, limit: int = MAX_QUEUES_PER_FLUSH
    ) -> list[dict[str, Any]]:
        """Snapshots of queues that changed, have contacts waiting (live figures tick), or whose
        rolling windows or current interval moved on since they were last taken.

        Once a minute the rolling windows slide: queues with events within the longest window
        are taken again. A quiet queue is taken again when the wall-clock interval (or day)
        rolls over, so its current-interval fields and `as_of` never lag by more than an
        interval, and the flush costs what changed, not what is known.
        """
        settings = self.book.engine
        max_wait_ms = settings.max_wait_seconds * 1000
        minute = now_ms // 60_000
        sliding = minute != self._published_minute
        if sliding:
            self._published_minute = minute
        horizon = now_ms - (max(settings.rolling_minutes, default=0) + 1) * 60_000
        waits_from = now_ms - max_wait_ms  # an older entry is past max_wait: no longer waiting
        published = self._published_interval
        shown_waiting = self._shown_waiting
        wanted = {d for d in self.dirty if d[0] not in self.suspended}
        for partition, engine in self.engines.items():
            if partition in self.suspended:
                continue
            for qkey, qs in engine.queues.items():
                if (
                    everything
                    or (qs.waiting and (qkey in shown_waiting or _waits(qs, waits_from)))
                ) or (
                    sliding
                    and (
                        qs.watermark_ms >= horizon
                        or published.get(qkey) != qs.calendar.interval_start(now_ms)
                    )
                ):
                    wanted.add((partition, qkey))
        self.dirty -= wanted
        taken = sorted(wanted)
        if len(taken) > limit:  # in turn, from after the last one taken: none waits for ever
            first = bisect.bisect_right(taken, self._snapshot_cursor)
            taken = (taken[first:] + taken[:first])[:limit]
            self.dirty |= wanted.difference(taken)
            self._snapshot_cursor = taken[-1]
        out = []
        for partition, qkey in taken:
            held = self.engines.get(partition)
            if held is None or qkey not in held.queues:
                continue
            qs = held.queues[qkey]
            published[qkey] = qs.calendar.interval_start(now_ms)
            # Live figures tick while someone waits, and once more when the last wait ends. A
            # contact whose outcome was lost waits no longer once past max_wait, even in a
            # queue too quiet for its watermark (and so the garbage collection) to move on.
            if qs.waiting and _waits(qs, waits_from):
                shown_waiting.add(qkey)
            else:
                shown_waiting.discard(qkey)
            out.append(
                queue_snapshot(qs, now_ms, settings.rolling_minutes, max_wait_ms, history=False)
            )
        return out


def _waits(qs: QueueState, since_ms: int) -> bool:
    """Whether a contact entered the queue at or after `since_ms` and still waits."""
    return any(entry >= since_ms for entry, _ in qs.waiting.values())
