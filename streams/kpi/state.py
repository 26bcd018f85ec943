"""The per-queue state the engine keeps: contacts, interval and minute buckets, watermark.

Every record carries `pos`, the input position (offset and index within a batch message) that
last changed it. After a crash the stream re-delivers events from the last committed offset; a
record whose `pos` is at or past an event's position already holds that event and is left alone.
Records are written to the changelog in the order buckets, contacts, queue meta, so a record
found written implies everything written before it was (see docs/exactly-once.md).
"""

from __future__ import annotations

from typing import Any, Final

from ccpulse.streams.kpi import counters as k
from ccpulse.streams.kpi.contact import Contact
from ccpulse.streams.kpi.contact_store import ContactStore
from ccpulse.streams.kpi.policy import PolicyBook, QueuePolicy
from ccpulse.streams.kpi.windows import Calendar

#: Bucket key within a queue: (granularity, channel, start ms). Granularity "i" is an interval,
#: "m" a minute (rolling windows), "t" the running total since the queue was first seen (start 0),
#: which Prometheus exports as counters and which is never dropped.
BucketKey = tuple[str, str, int]


class Bucket:
    """A tally for one channel and one interval or minute.

    `floor` holds, per max field, the largest value of contacts already dropped from state, so a
    maximum can be recomputed exactly when a contact's value leaves the bucket.
    """

    __slots__ = ("floor", "pos", "tally")

    def __init__(self, size: int = k.SIZE) -> None:
        self.tally: k.Tally = k.new_tally(size)
        self.pos = -1
        self.floor: dict[int, int] | None = None

    def to_record(self) -> list[Any]:
        """`[pos, tally, floor]`; the floor's field indexes as text, as JSON keys must be."""
        floor = self.floor
        return [self.pos, self.tally, {str(i): v for i, v in floor.items()} if floor else None]

    @classmethod
    def from_record(cls, record: list[Any]) -> Bucket:
        b = cls()
        b.pos, b.tally = record[0], list(record[1])
        b.floor = {int(i): v for i, v in record[2].items()} if record[2] else None
        return b


def add_delta(tally: k.Tally, delta: k.Delta) -> None:
    """Add a delta to a tally: sums add, maxima keep the larger. Histogram slots (beyond
    `SIZE`) exist in running totals only and are skipped elsewhere."""
    size = len(tally)
    for idx, value in delta:
        if idx < size:
            if _MAX_MASK >> idx & 1:
                if value > tally[idx]:
                    tally[idx] = value
            else:
                tally[idx] += value


_MAX_MASK: Final = k.MAX_MASK


class CachedBucket:
    """A bucket of a queue's channel held with the span of instants it covers and its entry in
    `Changes.buckets`, so that the engine adds an event to it without building its key
    (`Engine._add_item`): most events of a channel count in the interval, minute and running
    total of the one before."""

    __slots__ = ("bucket", "end", "entry", "mark", "start")

    def __init__(self, bucket: Bucket, entry: Any, start: int, end: int) -> None:
        self.bucket = bucket
        #: ((tenant, queue), bucket key), as `Changes.buckets` holds it (built once).
        self.entry: Any = entry
        self.start = start
        self.end = end
        #: The engine's `generation` of changes in which `entry` was last recorded.
        self.mark = -1


class ChannelBuckets:
    """Per channel of a queue: the interval, minute and running-total buckets its latest
    event counted in (None: none yet). Forgotten whenever a bucket of the queue is dropped or
    replaced (`QueueState.forget_cached`)."""

    __slots__ = ("interval", "minute", "total")

    def __init__(self) -> None:
        self.interval: CachedBucket | None = None
        self.minute: CachedBucket | None = None
        self.total: CachedBucket | None = None


class QueueState:
    """All state of one (tenant, queue)."""

    __slots__ = (
        "_channel_policies",
        "book",
        "buckets",
        "cached",
        "calendar",
        "closed_sums",
        "contacts",
        "key",
        "mark",
        "minute_buckets",
        "minute_gc_at",
        "policy",
        "pos",
        "queue",
        "tenant",
        "totals",
        "waiting",
        "watermark_ms",
    )

    def __init__(self, tenant: str, queue: str, book: PolicyBook) -> None:
        self.tenant = tenant
        self.queue = queue
        #: (tenant, queue): one tuple that every contact of the queue refers to.
        self.key = (tenant, queue)
        self.book = book
        self.policy = book.for_queue(tenant, queue)
        self.calendar = Calendar(self.policy.time_zone, self.policy.interval_ms)
        self._channel_policies: dict[str, QueuePolicy] = {}
        self.contacts = ContactStore(self.key)
        self.buckets: dict[BucketKey, Bucket] = {}
        #: channel -> the buckets its latest event counted in (the engine's per-event path).
        self.cached: dict[str, ChannelBuckets] = {}
        #: The engine's `generation` of changes in which this queue was last recorded.
        self.mark = -1
        #: channel -> its running-total bucket (also in `buckets`): every channel with a bucket
        #: has one, and it is never dropped, so these are the queue's channels.
        self.totals: dict[str, Bucket] = {}
        #: How many of the buckets are minute buckets, and the count that triggers dropping
        #: those past the rolling horizon (so a fast replay of a day does not keep them all).
        self.minute_buckets = 0
        self.minute_gc_at = 0
        #: contact_id -> (entry ms, channel) of contacts waiting in queue now.
        self.waiting: dict[str, tuple[int, str]] = {}
        self.watermark_ms = 0
        self.pos = -1
        #: What a live snapshot read of the queue's closed intervals and minutes, summed
        #: (snapshot.py `ClosedSums`); dropped when one of them changes (`changed_bucket`).
        self.closed_sums: Any = None

    def forget_cached(self) -> None:
        """A bucket was dropped or replaced: the engine finds its buckets by key again."""
        if self.cached:
            self.cached = {}

    def changed_bucket(self, gran: str, start: int) -> None:
        """A bucket was created, changed or dropped: forget the live snapshot's sums if they
        hold it (an interval before theirs, or a minute of their rolling windows)."""
        closed = self.closed_sums
        if closed is not None and (
            start < closed.current
            if gran == "i"
            else gran == "m" and closed.minutes_from <= start < closed.minute
        ):
            self.closed_sums = None

    def policy_for(self, channel: str) -> QueuePolicy:
        found = self._channel_policies.get(channel)
        if found is None:
            found = self.book.for_channel(self.tenant, self.queue, channel)
            self._channel_policies[channel] = found
        return found

    @property
    def duplicates(self) -> int:
        """Events that repeated an id or lost their role to another event, all channels."""
        return self._total(k.DUPLICATES)

    @property
    def too_late(self) -> int:
        """Events refused for arriving past the lateness horizon, all channels."""
        return self._total(k.TOO_LATE)

    def _total(self, idx: int) -> int:
        return sum(b.tally[idx] for b in self.totals.values())

    def meta_record(self) -> list[Any]:
        return [self.pos, self.watermark_ms]

    def load_meta(self, record: list[Any]) -> None:
        self.pos, self.watermark_ms = record[:2]

    def track_waiting(self, contact_id: str, contact: Contact) -> None:
        since = contact.waiting_since_ms
        if since is None:
            self.waiting.pop(contact_id, None)
        else:
            self.waiting[contact_id] = (since, contact.channel)


def new_bucket(qs: QueueState, bkey: BucketKey) -> Bucket:
    """A new empty bucket of the queue (running totals carry the histogram slots too)."""
    gran = bkey[0]
    bucket = qs.buckets[bkey] = Bucket(k.TOTAL_SIZE if gran == "t" else k.SIZE)
    if gran == "m":
        qs.minute_buckets += 1
    elif gran == "t":
        qs.totals[bkey[1]] = bucket
    return bucket
