"""The Redis key contract (docs/redis-keys.md) on a real Redis: one hash per queue replaced
atomically, the queue index, kept intervals, TTLs and the update notice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from ccpulse.config import LimitsSettings, RedisSettings
from ccpulse.embedded import Service, start_redis
from ccpulse.sinks.redis_client import PackedCommand, Transaction
from ccpulse.sinks.redis_sink import FULL_WRITE_SECONDS, MAX_FULL_WRITES, RedisSink, flatten
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline

pytestmark = pytest.mark.integration

T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z


@pytest.fixture
def settings(redis_server: Service) -> RedisSettings:
    """The sink's settings: the test Redis, keys under `cc:`."""
    return RedisSettings(url=f"redis://127.0.0.1:{redis_server.port}/0", key_prefix="cc")


def _pipeline() -> Pipeline:
    pipeline = Pipeline(PolicyBook())
    events = [
        {"event_id": "o1", "type": "contact.offered", "ts": T0, "queue": "sales",
         "contact_id": "c1"},
        {"event_id": "a1", "type": "contact.answered", "ts": T0 + 15_000, "queue": "sales",
         "contact_id": "c1", "agent_id": "a"},
        {"event_id": "o2", "type": "contact.offered", "ts": T0 + 16 * 60_000, "queue": "sales",
         "contact_id": "c2", "channel": "chat"},
    ]  # fmt: skip
    letters: list[DeadLetter] = []
    pipeline.process(Message("cc", 0, 0, b"default/sales", orjson.dumps(events)), letters.append)
    pipeline.table_writes()
    return pipeline


def test_queue_hash_index_intervals_ttl_and_notice(
    settings: RedisSettings, client: redis.Redis
) -> None:
    pipeline = _pipeline()
    now = T0 + 20 * 60_000
    snapshots = pipeline.snapshots(now)
    pubsub = client.pubsub()
    pubsub.subscribe("cc:updates")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"  # type: ignore[index]

    async def publish() -> None:
        sink = RedisSink(settings)
        client.hset("cc:queue:default:sales", "stale.field", "x")  # replaced, not merged
        await sink.publish(snapshots, pipeline.interval_records())
        await sink.close()

    asyncio.run(publish())

    stored = {k.decode(): v.decode() for k, v in client.hgetall("cc:queue:default:sales").items()}
    assert stored == flatten(snapshots[0])
    assert stored["today.all.offered"] == "2"
    assert stored["today.voice.answered"] == "1"
    assert stored["today.chat.offered"] == "1"
    assert stored["live.all.in_queue"] == "1"
    assert stored["live.chat.longest_wait_seconds"] == "240.0"
    assert stored["today.all.asa_seconds"] == "15.0"
    assert stored["today.chat.asa_seconds"] == ""  # no answered chat: no value, not 0
    assert 0 < client.ttl("cc:queue:default:sales") <= 86_400

    assert client.zrange("cc:queues", 0, -1, withscores=True) == [(b"default/sales", float(now))]
    starts = [int(s) for s in client.zrange("cc:intervals:default:sales", 0, -1)]
    assert starts == [T0, T0 + 15 * 60_000]
    first = {
        k.decode(): v.decode() for k, v in client.hgetall(f"cc:interval:default:sales:{T0}").items()
    }
    assert first["start"] == "2026-03-10T09:00:00+00:00"
    assert first["end"] == "2026-03-10T09:15:00+00:00"
    assert first["voice.offered"] == "1" and first["all.answered"] == "1"
    assert 0 < client.ttl(f"cc:interval:default:sales:{T0}") <= 48 * 3600

    deadline = time.monotonic() + 5
    message = None
    while message is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
    assert message is not None
    assert orjson.loads(message["data"]) == {"queue": "default/sales", "as_of_ms": now}
    pubsub.close()


def _stored(client: redis.Redis, key: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in client.hgetall(key).items()}


def test_later_flushes_write_only_changes_and_repair_a_lost_hash(
    settings: RedisSettings, client: redis.Redis
) -> None:
    """After the first full write, a flush sends only changed fields, yet every flush leaves
    each hash exactly equal to the snapshot: fields that vanish are deleted, and a hash Redis
    lost between flushes is written again in full."""
    pipeline = _pipeline()
    key = "cc:queue:default:sales"
    sent: list[tuple[str, ...]] = []

    async def run() -> None:
        sink = RedisSink(settings)
        original = sink._execute

        async def recording_execute(transaction: Transaction) -> list[Any]:
            sent.extend(
                cmd.args if isinstance(cmd, PackedCommand) else tuple(str(part) for part in cmd)
                for cmd in transaction.command_stack
            )
            return await original(transaction)

        sink._execute = recording_execute  # type: ignore[method-assign]
        first = pipeline.snapshots(T0 + 20 * 60_000, everything=True)
        await sink.publish(first)
        assert _stored(client, key) == flatten(first[0])
        full = [c for c in sent if c[0] == "HSET" and c[1] == key]
        assert len(full) == 1 and len(full[0]) > 200  # every field, the first time

        sent.clear()
        second = pipeline.snapshots(T0 + 20 * 60_000 + 1_000, everything=True)
        await sink.publish(second)
        assert _stored(client, key) == flatten(second[0])
        partial = [c for c in sent if c[0] == "HSET" and c[1] == key]
        changed = {f for f, v in flatten(second[0]).items() if flatten(first[0])[f] != v}
        assert changed and set(partial[0][2::2]) == changed  # only the changed fields
        assert not [c for c in sent if c[0] == "DEL" and c[1] == key]

        # A channel's fields vanish from the snapshot: they are deleted from the hash.
        snap = second[0]
        third_snap = dict(
            snap,
            channels={c: v for c, v in snap["channels"].items() if c != "chat"},
            live={c: v for c, v in snap["live"].items() if c != "chat"},
        )
        sent.clear()
        await sink.publish([third_snap])
        assert _stored(client, key) == flatten(third_snap)
        assert not any(f.startswith("today.chat.") for f in _stored(client, key))
        assert [c for c in sent if c[0] == "HDEL" and c[1] == key]

        client.delete(key)  # Redis lost the hash (restart, eviction)
        fourth = pipeline.snapshots(T0 + 20 * 60_000 + 3_000, everything=True)
        await sink.publish(fourth)
        assert _stored(client, key) == flatten(fourth[0])  # repaired in full at once
        assert 0 < client.ttl(key) <= 86_400

        # Something else changes a field the snapshot still has: a diff leaves it, but every
        # hash is written in full again within FULL_WRITE_SECONDS (+ up to a minute).
        client.hset(key, "today.all.offered", "999")
        fifth = pipeline.snapshots(T0 + 20 * 60_000 + 4_000, everything=True)
        await sink.publish(fifth)
        assert _stored(client, key)["today.all.offered"] == "999"
        later = T0 + 20 * 60_000 + (FULL_WRITE_SECONDS + 61) * 1000
        sixth = pipeline.snapshots(later, everything=True)
        await sink.publish(sixth)
        assert _stored(client, key) == flatten(sixth[0])

        # The interval index is lost: the next write of the interval puts it back.
        records = pipeline.interval_records()
        await sink.publish([], records)
        client.delete("cc:intervals:default:sales")
        pipeline.mark_dirty("default", "sales", records[0]["start_ms"])
        await sink.publish([], pipeline.interval_records())
        assert client.zscore("cc:intervals:default:sales", str(records[0]["start_ms"]))
        await sink.close()

    asyncio.run(run())


def test_a_redis_emptied_between_flushes_gets_every_interval_again(
    settings: RedisSettings, client: redis.Redis
) -> None:
    """Redis restarted without persistence: the closed intervals and their index come back."""
    pipeline = _pipeline()
    now = T0 + 40 * 60_000

    async def go() -> list[bool]:
        sink = RedisSink(settings)
        seen = []
        await sink.publish(pipeline.snapshots(now), pipeline.interval_records())
        seen.append(sink.lost)  # the first writer into an empty Redis
        sink.lost = False
        await sink.publish(pipeline.snapshots(now, everything=True), [])
        seen.append(sink.lost)
        client.flushdb()
        await sink.publish(pipeline.snapshots(now + 1, everything=True), [])
        seen.append(sink.lost)
        if sink.lost:  # what the worker does (streams/worker.py)
            sink.forget_written()
            pipeline.republish_all(now)
            await sink.publish(pipeline.snapshots(now + 2), pipeline.interval_records())
        await sink.close()
        return seen

    seen = asyncio.run(go())
    assert seen == [True, False, True]
    starts = sorted(int(m) for m in client.zrange("cc:intervals:default:sales", 0, -1))
    assert starts == [T0, T0 + 15 * 60_000]
    assert client.hget(f"cc:interval:default:sales:{T0}", "all.offered") == b"1"


def test_a_redis_restarted_from_an_older_snapshot_gets_every_interval_again(
    tmp_path: Path,
) -> None:
    """Redis saved a snapshot (RDB), took more writes, died and restarted from that snapshot:
    the later writes are gone but the `epoch` marker is not. The sink's write count comes back
    no higher than the last it saw, and the worker writes everything again (streams/worker.py)."""
    data = tmp_path / "redis-data"
    data.mkdir()
    server = start_redis(data_dir=data)
    settings = RedisSettings(url=f"redis://127.0.0.1:{server.port}/0", key_prefix="cc")
    pipeline = _pipeline()  # an interval at 09:00; the one at 09:15 still open
    later = {"event_id": "o3", "type": "contact.offered", "ts": T0 + 31 * 60_000,
             "queue": "sales", "contact_id": "c3"}  # fmt: skip

    async def go() -> list[bool]:
        nonlocal server
        sink = RedisSink(settings)
        seen = []
        await sink.publish(pipeline.snapshots(T0 + 20 * 60_000), pipeline.interval_records())
        seen.append(sink.lost)  # the first writer into an empty Redis
        sink.lost = False
        with redis.Redis(port=server.port) as c:
            c.save()  # the snapshot: the 09:00 and 09:15 intervals as of 09:20
        pipeline.process(Message("cc", 0, 1, b"default/sales", orjson.dumps(later)),
                         lambda _: None)  # fmt: skip
        pipeline.table_writes()
        await sink.publish(pipeline.snapshots(T0 + 32 * 60_000), pipeline.interval_records())
        seen.append(sink.lost)
        server.proc.kill()  # dies without saving, and restarts from the snapshot
        server.proc.wait()
        server.stop()
        server = start_redis(server.port, data_dir=data)
        with redis.Redis(port=server.port) as c:
            assert c.exists("cc:epoch")  # the marker is as it was: only the count tells
            assert not c.exists(f"cc:interval:default:sales:{T0 + 30 * 60_000}")
        for _ in range(3):  # the first command may meet the connection Redis closed
            try:
                await sink.publish(pipeline.snapshots(T0 + 33 * 60_000, everything=True), [])
                break
            except redis.ConnectionError:
                continue
        seen.append(sink.lost)
        if sink.lost:  # what the worker does
            sink.forget_written()
            pipeline.republish_all(T0 + 33 * 60_000)
            await sink.publish(pipeline.snapshots(T0 + 33 * 60_000), pipeline.interval_records())
        await sink.close()
        return seen

    try:
        seen = asyncio.run(go())
        assert seen == [True, False, True]
        with redis.Redis(port=server.port) as c:
            starts = sorted(int(m) for m in c.zrange("cc:intervals:default:sales", 0, -1))
            assert starts == [T0, T0 + 15 * 60_000, T0 + 30 * 60_000]
            assert c.hget(f"cc:interval:default:sales:{T0 + 30 * 60_000}", "all.offered") == b"1"
    finally:
        server.stop()


def test_a_flush_of_many_hashes_in_full_goes_in_transactions_of_a_bounded_size(
    settings: RedisSettings, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first flush of 450 queues and their 900 intervals writes them all in full, in
    transactions of at most `MAX_FULL_WRITES` such hashes, in order; the next flush, of changes
    only, is one transaction again. Every hash holds its snapshot exactly either way."""
    pipeline = Pipeline(PolicyBook(), LimitsSettings(max_queues=1000))
    for n in range(450):
        events = [
            {"event_id": f"o{n}", "type": "contact.offered", "ts": T0 + n, "queue": f"q{n:03d}",
             "contact_id": f"c{n}"},
            {"event_id": f"a{n}", "type": "contact.answered", "ts": T0 + 16 * 60_000 + n,
             "queue": f"q{n:03d}", "contact_id": f"c{n}", "agent_id": "a"},
        ]  # fmt: skip
        key = f"default/q{n:03d}".encode()
        pipeline.process(Message("cc", 0, n, key, orjson.dumps(events)), lambda _: None)
    pipeline.table_writes()
    sent: list[tuple[int, int]] = []
    flushed: list[list[dict[str, Any]]] = []

    async def two_flushes() -> None:
        sink = RedisSink(settings)
        one_transaction = sink._publish

        async def counted(
            snapshots: list[Any], intervals: list[Any], families: Any
        ) -> tuple[int, int]:
            sent.append((len(snapshots), len(intervals)))
            return await one_transaction(snapshots, intervals, families)

        monkeypatch.setattr(sink, "_publish", counted)
        for now in (T0 + 20 * 60_000, T0 + 20 * 60_000 + 1000):
            snapshots = pipeline.snapshots(now, everything=True)
            await sink.publish(snapshots, pipeline.interval_records(limit=2000))
            flushed.append(snapshots)
            sent.append((-1, -1))  # the end of a flush
        await sink.close()

    asyncio.run(two_flushes())
    first = sent[: sent.index((-1, -1))]
    assert first == [(200, 0), (200, 0), (50, 150), (0, 200), (0, 200), (0, 200), (0, 150)]
    assert all(n + m <= MAX_FULL_WRITES for n, m in first)
    # The second: changes only (the intervals were all taken by the first).
    assert sent[len(first) + 1 :] == [(450, 0), (-1, -1)]
    for snap in flushed[1]:
        assert _stored(client, f"cc:queue:default:{snap['queue']}") == flatten(snap)
    assert client.zcard("cc:queues") == 450
    intervals = client.keys("cc:interval:default:*")
    assert len(intervals) == 900
    assert {client.hget(k, "all.offered") for k in intervals} == {b"1", b"0"}


def test_names_beyond_ascii_arrive_as_written(settings: RedisSettings, client: redis.Redis) -> None:
    """Field values go to Redis as UTF-8 text, whatever packs the command (redis_client.py)."""
    pipeline = Pipeline(PolicyBook())
    queue = "ventes-été-東京"
    event = {"event_id": "o1", "type": "contact.offered", "ts": T0, "queue": queue,
             "contact_id": "c1"}  # fmt: skip
    key = f"default/{queue}".encode()
    pipeline.process(Message("cc", 0, 0, key, orjson.dumps(event)), lambda _: None)
    pipeline.table_writes()
    snapshots = pipeline.snapshots(T0 + 60_000)

    async def publish() -> None:
        sink = RedisSink(settings)
        await sink.publish(snapshots, [])
        await sink.close()

    asyncio.run(publish())
    stored = _stored(client, f"cc:queue:default:{queue}")
    assert stored == flatten(snapshots[0])
    assert stored["queue"] == queue and stored["live.all.in_queue"] == "1"
