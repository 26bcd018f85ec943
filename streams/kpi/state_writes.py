"""An engine's changes as state-table writes: (partition, key, JSON record or None to delete).

Buckets first, then contacts, then queue metas: that order is what makes a replay exact
(docs/exactly-once.md). A worker catching up writes about one record per event, so this loop
is compiled with the engine (ccpulse/native.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from ccpulse.streams.kpi.contact import settled
from ccpulse.streams.kpi.engine import Engine, QueueKey
from ccpulse.streams.kpi.statekeys import bucket_key, contact_key, contact_prefix, meta_key

TableWrite = tuple[int, bytes, bytes | None]


#: Typed here: where msgspec is not installed (the compiler's build environment) its
#: encoder would read as Any.
_encode: Final[Callable[[Any], bytes]] = msgspec.json.Encoder().encode


def record_bytes(record: Any) -> bytes:
    """A state record as JSON, in a bytes object of its own size.

    msgspec's encoder returns bytes trimmed to their length, at about half orjson's cost for
    these small records: orjson 3.12+ returns bytes that keep its whole output buffer
    (kilobytes for a 200-byte record), which had to be copied. A batch's writes can number a
    hundred thousand while a worker catches up, so an untrimmed buffer each would briefly take
    gigabytes.
    """
    return _encode(record)


def drain_writes(
    engine: Engine,
    partition: int,
    writes: list[TableWrite],
    dirty_intervals: dict[tuple[int, QueueKey, int], None],
    dirty_queues: set[tuple[int, QueueKey]],
) -> None:
    """Drain the engine's changes into `writes`; mark the intervals and queues they changed
    as due for publishing (`dirty_intervals`, `dirty_queues`)."""
    changes = engine.drain_changes()
    queues = engine.queues
    skipped = "m" if engine.minutes_from_contacts else ""  # rebuilt on restore, never written
    for qkey, bkey in changes.buckets:
        gran = bkey[0]
        if gran == skipped:
            continue
        qs = queues[qkey]
        if gran == "i":  # keyed with the queue's own (tenant, queue): a day of intervals for
            # 10,000 queues waits there while they go out, 4,000 a flush
            dirty_intervals[(partition, qs.key, bkey[2])] = None
        record = record_bytes(qs.buckets[bkey].to_record())
        writes.append((partition, bucket_key(partition, qkey[0], qkey[1], bkey), record))
    for qkey, bkey in changes.deleted_buckets:
        if bkey[0] != skipped:
            writes.append((partition, bucket_key(partition, qkey[0], qkey[1], bkey), None))
    # A record per contact changed (about one per two events), its queue's key prefix built
    # once per queue. A contact whose visit is over (`settled`) is frozen once its record is
    # out: it is not expected to change again, and as bytes it is neither walked by the cyclic
    # garbage collector nor scanned by `freeze_idle` (docs/performance.md, change 31).
    for qkey, cids in changes.contacts.items():
        prefix = contact_prefix(partition, qkey[0], qkey[1])
        qs = queues[qkey]
        store = qs.contacts
        waiting = qs.waiting
        for cid in cids:
            contact = store.peek(cid)
            record = record_bytes(contact.to_record())
            writes.append((partition, (prefix + cid).encode(), record))
            if settled(contact) and cid in store.hot and cid not in waiting:
                store.freeze(cid, record)
    for qkey, cid in changes.deleted_contacts:
        writes.append((partition, contact_key(partition, qkey[0], qkey[1], cid), None))
    for qkey in changes.queues:
        writes.append((partition, meta_key(partition, qkey[0], qkey[1]),
                       record_bytes(queues[qkey].meta_record())))  # fmt: skip
        dirty_queues.add((partition, qkey))
