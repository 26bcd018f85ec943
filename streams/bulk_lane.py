"""The input topic's records handed to the pipeline a fetch at a time, not a message at a time.

Faust delivers every record on its own: a `Message` object, a conductor look-up, an `Event`, a
put into the agent's queue, the stream's iteration and an acknowledgement. On one event per
message that machinery costs more than the KPIs themselves (docs/performance.md). The bulk lane
keeps Faust for what it does well (the app, the group, rebalances, the changelog and recovery)
and passes the raw records of a fetch for the topics that have a bulk handler straight to that
handler, in offset order per partition (the contact topic's handler then applies them a family
at a time, `family_runs`). Offsets are then marked as processed per partition, in one step, for
Faust's usual commits.

Rules it keeps, as Faust's per-message path does:
* only partitions active when the fetch started (not paused, not recovering) are handed over,
  and nothing once the flow has stopped or the group generation has moved on;
* offsets are marked only after the handler returned, so a commit never covers records whose
  state writes were not yet queued (the commit guard flushes them first, streams/faust_parts.py);
* a rebalance waits for a batch in progress to finish (`wait_empty`), and the offsets of a batch
  that a rebalance overtook are not marked: the records are read again by whoever owns the
  partition next, and the engines' replay guard absorbs what was applied already.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from faust.types import TP

#: Receives the records fetched for the bulk topics, per partition, in offset order.
BulkHandler = Callable[[Sequence[tuple[TP, Sequence[Any]]]], Awaitable[None]]


class BulkLane:
    """Mixed into Faust's consumer (streams/faust_parts.py `Consumer`).

    The app sets `app.ccpulse_bulk`, a mapping of topic name to handler; the consumer reads it
    when its fetch loop starts.
    """

    # Faust's consumer provides these.
    app: Any
    _acked: Any
    _n_acked: int
    _read_offset: Any
    _buffered_partitions: set[TP]

    _bulk_next: dict[TP, int] | None = None
    #: Raised by every revocation: a batch that saw it change marks no offsets.
    _bulk_epoch = 0
    _bulk_idle: asyncio.Event | None = None

    def bulk_route(self) -> dict[str, BulkHandler]:
        """The bulk topics and their handlers (none: every topic goes Faust's way)."""
        return dict(getattr(self.app, "ccpulse_bulk", None) or {})

    async def bulk_deliver(
        self,
        handler: BulkHandler,
        batches: list[tuple[TP, list[Any]]],
        generation_id: int,
    ) -> int:
        """Hand the records to `handler`, then mark their offsets processed; returns how many
        records were handed over."""
        if self._bulk_next is None:
            self._bulk_next = {}
        get_read_offset = self._read_offset.__getitem__
        ready: list[tuple[TP, list[Any]]] = []
        for tp, records in batches:
            read = get_read_offset(tp)
            if read is not None and records[0].offset < read:
                # Faust's rule: from the last offset handed over on (it may come once more;
                # the replay guard absorbs it). Earlier ones were handed over already.
                records = [r for r in records if r.offset >= read]
                if not records:
                    continue
            ready.append((tp, records))
        if not ready:
            return 0
        epoch = self._bulk_epoch
        idle = self._bulk_idle
        if idle is None:
            idle = self._bulk_idle = asyncio.Event()
        idle.clear()
        try:
            await handler(ready)
        finally:
            idle.set()
        if epoch != self._bulk_epoch or generation_id != self.app.consumer_generation_id:
            return 0  # a rebalance overtook the batch: its records are read again
        handed = 0
        set_read_offset = self._read_offset.__setitem__
        for tp, records in ready:
            last = records[-1].offset
            self._bulk_next[tp] = last + 1
            self._acked.setdefault(tp, [])  # Faust commits the partitions this mapping holds
            set_read_offset(tp, last)
            handed += len(records)
        self._n_acked += handed
        return handed

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit: after the last record of the bulk lane, or Faust's own."""
        if self._bulk_next is not None:
            found = self._bulk_next.get(tp)
            if found is not None:
                return found
        return super()._new_offset(tp)  # type: ignore[misc, no-any-return]

    async def wait_empty(self) -> None:
        """Faust's wait for the streams to finish, after the batch in progress finishes."""
        idle = self._bulk_idle
        if idle is not None:
            await idle.wait()
        await super().wait_empty()  # type: ignore[misc]

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._bulk_epoch += 1
        if self._bulk_next is not None:
            for tp in revoked:
                self._bulk_next.pop(tp, None)
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]


def bulk_batches(
    records: Mapping[TP, list[Any]], route: Mapping[str, BulkHandler], active: set[TP] | None,
    buffered: set[TP],
) -> tuple[dict[BulkHandler, list[tuple[TP, list[Any]]]], dict[TP, list[Any]]]:
    """Split a fetch into the bulk topics' batches per handler (of partitions still active) and
    the rest."""
    bulk: dict[BulkHandler, list[tuple[TP, list[Any]]]] = {}
    rest: dict[TP, list[Any]] = {}
    for tp, batch in records.items():
        if not batch:
            continue
        handler = route.get(tp.topic)
        if handler is not None:
            if active is None or tp in active or tp in buffered:
                bulk.setdefault(handler, []).append((tp, batch))
        else:
            rest[tp] = batch
    return bulk, rest
