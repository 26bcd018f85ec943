"""Per-queue KPI settings: service-level formula and thresholds, time zone, intervals, attribution.

Plain frozen data resolved once per queue and channel; the file/environment loading lives in
`ccpulse.config`, which builds a `PolicyBook`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from ccpulse.streams.kpi.tickets_hours import TicketSettings


class SLFormula(StrEnum):
    """Which contacts a service level counts as met and over what (see docs/kpi-definitions.md)."""

    ANSWERED = "answered"
    ANSWERED_AND_ABANDONED = "answered_and_abandoned"
    EXCLUDE_SHORT_ABANDONS = "exclude_short_abandons"
    EXCLUDE_ABANDONS_WITHIN_THRESHOLD = "exclude_abandons_within_threshold"
    ABANDONS_WITHIN_THRESHOLD_MET = "abandons_within_threshold_met"


class Attribution(StrEnum):
    """Which interval an answered/abandoned/dequeued/completed contact counts in."""

    OUTCOME = "outcome"
    ARRIVAL = "arrival"


INTERVAL_MINUTES_ALLOWED: Final = (15, 30, 60)


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """Settings of one queue (and optionally one channel of it)."""

    #: Industry default: 80 % of contacts answered within 20 seconds.
    sl_threshold_seconds: float = 20.0
    sl_target: float = 0.80
    sl_formula: SLFormula = SLFormula.EXCLUDE_SHORT_ABANDONS
    #: Callers who hang up within 5 s mostly dialled wrongly; most reports set them apart.
    short_abandon_seconds: float = 5.0
    abandon_rate_excludes_short: bool = False
    #: Dequeued contacts (timeouts, overflows) in the SL denominator, as Genesys "flow-outs".
    sl_counts_dequeued: bool = False
    #: Alert limits (deploy/prometheus alerts, docs/alerts.md): more contacts waiting, or a
    #: longer current wait, than a supervisor would let pass without acting. Voice defaults;
    #: set them per channel (email waits are counted in hours).
    contacts_waiting_limit: int = 10
    longest_wait_limit_seconds: float = 120.0
    time_zone: str = "UTC"
    interval_minutes: int = 15
    attribution: Attribution = Attribution.OUTCOME
    #: The thresholds in milliseconds, which the KPI core compares with each answered and
    #: abandoned contact's wait: worked out once here, not at each contact (not settings).
    sl_threshold_ms: int = field(init=False, repr=False, compare=False)
    short_abandon_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sl_formula", SLFormula(self.sl_formula))
        object.__setattr__(self, "attribution", Attribution(self.attribution))
        object.__setattr__(self, "sl_threshold_ms", round(self.sl_threshold_seconds * 1000))
        object.__setattr__(self, "short_abandon_ms", round(self.short_abandon_seconds * 1000))
        if self.interval_minutes not in INTERVAL_MINUTES_ALLOWED:
            raise ValueError(f"interval_minutes must be one of {INTERVAL_MINUTES_ALLOWED}")
        if not 0 <= self.sl_target <= 1:
            raise ValueError("sl_target is a ratio between 0 and 1")
        if self.contacts_waiting_limit < 0 or self.longest_wait_limit_seconds < 0:
            raise ValueError("alert limits must be non-negative")
        if self.sl_threshold_seconds < 0 or self.short_abandon_seconds < 0:
            raise ValueError("thresholds must be non-negative")
        try:
            ZoneInfo(self.time_zone)
        except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {self.time_zone!r}") from None

    @property
    def interval_ms(self) -> int:
        return self.interval_minutes * 60_000

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


#: Settings that shape the buckets themselves and so must be equal for all channels of a queue.
QUEUE_LEVEL_FIELDS: Final = ("time_zone", "interval_minutes", "attribution")
#: The settings of a queue: the fields that configuration may set.
POLICY_FIELDS: Final = tuple(f.name for f in fields(QueuePolicy) if f.init)


def policy_from_mapping(base: QueuePolicy, values: dict[str, Any]) -> QueuePolicy:
    """Overlay `values` (from a config file or environment) on `base`, checking names."""
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"unknown queue setting(s): {', '.join(sorted(unknown))}")
    return replace(base, **values)


#: The longest rolling window: a day of minute buckets per queue and channel.
MAX_ROLLING_MINUTES: Final = 1440


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Settings of the engine as a whole (not per queue)."""

    #: A day of lateness: sources that batch-upload logs overnight still land in their interval.
    lateness_seconds: int = 86_400
    #: Sliding windows shown beside intervals; the longest bounds the minute buckets kept.
    rolling_minutes: tuple[int, ...] = (15, 60)
    #: A contact still "waiting" after this long lost its outcome event; it leaves the live view.
    max_wait_seconds: int = 86_400
    #: Completed intervals kept in state (0 keeps all, as the offline report does).
    interval_retention_hours: int = 48

    def __post_init__(self) -> None:
        for minutes in self.rolling_minutes:
            if type(minutes) is not int or not 1 <= minutes <= MAX_ROLLING_MINUTES:
                raise ValueError(
                    f"engine.rolling_minutes: each window is a whole number of minutes from 1 "
                    f"to {MAX_ROLLING_MINUTES}, got {minutes!r}"
                )


@dataclass(frozen=True, slots=True)
class PolicyBook:
    """Resolves the policy for a tenant, queue and channel: defaults < tenant < queue < channel."""

    default: QueuePolicy = field(default_factory=QueuePolicy)
    tenants: dict[str, QueuePolicy] = field(default_factory=dict)
    queues: dict[tuple[str, str], QueuePolicy] = field(default_factory=dict)
    channels: dict[tuple[str, str, str], QueuePolicy] = field(default_factory=dict)
    engine: EngineSettings = field(default_factory=EngineSettings)
    #: SLA targets and business hours of the ticket family (`[tickets]`); None: the defaults.
    tickets: TicketSettings | None = None

    def with_overrides(self, **values: Any) -> PolicyBook:
        """The same book with `values` set on every policy in it (command-line overrides)."""
        return replace(
            self,
            default=replace(self.default, **values),
            tenants={k: replace(p, **values) for k, p in self.tenants.items()},
            queues={k: replace(p, **values) for k, p in self.queues.items()},
            channels={k: replace(p, **values) for k, p in self.channels.items()},
        )

    def for_queue(self, tenant: str, queue: str) -> QueuePolicy:
        found = self.queues.get((tenant, queue))
        if found is not None:
            return found
        return self.tenants.get(tenant, self.default)

    def for_channel(self, tenant: str, queue: str, channel: str) -> QueuePolicy:
        found = self.channels.get((tenant, queue, channel))
        return found if found is not None else self.for_queue(tenant, queue)
