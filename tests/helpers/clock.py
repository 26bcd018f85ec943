"""The property tests' own calendar: local dates, midnights, intervals and labels in IANA zones.

Written from the documented rules with `datetime` and `zoneinfo` only, sharing no code with
`ccpulse.streams.kpi`: a local day starts at its first whole minute (found by bisection, so a
DST jump at midnight starts the day at the jump); intervals are `minutes` long from there and
the last one is cut short at the next midnight. Local dates never go backwards in the zones the
tests use, which is what the bisection relies on.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SEC, MIN, HOUR, DAY = 1000, 60_000, 3_600_000, 86_400_000
FAR_FUTURE = 4_102_444_800_000  # 2100-01-01, the decoder's "now": nothing is from the future


def ms_of(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 instant with its offset (one is required)."""
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, f"{text!r} has no offset"
    return round(parsed.timestamp() * 1000)


def local_date(zone: ZoneInfo, ts: int) -> date:
    return datetime.fromtimestamp(ts / 1000, zone).date()


def label(zone: ZoneInfo, ts: int) -> str:
    """An instant as the snapshots write it: local RFC 3339, whole seconds."""
    return datetime.fromtimestamp(ts / 1000, zone).isoformat(timespec="seconds")


_MIDNIGHTS: dict[tuple[str, date], int] = {}


def midnight(zone: ZoneInfo, day: date) -> int:
    """The first whole minute whose local date is `day` (a bisection over the minutes of the
    36 hours before noon finds it)."""
    found = _MIDNIGHTS.get((str(zone), day))
    if found is None:
        noon = round(datetime(day.year, day.month, day.day, 12, tzinfo=zone).timestamp() * 1000)
        lo, hi = (noon - 36 * HOUR) // MIN, noon // MIN  # date(lo) < day == date(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if local_date(zone, mid * MIN) < day:
                lo = mid
            else:
                hi = mid
        found = _MIDNIGHTS[(str(zone), day)] = hi * MIN
    return found


def day_start(zone: ZoneInfo, ts: int) -> int:
    """The start of the local day of `ts`."""
    return midnight(zone, local_date(zone, ts))


@dataclass(frozen=True)
class Cal:
    """Days, intervals and the 7-day window of an instant in one zone."""

    zone: ZoneInfo
    minutes: int

    def day(self, ts: int) -> tuple[int, int]:
        d = local_date(self.zone, ts)
        return midnight(self.zone, d), midnight(self.zone, d + timedelta(days=1))

    def interval(self, ts: int) -> tuple[int, int]:
        begin, end = self.day(ts)
        start = begin + (ts - begin) // (self.minutes * MIN) * (self.minutes * MIN)
        return start, min(start + self.minutes * MIN, end)  # cut short at midnight

    def week(self, ts: int) -> tuple[int, int]:
        """Today and the 6 local days before it."""
        return midnight(self.zone, local_date(self.zone, ts) - timedelta(days=6)), self.day(ts)[1]

    def label(self, ts: int) -> str:
        return label(self.zone, ts)


@dataclass
class Grid:
    """Every interval boundary of the local days from `first` to `last` (and the next day)."""

    zone: ZoneInfo
    minutes: int
    first: int
    last: int
    starts: list[int] = field(default_factory=list)  # interval starts, then one more boundary

    def __post_init__(self) -> None:
        day = local_date(self.zone, self.first) - timedelta(days=1)
        while not self.starts or self.starts[-1] <= max(self.first, self.last) + DAY:
            begin, end = midnight(self.zone, day), midnight(self.zone, day + timedelta(days=1))
            self.starts.extend(range(begin, end, self.minutes * MIN))
            day += timedelta(days=1)
        self.starts.append(end)

    def start_of(self, ts: int) -> int:
        return self.starts[bisect_right(self.starts, ts) - 1]

    def end_of(self, start: int) -> int:
        return self.starts[bisect_right(self.starts, start)]

    def pieces(self, a: int, b: int) -> list[tuple[int, int]]:
        """[a, b) cut at every boundary: (interval start, milliseconds) of each piece."""
        out = []
        i = bisect_right(self.starts, a) - 1
        while a < b:
            stop = min(b, self.starts[i + 1])
            out.append((self.starts[i], stop - a))
            a, i = stop, i + 1
        return out

    def label(self, ts: int) -> str:
        return label(self.zone, ts)
