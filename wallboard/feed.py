"""The wallboard's one Redis subscription and its fan-out to every connected screen.

One task per server process subscribes to `<prefix>:updates`, then reads the whole state (the
queue index, agent, ticket and survey hashes) into a cache, so a new screen gets everything at
once. Each notice re-reads only what it names and hands the new model, encoded once, to the
queue of every screen allowed to see it. When Redis goes away the feed says so to every screen
("stale"), retries with backoff, and after reconnecting reads the whole state again: pub/sub
keeps nothing for absent subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ccpulse.wallboard.store import Store

log = logging.getLogger("ccpulse.wallboard")

FAMILIES = ("agents", "tickets", "surveys")
#: Agent, ticket and survey hashes are rewritten at every flush (0.5 s); re-read each tenant's
#: at most this often.
FAMILY_REFRESH_SECONDS = 1.0
#: A screen that falls this many messages behind is sent the whole state again instead.
CLIENT_QUEUE_SIZE = 500
HEARTBEAT_SECONDS = 5.0
RESYNC = ("resync", "")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(eq=False)
class Screen:
    """One connected browser (or API stream reader): what it may see, and its outbox."""

    tenants: frozenset[str] | None  # None: every tenant
    queues: frozenset[str] | None  # "tenant/queue" members; None: every queue of its tenants
    outbox: asyncio.Queue[tuple[str, str]] = field(
        default_factory=lambda: asyncio.Queue(CLIENT_QUEUE_SIZE)
    )

    def sees_tenant(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants

    def sees_queue(self, member: str) -> bool:
        tenant = member.partition("/")[0]
        return self.sees_tenant(tenant) and (self.queues is None or member in self.queues)

    def send(self, event: str, data: str) -> None:
        try:
            self.outbox.put_nowait((event, data))
        except asyncio.QueueFull:  # too slow: drop what waits, send the whole state instead
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(RESYNC)


class Feed:
    """The cache of everything a wallboard shows, kept current from Redis."""

    def __init__(self, url: str, prefix: str,
                 connect: Callable[[str], Any] | None = None) -> None:  # fmt: skip
        self.url = url
        self.prefix = prefix
        self.channel = f"{prefix}:updates"
        self._connect = connect or (lambda u: aioredis.from_url(
            u, socket_connect_timeout=2.0, socket_timeout=5.0))  # fmt: skip
        self.queues: dict[str, dict[str, Any]] = {}
        self.families: dict[str, dict[str, dict[str, Any]]] = {f: {} for f in FAMILIES}
        self.redis_up = False
        #: Set by `stop`: the loops end at their next turn even if a Redis call swallowed the
        #: task's cancellation (redis-py's reads can), so that a shutdown never hangs.
        self.stopping = False
        #: The whole state has been read at least once since the process started.
        self.loaded = False
        #: Wall clock of the last change received (epoch ms), 0 before any.
        self.last_update_ms = 0
        self.screens: set[Screen] = set()
        self._family_due: dict[tuple[str, str], float] = {}
        self._family_done: dict[tuple[str, str], float] = {}

    # -- screens ----------------------------------------------------------------------------

    def attach(self, tenants: frozenset[str] | None, queues: frozenset[str] | None) -> Screen:
        screen = Screen(tenants, queues)
        self.screens.add(screen)
        return screen

    def detach(self, screen: Screen) -> None:
        self.screens.discard(screen)

    def status(self) -> dict[str, Any]:
        newest = max((q["as_of_ms"] for q in self.queues.values()), default=0)
        for models in self.families.values():
            newest = max([newest, *(m["as_of_ms"] for m in models.values())])
        return {
            "redis": "up" if self.redis_up else "down",
            "loaded": self.loaded,
            "server_now_ms": now_ms(),
            "newest_as_of_ms": newest or None,
            "last_update_ms": self.last_update_ms or None,
            "screens": len(self.screens),
        }

    def snapshot(self, screen: Screen) -> dict[str, Any]:
        """Everything the screen may see, for its first message and after a resync."""
        return {
            "status": self.status(),
            "queues": [q for m, q in sorted(self.queues.items()) if screen.sees_queue(m)],
            **{family: [v for t, v in sorted(models.items()) if screen.sees_tenant(t)]
               for family, models in self.families.items()},
        }  # fmt: skip

    def _broadcast(self, event: str, data: str, tenant: str) -> None:
        """One tenant's model to every screen that may see that tenant."""
        for screen in self.screens:
            if screen.sees_tenant(tenant):
                screen.send(event, data)

    def _broadcast_status(self) -> None:
        data = orjson.dumps(self.status()).decode()
        for screen in self.screens:
            screen.send("status", data)

    def _resync_all(self) -> None:
        for screen in self.screens:
            screen.send(*RESYNC)

    # -- Redis ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow Redis until cancelled, reconnecting with backoff (0.2 s doubling to 2 s)."""
        backoff = 0.2
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not self.stopping:
                client = self._connect(self.url)
                try:
                    await self._session(client)
                except (RedisError, OSError) as exc:
                    if self.redis_up and not self.stopping:
                        log.warning("wallboard: Redis unreachable (%s), reconnecting", exc)
                finally:
                    with contextlib.suppress(Exception):
                        await client.aclose()
                if self.redis_up:  # it was up: say so at once, and retry soon
                    self.redis_up = False
                    backoff = 0.2
                    self._broadcast_status()
                else:
                    backoff = min(backoff * 2, 2.0)
                await asyncio.sleep(backoff)
        finally:
            heartbeat.cancel()

    def stop(self) -> None:
        """End `run` at its next turn (the app's shutdown also cancels it)."""
        self.stopping = True

    async def _heartbeat(self) -> None:
        """A status every few seconds: screens check the server's clock and that it is alive."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self._broadcast_status()

    async def _session(self, client: Any) -> None:
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self.channel)  # before the first read: no change is missed
            store = Store(client, self.prefix)
            await self._load_all(store)
            self.redis_up = True
            self._broadcast_status()
            self._resync_all()
            next_ping = time.monotonic() + 2.0
            while not self.stopping:
                # every notice already there: one flush's notices are read together
                notices: list[dict[str, Any]] = []
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.25)
                while message is not None:
                    notices.append(message)
                    if len(notices) >= 5000:
                        break
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=0)  # fmt: skip
                if notices:
                    await self._apply(store, notices)
                await self._refresh_families(store)
                if time.monotonic() >= next_ping:  # a Redis that hangs is found out too
                    await client.ping()
                    next_ping = time.monotonic() + 2.0
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _load_all(self, store: Store) -> None:
        members = await store.queue_members()
        models = await store.queues(members)
        tenants = {m.partition("/")[0] for m in members} | await store.tenants()
        families: dict[str, dict[str, dict[str, Any]]] = {f: {} for f in FAMILIES}
        for tenant in sorted(tenants):
            for family in FAMILIES:
                model = await getattr(store, family)(tenant)
                if model is not None:
                    families[family][tenant] = model
        # Replaced whole: a queue Redis lost (restarted without persistence) shows "no data"
        # until the worker writes it again, rather than figures nobody vouches for any more.
        self.queues = {m: q for m, q in models.items() if q is not None}
        self.families = families
        self.loaded = True
        self.last_update_ms = now_ms()

    async def _apply(self, store: Store, notices: list[dict[str, Any]]) -> None:
        members: list[str] = []
        for message in notices:
            try:
                notice = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                continue
            if not isinstance(notice, dict):
                continue
            if isinstance(notice.get("queue"), str) and notice["queue"] not in members:
                members.append(notice["queue"])
            for family in FAMILIES:
                tenant = notice.get(family)
                if isinstance(tenant, str) and (family, tenant) not in self._family_due:
                    done = self._family_done.get((family, tenant), 0.0)
                    self._family_due[(family, tenant)] = done + FAMILY_REFRESH_SECONDS
        if not members:
            return
        models = await store.queues(members)
        self.last_update_ms = now_ms()
        changed = []
        for member, model in models.items():
            if model is not None:  # None: expired between notice and read; keep what is shown
                self.queues[member] = model
                changed.append(member)
        self._broadcast_queues(changed)

    def _broadcast_queues(self, members: list[str]) -> None:
        """One `queues` event per screen for everything a flush changed that it may see,
        encoded once per distinct selection (screens of one tenant share it)."""
        encoded: dict[tuple[str, ...], str] = {}
        for screen in self.screens:
            seen = tuple(m for m in members if screen.sees_queue(m))
            if not seen:
                continue
            data = encoded.get(seen)
            if data is None:
                data = encoded[seen] = orjson.dumps([self.queues[m] for m in seen]).decode()
            screen.send("queues", data)

    async def _refresh_families(self, store: Store) -> None:
        clock = time.monotonic()
        due = [key for key, at in self._family_due.items() if at <= clock]
        for family, tenant in due:
            del self._family_due[(family, tenant)]
            self._family_done[(family, tenant)] = clock
            model = await getattr(store, family)(tenant)
            if family == "agents":
                await self._refresh_summaries(store, tenant)
            if model is None:
                continue
            self.families[family][tenant] = model
            self.last_update_ms = now_ms()
            self._broadcast(family, orjson.dumps(model).decode(), tenant)

    async def _refresh_summaries(self, store: Store, tenant: str) -> None:
        """The agents per state of each of the tenant's queues, shown on their queue tiles."""
        members = [m for m in self.queues if m.partition("/")[0] == tenant]
        summaries = await store.summaries(tenant, [m.partition("/")[2] for m in members])
        changed = []
        for member, summary in zip(members, summaries, strict=True):
            model = self.queues[member]
            if summary != model.get("agents"):
                self.queues[member] = {**model, "agents": summary}
                changed.append(member)
        self._broadcast_queues(changed)
