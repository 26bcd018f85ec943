"""The engine's housekeeping: dropping contacts past lateness and buckets past their horizon
(keeping the maxima they carried), restoring state from changelog records, and the record of
what changed since the last drain. Part of `Engine` (engine.py), kept apart from the per-event
path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from ccpulse.streams.kpi import counters as k
from ccpulse.streams.kpi.contact import Contact, contribution, settled
from ccpulse.streams.kpi.state import Bucket, BucketKey, QueueState, add_delta, new_bucket
from ccpulse.streams.kpi.windows import minute_start

QueueKey = tuple[str, str]
#: A queue's minute buckets are checked against the rolling horizon when there are more than
#: this many and twice as many as the last check left.
MINUTE_GC_SLACK: Final = 16
#: Contacts with no event for this long (queue event time) are kept frozen: touched again,
#: they thaw (contact_store.py). Half an hour covers nearly every call's talk and wrap-up.
IDLE_CONTACT_MS: Final = 30 * 60_000
#: `Engine.apply` looks for idle contacts to freeze after at least this many new contacts.
FREEZE_EVERY: Final = 4096
#: No wall-clock floor for minute buckets (`Engine.read_clock` never called): batch use.
NO_FLOOR: Final = -(1 << 62)


@dataclass(slots=True)
class Changes:
    """Records changed since the last `Engine.drain_changes()`, for the changelog and sinks."""

    buckets: set[tuple[QueueKey, BucketKey]] = field(default_factory=set)
    #: Per queue, the ids of its contacts changed (a dict as an ordered set): no (queue, id)
    #: tuple is built per contact and drain, and the drain finds a queue's key prefix once.
    contacts: dict[QueueKey, dict[str, None]] = field(default_factory=dict)
    deleted_buckets: set[tuple[QueueKey, BucketKey]] = field(default_factory=set)
    deleted_contacts: set[tuple[QueueKey, str]] = field(default_factory=set)
    queues: set[QueueKey] = field(default_factory=set)


class Housekeeping:
    """Dropping, restoring and recomputing state; mixed into `Engine`."""

    queues: dict[QueueKey, QueueState]
    changes: Changes
    lateness_ms: int
    max_wait_ms: int
    minute_horizon_ms: int
    minutes_from_contacts: bool
    minute_floor_ms: int
    retention_ms: int
    idle_contact_ms: int
    #: Contacts created since `freeze_idle` last ran, and the count that runs it again.
    new_contacts: int
    freeze_at: int
    freeze_every: int

    def queue(self, tenant: str, queue: str) -> QueueState:
        raise NotImplementedError  # Engine's

    def _drop_old_minutes(self, qkey: QueueKey, qs: QueueState) -> None:
        """Drop minute buckets past the rolling horizon; next time when their count doubles
        (at least `MINUTE_GC_SLACK` of them). A quiet queue has a few minute buckets within
        the horizon: its minutes go soon after they pass it, not once the horizon's worth of
        them (70 with the default windows) has piled up. The scan this costs is spread over
        at least as many new minute buckets as it found."""
        floor = self._minute_floor(qs)
        self._drop_buckets(qkey, qs, [b for b in qs.buckets if b[0] == "m" and b[2] < floor])
        qs.minute_gc_at = max(MINUTE_GC_SLACK, 2 * qs.minute_buckets)

    def _minute_floor(self, qs: QueueState) -> int:
        """Where the minutes no rolling window will read end: the rolling horizon back from the
        queue's watermark or from the wall clock (`Engine.read_clock`), the later."""
        return max(qs.watermark_ms - self.minute_horizon_ms, self.minute_floor_ms)

    def _drop_buckets(self, qkey: QueueKey, qs: QueueState, keys: list[BucketKey]) -> None:
        if keys:
            qs.forget_cached()
        for bkey in keys:
            del qs.buckets[bkey]
            if bkey[0] == "m":
                qs.minute_buckets -= 1
            qs.changed_bucket(bkey[0], bkey[2])
            self.changes.deleted_buckets.add((qkey, bkey))
            self.changes.buckets.discard((qkey, bkey))

    def _recompute_maxima(self, qs: QueueState, wanted: list[tuple[BucketKey, int]]) -> None:
        """Recompute maxima a retraction may have lowered, from every contact still held."""
        targets: dict[BucketKey, dict[int, int]] = {}
        for bkey, idx in wanted:
            bucket = qs.buckets[bkey]
            floor = bucket.floor.get(idx, 0) if bucket.floor else 0
            targets.setdefault(bkey, {})[idx] = floor
        for contact in qs.contacts.values():
            for at, channel, delta in contribution(contact, qs.policy_for(contact.channel)):
                for bkey in self._bucket_keys(qs, at, channel):
                    found = targets.get(bkey)
                    if found is None:
                        continue
                    for idx, value in delta:
                        if idx in found and value > found[idx]:
                            found[idx] = value
        for bkey, maxima in targets.items():
            tally = qs.buckets[bkey].tally
            for idx, value in maxima.items():
                tally[idx] = value

    def _bucket_keys(self, qs: QueueState, at: int, channel: str) -> tuple[BucketKey, ...]:
        return (
            ("i", channel, qs.calendar.interval_start(at)),
            ("m", channel, minute_start(at)),
            ("t", channel, 0),
        )

    # -- restoring from a changelog ----------------------------------------------------------

    def restore_bucket(self, tenant: str, queue: str, bkey: BucketKey, record: list[Any]) -> None:
        qs = self.queue(tenant, queue)
        if bkey[0] == "m" and bkey not in qs.buckets:
            qs.minute_buckets += 1
        bucket = qs.buckets[bkey] = Bucket.from_record(record)
        qs.closed_sums = None
        qs.forget_cached()
        if bkey[0] == "t":
            qs.totals[bkey[1]] = bucket

    def rebuild_minutes(self) -> None:
        """Minute buckets from the contacts held, after a restore that read none (see
        `minutes_from_contacts`): each within the rolling horizon (`_minute_floor`) is
        the sum of the held contacts' items in it, as the live engine keeps it. A minute
        straddling the horizon's floor may differ from the live one; it is never read."""
        for qs in self.queues.values():
            qs.closed_sums = None
            qs.forget_cached()
            buckets = qs.buckets
            for bkey in [b for b in buckets if b[0] == "m"]:
                del buckets[bkey]
            qs.minute_buckets = 0
            floor = self._minute_floor(qs)
            recent = [cid for cid, last in qs.contacts.last_ts_ms() if last >= floor]
            for cid in recent:
                contact = qs.contacts.peek(cid)
                for at, channel, delta in contribution(contact, qs.policy_for(contact.channel)):
                    if at < floor:
                        continue
                    bkey = ("m", channel, minute_start(at))
                    bucket = buckets.get(bkey) or new_bucket(qs, bkey)
                    add_delta(bucket.tally, delta)

    def restore_contact(self, tenant: str, queue: str, contact_id: str, record: list[Any]) -> None:
        qs = self.queue(tenant, queue)
        contact = qs.contacts[contact_id] = Contact.from_record(record, (qs.key, contact_id))
        qs.track_waiting(contact_id, contact)

    def restore_meta(self, tenant: str, queue: str, record: list[Any]) -> None:
        self.queue(tenant, queue).load_meta(record)

    def _retire_contact(
        self, qs: QueueState, qkey: QueueKey, contact_id: str, contact: Contact
    ) -> None:
        """Drop a contact from state; its maxima live on in the buckets' floors."""
        for at, channel, delta in contribution(contact, qs.policy_for(contact.channel)):
            for bkey in self._bucket_keys(qs, at, channel):
                bucket = qs.buckets.get(bkey)
                if bucket is None:
                    continue
                for idx, value in delta:
                    if idx in k.MAX_FIELDS and value > 0:
                        if bucket.floor is None:
                            bucket.floor = {}
                        if value > bucket.floor.get(idx, 0):
                            bucket.floor[idx] = value
                            self.changes.buckets.add((qkey, bkey))
        del qs.contacts[contact_id]
        qs.waiting.pop(contact_id, None)
        self.changes.deleted_contacts.add((qkey, contact_id))
        touched = self.changes.contacts.get(qkey)
        if touched:
            touched.pop(contact_id, None)

    # -- housekeeping ----------------------------------------------------------------------

    def collect_garbage(self) -> int:
        """Drop contacts past lateness and buckets past retention; returns records dropped.
        Then freeze the contacts idle for `IDLE_CONTACT_MS` (see contact_store.py).

        Driven by each queue's watermark (event time), so it changes no figure: a dropped
        contact could only be touched again by an event that is itself too late.
        """
        dropped = 0
        for qkey, qs in self.queues.items():
            horizon = qs.watermark_ms - self.lateness_ms
            stale = [
                cid
                for cid, last_ts_ms in qs.contacts.last_ts_ms()
                if last_ts_ms < horizon
                and (cid not in qs.waiting or qs.watermark_ms - last_ts_ms > self.max_wait_ms)
            ]
            for cid in stale:
                self._retire_contact(qs, qkey, cid, qs.contacts[cid])
            minute_floor = self._minute_floor(qs)
            interval_floor = qs.watermark_ms - self.retention_ms if self.retention_ms else None
            old = [
                bkey
                for bkey in qs.buckets
                if (bkey[0] == "m" and bkey[2] < minute_floor)
                or (
                    bkey[0] == "i"
                    and interval_floor is not None
                    and bkey[2] < min(interval_floor, horizon)
                )
            ]
            self._drop_buckets(qkey, qs, old)
            dropped += len(stale) + len(old)
        self.freeze_idle()
        return dropped

    def freeze_settled(self) -> int:
        """Freeze the held contacts whose visit is over (`settled`) and that are not waiting,
        as `state_writes.drain_writes` does once their records are written: after a restore,
        whose contacts all come back as objects. Returns how many."""
        frozen = 0
        for qs in self.queues.values():
            store = qs.contacts
            waiting = qs.waiting
            done = [cid for cid, c in store.hot.items() if settled(c) and cid not in waiting]
            for cid in done:
                store.freeze(cid)
            frozen += len(done)
        return frozen

    def freeze_idle(self) -> int:
        """Freeze the contacts idle for `idle_contact_ms` of their queue's event time, not
        waiting and with no state write pending; returns how many.

        Run by `collect_garbage`, and by `apply` whenever the contacts new since the last run
        outnumber those it left as objects (and at least `freeze_every` are new): a backlog
        of a day is not held as objects until the first garbage collection, and the scans
        cost about as much as the contacts they follow."""
        frozen = hot = 0
        changed = self.changes.contacts  # left for now: their state writes would thaw them
        for qkey, qs in self.queues.items():
            store = qs.contacts
            floor = qs.watermark_ms - self.idle_contact_ms
            waiting = qs.waiting
            pending = changed.get(qkey)
            idle = [
                cid
                for cid, contact in store.hot.items()
                if contact.last_ts_ms < floor
                and cid not in waiting
                and not (pending and cid in pending)
            ]
            for cid in idle:
                store.freeze(cid)
            frozen += len(idle)
            hot += len(store.hot)
        self.new_contacts = 0
        self.freeze_at = max(self.freeze_every, hot)
        return frozen
