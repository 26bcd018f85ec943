"""Flush after flush, a real Redis holds exactly each queue's and interval's figures as text,
although the sink writes only the fields whose values changed (docs/redis-keys.md)."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

import orjson
import pytest
import redis

from ccpulse.config import RedisSettings
from ccpulse.embedded import Service
from ccpulse.sinks.redis_client import Transaction, bulk_text, bulks
from ccpulse.sinks.redis_fields import text
from ccpulse.sinks.redis_sink import RedisSink, interval_key, queue_key
from ccpulse.sources.simulator import SimConfig, SimQueue, simulate
from ccpulse.streams.kpi import PolicyBook, QueuePolicy
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline

pytestmark = pytest.mark.integration

T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z


def _expected_text(value: Any) -> str:
    """The documented text of a value, written out apart from the sink's own code."""
    if value is None:
        return ""
    if isinstance(value, float):
        rounded = round(value, 6)
        return "0.0" if rounded == 0 else repr(rounded)
    return str(value)


def _expected_queue_hash(snap: dict[str, Any]) -> dict[str, str]:
    out = {
        name: _expected_text(snap[name])
        for name in ("tenant", "queue", "as_of", "as_of_ms", "time_zone", "interval_minutes",
                     "sl_formula", "attribution")
    }  # fmt: skip
    out["pipeline.too_late"] = str(snap["pipeline"]["too_late"])
    out["pipeline.duplicates"] = str(snap["pipeline"]["duplicates"])
    for channel, live in snap["live"].items():
        out.update({f"live.{channel}.{n}": _expected_text(v) for n, v in live.items()})
    for channel, view in snap["channels"].items():
        out[f"current_interval.{channel}.start"] = view["current_interval"]["start"]
        out[f"current_interval.{channel}.end"] = view["current_interval"]["end"]
        out[f"today.{channel}.start"] = view["today"]["start"]
        windows = [(w, view[w]["figures"]) for w in ("current_interval", "today")]
        windows += [(f"rolling_{span}", figs) for span, figs in view["rolling"].items()]
        for window, figs in windows:
            out.update({f"{window}.{channel}.{n}": _expected_text(v) for n, v in figs.items()})
    return out


def _expected_interval_hash(record: dict[str, Any]) -> dict[str, str]:
    out = {"start": record["start"], "end": record["end"], "start_ms": str(record["start_ms"])}
    for channel, figs in record["channels"].items():
        out.update({f"{channel}.{n}": _expected_text(v) for n, v in figs.items()})
    for channel, tally in record["tallies"].items():
        out[f"{channel}.tally"] = orjson.dumps(tally).decode()
    return out


def _stored(client: redis.Redis, key: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in client.hgetall(key).items()}


def test_every_flush_leaves_each_hash_equal_to_its_figures(
    redis_server: Service, client: redis.Redis
) -> None:
    """Queues of one channel (whose all-channel figures are the channel's), of two channels,
    and of a channel with a policy of its own; contacts waiting, then not; flushes every few
    seconds of simulated time, the events of each step shuffled and partly re-sent."""
    queues = [
        SimQueue("solo", channel="voice", agents=3, arrivals_per_hour=900,
                 mean_handle_seconds=40, mean_patience_seconds=30),
        SimQueue("duo", channel="voice", agents=2, arrivals_per_hour=600,
                 mean_handle_seconds=50, mean_patience_seconds=40),
        SimQueue("duo-chat", channel="chat", agents=2, arrivals_per_hour=600,
                 mean_handle_seconds=50, mean_patience_seconds=math.inf),
        SimQueue("own", channel="email", agents=1, arrivals_per_hour=500,
                 mean_handle_seconds=60, mean_patience_seconds=math.inf),
    ]  # fmt: skip
    config = SimConfig(queues, seed=11, start_ms=T0, duration_seconds=1200, daily_curve=False,
                       agents=False, tickets=False, surveys=False)  # fmt: skip
    events = list(simulate(config))
    for event in events:  # the chat queue's contacts are the second channel of "duo"
        if event["queue"] == "duo-chat":
            event["queue"] = "duo"
            event["contact_id"] = f"chat-{event['contact_id']}"
            event["event_id"] = f"chat-{event['event_id']}"
    assert len(events) > 300
    own_policy = QueuePolicy(sl_threshold_seconds=3600)
    book = PolicyBook(channels={("default", "own", "email"): own_policy})
    pipeline = Pipeline(book)
    settings = RedisSettings(url=f"redis://127.0.0.1:{redis_server.port}/0", key_prefix="cc")
    rng = random.Random(3)
    letters: list[DeadLetter] = []
    checked_changes = 0

    async def run() -> None:
        nonlocal checked_changes
        sink = RedisSink(settings)
        offset = 0
        step_ms = 7_000
        for edge in range(T0 + step_ms, T0 + 1_300_000, step_ms):
            due = [e for e in events if edge - step_ms <= e["ts"] < edge]
            due += rng.sample(due, len(due) // 5)  # re-sent
            rng.shuffle(due)
            for event in due:
                key = f"default/{event['queue']}".encode()
                pipeline.process(Message("cc", 0, offset, key, orjson.dumps(event)), letters.append)
                offset += 1
            pipeline.table_writes()
            snaps = pipeline.snapshots(edge)
            intervals = pipeline.interval_records()
            before = {s["queue"]: _stored(client, queue_key("cc", "default", s["queue"]))
                      for s in snaps}  # fmt: skip
            await sink.publish(snaps, intervals)
            for snap in snaps:
                stored = _stored(client, queue_key("cc", "default", snap["queue"]))
                assert stored == _expected_queue_hash(snap)
                if before[snap["queue"]] and before[snap["queue"]] != stored:
                    checked_changes += 1
            for record in intervals:
                key = interval_key("cc", "default", record["queue"], record["start_ms"])
                assert _stored(client, key) == _expected_interval_hash(record)
        await sink.close()

    asyncio.run(run())
    assert not [d for d in letters if d.reason != "duplicate"]
    assert checked_changes > 100  # hashes updated by their changes, not written anew


def test_a_float_rounded_to_zero_has_one_text() -> None:
    assert text(-0.0) == text(0.0) == text(-1e-9) == "0.0"
    assert text(None) == ""
    assert text(0.1 + 0.2) == "0.3"
    assert text(7) == "7"


def test_a_transaction_raises_what_redis_refuses_and_its_connection_serves_on(
    redis_server: Service, client: redis.Redis
) -> None:
    client.set("cc:text", "a string")

    async def run() -> None:
        sink = RedisSink(
            RedisSettings(url=f"redis://127.0.0.1:{redis_server.port}/0", key_prefix="cc")
        )
        wrong_type = Transaction()
        # refused when run: WRONGTYPE
        wrong_type.hset_bulks("cc:text", bulks(("f",)), [bulk_text("1")])
        wrong_type.incr("cc:count")
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            await wrong_type.execute(sink.client)
        assert client.get("cc:count") == b"1"  # Redis ran the rest of the transaction

        refused = Transaction()
        refused.incr("cc:count")
        refused.command_stack.append(("EXPIRE", "cc:count"))  # refused when queued
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            await refused.execute(sink.client)
        assert client.get("cc:count") == b"1"  # EXECABORT: nothing ran

        fine = Transaction()
        fine.incr("cc:count")
        fine.expire("cc:count", 60)
        fine.set("cc:marker", b"x", nx=True)
        fine.set("cc:marker", b"y", nx=True)
        assert await fine.execute(sink.client) == [2, 1, b"OK", None]
        await sink.close()

        gone = RedisSink(RedisSettings(url="redis://127.0.0.1:1/0", key_prefix="cc"))
        with pytest.raises(redis.ConnectionError):
            await fine.execute(gone.client)
        await gone.close()

    asyncio.run(run())
