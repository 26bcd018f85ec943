"""Where an instant falls: local-midnight-aligned intervals, local days and minute buckets.

Intervals have a fixed elapsed length and start at local midnight in the queue's IANA zone, so a
23-hour DST day has 92 quarter-hours and a 25-hour day 100; an interval never crosses midnight.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

MINUTE_MS: Final = 60_000


@lru_cache(maxsize=4096)
def _day_bounds(zone_name: str, ordinal: int) -> tuple[int, int]:
    """Epoch ms of the first instant of local day `ordinal` and of the next day."""
    zone = ZoneInfo(zone_name)
    day = datetime.fromordinal(ordinal)
    start = day.replace(tzinfo=zone)
    end = (day + timedelta(days=1)).replace(tzinfo=zone)
    return round(start.timestamp() * 1000), round(end.timestamp() * 1000)


class Calendar:
    """Fast interval arithmetic for one time zone and interval length."""

    __slots__ = ("_cur_end", "_cur_interval", "_cur_start", "interval_ms", "zone", "zone_name")

    def __init__(self, zone_name: str, interval_ms: int) -> None:
        self.zone_name = zone_name
        self.zone = ZoneInfo(zone_name)
        self.interval_ms = interval_ms
        self._cur_start = 0
        self._cur_end = 0
        self._cur_interval = (0, 0)

    def day_bounds(self, ts_ms: int) -> tuple[int, int]:
        """[start, end) of the local day containing `ts_ms`."""
        if self._cur_start <= ts_ms < self._cur_end:
            return self._cur_start, self._cur_end
        local = datetime.fromtimestamp(ts_ms / 1000, self.zone)
        bounds = _day_bounds(self.zone_name, local.toordinal())
        if not bounds[0] <= ts_ms < bounds[1]:  # a day starting at a DST gap: take the neighbour
            step = 1 if ts_ms >= bounds[1] else -1
            bounds = _day_bounds(self.zone_name, local.toordinal() + step)
        self._cur_start, self._cur_end = bounds
        return bounds

    def interval_start(self, ts_ms: int) -> int:
        """Start of the interval containing `ts_ms`."""
        day_start = self._cur_start
        if not day_start <= ts_ms < self._cur_end:  # another day than last time
            day_start, _ = self.day_bounds(ts_ms)
        return day_start + (ts_ms - day_start) // self.interval_ms * self.interval_ms

    def interval_end(self, start_ms: int) -> int:
        """End of the interval starting at `start_ms` (cut short at local midnight)."""
        _, day_end = self.day_bounds(start_ms)
        return min(start_ms + self.interval_ms, day_end)

    def interval_bounds(self, ts_ms: int) -> tuple[int, int]:
        """[start, end) of the interval containing `ts_ms` (the last one asked for is kept)."""
        found = self._cur_interval
        if not found[0] <= ts_ms < found[1]:
            start = self.interval_start(ts_ms)
            found = self._cur_interval = (start, self.interval_end(start))
        return found

    def label(self, ts_ms: int) -> str:
        """RFC 3339 local time with offset: unambiguous across a DST fall-back."""
        return datetime.fromtimestamp(ts_ms / 1000, self.zone).isoformat(timespec="seconds")


def minute_start(ts_ms: int) -> int:
    """Start of the UTC minute containing `ts_ms` (the rolling windows' granularity)."""
    return ts_ms - ts_ms % MINUTE_MS


def rolling_minutes_window(now_ms: int, minutes: int) -> tuple[int, int]:
    """[start, end) of the minute buckets in a rolling window: this minute and the N-1 before."""
    end = minute_start(now_ms) + MINUTE_MS
    return end - minutes * MINUTE_MS, end
