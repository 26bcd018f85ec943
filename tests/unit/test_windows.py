"""Interval, day and rolling-window arithmetic.

Intervals have a fixed elapsed length counted from local midnight in the queue's IANA zone, so
a 23-hour day has 92 quarter-hours, a 25-hour day 100, and an interval never crosses midnight.
Expected instants are written as RFC 3339 text and converted with `datetime`, independently of
the code under test.
"""

from __future__ import annotations

import pytest

from ccpulse.streams.kpi.windows import Calendar, minute_start, rolling_minutes_window
from tests.helpers.clock import ms_of as ms

MIN = 60_000
HOUR = 60 * MIN




def day_intervals(cal: Calendar, day_start: int) -> list[tuple[int, int]]:
    """Walk the intervals of the local day starting at `day_start`."""
    _, day_end = cal.day_bounds(day_start)
    out = []
    start = day_start
    while start < day_end:
        end = cal.interval_end(start)
        assert end > start
        out.append((start, end))
        start = end
    assert start == day_end
    return out


# -- alignment -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "expected_start"),
    [
        (15, "2026-01-15T10:30:00+01:00"),
        (30, "2026-01-15T10:30:00+01:00"),
        (60, "2026-01-15T10:00:00+01:00"),
    ],
)
def test_interval_start_in_paris_winter(minutes: int, expected_start: str) -> None:
    cal = Calendar("Europe/Paris", minutes * MIN)
    ts = ms("2026-01-15T10:37:12.345+01:00")
    assert cal.interval_start(ts) == ms(expected_start)
    assert cal.interval_end(cal.interval_start(ts)) == ms(expected_start) + minutes * MIN


@pytest.mark.parametrize(
    ("ts", "minutes", "expected_start"),
    [
        ("2026-01-15T10:44:59.999+01:00", 15, "2026-01-15T10:30:00+01:00"),
        ("2026-01-15T10:45:00+01:00", 15, "2026-01-15T10:45:00+01:00"),
        ("2026-01-15T00:00:00+01:00", 60, "2026-01-15T00:00:00+01:00"),
        ("2026-01-14T23:59:59.999+01:00", 60, "2026-01-14T23:00:00+01:00"),
        ("2026-07-15T10:29:59+02:00", 30, "2026-07-15T10:00:00+02:00"),
    ],
)
def test_interval_start_edges(ts: str, minutes: int, expected_start: str) -> None:
    assert Calendar("Europe/Paris", minutes * MIN).interval_start(ms(ts)) == ms(expected_start)


def test_day_bounds_are_local_midnights() -> None:
    cal = Calendar("Europe/Paris", 15 * MIN)
    assert cal.day_bounds(ms("2026-01-15T00:00:00+01:00")) == (
        ms("2026-01-14T23:00:00Z"),
        ms("2026-01-15T23:00:00Z"),
    )
    # The last millisecond of the day still belongs to it; the cache must not leak across days.
    assert cal.day_bounds(ms("2026-01-15T23:59:59.999+01:00"))[0] == ms("2026-01-14T23:00:00Z")
    assert cal.day_bounds(ms("2026-01-14T12:00:00+01:00")) == (
        ms("2026-01-13T23:00:00Z"),
        ms("2026-01-14T23:00:00Z"),
    )


@pytest.mark.parametrize(("minutes", "count"), [(15, 96), (30, 48), (60, 24)])
def test_ordinary_day_has_24_hours_of_intervals(minutes: int, count: int) -> None:
    cal = Calendar("Europe/Paris", minutes * MIN)
    intervals = day_intervals(cal, ms("2026-01-15T00:00:00+01:00"))
    assert len(intervals) == count
    assert all(end - start == minutes * MIN for start, end in intervals)


# -- DST days --------------------------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "count"), [(15, 92), (30, 46), (60, 23)])
def test_paris_spring_forward_day_has_23_hours(minutes: int, count: int) -> None:
    cal = Calendar("Europe/Paris", minutes * MIN)
    start = ms("2026-03-29T00:00:00+01:00")
    assert cal.day_bounds(start + HOUR) == (start, ms("2026-03-30T00:00:00+02:00"))
    assert len(day_intervals(cal, start)) == count


@pytest.mark.parametrize(("minutes", "count"), [(15, 100), (30, 50), (60, 25)])
def test_paris_fall_back_day_has_25_hours(minutes: int, count: int) -> None:
    cal = Calendar("Europe/Paris", minutes * MIN)
    start = ms("2026-10-25T00:00:00+02:00")
    assert cal.day_bounds(start + HOUR) == (start, ms("2026-10-26T00:00:00+01:00"))
    assert len(day_intervals(cal, start)) == count


def test_spring_forward_labels_skip_the_missing_hour() -> None:
    cal = Calendar("Europe/Paris", 15 * MIN)
    intervals = day_intervals(cal, ms("2026-03-29T00:00:00+01:00"))
    labels = [cal.label(start) for start, _ in intervals]
    assert labels[0] == "2026-03-29T00:00:00+01:00"
    assert labels[7] == "2026-03-29T01:45:00+01:00"
    assert labels[8] == "2026-03-29T03:00:00+02:00"  # 2 h after midnight, clocks read 03:00
    assert labels[-1] == "2026-03-29T23:45:00+02:00"
    assert cal.label(intervals[-1][1]) == "2026-03-30T00:00:00+02:00"
    assert not [label for label in labels if "T02:" in label]


def test_fall_back_hour_appears_twice_with_different_offsets() -> None:
    cal = Calendar("Europe/Paris", 15 * MIN)
    intervals = day_intervals(cal, ms("2026-10-25T00:00:00+02:00"))
    labels = [cal.label(start) for start, _ in intervals]
    assert len(set(labels)) == 100
    assert labels[8] == "2026-10-25T02:00:00+02:00"  # 2 h after midnight, still summer time
    assert labels[12] == "2026-10-25T02:00:00+01:00"  # 3 h after midnight, winter time
    assert [label for label in labels if "T02:00:00" in label] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    assert labels[-1] == "2026-10-25T23:45:00+01:00"


def test_instants_in_the_repeated_hour_go_to_different_intervals() -> None:
    cal = Calendar("Europe/Paris", 15 * MIN)
    first = ms("2026-10-25T02:20:00+02:00")
    second = ms("2026-10-25T02:20:00+01:00")
    assert second - first == HOUR
    assert cal.interval_start(first) == ms("2026-10-25T02:15:00+02:00")
    assert cal.interval_start(second) == ms("2026-10-25T02:15:00+01:00")
    assert cal.label(cal.interval_start(second)) == "2026-10-25T02:15:00+01:00"


def test_half_hour_dst_shift_cuts_the_last_hour_at_midnight() -> None:
    # Lord Howe Island moves its clocks by 30 minutes: 2026-10-04 has 23.5 hours.
    cal = Calendar("Australia/Lord_Howe", 60 * MIN)
    start = ms("2026-10-04T00:00:00+10:30")
    intervals = day_intervals(cal, start)
    assert len(intervals) == 24
    assert cal.label(intervals[1][0]) == "2026-10-04T01:00:00+10:30"
    assert cal.label(intervals[2][0]) == "2026-10-04T02:30:00+11:00"
    last_start, last_end = intervals[-1]
    assert cal.label(last_start) == "2026-10-04T23:30:00+11:00"
    assert (last_end, last_end - last_start) == (ms("2026-10-05T00:00:00+11:00"), 30 * MIN)
    assert len(day_intervals(Calendar("Australia/Lord_Howe", 15 * MIN), start)) == 94


def test_day_starting_in_a_dst_gap_starts_when_clocks_jump() -> None:
    # Chile springs forward at midnight: 2026-09-06 00:00 never happens, the day starts at 01:00.
    cal = Calendar("America/Santiago", 15 * MIN)
    day_start = ms("2026-09-06T01:00:00-03:00")
    assert cal.day_bounds(ms("2026-09-06T12:00:00-03:00")) == (
        day_start,
        ms("2026-09-07T00:00:00-03:00"),
    )
    assert cal.label(day_start) == "2026-09-06T01:00:00-03:00"
    assert cal.day_bounds(day_start - 1) == (ms("2026-09-05T00:00:00-04:00"), day_start)
    assert len(day_intervals(cal, day_start)) == 92


def test_fall_back_at_midnight_gives_a_25_hour_day() -> None:
    # Chile falls back at 24:00: 2026-04-04 23:00-23:59 happens twice, both on the 4th.
    cal = Calendar("America/Santiago", 15 * MIN)
    day_start = ms("2026-04-04T00:00:00-03:00")
    repeated = ms("2026-04-04T23:30:00-04:00")
    assert cal.day_bounds(repeated) == (day_start, ms("2026-04-05T00:00:00-04:00"))
    labels = [cal.label(s) for s, _ in day_intervals(cal, day_start)]
    assert len(labels) == 100
    assert "2026-04-04T23:00:00-03:00" in labels
    assert labels[-1] == "2026-04-04T23:45:00-04:00"


# -- half-hour offsets -----------------------------------------------------------------------


def test_st_johns_winter_hours_start_at_half_past_utc() -> None:
    cal = Calendar("America/St_Johns", 60 * MIN)
    ts = ms("2026-01-15T12:10:00-03:30")
    assert cal.interval_start(ts) == ms("2026-01-15T15:30:00Z")
    assert cal.label(cal.interval_start(ts)) == "2026-01-15T12:00:00-03:30"
    assert cal.day_bounds(ts)[0] == ms("2026-01-15T03:30:00Z")


def test_st_johns_summer_quarter_hours() -> None:
    cal = Calendar("America/St_Johns", 15 * MIN)
    ts = ms("2026-07-01T00:20:00-02:30")
    assert cal.interval_start(ts) == ms("2026-07-01T02:45:00Z")
    assert cal.label(cal.interval_start(ts)) == "2026-07-01T00:15:00-02:30"
    # Just before local midnight belongs to the previous day.
    assert cal.interval_start(ms("2026-07-01T02:29:59Z")) == ms("2026-06-30T23:45:00-02:30")


def test_st_johns_spring_forward_day() -> None:
    cal = Calendar("America/St_Johns", 30 * MIN)
    start = ms("2026-03-08T00:00:00-03:30")
    intervals = day_intervals(cal, start)
    assert len(intervals) == 46
    assert cal.label(intervals[4][0]) == "2026-03-08T03:00:00-02:30"


# -- rolling windows -------------------------------------------------------------------------


def test_minute_start() -> None:
    assert minute_start(ms("2026-03-02T10:07:30.500Z")) == ms("2026-03-02T10:07:00Z")
    assert minute_start(ms("2026-03-02T10:07:00Z")) == ms("2026-03-02T10:07:00Z")


@pytest.mark.parametrize(
    ("now", "minutes", "lo", "hi"),
    [
        ("2026-03-02T10:07:30.500Z", 15, "2026-03-02T09:53:00Z", "2026-03-02T10:08:00Z"),
        ("2026-03-02T10:07:30.500Z", 60, "2026-03-02T09:08:00Z", "2026-03-02T10:08:00Z"),
        ("2026-03-02T10:07:00Z", 15, "2026-03-02T09:53:00Z", "2026-03-02T10:08:00Z"),
        ("2026-03-02T10:07:59.999Z", 1, "2026-03-02T10:07:00Z", "2026-03-02T10:08:00Z"),
    ],
)
def test_rolling_window_is_this_minute_and_the_ones_before(
    now: str, minutes: int, lo: str, hi: str
) -> None:
    assert rolling_minutes_window(ms(now), minutes) == (ms(lo), ms(hi))
