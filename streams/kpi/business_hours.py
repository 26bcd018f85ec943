"""Business time: a weekly schedule of opening hours in local time, and clocks that measure by it.

A schedule lists opening windows per weekday as local wall times ("09:00"-"17:00"); a window
whose end is not after its start runs past midnight into the next day ("22:00"-"06:00"), and
"24:00" ends a window at midnight. Each window is placed on its calendar date in the zone, so a
window keeps its wall-clock hours across DST changes (an 8-hour day stays 8 hours, a night
window over the spring-forward jump is an hour shorter). A wall time that does not exist (in the
spring-forward gap) is read with the offset before the jump, i.e. moved forward by the gap.
Overlapping windows count once; dates in `closed_dates` open no window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

#: Weekday numbers as `date.weekday()`: Monday 0 ... Sunday 6.
MONDAY_TO_FRIDAY: Final = (0, 1, 2, 3, 4)
#: A schedule without any window in this many days is refused (the clock would never stop).
_MAX_SCAN_DAYS: Final = 800


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"not a wall time HH:MM between 00:00 and 24:00: {text!r}")
    value = int(hours) * 60 + int(minutes)
    if not (len(minutes) == 2 and 0 <= int(minutes) < 60 and 0 <= value <= 24 * 60):
        raise ValueError(f"not a wall time HH:MM between 00:00 and 24:00: {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class BusinessSchedule:
    """Weekly opening hours: (weekday, "HH:MM" start, "HH:MM" end) in local time."""

    hours: tuple[tuple[int, str, str], ...]
    #: IANA zone of the wall times; None: the tenant's own time zone.
    time_zone: str | None = None
    #: ISO dates ("2026-12-25") on which no window opens (holidays).
    closed_dates: tuple[str, ...] = ()
    _closed: frozenset[date] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.hours:
            raise ValueError("a business schedule needs at least one opening window")
        for weekday, start, end in self.hours:
            if weekday not in range(7):
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}")
            _minutes(end)  # validates
            if _minutes(start) == 24 * 60:
                raise ValueError(f"an opening window cannot start at 24:00: {start}-{end}")
        if self.time_zone is not None:
            ZoneInfo(self.time_zone)
        closed = frozenset(date.fromisoformat(d) for d in self.closed_dates)
        object.__setattr__(self, "_closed", closed)

    @classmethod
    def weekdays(
        cls, start: str = "09:00", end: str = "17:00", time_zone: str | None = None
    ) -> BusinessSchedule:
        """Monday to Friday, the same hours each day."""
        return cls(tuple((d, start, end) for d in MONDAY_TO_FRIDAY), time_zone)


class Clock(Protocol):
    """Measures durations and adds them, in elapsed or business time (milliseconds)."""

    business: bool

    def between(self, start_ms: int, end_ms: int) -> int:
        """Time counted in [start, end); 0 when end <= start."""
        ...

    def add(self, start_ms: int, duration_ms: int) -> int:
        """The first instant by which `duration_ms` has been counted since `start_ms`."""
        ...


class ElapsedClock:
    """Every millisecond counts (no schedule: 24/7)."""

    business = False

    def between(self, start_ms: int, end_ms: int) -> int:
        return max(0, end_ms - start_ms)

    def add(self, start_ms: int, duration_ms: int) -> int:
        return start_ms + max(0, duration_ms)


class BusinessClock:
    """Counts only the time inside a schedule's opening windows, in one zone."""

    business = True

    def __init__(self, schedule: BusinessSchedule, zone_name: str) -> None:
        self.schedule = schedule
        self.zone = ZoneInfo(schedule.time_zone or zone_name)
        self._by_weekday: dict[int, list[tuple[int, int]]] = {}
        for weekday, start, end in schedule.hours:
            lo, hi = _minutes(start), _minutes(end)
            self._by_weekday.setdefault(weekday, []).append((lo, hi if hi > lo else hi + 1440))
        self._days: dict[int, list[tuple[int, int]]] = {}

    def _epoch_ms(self, day: date, minutes: int) -> int:
        wall = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        local = wall.replace(tzinfo=None) + timedelta(minutes=minutes)
        return round(local.replace(tzinfo=self.zone).timestamp() * 1000)

    def windows(self, ordinal: int) -> list[tuple[int, int]]:
        """Opening windows [start, end) in epoch ms that open on local date `ordinal`."""
        found = self._days.get(ordinal)
        if found is None:
            day = date.fromordinal(ordinal)
            found = []
            if day not in self.schedule._closed:
                for lo, hi in sorted(self._by_weekday.get(day.weekday(), ())):
                    start, end = self._epoch_ms(day, lo), self._epoch_ms(day, hi)
                    if end > start:
                        found.append((start, end))
            if len(self._days) > 4096:
                self._days.clear()
            self._days[ordinal] = found
        return found

    def _ordinal(self, ts_ms: int) -> int:
        return datetime.fromtimestamp(ts_ms / 1000, self.zone).toordinal()

    def between(self, start_ms: int, end_ms: int) -> int:
        if end_ms <= start_ms:
            return 0
        total, covered = 0, start_ms
        # Start a day early: a window opened the evening before may still run at `start_ms`.
        for ordinal in range(self._ordinal(start_ms) - 1, self._ordinal(end_ms) + 1):
            for lo, hi in self.windows(ordinal):
                lo, hi = max(lo, covered), min(hi, end_ms)
                if hi > lo:
                    total += hi - lo
                    covered = hi
        return total

    def add(self, start_ms: int, duration_ms: int) -> int:
        if duration_ms <= 0:
            return start_ms
        left, covered = duration_ms, start_ms
        first = self._ordinal(start_ms) - 1
        for ordinal in range(first, first + _MAX_SCAN_DAYS):
            for lo, hi in self.windows(ordinal):
                lo = max(lo, covered)
                if hi <= lo:
                    continue
                if hi - lo >= left:
                    return lo + left
                left -= hi - lo
                covered = hi
        raise ValueError(f"business schedule opens no window within {_MAX_SCAN_DAYS} days")


def make_clock(schedule: BusinessSchedule | None, zone_name: str) -> Clock:
    """The clock for a schedule: business time with one, elapsed time without."""
    return ElapsedClock() if schedule is None else BusinessClock(schedule, zone_name)
