"""Agents as timelines beside the queue simulation: logins at opening, pauses, unanswered
rings, the states of each handled contact, logouts at closing (`_Staff`, internal)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from heapq import heapify, heappush, heapreplace
from operator import itemgetter
from typing import Any, Final

from ccpulse.sources.simulator_arrivals import _next_change, _Pending, _Run
from ccpulse.sources.simulator_model import _BLOCK_MS, SimConfig

#: Agents: a pause falls due this long (uniform, ms) after login or after the previous pause.
_PAUSE_GAP_MS: Final = (75 * 60_000, 150 * 60_000)
#: Lunch is the first pause at least this long after login; durations are uniform, in ms.
_LUNCH_AFTER_MS: Final = 3 * 3_600_000 + 30 * 60_000
_LUNCH_MS: Final = (30 * 60_000, 45 * 60_000)
_TRAINING_PROBABILITY: Final = 0.06
_TRAINING_MS: Final = (30 * 60_000, 60 * 60_000)
_BREAK_MS: Final = (5 * 60_000, 15 * 60_000)
#: Share of contacts offered to an idle agent that ring unanswered first, and the ring (ms).
_RNA_PROBABILITY: Final = 0.03
_RING_MS: Final = (10_000, 25_000)


class _Staff:
    """The agents of one queue as timelines beside the queue simulation (internal).

    An agent's free instant in `_Run.agents` also covers its pauses and unanswered rings, so the
    queue simulation never gives a contact to a paused agent. Each agent's events are made in
    time order, so their ids (a zero-padded per-agent counter) sort in time order too, which
    keeps events at one instant in order for consumers that sort by (ts, event_id).
    """

    __slots__ = (
        "armed", "due", "end_ms", "ids", "is_open", "logged_in", "login_at", "lunched", "made",
        "pending", "prefix", "r", "rng", "session_end", "tick", "timer_base",
    )  # fmt: skip

    def __init__(
        self, r: _Run, config: SimConfig, run_id: str, number: int, pending: _Pending,
        tick: Iterator[int], timer_base: int, end_ms: int,
    ) -> None:  # fmt: skip
        q = r.q
        self.r = r
        self.rng = random.Random(f"ccpulse-sim:{config.seed}:{q.tenant}/{q.name}:agents")
        self.pending = pending
        self.tick = tick
        self.timer_base = timer_base  # timer number of the shift changes; agent n's pauses: + n
        self.end_ms = end_ms
        n = q.agents + 1
        self.ids = r.agent_ids
        self.prefix = [f"{run_id}-ag{number}-{i}-" for i in range(n)]
        self.made = [0] * n
        self.logged_in = [False] * n
        self.login_at = [0] * n
        self.lunched = [False] * n
        self.due = [0] * n
        self.armed = [False] * n
        self.is_open = True
        self.session_end = end_ms

    def emit(self, n: int, ts: int, seq: int, etype: str, extra: dict[str, Any]) -> None:
        k = self.made[n]
        self.made[n] = k + 1
        ev = {"event_id": f"{self.prefix[n]}{k:08d}", "type": etype, "ts": ts,
              "tenant": self.r.q.tenant, "agent_id": self.ids[n], **extra}  # fmt: skip
        heappush(self.pending, (ts, seq, next(self.tick), ev))

    def free_at(self, n: int) -> int:
        for free, m in self.r.agents:
            if m == n:
                return free
        raise AssertionError(n)  # pragma: no cover

    def _login(self, n: int, t: int, seq: int, timers: list[tuple[float, int]]) -> None:
        if not self.logged_in[n]:
            self.logged_in[n] = True
            self.login_at[n] = t
            self.lunched[n] = False
            self.emit(n, t, seq, "agent.login", {"queue": self.r.q.name})
        if not self.armed[n]:
            self.due[n] = due = t + int(self.rng.uniform(*_PAUSE_GAP_MS))
            if due < self.session_end:
                self.armed[n] = True
                heappush(timers, (due, self.timer_base + n))

    def start(self, start_ms: int, timers: list[tuple[float, int]]) -> None:
        """Log everyone in at the start (or plan the first opening); arm the timers."""
        r = self.r
        change = None
        if r.q.open_hours is not None:
            self.is_open = r.block(start_ms - start_ms % _BLOCK_MS)[3]
            change = _next_change(r, start_ms, self.is_open, self.end_ms)
        if self.is_open:
            self.session_end = self.end_ms if change is None else change
            for n in range(1, len(self.ids)):
                self._login(n, start_ms, 0, timers)
        if change is not None:
            heappush(timers, (change, self.timer_base))

    def shift(self, t: int, seq: int, timers: list[tuple[float, int]]) -> None:
        """Opening (log everyone in) or closing (log each agent out once it is done)."""
        r = self.r
        if self.is_open:
            self.is_open = False
            opening = _next_change(r, t, False, self.end_ms)
            for free, n in sorted(r.agents, key=itemgetter(1)):
                if not self.logged_in[n] or (opening is not None and free >= opening):
                    continue  # still busy at the next opening: stays logged in
                self.logged_in[n] = False
                self.emit(n, free if free > t else t, seq, "agent.logout", {"queue": r.q.name})
            if opening is not None:
                heappush(timers, (opening, self.timer_base))
        else:
            self.is_open = True
            closing = _next_change(r, t, True, self.end_ms)
            self.session_end = self.end_ms if closing is None else closing
            for n in range(1, len(self.ids)):
                self._login(n, t, seq, timers)
            if closing is not None:
                heappush(timers, (closing, self.timer_base))

    def pause(self, n: int, t: int, seq: int, timers: list[tuple[float, int]]) -> None:
        """Agent n's pause falls due: it starts now if idle, else when its contact is done."""
        self.armed[n] = False
        if not (self.logged_in[n] and self.is_open):
            return
        agents = self.r.agents
        j = next(j for j, (_, m) in enumerate(agents) if m == n)
        free = agents[j][0]
        begin = free if free > t else t
        rng = self.rng
        if not self.lunched[n] and begin - self.login_at[n] >= _LUNCH_AFTER_MS:
            reason, span = "lunch", _LUNCH_MS
        elif rng.random() < _TRAINING_PROBABILITY:
            reason, span = "training", _TRAINING_MS
        else:
            reason, span = "break", _BREAK_MS
        back = begin + int(rng.uniform(*span))
        if back > self.session_end:
            return  # no pause runs into closing or the end; none more this session
        if reason == "lunch":
            self.lunched[n] = True
        agents[j] = (back, n)
        heapify(agents)
        self.emit(n, begin, seq, "agent.state", {"state": "paused", "reason": reason})
        self.emit(n, back, seq, "agent.state", {"state": "available"})
        self.due[n] = due = back + int(rng.uniform(*_PAUSE_GAP_MS))
        if due < self.session_end:
            self.armed[n] = True
            heappush(timers, (due, self.timer_base + n))

    def ring(self, a: int, cid: str, seq: int) -> tuple[int, int]:
        """The contact rings at the top agent, unanswered; (answer instant, agent) after it."""
        agents = self.r.agents
        n = agents[0][1]
        rung = a + int(self.rng.uniform(*_RING_MS))
        heapreplace(agents, (rung, n))
        ring = {"queue": self.r.q.name, "contact_id": cid, "ring_seconds": (rung - a) / 1000}
        self.emit(n, rung, seq, "agent.ring_no_answer", ring)
        free, agent = agents[0]
        return (free if free > rung else rung), agent

    def handle(self, n: int, start: int, talk_end: int, done: int, seq: int) -> None:
        queue = self.r.q.name
        self.emit(n, start, seq, "agent.state", {"state": "on_contact", "queue": queue})
        self.emit(n, talk_end, seq, "agent.state", {"state": "wrap_up", "queue": queue})
        self.emit(n, done, seq, "agent.state", {"state": "available"})

    def finish(self, seq: int) -> None:
        """Log out everyone still logged in at the end, once done."""
        end = self.end_ms
        for free, n in sorted(self.r.agents, key=itemgetter(1)):
            if self.logged_in[n]:
                self.logged_in[n] = False
                self.emit(n, free if free > end else end, seq, "agent.logout",
                          {"queue": self.r.q.name})  # fmt: skip
