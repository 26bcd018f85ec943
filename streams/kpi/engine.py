"""The KPI engine: applies contract events to per-queue state, exactly once.

Pure Python with no I/O. The offline report feeds it a file; the Faust agents feed it a stream
and persist the records it reports as changed. Both get the same figures from the same events,
whatever their order, duplication or re-delivery after a crash.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

from ccpulse.schemas.events import ContactEvent
from ccpulse.streams.kpi import counters as k
from ccpulse.streams.kpi.contact import (
    ROLE_OF,
    TS,
    Absorbed,
    Contact,
    Item,
    adds_alone,
    contribution,
    pack,
    role_item,
)
from ccpulse.streams.kpi.housekeeping import (
    FREEZE_EVERY,
    IDLE_CONTACT_MS,
    NO_FLOOR,
    Changes,
    Housekeeping,
    QueueKey,
)
from ccpulse.streams.kpi.policy import PolicyBook
from ccpulse.streams.kpi.state import (
    Bucket,
    BucketKey,
    CachedBucket,
    ChannelBuckets,
    QueueState,
    add_delta,
    new_bucket,
)
from ccpulse.streams.kpi.windows import MINUTE_MS, minute_start

__all__ = ["Changes", "Engine", "QueueKey", "Verdict"]


class Verdict(StrEnum):
    """What `Engine.apply` did with an event."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"
    REPLAYED = "replayed"


class Engine(Housekeeping):
    """Per-queue KPI state for any number of queues; one instance per input partition."""

    def __init__(self, book: PolicyBook | None = None) -> None:
        self.book = book or PolicyBook()
        settings = self.book.engine
        self.lateness_ms = settings.lateness_seconds * 1000
        self.max_wait_ms = settings.max_wait_seconds * 1000
        #: Minute buckets older than the longest rolling window (plus slack) are never read.
        self.minute_horizon_ms = (max(settings.rolling_minutes, default=0) + 10) * MINUTE_MS
        #: Every contact with an item within the rolling horizon is held (lateness covers the
        #: horizon): minute buckets are then rebuilt from the contacts on restore and never
        #: written to the changelog, half the state writes of a queue with few events a minute.
        self.minutes_from_contacts = self.lateness_ms >= self.minute_horizon_ms
        #: No minute bucket starts before this (`read_clock`); batch use sets none.
        self.minute_floor_ms = NO_FLOOR
        #: Whether items count in minute buckets at all (not in range reports: report_mode.py).
        self.keeps_minutes = True
        self.retention_ms = settings.interval_retention_hours * 3_600_000
        self.idle_contact_ms = IDLE_CONTACT_MS
        self.freeze_every = self.freeze_at = FREEZE_EVERY
        self.new_contacts = 0
        self.queues: dict[QueueKey, QueueState] = {}
        self.changes = Changes()
        #: Counts the drains of `changes`: a record marked with the current one is in them.
        self.generation = 0

    def read_clock(self, now_ms: int) -> None:
        """Tell the engine the wall clock: the snapshots still to come are taken no earlier, so
        their rolling windows read no minute before `now_ms` less the horizon, and the engine
        keeps no minute bucket from there back (docs/exactly-once.md). A worker catching up on
        hours-old input then skips the minute buckets no one would read.

        The floor never goes back, so a minute once below it is never touched again (a
        retraction cannot reach a minute that skipped the item). The horizon's 10 minutes of
        slack cover a wall clock stepped back by as much. Only while minute buckets are rebuilt
        from the contacts on restore (`minutes_from_contacts`): a new owner then rebuilds them
        from its own clock, whereas minutes read back from the changelog would carry the floor
        of the previous owner's clock, which may run ahead of the new one's."""
        if self.minutes_from_contacts:
            self.minute_floor_ms = max(self.minute_floor_ms, now_ms - self.minute_horizon_ms)

    # -- applying events -------------------------------------------------------------------

    def queue(self, tenant: str, queue: str) -> QueueState:
        key = (tenant, queue)
        qs = self.queues.get(key)
        if qs is None:
            qs = self.queues[key] = QueueState(tenant, queue, self.book)
        return qs

    def apply(self, event: ContactEvent, pos: int | None = None) -> Verdict:
        """Apply one valid event; `pos` (increasing per input partition) enables replay safety."""
        qkey = (event.tenant, event.queue)
        qs = self.queues.get(qkey)
        if qs is None:
            qs = self.queues[qkey] = QueueState(event.tenant, event.queue, self.book)
        if pos is not None and qs.pos >= pos:
            return Verdict.REPLAYED
        contact_id = event.contact_id
        store = qs.contacts
        contact = store.hot.get(contact_id)
        if contact is None and store.cold:
            contact = store.get(contact_id)  # thawed, if frozen
        if pos is not None and contact is not None and contact.pos >= pos:
            self._advance(qs, qkey, event.ts_ms, pos)
            return Verdict.REPLAYED
        if qs.watermark_ms - event.ts_ms > self.lateness_ms:
            self._count(qs, qkey, event.channel, k.TOO_LATE, pos)
            self._advance(qs, qkey, event.ts_ms, pos)
            return Verdict.TOO_LATE
        if contact is not None and self._stale(qs, contact_id, contact):
            self._retire_contact(qs, qkey, contact_id, contact)
            contact = None
        role = ROLE_OF[event.type]
        if contact is None:
            contact = store.hot[contact_id] = Contact(qs.key, contact_id)  # not frozen: not found
            self.new_contacts += 1
            alone = True
        else:
            alone = adds_alone(contact, role)
        if alone:
            # The usual case (a new contact, or its next event in order): the event fills an
            # empty role, adds its own item and changes no other, so the diff is that item.
            contact.set_role(role, pack(event))
            channel = contact.channel
            item = role_item(contact, role, qs.policy_for(channel), channel)
            self._add_item(qs, qkey, item, pos)  # type: ignore[arg-type]
            lowered: list[tuple[BucketKey, int]] = []
        else:
            old = contribution(contact, qs.policy_for(contact.channel))
            absorbed = contact.absorb(event)
            if absorbed is Absorbed.DUPLICATE:
                self._count(qs, qkey, event.channel, k.DUPLICATES, pos)
                self._advance(qs, qkey, event.ts_ms, pos)
                return Verdict.DUPLICATE
            qs.contacts[contact_id] = contact
            channel = contact.channel
            new = contribution(contact, qs.policy_for(channel))
            # A replaced role is a duplicate too, counted within the diff's replay-guarded
            # update of the total bucket: counted apart, it would stamp that bucket with `pos`
            # first and the diff would then skip it.
            replaced = ((event.channel, k.DUPLICATES),) if absorbed is Absorbed.REPLACED else ()
            lowered = self._apply_diff(qs, qkey, old, new, pos, replaced)
        if lowered:
            self._recompute_maxima(qs, lowered)
        if pos is not None:
            contact.pos = pos
        # `qs.track_waiting`, inlined: waiting while it has its entry and no block or outcome.
        entry = contact.r0
        if entry is not None and contact.r1 is None and contact.r2 is None:
            qs.waiting[contact_id] = (entry[TS], channel)
        elif qs.waiting:
            qs.waiting.pop(contact_id, None)
        changes = self.changes
        generation = self.generation
        if contact.mark != generation:  # not yet among the changes since the last drain
            contact.mark = generation
            touched = changes.contacts.get(qkey)
            if touched is None:
                touched = changes.contacts[qkey] = {}
            touched[contact_id] = None
            if changes.deleted_contacts:
                changes.deleted_contacts.discard((qkey, contact_id))
        if event.ts_ms > qs.watermark_ms:  # `_advance`, inlined
            qs.watermark_ms = event.ts_ms
        if pos is not None and pos > qs.pos:
            qs.pos = pos
        if qs.mark != generation:
            qs.mark = generation
            changes.queues.add(qkey)
        if qs.minute_buckets > qs.minute_gc_at:  # last: the event is wholly applied by now
            self._drop_old_minutes(qkey, qs)
        if self.new_contacts > self.freeze_at:
            self.freeze_idle()
        return Verdict.APPLIED

    def apply_all(self, events: Iterable[ContactEvent]) -> dict[Verdict, int]:
        """Apply events without positions (batch use); returns how many got each verdict."""
        counts = dict.fromkeys(Verdict, 0)
        for event in events:
            counts[self.apply(event)] += 1
        return counts

    def _stale(self, qs: QueueState, contact_id: str, contact: Contact) -> bool:
        """Past lateness, and not still waiting in queue within max_wait (as in GC)."""
        age = qs.watermark_ms - contact.last_ts_ms
        return age > self.lateness_ms and (contact_id not in qs.waiting or age > self.max_wait_ms)

    def _count(
        self, qs: QueueState, qkey: QueueKey, channel: str, idx: int, pos: int | None
    ) -> None:
        """Count a duplicate or too-late event in the running total, replay-safe like any
        bucket (a count kept in the queue meta would be lost when the meta write was)."""
        bkey = ("t", channel, 0)
        bucket = qs.buckets.get(bkey)
        if bucket is None:
            bucket = new_bucket(qs, bkey)
        elif pos is not None and bucket.pos >= pos:
            return
        bucket.tally[idx] += 1
        if pos is not None:
            bucket.pos = pos
        self.changes.buckets.add((qkey, bkey))
        self.changes.deleted_buckets.discard((qkey, bkey))

    def _advance(self, qs: QueueState, qkey: QueueKey, ts_ms: int, pos: int | None) -> None:
        if ts_ms > qs.watermark_ms:
            qs.watermark_ms = ts_ms
        if pos is not None and pos > qs.pos:
            qs.pos = pos
        self.changes.queues.add(qkey)

    def _add_item(self, qs: QueueState, qkey: QueueKey, item: Item, pos: int | None) -> None:
        """`_apply_diff` of nothing to one item, the engine's most frequent case, written out:
        the item's buckets are distinct, and adding never lowers a maximum. They are those of
        `_item_keys`, found through the channel's cached buckets (`ChannelBuckets`) while the
        item falls in their spans."""
        at, channel, delta = item
        cached = qs.cached.get(channel)
        if cached is None:
            cached = qs.cached[channel] = ChannelBuckets()
        interval = cached.interval
        if interval is None or not interval.start <= at < interval.end:
            start, end = qs.calendar.interval_bounds(at)
            interval = cached.interval = self._cache(qs, qkey, ("i", channel, start), start, end)
        closed = qs.closed_sums  # `qs.changed_bucket` of the item's buckets, inlined: its
        # minute holds `at`; its interval may start after the minute where local midnight is
        # not on a whole minute (historical offsets such as -0:44:30)
        if closed is not None and (at < closed.minute or interval.start < closed.current):
            qs.closed_sums = None
        self._add_delta(interval, delta, pos)
        total = cached.total
        if total is None:
            total = cached.total = self._cache(qs, qkey, ("t", channel, 0), NO_FLOOR, _NO_END)
        self._add_delta(total, delta, pos)
        if (
            self.keeps_minutes
            and at >= qs.watermark_ms - self.minute_horizon_ms
            and at >= self.minute_floor_ms
        ):
            minute = cached.minute
            if minute is None or not minute.start <= at < minute.end:
                start = minute_start(at)
                key = ("m", channel, start)
                minute = cached.minute = self._cache(qs, qkey, key, start, start + MINUTE_MS)
            self._add_delta(minute, delta, pos)

    def _cache(
        self, qs: QueueState, qkey: QueueKey, bkey: BucketKey, start: int, end: int
    ) -> CachedBucket:
        """The bucket `bkey` (new if missing), held for the instants [start, end)."""
        bucket = qs.buckets.get(bkey)
        if bucket is None:
            bucket = new_bucket(qs, bkey)
        return CachedBucket(bucket, (qkey, bkey), start, end)

    def _add_delta(self, cached: CachedBucket, delta: k.Delta, pos: int | None) -> None:
        """`add_delta` to a cached bucket unless it holds `pos` already (the replay guard),
        stamped with `pos` and recorded as changed once per generation of changes."""
        bucket = cached.bucket
        if pos is not None:
            if bucket.pos >= pos:
                return
            bucket.pos = pos
        add_delta(bucket.tally, delta)
        if cached.mark != self.generation:
            cached.mark = self.generation
            changes = self.changes
            changes.buckets.add(cached.entry)
            if changes.deleted_buckets:
                changes.deleted_buckets.discard(cached.entry)

    def _item_keys(self, qs: QueueState, at: int, channel: str) -> tuple[BucketKey, ...]:
        """The buckets an item at `at` counts in: its interval, the running total, and its
        minute unless that lies past the rolling horizon, from the queue's watermark or from
        the wall clock (such minutes are never read), or the engine keeps none (range reports,
        `keeps_minutes`)."""
        interval_key: BucketKey = ("i", channel, qs.calendar.interval_start(at))
        if (
            self.keeps_minutes
            and at >= qs.watermark_ms - self.minute_horizon_ms
            and at >= self.minute_floor_ms
        ):
            return (interval_key, ("t", channel, 0), ("m", channel, minute_start(at)))
        return (interval_key, ("t", channel, 0))

    def _apply_diff(
        self,
        qs: QueueState,
        qkey: QueueKey,
        old: list[Item],
        new: list[Item],
        pos: int | None,
        counts: tuple[tuple[str, int], ...] = (),
    ) -> list[tuple[BucketKey, int]]:
        """Move tallies from the old contribution to the new, and add 1 to each (channel,
        field) of `counts` in the channel's total; returns maxima to recompute.

        The hot path of the engine, written for speed. Each bucket's replay guard
        (`bucket.pos >= pos`: this event is already in it) is read before the event changes
        anything, and the buckets it touched are stamped with `pos` only at the end, so an
        event's several changes to one bucket all pass the guard or all fail it.
        """
        changed: tuple[tuple[int, Iterable[Item]], ...]
        if old:
            old_set, new_set = set(old), set(new)
            changed = ((-1, old_set - new_set), (1, new_set - old_set))
        else:
            changed = ((1, new),)  # a contact's items are distinct (one per role)
        guarded = pos is not None
        buckets = qs.buckets
        touched: dict[BucketKey, Bucket] = {}
        for channel, idx in counts:
            bkey = ("t", channel, 0)
            bucket = buckets.get(bkey)
            if bucket is None:
                bucket = new_bucket(qs, bkey)
            elif guarded and bucket.pos >= pos:  # type: ignore[operator]
                continue
            bucket.tally[idx] += 1
            touched[bkey] = bucket
        recompute: list[tuple[BucketKey, int]] = []
        max_fields = k.MAX_FIELDS
        for sign, items in changed:
            for at, channel, delta in items:
                for bkey in self._item_keys(qs, at, channel):
                    bucket = buckets.get(bkey)
                    if bucket is None:
                        if sign < 0:
                            continue  # a minute bucket already past the rolling horizon
                        bucket = new_bucket(qs, bkey)
                    elif guarded and bucket.pos >= pos:  # type: ignore[operator]
                        continue
                    touched[bkey] = bucket
                    tally = bucket.tally
                    if sign > 0:
                        add_delta(tally, delta)
                    else:
                        size = len(tally)  # histogram slots (beyond SIZE): totals only
                        for idx, value in delta:
                            if idx < size:
                                if idx in max_fields:
                                    if value > 0 and value >= tally[idx]:
                                        recompute.append((bkey, idx))
                                else:
                                    tally[idx] -= value
        changes = self.changes
        changed_buckets = changes.buckets
        deleted = changes.deleted_buckets
        for bkey, bucket in touched.items():
            if guarded:
                bucket.pos = pos  # type: ignore[assignment]
            if qs.closed_sums is not None:
                qs.changed_bucket(bkey[0], bkey[2])
            changed_buckets.add((qkey, bkey))
            if deleted:
                deleted.discard((qkey, bkey))
        return recompute

    def drain_changes(self) -> Changes:
        """Hand over what changed since the last call (and start afresh)."""
        changes, self.changes = self.changes, Changes()
        self.generation += 1
        return changes


#: The end of the running total's span: after every instant.
_NO_END: Final = 1 << 62
