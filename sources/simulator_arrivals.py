"""One queue's arrivals (Poisson, thinned by the daily curve), opening hours and handle-time
shares: the per-queue state of a simulation run (`_Run`, internal to the simulator)."""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from ccpulse.sources.simulator_model import (
    _BLOCK_MS,
    MAX_DURATION_MS,
    SimConfig,
    SimQueue,
    WireEvent,
    daily_curve,
)

if TYPE_CHECKING:
    from ccpulse.sources.simulator_agents import _Staff

#: Shares of the mean handle time: talk (lognormal), hold (voice, some calls), wrap (exponential).
_TALK_SHARE: Final = 0.80
_HOLD_PROBABILITY: Final = 0.25
_HOLD_SHARE: Final = 0.20  # mean hold of a held call; 0.25 * 0.20 = 0.05 of the handle time
_WRAP_SHARE: Final = 0.15
_TALK_SIGMA: Final = 0.6
_MIN_TALK_MS: Final = 1000


class _Run:
    """Mutable state of one queue during a run (internal)."""

    __slots__ = (
        "agent_ids", "agents", "block_cache", "closed_hours", "curve", "hold_mean", "mu",
        "patience_rate", "q", "rate", "rng", "srng", "staff", "timeout_ms", "waiting",
        "wrap_rate", "zone",
    )  # fmt: skip

    def __init__(self, q: SimQueue, config: SimConfig) -> None:
        self.q = q
        self.rng = random.Random(f"ccpulse-sim:{config.seed}:{q.tenant}/{q.name}")
        self.rate = q.arrivals_per_hour / 3_600_000  # peak arrivals per ms
        self.curve = config.daily_curve
        self.zone = ZoneInfo(q.time_zone)
        self.closed_hours = _closed_hours(q.open_hours)
        #: start ms of a 15-minute block -> (rate at block start, slope per ms, max, open)
        self.block_cache: dict[int, tuple[float, float, float, bool]] = {}
        handle_ms = q.mean_handle_seconds * 1000
        self.mu = math.log(_TALK_SHARE * handle_ms) - _TALK_SIGMA**2 / 2
        self.hold_mean = _HOLD_SHARE * handle_ms if q.channel == "voice" else 0.0
        self.wrap_rate = 1 / (_WRAP_SHARE * handle_ms)
        self.patience_rate = 1 / (q.mean_patience_seconds * 1000)  # 0.0: infinite patience
        timeout = MAX_DURATION_MS
        if q.max_wait_seconds is not None:
            timeout = min(timeout, round(q.max_wait_seconds * 1000))
        self.timeout_ms = timeout
        #: (instant the agent is next free, agent number): the longest-idle agent is on top.
        self.agents: list[tuple[int, int]] = [(0, n) for n in range(1, q.agents + 1)]
        self.agent_ids = [""] + [f"agent-{q.name}-{n}" for n in range(1, q.agents + 1)]
        #: Instants at which the contacts now waiting leave the queue (for `capacity`).
        self.waiting: list[int] = []
        #: The agents' timelines (with `SimConfig.agents`) and the survey draws (`surveys`).
        self.staff: _Staff | None = None
        self.srng = random.Random(f"ccpulse-sim:{config.seed}:{q.tenant}/{q.name}:surveys")

    def block(self, start: int) -> tuple[float, float, float, bool]:
        """Arrival-rate line and open flag of the 15-minute block starting at `start`."""
        found = self.block_cache.get(start)
        if found is None:
            local = datetime.fromtimestamp(start / 1000, self.zone)
            hour = local.hour + local.minute / 60
            is_open = int(hour) not in self.closed_hours
            if self.curve:
                f0 = daily_curve(hour)
                f1 = daily_curve(hour + 0.25)
                found = (self.rate * f0, self.rate * (f1 - f0) / _BLOCK_MS,
                         self.rate * max(f0, f1), is_open)  # fmt: skip
            else:
                found = (self.rate, 0.0, self.rate, is_open)
            self.block_cache[start] = found
        return found

    def next_arrival(self, t: float, end: int) -> float:
        """The first arrival after `t` (float epoch ms) by thinning, or `end` if none before it."""
        rng = self.rng
        while t < end:
            bstart = int(t // _BLOCK_MS) * _BLOCK_MS
            r0, slope, rmax, _ = self.block(bstart)
            bend = bstart + _BLOCK_MS
            if rmax <= 0:
                t = bend
                continue
            t -= math.log(1.0 - rng.random()) / rmax
            if t >= bend:
                t = bend  # memoryless: restart the draw under the next block's rate
            elif slope == 0.0 or rng.random() * rmax < r0 + slope * (t - bstart):
                return t
        return end


def _closed_hours(open_hours: tuple[int, int] | None) -> frozenset[int]:
    if open_hours is None:
        return frozenset()
    opening, closing = open_hours
    if opening < closing:
        hours = set(range(opening, closing))
    else:
        hours = set(range(opening, 24)) | set(range(closing))
    return frozenset(set(range(24)) - hours)


def _next_change(r: _Run, t: int, is_open: bool, end_ms: int) -> int | None:
    """The first 15-minute block start after `t` where the queue's open flag is not `is_open`."""
    b = t - t % _BLOCK_MS + _BLOCK_MS
    while b < end_ms:
        if r.block(b)[3] != is_open:
            return b
        b += _BLOCK_MS
    return None


#: Pending event heap entries: (ts, contact sequence, rank, event). Ranks 0-7 are a contact's own
#: events (and its survey responses); agent events take ranks from a shared counter from 8 on, so
#: events at one instant come out in the order they were made.
_Pending = list[tuple[int, int, int, WireEvent]]
