"""The simulator's model: queues, ticket desks and runs as validated frozen data, the daily
arrival curve, and the demo contact centre (`default_queues`, `default_desks`). Pure, no I/O."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
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
