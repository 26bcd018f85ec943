"""Publish queue figures to Redis for wallboards (key layout: docs/redis-keys.md).

Per queue one hash, replaced atomically, that a wallboard reads with one HGETALL; an index of
queues; completed intervals as JSON per interval; a pub/sub notice on every change. All writes
of one flush go in one MULTI/EXEC round trip, and every key has a TTL so a vanished queue goes.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from ccpulse.config import RedisSettings
from ccpulse.sinks.redis_families import FLATTENERS

WINDOWS = ("current_interval", "today")


def queue_key(prefix: str, tenant: str, queue: str) -> str:
    return f"{prefix}:queue:{tenant}:{queue}"


def intervals_key(prefix: str, tenant: str, queue: str) -> str:
    """Sorted set of a queue's kept interval starts (score: start, epoch ms)."""
    return f"{prefix}:intervals:{tenant}:{queue}"


def interval_key(prefix: str, tenant: str, queue: str, start_ms: int) -> str:
    """Hash of one interval's figures, `<channel>.<figure>` fields."""
    return f"{prefix}:interval:{tenant}:{queue}:{start_ms}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def flatten(snapshot: dict[str, Any]) -> dict[str, str]:
    """The wallboard hash: `<window>.<channel>.<figure>` fields plus a few descriptive ones."""
    out = {
        "tenant": snapshot["tenant"],
        "queue": snapshot["queue"],
        "as_of": snapshot["as_of"],
        "as_of_ms": str(snapshot["as_of_ms"]),
        "time_zone": snapshot["time_zone"],
        "interval_minutes": str(snapshot["interval_minutes"]),
        "sl_formula": snapshot["sl_formula"],
        "attribution": snapshot["attribution"],
        "pipeline.too_late": str(snapshot["pipeline"]["too_late"]),
        "pipeline.duplicates": str(snapshot["pipeline"]["duplicates"]),
    }
    for channel, live in snapshot["live"].items():
        for name, value in live.items():
            out[f"live.{channel}.{name}"] = _text(value)
    for channel, view in snapshot["channels"].items():
        out[f"current_interval.{channel}.start"] = view["current_interval"]["start"]
        out[f"current_interval.{channel}.end"] = view["current_interval"]["end"]
        out[f"today.{channel}.start"] = view["today"]["start"]
        for window in WINDOWS:
            for name, value in view[window]["figures"].items():
                out[f"{window}.{channel}.{name}"] = _text(value)
        for span, figs in view["rolling"].items():
            for name, value in figs.items():
                out[f"rolling_{span}.{channel}.{name}"] = _text(value)
    return out


class RedisSink:
    """Writes snapshots to Redis, one transaction per flush."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self.client = aioredis.from_url(settings.url)
        self.prefix = settings.key_prefix

    async def publish(
        self,
        snapshots: list[dict[str, Any]],
        intervals: list[dict[str, Any]] | None = None,
        families: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        """Replace each queue's hash, record intervals, refresh the index, notify."""
        if not (snapshots or intervals or families):
            return
        ttl = self.settings.ttl_seconds
        index = f"{self.prefix}:queues"
        pipe = self.client.pipeline(transaction=True)
        newest = 0
        for snap in snapshots:
            key = queue_key(self.prefix, snap["tenant"], snap["queue"])
            member = f"{snap['tenant']}/{snap['queue']}"
            pipe.delete(key)
            pipe.hset(key, mapping=flatten(snap))  # type: ignore[arg-type]
            pipe.expire(key, ttl)
            pipe.zadd(index, {member: snap["as_of_ms"]})
            pipe.publish(
                f"{self.prefix}:updates",
                orjson.dumps({"queue": member, "as_of_ms": snap["as_of_ms"]}),
            )
            newest = max(newest, snap["as_of_ms"])
        keep_s = self.settings.interval_retention_hours * 3600
        for record in intervals or ():
            tenant, queue, start_ms = record["tenant"], record["queue"], record["start_ms"]
            key = interval_key(self.prefix, tenant, queue, start_ms)
            fields = {"start": record["start"], "end": record["end"], "start_ms": str(start_ms)}
            for channel, figs in record["channels"].items():
                for name, value in figs.items():
                    fields[f"{channel}.{name}"] = _text(value)
            starts = intervals_key(self.prefix, tenant, queue)
            pipe.delete(key)
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.expire(key, keep_s)
            pipe.zadd(starts, {str(start_ms): start_ms})
            pipe.zremrangebyscore(starts, "-inf", start_ms - keep_s * 1000)
            pipe.expire(starts, keep_s)
        for family, snap in families or ():
            for key, fields in FLATTENERS[family](self.prefix, snap):
                pipe.delete(key)
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                pipe.expire(key, ttl)
            pipe.publish(
                f"{self.prefix}:updates",
                orjson.dumps({family: snap["tenant"], "as_of_ms": snap["as_of_ms"]}),
            )
        if newest:
            pipe.expire(index, ttl)
            pipe.zremrangebyscore(index, "-inf", newest - ttl * 1000)
        await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()
