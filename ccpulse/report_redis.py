"""The range report of the live system: the queue tables read from the interval hashes the
worker keeps in Redis (docs/redis-keys.md, "Interval history"), through the same table code as
the report of a file, so that `ccpulse report --redis URL --from T1 --to T2` and the report of the
same events from a file come out alike.

Each interval hash holds, per channel, the interval's raw tally (`<channel>.tally`, a JSON array
of the engine's counters): day, weekday and total rows add those tallies and recompute every
ratio, exactly as from a file. Figures need the queues' settings (service level, attribution,
time zone, interval length): pass the configuration the worker runs with.

Agent tables are not in Redis (the worker keeps no agent interval history): the report's
`agents` list is empty and an error line says so.
"""

from __future__ import annotations

from typing import Any, cast

import orjson
import redis

from ccpulse.config import Settings
from ccpulse.opening_hours import OpenIntervals
from ccpulse.report_range import RANGE_SCHEMA, RangeSpec, queue_table
from ccpulse.sinks.redis_sink import intervals_key
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.kpi import counters as k

NO_AGENTS = "agent tables are not kept in Redis: read them from the events (a file or queue_log)"


def interval_tallies(
    client: redis.Redis, prefix: str, tenant: str, queue: str, from_ms: int, to_ms: int
) -> dict[str, dict[int, k.Tally]]:
    """Per channel, the tally of each interval of the queue starting in [from_ms, to_ms) that
    Redis still holds (an interval whose hash expired is missing: no data)."""
    starts = cast(
        list[bytes],
        client.zrangebyscore(intervals_key(prefix, tenant, queue), from_ms, f"({to_ms}"),
    )
    pipe = client.pipeline(transaction=False)
    for start in starts:
        pipe.hgetall(f"{prefix}:interval:{tenant}:{queue}:{int(start)}")
    out: dict[str, dict[int, k.Tally]] = {}
    for start, fields in zip(starts, pipe.execute(), strict=True):
        for name, value in cast(dict[bytes, bytes], fields).items():
            channel, _, what = name.decode().rpartition(".")
            if what == "tally":
                out.setdefault(channel, {})[int(start)] = orjson.loads(value)
    return out


def redis_range_report(
    url: str, settings: Settings, book: PolicyBook, spec: RangeSpec, tenant: str | None = None
) -> dict[str, Any]:
    """The range report's queue tables from Redis at `url` (key prefix from `settings`), for
    every queue in the index (or those of `tenant`)."""
    client = redis.Redis.from_url(url)
    prefix = settings.redis.key_prefix
    hours = OpenIntervals(settings.opening_hours)
    queues = []
    try:
        index = cast(list[bytes], client.zrange(f"{prefix}:queues", 0, -1))
        members = sorted(m.decode() for m in index)
        for member in members:
            owner, _, queue = member.partition("/")
            if tenant is not None and owner != tenant:
                continue
            # A day early: the interval holding `from` starts before it.
            tallies = interval_tallies(client, prefix, owner, queue, spec.from_ms - 86_400_000,
                                       spec.to_ms)  # fmt: skip
            table = queue_table(book, owner, queue, tallies, spec, hours)
            if table is not None:
                queues.append(table)
    finally:
        client.close()
    return {
        "$schema": RANGE_SCHEMA,
        "from_ms": spec.from_ms,
        "to_ms": spec.to_ms,
        "by": spec.by,
        "open_hours_only": spec.open_hours_only,
        "input": {"lines": 0, "events": 0, "rejected": 0, "ignored_after_at": 0,
                  "duplicates": 0, "too_late": 0},
        "errors": [NO_AGENTS],
        "queues": queues,
        "agents": [],
    }
