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

Three more event families are on by default and each has its own `SimConfig` flag:

* `agents`: each queue's agents log in (`agent.login` with the queue) at the start, or at opening
  with `open_hours`, and log out at the end or at closing, once their last contact is finished.
  Each answered contact puts its agent `on_contact` (with the contact's queue) at the answer,
  `wrap_up` at the end of talk and hold, and `available` when the wrap ends (its
  `contact.completed`). Agents take pauses ('break', 'lunch', 'training') every 75-150 minutes:
  a pause is part of the agent's timeline in the queue simulation, so it starts when the agent is
  idle, or as soon as its current contact is wrapped up, and the agent takes no contact until it
  ends. A few contacts offered to an idle agent first ring without answer (`agent.ring_no_answer`
  with `contact_id` and `ring_seconds`) and are answered after the ring (callers do not hang up
  while it rings) by the agent free first then, so a later arrival may be answered before them.
  Pauses and rings change when agents are free, so the contact events of a run depend on this
  flag (and on nothing else added here).
* `tickets`: ticket desks (`SimConfig.desks`, default one per tenant) create email/social/chat
  tickets and work them: first public reply after a delay counted in business hours, internal
  notes, pending/open rounds with the customer, solves, a few reopens, assignments and auto-close
  (see `ccpulse.sources.simulator_tickets`).
* `surveys`: about a quarter of completed contacts and finally solved tickets get a CSAT
  response, some also NPS and CES, scored lower after long waits, unresolved contacts and slow or
  reopened tickets.

Each family draws from its own random streams, so turning one on or off leaves the others' events
as they were (except agents, as said). All streams are merged in `ts` order.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from heapq import heapify, heappop, heappush, heapreplace
from operator import itemgetter
from typing import Any, Final
from zoneinfo import ZoneInfo

from ccpulse.schemas.events import AGENTS_KEY, SURVEYS_KEY, TICKETS_KEY

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
#: Delay of a contact's survey response after its completion (ms): right after a call or chat,
#: hours after an email.
_SURVEY_DELAY_MS: Final = {"voice": (20_000, 180_000), "video": (20_000, 180_000),
                           "chat": (10_000, 600_000), "sms": (60_000, 1_800_000),
                           "social": (60_000, 3_600_000)}  # fmt: skip
_SURVEY_DELAY_MEAN_MS: Final = 4 * 3_600_000  # other channels (email): exponential
_NPS_PROBABILITY: Final = 0.5
_CES_PROBABILITY: Final = 0.35
#: Batch keys of the event families that belong to no queue (see `routing_key`).
_FAMILY_KEYS: Final = {"agent": AGENTS_KEY, "ticket": TICKETS_KEY, "survey": SURVEYS_KEY}


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


def _check_weights(
    label: str, pairs: tuple[tuple[str, float], ...], allowed: tuple[str, ...]
) -> None:
    if not pairs or any(name not in allowed or not 0 <= w < math.inf for name, w in pairs):
        raise ValueError(f"{label} must be (name, weight >= 0) pairs of {', '.join(allowed)}")
    if not sum(w for _, w in pairs) > 0:
        raise ValueError(f"{label} needs a positive weight")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimTicketDesk:
    """One simulated ticket desk: a tenant's agent group working email/social/chat tickets.

    `tickets_per_hour` is the peak creation rate (it follows `daily_curve()` in `time_zone` like
    a queue, and drops to 40 % at weekends); `agents` is the size of the group (assignees
    "agent-<group>-<n>"). Agents work in `business_hours` (local, Monday to Friday): the first
    public reply comes after an exponential delay of `mean_first_reply_minutes` of business time
    (times 0.2 for urgent tickets, which are worked around the clock, 0.5 high, 1.8 low). Ratios
    are probabilities per ticket: `by_agent_ratio` agent-created tickets (no first response
    owed), `assign_ratio` assigned before the first reply, `one_touch_ratio` solved with the first
    reply, `note_ratio` an internal note per round, `reopen_ratio` reopened after the solve.
    Solved tickets are closed `close_after_hours` later (None: never).
    """

    tenant: str = field(kw_only=False)
    group: str = field(kw_only=False)
    tickets_per_hour: float = field(kw_only=False)
    agents: int = field(kw_only=False)
    time_zone: str = "UTC"
    business_hours: tuple[int, int] = (8, 18)
    mean_first_reply_minutes: float = 120.0
    channels: tuple[tuple[str, float], ...] = (("email", 0.6), ("social", 0.25), ("chat", 0.15))
    priorities: tuple[tuple[str, float], ...] = (
        ("low", 0.2), ("normal", 0.55), ("high", 0.18), ("urgent", 0.07),
    )  # fmt: skip
    by_agent_ratio: float = 0.05
    assign_ratio: float = 0.85
    one_touch_ratio: float = 0.4
    note_ratio: float = 0.3
    reopen_ratio: float = 0.08
    close_after_hours: float | None = 96.0

    def __post_init__(self) -> None:
        for label, value in (("tenant", self.tenant), ("group", self.group)):
            if not _NAME_RE.match(value):
                raise ValueError(f"{label} {value!r} is not a valid contract name")
        if not 0 <= self.tickets_per_hour < math.inf:
            raise ValueError("tickets_per_hour must be a finite number >= 0")
        if self.agents < 1:
            raise ValueError("a desk needs at least one agent")
        opening, closing = self.business_hours
        if not 0 <= opening < closing <= 24:
            raise ValueError(
                "business_hours must be (opening, closing) with 0 <= opening < closing <= 24"
            )
        if not 0 < self.mean_first_reply_minutes < 7 * 24 * 60:
            raise ValueError("mean_first_reply_minutes must be > 0 and under 7 days")
        _check_weights("channels", self.channels, _CHANNELS)
        _check_weights("priorities", self.priorities, ("low", "normal", "high", "urgent"))
        for label in ("by_agent_ratio", "assign_ratio", "one_touch_ratio", "note_ratio",
                      "reopen_ratio"):  # fmt: skip
            if not 0 <= getattr(self, label) <= 1:
                raise ValueError(f"{label} is a probability between 0 and 1")
        if self.close_after_hours is not None and not 0 < self.close_after_hours <= 24 * 30:
            raise ValueError("close_after_hours must be > 0 and at most 30 days, or None")
        try:
            ZoneInfo(self.time_zone)
        except (KeyError, ValueError):
            raise ValueError(f"unknown time zone {self.time_zone!r}") from None

    @property
    def key(self) -> str:
        return f"{self.tenant}/{self.group}"


@dataclass(frozen=True, slots=True)
class SimConfig:
    """A simulation run: queues, seed, start instant (epoch ms) and duration.

    `agents`, `tickets` and `surveys` switch the event families beside contacts on or off (see
    the module docstring); with all three off a run is contacts only, exactly as before they
    existed. `desks` are the ticket desks (None: `default_desks(queues)`, one per tenant), and
    `survey_response_ratio` the share of completed contacts and solved tickets that get a survey
    response.
    """

    queues: list[SimQueue]
    seed: int
    start_ms: int
    duration_seconds: float
    daily_curve: bool = True
    resolved_ratio: float = 0.75
    #: Finish contacts in progress after the end (True) or emit nothing at or past it (False).
    drain: bool = True
    agents: bool = True
    tickets: bool = True
    surveys: bool = True
    desks: list[SimTicketDesk] | None = None
    survey_response_ratio: float = 0.25

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
        if not 0 <= self.survey_response_ratio <= 1:
            raise ValueError("survey_response_ratio is a probability between 0 and 1")
        if self.desks is not None:
            desk_keys = [d.key for d in self.desks]
            if len(set(desk_keys)) != len(desk_keys):
                raise ValueError("desk keys (tenant/group) must be unique")


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


def default_desks(queues: list[SimQueue]) -> list[SimTicketDesk]:
    """One ticket desk ("desk") per tenant of `queues`, in the tenant's first queue's time zone.

    Its peak rate is a tenth of the tenant's peak contacts per hour (at least 1), worked by one
    agent per 3 tickets an hour (at least 2): for the demo queues, acme 39 and globex 12 tickets
    an hour at peak.
    """
    rates: dict[str, float] = {}
    zones: dict[str, str] = {}
    for q in queues:
        rates[q.tenant] = rates.get(q.tenant, 0.0) + q.arrivals_per_hour
        zones.setdefault(q.tenant, q.time_zone)
    desks = []
    for tenant, rate in rates.items():
        per_hour = max(1.0, round(rate / 10, 1))
        desks.append(SimTicketDesk(tenant, "desk", per_hour, max(2, math.ceil(per_hour / 3)),
                                   time_zone=zones[tenant]))  # fmt: skip
    return desks


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


def survey_responses(
    rng: random.Random, ts: int, mood: float, id_base: str, fields: dict[str, Any]
) -> list[WireEvent]:
    """CSAT (1-5), sometimes also NPS (0-10) and CES (1-7, 7 = least effort) from one customer.

    `mood` is the customer's satisfaction before noise, about 0 (furious) to 1 (delighted); each
    score is the noisy mood on its scale, rounded. Ids are `id_base` + "-csat", "-nps", "-ces".
    """
    mood += rng.gauss(0.0, 0.18)
    out = []
    for survey, probability, low, high, bias in (
        ("csat", 1.0, 1, 5, 0.0),
        ("nps", _NPS_PROBABILITY, 0, 10, 0.04),
        ("ces", _CES_PROBABILITY, 1, 7, 0.0),
    ):
        if probability < 1.0 and rng.random() >= probability:
            continue
        x = mood + bias + rng.gauss(0.0, 0.08)
        x = 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
        out.append({"event_id": f"{id_base}-{survey}", "type": "survey.response", "ts": ts,
                    "tenant": fields["tenant"], "survey": survey,
                    "score": low + round((high - low) * x), **fields})  # fmt: skip
    return out


def contact_mood(wait_ms: int, resolved: bool) -> float:
    """Mood after a contact: long waits and unresolved contacts sour it."""
    return (0.74 + (0.14 if resolved else -0.18)
            - 0.42 * (1.0 - math.exp(-wait_ms / 240_000)))  # fmt: skip


def _contact_surveys(
    r: _Run, cid: str, done: int, wait_ms: int, resolved: bool, agent_id: str, seq: int,
    pending: _Pending,
) -> None:  # fmt: skip
    q = r.q
    rng = r.srng
    span = _SURVEY_DELAY_MS.get(q.channel)
    if span is None:
        delay = -math.log(1.0 - rng.random()) * _SURVEY_DELAY_MEAN_MS
    else:
        delay = rng.uniform(*span)
    ts = done + int(delay)
    fields = {"tenant": q.tenant, "channel": q.channel, "queue": q.name, "agent_id": agent_id,
              "contact_id": cid}  # fmt: skip
    for rank, ev in enumerate(survey_responses(rng, ts, contact_mood(wait_ms, resolved), cid,
                                               fields), start=3):  # fmt: skip
        heappush(pending, (ts, seq, rank, ev))


def simulate(config: SimConfig) -> Iterator[WireEvent]:
    """Yield contract event dicts (wire shape, `ts` in epoch ms) in non-decreasing `ts` order.

    Event, contact and ticket ids are unique within a run and a pure function of the seed.
    """
    end_ms = config.start_ms + round(config.duration_seconds * 1000)
    run_id = f"{random.Random(f'ccpulse-sim:{config.seed}').getrandbits(48):012x}"
    streams = [_contacts(config, run_id, end_ms)]
    if config.tickets:
        from ccpulse.sources.simulator_tickets import desk_events

        desks = default_desks(config.queues) if config.desks is None else config.desks
        streams += [
            desk_events(desk, number, config, run_id, end_ms)
            for number, desk in enumerate(desks)
            if desk.tickets_per_hour > 0
        ]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=itemgetter("ts"))


def _contacts(config: SimConfig, run_id: str, end_ms: int) -> Iterator[WireEvent]:
    """Contacts, with agents and their survey responses: one discrete-event simulation."""
    drain = config.drain
    resolved_ratio = config.resolved_ratio
    staffed = config.agents
    survey_ratio = config.survey_response_ratio if config.surveys else 0.0
    runs = [_Run(q, config) for q in config.queues
            if q.arrivals_per_hour > 0 or (staffed and q.agents > 0)]  # fmt: skip
    #: Arrivals (float instant, run number) and, from `len(runs)` on, agent timers (int instant,
    #: timer number): the shift changes of a staffed queue, then its agents' pauses.
    arrivals: list[tuple[float, int]] = []
    for i, r in enumerate(runs):
        if r.q.arrivals_per_hour > 0:
            first = r.next_arrival(float(config.start_ms), end_ms)
            if first < end_ms:
                arrivals.append((first, i))
    pending: _Pending = []
    n_runs = len(runs)
    staffs: list[_Staff] = []
    timer_owner: list[_Staff] = []
    if staffed:
        tick = itertools.count(8)
        for i, r in enumerate(runs):
            if r.q.agents:
                base = n_runs + len(timer_owner)
                st = r.staff = _Staff(r, config, run_id, i, pending, tick, base, end_ms)
                staffs.append(st)
                timer_owner.extend([st] * (r.q.agents + 1))
                st.start(config.start_ms, arrivals)
    arrivals.sort()
    seq = 0
    log = math.log
    while arrivals:
        t, i = arrivals[0]
        a = int(t)
        while pending and pending[0][0] <= a:
            yield heappop(pending)[3]
        if i >= n_runs:  # an agent timer
            heappop(arrivals)
            st = timer_owner[i - n_runs]
            n = i - st.timer_base
            if n:
                st.pause(n, a, seq, arrivals)
            else:
                st.shift(a, seq, arrivals)
            continue
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
                    heappush(pending, (out, seq, 1, ev))
                else:
                    heappush(r.waiting, start)
            if not gave_up:
                staff = r.staff
                deferred = waits
                if staff is not None and not waits and staff.rng.random() < _RNA_PROBABILITY:
                    waiting = r.waiting
                    while waiting and waiting[0] <= a:
                        heappop(waiting)
                    if len(waiting) < q.capacity:  # the ringing contact waits in the queue
                        start, agent = staff.ring(a, cid, seq)
                        heappush(waiting, start)
                        deferred = True
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
                if deferred:
                    heappush(pending, (start, seq, 1, answered))
                else:
                    yield answered
                resolved = rng.random() < resolved_ratio
                heappush(pending, (done, seq, 2, {
                    "event_id": cid + "-c", "type": "contact.completed", "ts": done,
                    "tenant": tenant, "queue": queue, "channel": channel, "contact_id": cid,
                    "agent_id": agent_id, "talk_seconds": talk / 1000,
                    "hold_seconds": hold / 1000, "wrap_seconds": wrap / 1000,
                    "resolved": resolved,
                }))  # fmt: skip
                if staff is not None:
                    staff.handle(agent, start, start + talk + hold, done, seq)
                if survey_ratio and r.srng.random() < survey_ratio:
                    _contact_surveys(r, cid, done, start - a, resolved, agent_id, seq, pending)
        nxt = r.next_arrival(t, end_ms)
        if nxt < end_ms:
            heapreplace(arrivals, (nxt, i))
        else:
            heappop(arrivals)
    for st in staffs:
        st.finish(seq)
    while pending:
        if not drain and pending[0][0] >= end_ms:
            return
        yield heappop(pending)[3]


def batch_key(event: WireEvent) -> str:
    """The batch (and message) key of a wire event: "tenant/queue" for contacts, and for the
    families without a queue "tenant/#agents", "tenant/#tickets" or "tenant/#surveys"."""
    tail = _FAMILY_KEYS.get(str(event.get("type", "")).partition(".")[0])
    return f"{event.get('tenant', 'default')}/{tail or event['queue']}"


def batched(
    events: Iterable[WireEvent], size: int, *, max_span_ms: int | None = None
) -> Iterator[tuple[str, list[WireEvent]]]:
    """Group events into per-queue batches keyed "tenant/queue", for producers of JSON arrays.

    Agent, ticket and survey events are batched per tenant and family under their routing key
    (see `batch_key`). Each batch holds at most `size` events of one key, in their original
    order; a key's batches come out in order, so per-queue (and per-family) order survives
    (order across keys does not). A
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
        key = batch_key(ev)
        buf = buffers.get(key)
        if buf is None:
            buf = buffers[key] = []
        buf.append(ev)
        if len(buf) >= size:
            del buffers[key]
            yield key, buf
    yield from buffers.items()
