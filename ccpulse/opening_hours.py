"""Opening hours of queues, from the `[opening_hours."<tenant>/<queue>"]` sections of the
configuration file; the range report can leave out the intervals a queue is closed in.

```toml
[opening_hours."default/sales"]
weekdays = "08:00-18:00"          # Monday to Friday
saturday = ["09:00-12:00", "14:00-17:00"]
closed_dates = ["2026-12-25"]
```

Keys: `monday` ... `sunday` (or `mon` ... `sun`), `weekdays` (Monday to Friday) and `daily`,
each one `"HH:MM-HH:MM"` window or a list of them (local time of the queue; an end not after its
start runs past midnight), plus `closed_dates` and `time_zone` (default: the queue's zone). A
queue without a section is open around the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ccpulse.streams.kpi.business_hours import BusinessClock, BusinessSchedule

_DAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_GROUPS: Final = {"weekdays": range(5), "daily": range(7)}

#: (tenant, queue) -> weekly opening hours.
OpeningHours = dict[tuple[str, str], BusinessSchedule]


def _days(key: str) -> range | list[int]:
    if key in _GROUPS:
        return _GROUPS[key]
    for number, name in enumerate(_DAYS):
        if key in (name, name[:3]):
            return [number]
    raise ValueError(f"opening_hours: unknown key {key!r} (a weekday, weekdays, daily, "
                     "closed_dates or time_zone)")  # fmt: skip


def schedule_from_mapping(values: Mapping[str, Any]) -> BusinessSchedule:
    """One queue's section as a `BusinessSchedule`."""
    hours: list[tuple[int, str, str]] = []
    for key, windows in values.items():
        if key in ("closed_dates", "time_zone"):
            continue
        for window in [windows] if isinstance(windows, str) else list(windows):
            start, sep, end = str(window).partition("-")
            if not sep:
                raise ValueError(f"opening_hours: {key} window {window!r} is not HH:MM-HH:MM")
            hours += [(day, start.strip(), end.strip()) for day in _days(key)]
    return BusinessSchedule(tuple(hours), values.get("time_zone"),
                            tuple(values.get("closed_dates", ())))  # fmt: skip


def parse_opening_hours(section: Mapping[str, Any]) -> OpeningHours:
    """The `opening_hours` section: `"<tenant>/<queue>"` (or `"<queue>"`, tenant `default`)."""
    out: OpeningHours = {}
    for name, values in section.items():
        tenant, _, queue = str(name).rpartition("/")
        out[(tenant or "default", queue)] = schedule_from_mapping(dict(values))
    return out


class OpenIntervals:
    """Whether an interval overlaps a queue's opening hours (always, without a schedule)."""

    def __init__(self, hours: OpeningHours) -> None:
        self.hours = hours
        self._clocks: dict[tuple[str, str], BusinessClock | None] = {}

    def is_open(self, tenant: str, queue: str, zone: str, start_ms: int, end_ms: int) -> bool:
        key = (tenant, queue)
        if key not in self._clocks:
            schedule = self.hours.get(key)
            self._clocks[key] = None if schedule is None else BusinessClock(schedule, zone)
        clock = self._clocks[key]
        return clock is None or clock.between(start_ms, end_ms) > 0
