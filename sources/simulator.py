"""A seeded, reproducible contact-centre simulator that emits contract events (pure, no I/O).

Each queue is a FIFO multi-agent queue with impatient callers (an M/G/c+M queue):

* arrivals are Poisson; with `SimConfig.daily_curve` the rate follows `daily_curve()` by the
  queue's local time (quiet at night, peaks mid-morning and early afternoon), drawn by thinning;
  `SimQueue.arrivals_per_hour` is the *peak* rate (the curve tops out at 1.0);
* a contact arriving outside `open_hours` is blocked 'closed', on a queue without agents blocked
  'no_agents', and when no agent is free and `capacity` contacts already wait, blocked 'full'
  (so `capacity=0` makes a pure loss system); a blocked contact gets `contact.blocked` only;
* otherwise it is offered and waits in FIFO order for the agent idle longest. It abandons when
  its (exponential) patience runs out first, is dequeued 'timeout' at `max_wait_seconds`, or is
  answered by `agent-<queue>-<n>`; the agent talks (lognormal), maybe holds (voice only) and
  wraps up, and stays busy until the wrap ends, when `contact.completed` is emitted;
* every wait is capped at the contract's 7-day maximum (then dequeued 'timeout').

Arrivals stop at `start_ms + duration_seconds`. With `SimConfig.drain` (the default) contacts
already in progress are finished, so every offered contact has its outcome (and every answered
one its completion) even if that falls after the end; with `drain=False` nothing at or after the
end is emitted. Each queue draws from its own `random.Random` seeded from the run seed and the
queue's key, so a queue's traffic does not change when other queues are added or removed.

The service start of each contact follows from the agents' next-free instants when it arrives
(the Kiefer-Wolfowitz recursion: FIFO means no later arrival can overtake it), so one heap of
pending events per run is all the bookkeeping: no per-event objects beyond the dicts yielded.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from heapq import heappop, heappush, heapreplace
from typing import Any, Final
from zoneinfo import ZoneInfo

WireEvent = dict[str, Any]

#: The contract's longest duration (see `ccpulse.schemas.decode.MAX_DURATION_S`), in ms.
MAX_DURATION_MS: Final = 7 * 86_400 * 1000
#: Earliest instant the contract accepts (2000-01-01T00:00Z).
MIN_START_MS: Final = 946_684_800_000
#: Time zones offset UTC by whole quarter hours, so local hours change only on these boundaries.
_BLOCK_MS: Final = 900_000
_CHANNELS: Final = ("voice", "chat", "email", "sms", "social", "video", "other")
_NAME_RE: Final = re.compile(r"^\w[\w .@+~-]{0,127}$")

#: Relative arrival rate at the start of each local hour (linear in between); peak 1.0 at 10:00.
DAILY_CURVE: Final[tuple[float, ...]] = (
    0.05, 0.03, 0.02, 0.02, 0.03, 0.06, 0.15, 0.35, 0.65, 0.90, 1.00, 0.95,
    0.75, 0.85, 0.95, 0.85, 0.70, 0.55, 0.40, 0.30, 0.22, 0.15, 0.10, 0.07,
)  # fmt: skip

#: Shares of the mean handle time: talk (lognormal), hold (voice, some calls), wrap (exponential).
_TALK_SHARE: Final = 0.80
_HOLD_PROBABILITY: Final = 0.25
_HOLD_SHARE: Final = 0.20  # mean hold of a held call; 0.25 * 0.20 = 0.05 of the handle time
_WRAP_SHARE: Final = 0.15
_TALK_SIGMA: Final = 0.6
_MIN_TALK_MS: Final = 1000


def daily_curve(local_hour: float) -> float:
    """Relative arrival rate (0-1] at a local time of day given in hours, e.g. 13.5."""
    h = local_hour % 24.0
    i = int(h)
    lo = DAILY_CURVE[i]
    return lo + (h - i) * (DAILY_CURVE[(i + 1) % 24] - lo)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimQueue:
    """One simulated queue; all fields but `name` are keyword-only.

    `mean_patience_seconds` may be `math.inf` (nobody abandons, e.g. email); `open_hours` is
    (opening hour, closing hour) in local time, wrapping midnight when opening > closing.
    """

    name: str = field(kw_only=False)
    tenant: str = "default"
    channel: str = "voice"
    agents: int
    arrivals_per_hour: float
    mean_handle_seconds: float
    mean_patience_seconds: float
    capacity: int = 100
    max_wait_seconds: float | None = None
    open_hours: tuple[int, int] | None = None
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("tenant", self.tenant)):
            if not _NAME_RE.match(value):
                raise ValueError(f"{label} {value!r} is not a valid contract name")
        if self.channel not in _CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(_CHANNELS)}")
        if self.agents < 0 or self.capacity < 0:
            raise ValueError("agents and capacity must be >= 0")
        if not 0 <= self.arrivals_per_hour < math.inf:
            raise ValueError("arrivals_per_hour must be a finite number >= 0")
        if not 0 < self.mean_handle_seconds < MAX_DURATION_MS / 1000:
            raise ValueError("mean_handle_seconds must be > 0 and under 7 days")
        if not self.mean_patience_seconds > 0:
            raise ValueError("mean_patience_seconds must be > 0 (math.inf: never abandons)")
        if self.max_wait_seconds is not None and not self.max_wait_seconds >= 0:
            raise ValueError("max_wait_seconds must be >= 0")
        if self.open_hours is not None:
            opening, closing = self.open_hours
            if not (0 <= opening <= 23 and 1 <= closing <= 24 and opening != closing):
                raise ValueError("open_hours must be (0-23, 1-24) with different hours")
        try:
            ZoneInfo(self.time_zone)
        except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {self.time_zone!r}") from None

    @property
    def key(self) -> str:
        """The "tenant/queue" key that `batched()` groups by."""
        return f"{self.tenant}/{self.name}"


@dataclass(frozen=True, slots=True)
class SimConfig:
    """A simulation run: queues, seed, start instant (epoch ms) and duration."""

    queues: list[SimQueue]
    seed: int
    start_ms: int
    duration_seconds: float
    daily_curve: bool = True
    resolved_ratio: float = 0.75
    #: Finish contacts in progress after the end (True) or emit nothing at or past it (False).
    drain: bool = True

    def __post_init__(self) -> None:
        keys = [q.key for q in self.queues]
        if len(set(keys)) != len(keys):
            raise ValueError("queue keys (tenant/name) must be unique")
        if self.start_ms < MIN_START_MS:
            raise ValueError("start_ms is epoch milliseconds and must be after 2000")
        if not 0 <= self.duration_seconds < math.inf:
            raise ValueError("duration_seconds must be a finite number >= 0")
        if not 0 <= self.resolved_ratio <= 1:
            raise ValueError("resolved_ratio is a probability between 0 and 1")


def default_queues() -> list[SimQueue]:
    """A demo contact centre: 6 queues, 2 tenants, voice/chat/email, some of them understaffed.

    Offered load at peak (Erlangs = arrivals/h * handle s / 3600) on agents: acme/sales 12 on
    14, acme/support 12.5 on 10 (overloaded at peak: many abandons), acme/chat 6 on 8,
    globex/billing 4 on 6, globex/helpdesk 4.2 on 5 (tight), globex/email 4 on 3 (a backlog
    by afternoon, some 2-hour timeouts). Off-peak the daily curve leaves all of them ample.
    """
    london, new_york = "Europe/London", "America/New_York"
    return [
        SimQueue("sales", tenant="acme", channel="voice", agents=14, arrivals_per_hour=180,
                 mean_handle_seconds=240, mean_patience_seconds=150, capacity=40,
                 open_hours=(8, 20), time_zone=london),
        SimQueue("support", tenant="acme", channel="voice", agents=10, arrivals_per_hour=150,
                 mean_handle_seconds=300, mean_patience_seconds=120, capacity=15,
                 max_wait_seconds=600, time_zone=london),
        SimQueue("chat", tenant="acme", channel="chat", agents=8, arrivals_per_hour=60,
                 mean_handle_seconds=360, mean_patience_seconds=240, capacity=20,
                 max_wait_seconds=900, open_hours=(7, 22), time_zone=london),
        SimQueue("billing", tenant="globex", channel="voice", agents=6, arrivals_per_hour=40,
                 mean_handle_seconds=360, mean_patience_seconds=180, capacity=15,
                 open_hours=(9, 17), time_zone=new_york),
        SimQueue("helpdesk", tenant="globex", channel="chat", agents=5, arrivals_per_hour=50,
                 mean_handle_seconds=300, mean_patience_seconds=150, capacity=12,
                 max_wait_seconds=600, time_zone=new_york),
        SimQueue("email", tenant="globex", channel="email", agents=3, arrivals_per_hour=30,
                 mean_handle_seconds=480, mean_patience_seconds=math.inf, capacity=1000,
                 max_wait_seconds=2 * 3600, time_zone=new_york),
    ]  # fmt: skip


class _Run:
    """Mutable state of one queue during a run (internal)."""

    __slots__ = (
        "agent_ids", "agents", "block_cache", "closed_hours", "curve", "hold_mean", "mu",
        "patience_rate", "q", "rate", "rng", "timeout_ms", "waiting", "wrap_rate", "zone",
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


def simulate(config: SimConfig) -> Iterator[WireEvent]:
    """Yield contract event dicts (wire shape, `ts` in epoch ms) in non-decreasing `ts` order.

    Event and contact ids are unique within a run and a pure function of the seed.
    """
    end_ms = config.start_ms + round(config.duration_seconds * 1000)
    drain = config.drain
    resolved_ratio = config.resolved_ratio
    run_id = f"{random.Random(f'ccpulse-sim:{config.seed}').getrandbits(48):012x}"
    runs = [_Run(q, config) for q in config.queues if q.arrivals_per_hour > 0]
    arrivals: list[tuple[float, int]] = []
    for i, r in enumerate(runs):
        first = r.next_arrival(float(config.start_ms), end_ms)
        if first < end_ms:
            arrivals.append((first, i))
    arrivals.sort()
    pending: list[tuple[int, int, WireEvent]] = []
    seq = 0
    log = math.log
    while arrivals:
        t, i = arrivals[0]
        a = int(t)
        while pending and pending[0][0] <= a:
            yield heappop(pending)[2]
        r = runs[i]
        q = r.q
        rng = r.rng
        seq += 1
        cid = f"{run_id}-{seq}"
        tenant, queue, channel = q.tenant, q.name, q.channel
        reason = None
        if not r.block(a - a % _BLOCK_MS)[3]:
            reason = "closed"
        elif not r.agents:
            reason = "no_agents"
        else:
            free, agent = r.agents[0]
            start = free if free > a else a
            waits = start > a
            if waits:
                waiting = r.waiting
                while waiting and waiting[0] <= a:
                    heappop(waiting)
                if len(waiting) >= q.capacity:
                    reason = "full"
        if reason is not None:
            yield {"event_id": cid + "-b", "type": "contact.blocked", "ts": a, "tenant": tenant,
                   "queue": queue, "channel": channel, "contact_id": cid,
                   "reason": reason}  # fmt: skip
        else:
            yield {"event_id": cid + "-o", "type": "contact.offered", "ts": a, "tenant": tenant,
                   "queue": queue, "channel": channel, "contact_id": cid}  # fmt: skip
            gave_up = False
            if waits:
                prate = r.patience_rate
                patience = int(-log(1.0 - rng.random()) / prate) if prate else MAX_DURATION_MS
                limit = patience if patience < r.timeout_ms else r.timeout_ms
                if start - a > limit:
                    gave_up = True
                    out = a + limit
                    heappush(r.waiting, out)
                    if patience < r.timeout_ms:
                        ev = {"event_id": cid + "-x", "type": "contact.abandoned", "ts": out,
                              "tenant": tenant, "queue": queue, "channel": channel,
                              "contact_id": cid, "wait_seconds": limit / 1000}  # fmt: skip
                    else:
                        ev = {"event_id": cid + "-d", "type": "contact.dequeued", "ts": out,
                              "tenant": tenant, "queue": queue, "channel": channel,
                              "contact_id": cid, "reason": "timeout",
                              "wait_seconds": limit / 1000}  # fmt: skip
                    heappush(pending, (out, seq, ev))
                else:
                    heappush(r.waiting, start)
            if not gave_up:
                talk = int(rng.lognormvariate(r.mu, _TALK_SIGMA))
                talk = _MIN_TALK_MS if talk < _MIN_TALK_MS else min(talk, MAX_DURATION_MS)
                hold = 0
                if r.hold_mean and rng.random() < _HOLD_PROBABILITY:
                    hold = min(int(-log(1.0 - rng.random()) * r.hold_mean), MAX_DURATION_MS)
                wrap = min(int(-log(1.0 - rng.random()) / r.wrap_rate), MAX_DURATION_MS)
                done = start + talk + hold + wrap
                heapreplace(r.agents, (done, agent))
                agent_id = r.agent_ids[agent]
                answered = {"event_id": cid + "-a", "type": "contact.answered", "ts": start,
                            "tenant": tenant, "queue": queue, "channel": channel,
                            "contact_id": cid, "agent_id": agent_id,
                            "wait_seconds": (start - a) / 1000}  # fmt: skip
                if waits:
                    heappush(pending, (start, seq, answered))
                else:
                    yield answered
                heappush(pending, (done, seq, {
                    "event_id": cid + "-c", "type": "contact.completed", "ts": done,
                    "tenant": tenant, "queue": queue, "channel": channel, "contact_id": cid,
                    "agent_id": agent_id, "talk_seconds": talk / 1000,
                    "hold_seconds": hold / 1000, "wrap_seconds": wrap / 1000,
                    "resolved": rng.random() < resolved_ratio,
                }))  # fmt: skip
        nxt = r.next_arrival(t, end_ms)
        if nxt < end_ms:
            heapreplace(arrivals, (nxt, i))
        else:
            heappop(arrivals)
    while pending:
        if not drain and pending[0][0] >= end_ms:
            return
        yield heappop(pending)[2]


def batched(
    events: Iterable[WireEvent], size: int, *, max_span_ms: int | None = None
) -> Iterator[tuple[str, list[WireEvent]]]:
    """Group events into per-queue batches keyed "tenant/queue", for producers of JSON arrays.

    Each batch holds at most `size` events of one queue, in their original order; a queue's
    batches come out in order, so per-queue order survives (order across queues does not). A
    batch is flushed when full, at the end, and, with `max_span_ms`, as soon as an event arrives
    more than `max_span_ms` after the batch's first event (so quiet queues are not held back).
    """
    if size < 1:
        raise ValueError("size must be >= 1")
    buffers: dict[str, list[WireEvent]] = {}
    for ev in events:
        if max_span_ms is not None and buffers:
            ts = ev.get("ts")
            if isinstance(ts, int):
                # Buffers are created in event order, so the oldest is the first in the dict.
                while buffers:
                    oldest = next(iter(buffers))
                    first_ts = buffers[oldest][0].get("ts")
                    if not isinstance(first_ts, int) or ts - first_ts <= max_span_ms:
                        break
                    yield oldest, buffers.pop(oldest)
        key = f"{ev.get('tenant', 'default')}/{ev['queue']}"
        buf = buffers.get(key)
        if buf is None:
            buf = buffers[key] = []
        buf.append(ev)
        if len(buf) >= size:
            del buffers[key]
            yield key, buf
    yield from buffers.items()
