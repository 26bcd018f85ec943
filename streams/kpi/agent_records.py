"""The agent engine's records: what it lists for the changelog, how it is rebuilt from them, and
the garbage collection that folds old events into each timeline's base. Part of `AgentEngine`
(agents.py), kept apart from the per-event path.

Records (docs/agent-kpis.md#exactly-once), listed by `drain_writes` in this order:

* `(tenant, "b", kind, name, start_ms)`: `[pos, tally]`, one interval of one scope;
* `(tenant, "e", agent, event_id, pos)`: `[[pos, event], ...]`, events applied to the tenant's
  timelines since the previous drain (at most `MAX_BATCH_EVENTS`), each with its position,
  keyed by the first and its position (an id a producer reuses once garbage collection forgot
  it starts a record of its own); written once (events never change), after the tallies they
  changed, so a record found means its events are applied;
* `(tenant, "a", agent)`: `[pos, base_ms, base_state]`, the state folded from events already
  dropped, written when garbage collection moves it (an agent without one has dropped none);
* `(tenant, "q")`: `[pos, watermark_ms]`;
* deletions of the event records whose every event garbage collection folded into a base.

A timeline's position is the highest of its record's and its events'; events at or before its
base are left out. Timeline records written before events had records of their own hold the
events as a fourth element; they are read as they are, and each such timeline is written again
in this form.
"""

from __future__ import annotations

from typing import Any

from ccpulse.schemas.events import AgentEvent
from ccpulse.streams.kpi.agent_state import (
    AgentState,
    BucketKey,
    TenantAgents,
    Timeline,
    event_order,
)
from ccpulse.streams.kpi.agent_tally import AgentTally
from ccpulse.streams.kpi.family import RecordWrite

#: Events in one event record at most (about 200 bytes each): a drain after a burst of events
#: writes several, none near the broker's message size limit. Not `Final`, so that it is read
#: when a record fills, in the compiled build too: the replay tests cut records shorter.
MAX_BATCH_EVENTS = 1000
#: (tenant, agent, event id, position) of the first event of an event record.
BatchKey = tuple[str, str, str, str]


class AgentRecords:
    """Changelog records and garbage collection; mixed into `AgentEngine`."""

    data: dict[str, TenantAgents]
    changelog: bool
    lateness_ms: int
    retention_ms: int
    _bucket_pos: int
    _dirty: set[str]
    #: The agent engine's segment scopes, with buckets they hold (agents.py `Scopes`).
    _scope_cache: dict[tuple[Any, ...], Any]

    def _tenant(self, tenant: str) -> TenantAgents:
        raise NotImplementedError

    def _init_records(self) -> None:
        #: Counts the drains of the records to write (`_clear_writes`).
        self._writes_generation = 0
        self._clear_writes()
        #: Event records read back by `restore`, until `finish_restore`.
        self._restored: list[tuple[BatchKey, list[list[Any]]]] = []
        #: Timelines restored from records that held their events.
        self._legacy: list[tuple[str, str]] = []

    def _clear_writes(self) -> None:
        """Records to write, each kind in order, listed in this order by drain_writes."""
        self._writes_generation += 1
        #: Per tenant, the buckets changed.
        self._bucket_writes: dict[str, dict[BucketKey, None]] = {}
        #: Event records: their events in the order they were applied, each as its position
        #: then the event, in one flat list (no pair to build and hold per event until the drain).
        self._event_writes: dict[BatchKey, list[Any]] = {}
        #: Per tenant, the event record still taking events: its key, its events (in
        #: `_event_writes`) and the latest instant of its events (in `TenantAgents.batches`).
        self._open_batches: dict[str, tuple[BatchKey, list[Any], list[int]]]
        self._open_batches = {}
        self._agent_writes: dict[tuple[str, str], None] = {}
        self._tenant_writes: dict[str, None] = {}
        self._event_deletes: dict[BatchKey, None] = {}

    def _write_event(self, t: TenantAgents, tenant: str, e: AgentEvent, pos: int) -> None:
        """Add an event applied to a timeline of tenant `t` to the events to write."""
        batch = self._open_batches.get(tenant)
        if batch is None:
            key = (tenant, e.agent_id, e.event_id, str(pos))
            batch = self._open_batches[tenant] = (key, [], [e.ts_ms])
            self._event_writes[key] = batch[1]
            t.batches[key[1:]] = batch[2]
        elif e.ts_ms > batch[2][0]:
            batch[2][0] = e.ts_ms
        events = batch[1]
        events.append(pos)
        events.append(e)
        if len(events) >= 2 * MAX_BATCH_EVENTS:
            del self._open_batches[tenant]

    def drain_writes(self) -> list[RecordWrite]:
        """Buckets, then new events, then timelines, then tenant metas, then the events folded
        into their timelines' base (replay-safe order, docs/agent-kpis.md#exactly-once)."""
        out: list[RecordWrite] = []
        for tenant, bkeys in self._bucket_writes.items():
            buckets = self.data[tenant].buckets
            for bkey in bkeys:
                bucket = buckets.get(bkey)
                record = None if bucket is None else [bucket[0], bucket[1].as_dict()]
                out.append(((tenant, "b", bkey[0], bkey[1], str(bkey[2])), record))
        for (tenant, agent, first, at), events in self._event_writes.items():
            # The event is its own record: the state writes encode the named tuple as the
            # JSON array of its fields, which `AgentEvent(*record)` reads back.
            batch = [[events[i], events[i + 1]] for i in range(0, len(events), 2)]
            out.append(((tenant, "e", agent, first, at), batch))
        for tenant, agent in self._agent_writes:
            tl = self.data[tenant].timelines.get(agent)
            timeline = None if tl is None else [tl.pos, tl.base_ms, tl.base.to_record()]
            out.append(((tenant, "a", agent), timeline))
        for tenant in self._tenant_writes:
            t = self.data[tenant]
            out.append(((tenant, "q"), [t.pos, t.watermark_ms]))
        for tenant, agent, first, at in self._event_deletes:
            out.append(((tenant, "e", agent, first, at), None))
        self._clear_writes()
        return out

    def restore(self, key: tuple[str, ...], record: list[Any]) -> None:
        kind = key[1]
        if kind == "e":  # into the timelines once every record is read (see finish_restore)
            self._restored.append(((key[0], key[2], key[3], key[4]), record))
            return
        t = self._tenant(key[0])
        if kind == "b":
            t.buckets[(key[2], key[3], int(key[4]))] = [record[0], AgentTally.of(record[1])]
            self._scope_cache.clear()  # it may hold the bucket this one replaces
            t.closed = None
            self._bucket_pos = max(self._bucket_pos, record[0])
        elif kind == "a":
            tl = t.timelines[key[2]] = Timeline()
            tl.pos, tl.base_ms, tl.base = record[0], record[1], AgentState.from_record(record[2])
            if len(record) > 3:  # written before events had records of their own
                tl.events = [AgentEvent(*r) for r in record[3]]
                tl.ids = {e.event_id for e in tl.events}
                self._legacy.append((key[0], key[2]))
        else:
            t.pos, t.watermark_ms = record[0], record[1]

    def finish_restore(self) -> None:
        """Put the events read back into their timelines and fold them.

        Events at or before their timeline's base were folded into it; a record of nothing
        else was left by a garbage collection whose deletions were cut short, and is deleted
        now. A timeline whose record held its events gets its events written as event records,
        and is written again without them."""
        self._clear_writes()
        restored, self._restored = self._restored, []
        #: Events that event records hold already (only when there are timelines to migrate):
        #: a migration cut short wrote some, maybe with events applied after it (so one
        #: written again under its first event's key would replace a record holding more).
        recorded: set[tuple[str, str, str]] | None = set() if self._legacy else None
        for key, batch in restored:
            t = self._tenant(key[0])
            kept = False
            if recorded is not None:
                recorded.update((key[0], r[4], r[0]) for _, r in batch)
            for pos, r in batch:
                tl = t.timelines.get(r[4])
                if tl is None:
                    tl = t.timelines[r[4]] = Timeline()
                tl.pos = max(tl.pos, pos)
                if tl.base_ms is None or r[2] > tl.base_ms:
                    kept = True
                    if r[0] not in tl.ids:
                        tl.ids.add(r[0])
                        tl.events.append(AgentEvent(*r))
            if kept:
                t.batches[key[1:]] = [max(r[2] for _, r in batch)]
            elif self.changelog:
                self._event_deletes[key] = None
        for t in self.data.values():
            for tl in t.timelines.values():
                tl.events.sort(key=event_order)
                tl.ids = {e.event_id for e in tl.events}
                tl.refold()
        legacy, self._legacy = self._legacy, []
        for tenant, agent in legacy if self.changelog else ():
            t = self.data[tenant]
            tl = t.timelines[agent]
            for e in tl.events:
                if recorded is None or (tenant, agent, e.event_id) not in recorded:
                    self._write_event(t, tenant, e, tl.pos)
            self._agent_writes[(tenant, agent)] = None
        self._dirty.update(self.data)

    def dirty_tenants(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def collect_garbage(self) -> None:
        """Fold events past lateness into each timeline's base; drop buckets past retention."""
        for tenant, t in self.data.items():
            horizon = t.watermark_ms - self.lateness_ms
            for agent, tl in t.timelines.items():
                old = sum(1 for e in tl.events if e.ts_ms < horizon)
                if not old:
                    continue
                tl.base, tl.base_ms = tl.state_before(old), tl.events[old - 1].ts_ms
                tl.ids.difference_update(e.event_id for e in tl.events[:old])
                del tl.events[:old]
                if self.changelog:
                    self._agent_writes[(tenant, agent)] = None
            if self.changelog:  # every event before the horizon is folded now
                self._drop_batches(tenant, t, horizon)
            floor = t.watermark_ms - max(self.retention_ms, self.lateness_ms)
            old_buckets = [b for b in t.buckets if b[2] and b[2] < floor]
            if old_buckets:
                self._scope_cache.clear()  # it may hold buckets dropped here
                t.closed = None
            for bkey in old_buckets:
                del t.buckets[bkey]
                if self.changelog:
                    self._bucket_writes.setdefault(tenant, {})[bkey] = None

    def _drop_batches(self, tenant: str, t: TenantAgents, horizon: int) -> None:
        """Delete the event records whose every event is before `horizon`."""
        for agent, first, at in [k for k, last in t.batches.items() if last[0] < horizon]:
            del t.batches[(agent, first, at)]
            key = (tenant, agent, first, at)
            self._event_writes.pop(key, None)  # not written yet: nothing of it is needed
            batch = self._open_batches.get(tenant)
            if batch is not None and batch[0] == key:
                del self._open_batches[tenant]
            self._event_deletes[key] = None
