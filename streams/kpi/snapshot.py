"""Read a queue's figures at an instant: current interval, today, rolling windows, live, history.

The one view that every consumer shares: the offline report prints it, the Redis sink stores it,
the Prometheus sink exports it. Shape published as schemas/report.v1.json.
"""

from __future__ import annotations

from typing import Any

from ccpulse.streams.kpi import counters as k
from ccpulse.streams.kpi.figures import figures
from ccpulse.streams.kpi.state import QueueState
from ccpulse.streams.kpi.windows import rolling_minutes_window

ALL_CHANNELS = "all"


def live_figures(qs: QueueState, now_ms: int, max_wait_ms: int) -> dict[str, Any]:
    """Contacts in queue now and the longest current wait, in total and per channel."""
    oldest: dict[str, int] = {}
    counts: dict[str, int] = {}
    for entry, channel in qs.waiting.values():
        if entry > now_ms or now_ms - entry > max_wait_ms:
            continue
        for ch in (channel, ALL_CHANNELS):
            counts[ch] = counts.get(ch, 0) + 1
            if entry < oldest.get(ch, now_ms + 1):
                oldest[ch] = entry
    out: dict[str, Any] = {}
    for ch in {ALL_CHANNELS, *counts}:
        out[ch] = {
            "in_queue": counts.get(ch, 0),
            "longest_wait_seconds": (now_ms - oldest[ch]) / 1000 if ch in oldest else 0.0,
        }
    return out


def queue_snapshot(
    qs: QueueState,
    now_ms: int,
    rolling_minutes: tuple[int, ...],
    max_wait_ms: int,
    history: bool = True,
) -> dict[str, Any]:
    """Every figure of one queue as of `now_ms` (JSON-ready)."""
    cal = qs.calendar
    day_start, _ = cal.day_bounds(now_ms)
    current = cal.interval_start(now_ms)
    lows = {n: rolling_minutes_window(now_ms, n) for n in rolling_minutes}
    lowest = min((lo for lo, _ in lows.values()), default=now_ms)
    if history:
        intervals, minutes = _gather(qs, now_ms, day_start, lowest)
        earlier: dict[str, k.Tally] = {}
    else:
        intervals, minutes, earlier = _gather_live(qs, now_ms, day_start, current, lowest)
    too_late = duplicates = 0
    for bucket in qs.totals.values():
        too_late += bucket.tally[k.TOO_LATE]
        duplicates += bucket.tally[k.DUPLICATES]
    channels = sorted(intervals)

    def windows(channel: str) -> tuple[k.Tally, k.Tally, dict[str, k.Tally]]:
        per_start = intervals[channel]
        parts = [t for s, t in per_start.items() if s >= day_start]
        if channel in earlier:
            parts.append(earlier[channel])
        today = k.summed(parts)
        rolling = {
            f"{n}m": k.summed([t for s, t in minutes.get(channel, ()) if lo <= s < hi])
            for n, (lo, hi) in lows.items()
        }
        return per_start.get(current) or k.new_tally(), today, rolling

    tallies = {channel: windows(channel) for channel in channels}
    # One channel, under the queue's own policy: the queue's figures are the channel's (a sum
    # of one tally is that tally), and both share one view, built once. A queue is mostly
    # of one channel, and a flush builds thousands of these.
    alone = len(channels) == 1 and qs.policy == qs.policy_for(channels[0])
    if not alone:
        # All channels: the channels' window tallies summed (a sum of sums, a max of maxima).
        per_channel = list(tallies.values())
        tallies[ALL_CHANNELS] = (
            k.summed([c for c, _, _ in per_channel]),
            k.summed([t for _, t, _ in per_channel]),
            {span: k.summed([r[span] for _, _, r in per_channel]) for span in
             (f"{n}m" for n in rolling_minutes)},
        )  # fmt: skip

    def policy(channel: str) -> Any:
        return qs.policy if channel == ALL_CHANNELS else qs.policy_for(channel)

    out_channels: dict[str, Any] = {}
    for channel in channels if alone else [ALL_CHANNELS, *channels]:
        pol = policy(channel)
        cur, today, rolling = tallies[channel]
        out_channels[channel] = {
            "current_interval": {
                "start": cal.label(current),
                "end": cal.label(cal.interval_end(current)),
                "figures": figures(cur, pol),
            },
            "today": {"start": cal.label(day_start), "figures": figures(today, pol)},
            "rolling": {span: figures(t, pol) for span, t in rolling.items()},
        }
        if history:
            out_channels[channel]["intervals"] = _history(
                cal, [intervals[c] for c in channels] if channel == ALL_CHANNELS
                else [intervals[channel]], pol,
            )  # fmt: skip
    if alone:  # "all" first, as with several channels; the view is shared, not copied
        out_channels = {ALL_CHANNELS: out_channels[channels[0]], **out_channels}
    return {
        "tenant": qs.tenant,
        "queue": qs.queue,
        "as_of": cal.label(now_ms),
        "as_of_ms": now_ms,
        "time_zone": qs.policy.time_zone,
        "interval_minutes": qs.policy.interval_minutes,
        "attribution": str(qs.policy.attribution),
        "sl_formula": str(qs.policy.sl_formula),
        "live": live_figures(qs, now_ms, max_wait_ms),
        "channels": out_channels,
        "pipeline": {
            "too_late": too_late,
            "duplicates": duplicates,
            "watermark": cal.label(qs.watermark_ms) if qs.watermark_ms else None,
        },
    }


#: Per channel, its intervals' tallies by start; and its minutes' (start, tally) pairs.
Gathered = tuple[dict[str, dict[int, k.Tally]], dict[str, list[tuple[int, k.Tally]]]]
#: `Gathered`, and per channel a tally of earlier intervals of the day, summed.
GatheredLive = tuple[
    dict[str, dict[int, k.Tally]], dict[str, list[tuple[int, k.Tally]]], dict[str, k.Tally]
]


def _gather(qs: QueueState, now_ms: int, day_start: int, lowest: int) -> Gathered:
    """The non-empty buckets a snapshot reads, per channel, in one pass over the queue's
    buckets: intervals up to `now_ms` and minutes from `lowest` to `now_ms`. Empty ones are
    left out: a contact moved out of them, and the figures are the same as if it had never been
    there. A channel with figures in any kept interval is shown, with no interval of today if
    need be."""
    intervals: dict[str, dict[int, k.Tally]] = {}
    minutes: dict[str, list[tuple[int, k.Tally]]] = {}
    for (gran, channel, start), bucket in qs.buckets.items():
        tally = bucket.tally
        if gran == "i":
            if start <= now_ms and any(tally):
                per_start = intervals.get(channel)
                if per_start is None:
                    per_start = intervals[channel] = {}
                per_start[start] = tally
        elif gran == "m" and lowest <= start <= now_ms and any(tally):
            minutes.setdefault(channel, []).append((start, tally))
    return intervals, minutes


class TodayClosed:
    """What a live snapshot reads of a queue's intervals before `current`: the channels with
    figures in any of them, and per channel the sum of those of the day from `day_start`.

    Kept on the queue (`QueueState.today_closed`) until the interval or the day turns, or the
    engine creates, changes or drops one of those intervals (`QueueState.changed_interval`: a
    late outcome, a retraction, the garbage collector). A worker's flush then sums the day's
    closed intervals once, not at every flush."""

    __slots__ = ("channels", "current", "day_start", "sums")

    def __init__(self, day_start: int, current: int) -> None:
        self.day_start = day_start
        self.current = current
        self.channels: set[str] = set()
        self.sums: dict[str, k.Tally] = {}


def _gather_live(
    qs: QueueState, now_ms: int, day_start: int, current: int, lowest: int
) -> GatheredLive:
    """`_gather` for a live snapshot (no history), in one pass too: the intervals from `current`
    to `now_ms`, the minutes, and per channel today's earlier intervals summed (`TodayClosed`,
    from the queue, or built in this pass when missing or outdated). Every channel `_gather`
    would show is in the intervals, and its figures are the same."""
    intervals: dict[str, dict[int, k.Tally]] = {}
    minutes: dict[str, list[tuple[int, k.Tally]]] = {}
    closed = qs.today_closed
    fresh = closed is None or closed.current != current or closed.day_start != day_start
    if fresh:
        closed = TodayClosed(day_start, current)
    earlier: dict[str, list[k.Tally]] = {}
    for (gran, channel, start), bucket in qs.buckets.items():
        if gran == "i":
            if start >= current:
                if start <= now_ms:
                    tally = bucket.tally
                    if any(tally):
                        per_start = intervals.get(channel)
                        if per_start is None:
                            per_start = intervals[channel] = {}
                        per_start[start] = tally
            elif fresh and any(bucket.tally):
                closed.channels.add(channel)
                if start >= day_start:
                    earlier.setdefault(channel, []).append(bucket.tally)
        elif gran == "m" and lowest <= start <= now_ms:
            tally = bucket.tally
            if any(tally):
                minutes.setdefault(channel, []).append((start, tally))
    if fresh:
        closed.sums = {channel: k.summed(tallies) for channel, tallies in earlier.items()}
        qs.today_closed = closed
    for channel in closed.channels:
        if channel not in intervals:
            intervals[channel] = {}
    return intervals, minutes, closed.sums


def _history(cal: Any, per_channel: list[dict[int, k.Tally]], pol: Any) -> list[dict[str, Any]]:
    """Every kept interval's figures, oldest first (summed over the given channels)."""
    by_start: dict[int, list[k.Tally]] = {}
    for per_start in per_channel:
        for start, tally in per_start.items():
            by_start.setdefault(start, []).append(tally)
    return [
        {
            "start": cal.label(s),
            "end": cal.label(cal.interval_end(s)),
            "figures": figures(k.summed(by_start[s]), pol),
        }
        for s in sorted(by_start)
    ]
