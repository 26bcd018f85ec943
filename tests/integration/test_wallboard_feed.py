"""The wallboard server against a real Redis: one subscription however many screens watch, a
new screen gets the whole state at once and then only changes, each written by the sink."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import httpx
import orjson
import pytest
import redis

from ccpulse.config import RedisSettings
from ccpulse.embedded import Service
from ccpulse.sinks.redis_sink import RedisSink
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline
from tests.integration.conftest import ROOT
from tests.integration.wallboard_helpers import wallboard_server

pytestmark = pytest.mark.integration

T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z
SCREENS = 20


def _snapshots(queues: list[str], waiting: int, now_ms: int) -> list[dict[str, Any]]:
    """Snapshots of acme queues with `waiting` contacts offered and not answered."""
    pipeline = Pipeline(PolicyBook())
    letters: list[DeadLetter] = []
    for q in queues:
        events = [{"event_id": f"{q}-{n}", "type": "contact.offered", "ts": T0 + n * 1000,
                   "tenant": "acme", "queue": q, "contact_id": f"{q}-{n}"}
                  for n in range(waiting)]  # fmt: skip
        pipeline.process(Message("cc", 0, 0, f"acme/{q}".encode(), orjson.dumps(events)),
                         letters.append)  # fmt: skip
    assert not letters
    return pipeline.snapshots(now_ms)


async def _events(client: httpx.AsyncClient, url: str, wanted: int,
                  into: list[tuple[str, Any]]) -> None:  # fmt: skip
    """Read Server-Sent Events from `url` until `wanted` data events have arrived."""
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        event = "message"
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                into.append((event, orjson.loads(line[5:])))
                if len(into) >= wanted:
                    return


def test_many_screens_one_subscription(redis_server: Service) -> None:
    prefix = f"wb{uuid.uuid4().hex[:8]}"
    settings = RedisSettings(url=f"redis://127.0.0.1:{redis_server.port}/0", key_prefix=prefix)
    asyncio.run(_publish(settings, _snapshots(["sales"], 1, T0 + 60_000)))
    env = {**os.environ, "CCPULSE_REDIS_URL": settings.url, "CCPULSE_REDIS_KEY_PREFIX": prefix}
    log = ROOT / ".ccpulse" / "test-logs" / f"{prefix}-wallboard.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with wallboard_server(env, log) as url:
        received = asyncio.run(_watch(url, settings, prefix, redis_server.port))
    for screen in received:
        (first, snapshot), (second, update) = screen[:2]
        assert first == "snapshot"
        assert [(q["queue"], q["live"]["in_queue"]) for q in snapshot["queues"]] == [("sales", 1)]
        assert snapshot["status"]["redis"] == "up"
        assert second == "queues"
        assert [(q["queue"], q["live"]["in_queue"]) for q in update] == [("sales", 3)]


async def _publish(settings: RedisSettings, snapshots: list[dict[str, Any]]) -> None:
    sink = RedisSink(settings)
    await sink.publish(snapshots)
    await sink.close()


async def _watch(url: str, settings: RedisSettings, prefix: str,
                 port: int) -> list[list[tuple[str, Any]]]:  # fmt: skip
    """SCREENS streams; once all are attached, one change; what each received."""
    received: list[list[tuple[str, Any]]] = [[] for _ in range(SCREENS)]
    async with httpx.AsyncClient(timeout=30) as client:
        readers = [asyncio.create_task(_events(client, f"{url}/stream?tenant=acme", 2, into))
                   for into in received]  # fmt: skip
        for _ in range(200):
            status = (await client.get(f"{url}/api/status")).json()
            if status["screens"] == SCREENS and all(received):
                break
            await asyncio.sleep(0.05)
        assert status["screens"] == SCREENS
        # however many screens, the server holds one subscription to the update channel
        channel = f"{prefix}:updates"
        assert redis.Redis(port=port).pubsub_numsub(channel) == [(channel.encode(), 1)]
        await _publish(settings, _snapshots(["sales"], 3, T0 + 90_000))
        await asyncio.wait_for(asyncio.gather(*readers), 30)
        # a screen that comes later gets the state as it is now, at once
        late: list[tuple[str, Any]] = []
        await asyncio.wait_for(_events(client, f"{url}/stream", 1, late), 30)
        assert late[0][1]["queues"][0]["live"]["in_queue"] == 3
    return received



def test_the_feed_stops_even_when_a_redis_read_swallows_the_cancellation(
    redis_server: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wallboard asked to stop (SIGTERM) ends its Redis loop although the read it was in
    swallowed the cancellation, as redis-py's reads may: the server exits, it never hangs."""
    from redis.asyncio.client import PubSub

    from ccpulse.wallboard.feed import Feed

    real = PubSub.get_message
    swallowed = 0
    reading: list[asyncio.Event] = []  # set while the feed waits in a read

    async def get_message(self: PubSub, *args: Any, **kwargs: Any) -> Any:
        nonlocal swallowed
        reading[0].set()
        try:
            return await real(self, *args, **kwargs)
        except asyncio.CancelledError:
            swallowed += 1
            return None
        finally:
            reading[0].clear()

    monkeypatch.setattr(PubSub, "get_message", get_message)

    async def go() -> bool:
        reading.append(asyncio.Event())
        feed = Feed(f"redis://127.0.0.1:{redis_server.port}/0", f"wb{uuid.uuid4().hex[:8]}")
        task = asyncio.create_task(feed.run())
        for _ in range(100):  # until it follows Redis
            if feed.redis_up:
                break
            await asyncio.sleep(0.05)
        assert feed.redis_up
        while True:  # cancel while it waits in a read (which lasts up to 0.25 s)
            await reading[0].wait()
            if reading[0].is_set():
                break
        feed.stop()
        task.cancel()  # what the app's shutdown does
        done, _ = await asyncio.wait({task}, timeout=5)
        return task in done

    assert asyncio.run(go())
    assert swallowed >= 1  # the cancellation did meet a read that swallowed it
