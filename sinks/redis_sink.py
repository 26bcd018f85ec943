"""Publish queue figures to Redis for wallboards (key layout: docs/redis-keys.md).

Per queue one hash, replaced atomically, that a wallboard reads with one HGETALL; an index of
queues; completed intervals as JSON per interval; a pub/sub notice on every change. All writes
of one flush go in one MULTI/EXEC round trip (a flush of many hashes written in full: a few),
and every key has a TTL so a vanished queue goes.
"""

from __future__ import annotations

import itertools
import time
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress
from operator import ne
from typing import Any

import orjson

from ccpulse.config import RedisSettings
from ccpulse.sinks.redis_client import Transaction, bulk_text, bulks, connect
from ccpulse.sinks.redis_families import FLATS
from ccpulse.sinks.redis_fields import (
    WINDOWS,
    Flat,
    bulk,
    flatten,
    interval_flat,
    queue_flat,
)

__all__ = ["WINDOWS", "RedisSink", "flatten", "interval_key", "intervals_key", "queue_key"]


def queue_key(prefix: str, tenant: str, queue: str) -> str:
    return f"{prefix}:queue:{tenant}:{queue}"


def intervals_key(prefix: str, tenant: str, queue: str) -> str:
    """Sorted set of a queue's kept interval starts (score: start, epoch ms)."""
    return f"{prefix}:intervals:{tenant}:{queue}"


def interval_key(prefix: str, tenant: str, queue: str, start_ms: int) -> str:
    """Hash of one interval's figures, `<channel>.<figure>` fields."""
    return f"{prefix}:interval:{tenant}:{queue}:{start_ms}"


@dataclass(frozen=True, slots=True)
class _HashUpdate:
    """One hash written in a flush; `probe` is the index of its EXPIRE when only changes went
    (`flat`, all of the hash's fields, is kept for those only)."""

    key: str
    flat: Flat | None
    ttl: int
    probe: int | None
    written_ms: int


def _now_ms() -> int:
    return int(time.time() * 1000)


def _write_in_full(pipe: Transaction, key: str, flat: Flat, ttl: int) -> None:
    """DEL, HSET of every field as text, EXPIRE: the hash then holds exactly `flat`."""
    layout, values = flat
    pipe.delete(key)
    pipe.hset_bulks(key, bulks(layout), map(bulk, values))
    pipe.expire(key, ttl)


#: Every hash is written in full at least this often, whatever else happened to it.
FULL_WRITE_SECONDS = 300
#: Queue and interval hashes written in full per transaction at most (see `RedisSink.publish`).
MAX_FULL_WRITES = 200


class RedisSink:
    """Writes snapshots to Redis, one transaction per flush.

    A hash already written is updated with only the fields whose value changed (plus HDEL of
    fields that went away): under load every queue changes every flush, but only a tenth of
    its ~330 fields do, and only those are rendered as text. Each such update first EXPIREs
    the key, whose answer says whether the key was still there; a hash Redis lost (restart,
    eviction, deletion) is rewritten in full right after the transaction, so a partial hash is
    visible for one round trip at most.
    """

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self.client = connect(settings.url)
        self.prefix = settings.key_prefix
        #: The fields last written per hash key, as (field names, values), to write only
        #: changes. Hashes of one shape share their tuple of field names (redis_fields.py);
        #: the values are the figures themselves, their text is not kept.
        self._written: dict[str, Flat] = {}
        self._written_ms: dict[str, int] = {}
        #: When each hash is next written in full (epoch ms).
        self._full_due_ms: dict[str, int] = {}
        #: Per queue, the interval hash kept in `_written` (older intervals are not cached).
        self._cached_interval: dict[tuple[str, str], str] = {}
        #: A token set by the first writer into an empty Redis: created by this sink, or other
        #: than last seen, it means Redis lost its keys (a restart without persistence, FLUSHALL).
        self.marker_key = f"{self.prefix}:epoch"
        self._token = uuid.uuid4().hex.encode()
        self._seen_token: bytes | None = None
        #: This sink's count of its transactions, kept in Redis too: one no higher than the last
        #: seen means Redis went back in time (an older snapshot reloaded, a replica behind it
        #: took over) and lost writes. A failed transaction may have counted: the next is higher.
        self.writes_key = f"{self.prefix}:writer:{self._token.decode()}"
        self._writes: int | None = None
        #: Set by `publish` when Redis was found empty, reset or gone back in time; the worker
        #: reads and clears it and republishes every queue and interval it holds.
        self.lost = False

    async def publish(
        self,
        snapshots: list[dict[str, Any]],
        intervals: list[dict[str, Any]] | None = None,
        families: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        """Update each queue's hash, record intervals, refresh the index, notify.

        One transaction, unless the flush writes more than `MAX_FULL_WRITES` queue and
        interval hashes in full (the first flush after a start, a rebalance or Redis losing
        its keys): then one transaction per that many, in order, the other families' hashes
        with the last. The commands of a full write are the whole hash; a thousand of them
        queued at once took about 50 MB of the worker's peak memory.
        """
        intervals = intervals or []
        cut = self._cuts(snapshots, intervals)
        newest = written = 0
        for (s0, i0), (s1, i1) in [*itertools.pairwise(cut), (cut[-1], (None, None))]:
            last = s1 is None
            n, w = await self._publish(
                snapshots[s0:s1], intervals[i0:i1], families if last else None
            )
            newest, written = max(newest, n), max(written, w)
        self._expire_cache(newest or written)

    @property
    def has_written(self) -> bool:
        """Whether a transaction of this sink has succeeded yet."""
        return self._writes is not None

    def _cuts(
        self, snapshots: list[dict[str, Any]], intervals: list[dict[str, Any]]
    ) -> list[tuple[int, int]]:
        """Where the flush's transactions start: (snapshot index, interval index) each."""
        cuts = [(0, 0)]
        if len(snapshots) + len(intervals) <= MAX_FULL_WRITES:
            return cuts
        full = 0
        now_ms = _now_ms()
        keys = [
            (queue_key(self.prefix, snap["tenant"], snap["queue"]), snap["as_of_ms"])
            for snap in snapshots
        ] + [
            (interval_key(self.prefix, r["tenant"], r["queue"], r["start_ms"]), now_ms)
            for r in intervals
        ]
        for n, (key, at_ms) in enumerate(keys):
            if self._in_full(key, at_ms):
                if full == MAX_FULL_WRITES:
                    cuts.append((min(n, len(snapshots)), max(0, n - len(snapshots))))
                    full = 0
                full += 1
        return cuts

    async def _publish(
        self,
        snapshots: list[dict[str, Any]],
        intervals: list[dict[str, Any]],
        families: list[tuple[str, dict[str, Any]]] | None,
    ) -> tuple[int, int]:
        """One transaction of `publish`; returns the newest snapshot's `as_of_ms` and the
        latest write's time (0 when none)."""
        if not (snapshots or intervals or families):
            return 0, 0
        ttl = self.settings.ttl_seconds
        index = f"{self.prefix}:queues"
        pipe = self._transaction()
        pipe.set(self.marker_key, self._token, nx=True)  # True: the marker was missing
        pipe.get(self.marker_key)
        pipe.incr(self.writes_key)
        pipe.expire(self.writes_key, ttl)
        updates: list[_HashUpdate] = []
        newest = 0
        members: dict[str, int] = {}
        for snap in snapshots:
            key = queue_key(self.prefix, snap["tenant"], snap["queue"])
            member = f"{snap['tenant']}/{snap['queue']}"
            updates.append(self._put_hash(pipe, key, queue_flat(snap), ttl, snap["as_of_ms"]))
            members[member] = snap["as_of_ms"]
            pipe.publish(
                f"{self.prefix}:updates",
                orjson.dumps({"queue": member, "as_of_ms": snap["as_of_ms"]}),
            )
            newest = max(newest, snap["as_of_ms"])
        keep_s = self.settings.interval_retention_hours * 3600
        #: Per queue, the interval starts written in this flush, and those written in full.
        indexed: dict[tuple[str, str], tuple[dict[str, int], list[int]]] = {}
        for record in intervals:
            tenant, queue, start_ms = record["tenant"], record["queue"], record["start_ms"]
            key = interval_key(self.prefix, tenant, queue, start_ms)
            tallies = {  # for range reports
                channel: orjson.dumps(tally).decode()
                for channel, tally in record.get("tallies", {}).items()
            }
            cached = self._cached_interval.get((tenant, queue))
            if cached != key:  # a new interval (or a late change to an old one): cache this one
                if cached is not None:
                    self._forget(cached)
                self._cached_interval[(tenant, queue)] = key
            update = self._put_hash(pipe, key, interval_flat(record, tallies), keep_s, None)
            updates.append(update)
            starts, full = indexed.setdefault((tenant, queue), ({}, []))
            starts[str(start_ms)] = start_ms
            if update.probe is None:
                full.append(start_ms)
        for (tenant, queue), (starts, full) in indexed.items():
            index_key = intervals_key(self.prefix, tenant, queue)
            pipe.zadd(index_key, starts)  # every time: the index may be lost too
            if full:  # an interval written in full: trim and refresh the index now and then
                pipe.zremrangebyscore(index_key, "-inf", max(full) - keep_s * 1000)
                pipe.expire(index_key, keep_s)
        for family, snap in families or ():
            for key, flat in FLATS[family](self.prefix, snap):
                updates.append(self._put_hash(pipe, key, flat, ttl, snap["as_of_ms"]))
            pipe.publish(
                f"{self.prefix}:updates",
                orjson.dumps({family: snap["tenant"], "as_of_ms": snap["as_of_ms"]}),
            )
        if members:
            pipe.zadd(index, members)
        if newest:
            pipe.expire(index, ttl)
            pipe.zremrangebyscore(index, "-inf", newest - ttl * 1000)
        try:
            results = await self._execute(pipe)
        except BaseException:
            self.forget_written()  # what Redis holds is unknown now: next time, all in full
            raise
        created, token, writes = results[0], results[1], results[2]
        if (
            created
            or (self._seen_token is not None and token != self._seen_token)
            or (self._writes is not None and writes <= self._writes)
        ):
            self.lost = True
        self._seen_token, self._writes = token, writes
        lost = [u for u in updates if u.probe is not None and not results[u.probe]]
        if lost:  # Redis had lost these hashes: what it holds now is only the changed fields
            repair = self._transaction()
            for u in lost:
                if u.flat is not None:  # kept for every hash written by its changes
                    _write_in_full(repair, u.key, u.flat, u.ttl)
            try:
                await self._execute(repair)
            except BaseException:
                self.forget_written()  # those hashes hold only changed fields: all in full next
                raise
        return newest, max((u.written_ms for u in updates), default=0)

    def _transaction(self) -> Transaction:
        return Transaction()

    async def _execute(self, transaction: Transaction) -> list[Any]:
        return await transaction.execute(self.client)

    def _put_hash(
        self, pipe: Transaction, key: str, flat: Flat, ttl: int, written_ms: int | None
    ) -> _HashUpdate:
        """Queue the commands that make hash `key` hold exactly the fields of `flat` (as text);
        `written_ms`: the figures' time (now when None)."""
        now_ms = written_ms or _now_ms()
        layout, values = flat
        before = self._written.get(key)
        probe = None
        if before is None or self._in_full(key, now_ms):
            # In full: the first time, and again every FULL_WRITE_SECONDS (spread over a
            # minute by key), which heals whatever else may have changed the hash meanwhile.
            _write_in_full(pipe, key, flat, ttl)
            self._full_due_ms[key] = (
                now_ms + FULL_WRITE_SECONDS * 1000 + zlib.crc32(key.encode()) % 60_000
            )
        else:
            probe = len(pipe.command_stack)
            pipe.expire(key, ttl)  # 0 when the key is gone: repaired after the transaction
            before_layout, before_values = before
            gone: list[str] = []
            changed: list[str]  # as RESP bulk strings (redis_client.py), with their values
            if before_layout is layout:  # the usual case: same fields, compare in place
                # Values, not texts: equal values have equal texts (`text`), and a field keeps
                # its type. `ne` and `compress` run in C: no Python frame per field.
                flags = list(map(ne, before_values, values))
                changed = list(compress(bulks(layout), flags))
                new_values: Iterable[Any] = compress(values, flags)
            else:
                old = dict(zip(before_layout, before_values, strict=True))
                new = [(f, v) for f, v in zip(layout, values, strict=True)
                       if f not in old or old[f] != v]  # fmt: skip
                changed = [bulk_text(f) for f, _ in new]
                new_values = [v for _, v in new]
                fields = set(layout)
                gone = [f for f in before_layout if f not in fields]
            if changed:
                pipe.hset_bulks(key, changed, map(bulk, new_values))
            if gone:
                pipe.hdel(key, *gone)
        self._written[key] = flat
        self._written_ms[key] = now_ms
        # The fields are kept only to repair a hash found lost after a write of its changes.
        return _HashUpdate(key, flat if probe is not None else None, ttl, probe, now_ms)

    def _in_full(self, key: str, now_ms: int) -> bool:
        """Whether hash `key` is written in full (DEL + HSET) rather than by its changes: the
        first time, and every `FULL_WRITE_SECONDS` after."""
        return key not in self._written or now_ms >= self._full_due_ms.get(key, 0)

    def forget_written(self) -> None:
        """Write every hash in full next time: another worker may have written them since
        (after a rebalance), so what this sink last wrote is no longer what Redis holds."""
        self._written.clear()
        self._written_ms.clear()
        self._full_due_ms.clear()

    def _forget(self, key: str) -> None:
        self._written.pop(key, None)
        self._written_ms.pop(key, None)
        self._full_due_ms.pop(key, None)

    def _expire_cache(self, now_ms: int) -> None:
        """Drop cached hashes not written for a TTL (their keys have expired in Redis)."""
        horizon = now_ms - self.settings.ttl_seconds * 1000
        if self._written_ms and min(self._written_ms.values()) < horizon:
            for key in [k for k, t in self._written_ms.items() if t < horizon]:
                self._forget(key)

    async def close(self) -> None:
        await self.client.aclose()
