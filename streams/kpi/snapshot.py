"""Read a queue's figures at an instant: current interval, today, rolling windows, live, history.

The one view that every consumer shares: the offline report prints it, the Redis sink stores it,
the Prometheus sink exports it. Shape published as schemas/report.v1.json.
"""

from __future__ import annotations

from typing import Any

from ccpulse.streams.kpi import counters as k
from ccpulse.streams.kpi.figures import figures
from ccpulse.streams.kpi.state import BucketKey, QueueState
from ccpulse.streams.kpi.windows import minute_start, rolling_minutes_window

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
    too_late = duplicates = 0
    for bucket in qs.totals.values():
        too_late += bucket.tally[k.TOO_LATE]
        duplicates += bucket.tally[k.DUPLICATES]
    if history:
        intervals, minutes = _gather(qs, now_ms, day_start, lowest)

        def windows(channel: str) -> Windows:
            per_start = intervals[channel]
            today = k.summed([t for s, t in per_start.items() if s >= day_start])
            rolling = {
                f"{n}m": k.summed([t for s, t in minutes.get(channel, ()) if lo <= s < hi])
                for n, (lo, hi) in lows.items()
            }
            return per_start.get(current) or k.new_tally(), today, rolling

        tallies = {channel: windows(channel) for channel in intervals}
    else:
        tallies = _live_windows(qs, now_ms, day_start, current, lows)
    channels = sorted(tallies)
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
#: Per channel: its current interval's tally, today's, and each rolling window's by name.
Windows = tuple[k.Tally, k.Tally, dict[str, k.Tally]]


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


class ClosedSums:
    """What a live snapshot reads of a queue's closed buckets, summed: the channels with figures
    in any interval before `current`; per channel, the day's intervals from `day_start` up to
    `current`, and each rolling window's minutes from `minutes_from` up to `minute` (the
    snapshot's minute).

    Kept on the queue (`QueueState.closed_sums`) for the snapshots of the same minute, until
    the engine creates, changes or drops one of those buckets (`QueueState.changed_bucket`: an
    event for an earlier minute, a retraction, the garbage collector). Events counted at their
    own instant (outcome attribution, the default) land in the current minute, so a worker's
    flush then reads two buckets per channel instead of the day's intervals and the hour's
    minutes, which late in the day are most of a queue's buckets."""

    __slots__ = (
        "channels", "current", "day_start", "later", "minute", "minutes_from", "rolling", "spans",
        "today",
    )  # fmt: skip

    def __init__(
        self,
        qs: QueueState,
        day_start: int,
        current: int,
        minute: int,
        lows: dict[int, tuple[int, int]],
    ) -> None:
        self.day_start = day_start
        self.current = current
        self.minute = minute
        self.spans = tuple(lows)
        self.minutes_from = minutes_from = min((lo for lo, _ in lows.values()), default=minute)
        self.channels: set[str] = set()
        #: Interval buckets starting after `current`: none, unless the queue's intervals were
        #: restored from another grid (`interval_minutes` or `time_zone` changed); read live.
        self.later: list[BucketKey] = []
        today: dict[str, list[k.Tally]] = {}
        rolling: dict[str, dict[int, list[k.Tally]]] = {}
        for bkey, bucket in qs.buckets.items():
            gran, channel, start = bkey
            if gran == "i":
                if start > current:
                    self.later.append(bkey)
                elif start < current and any(bucket.tally):
                    self.channels.add(channel)
                    if start >= day_start:
                        today.setdefault(channel, []).append(bucket.tally)
            elif gran == "m" and minutes_from <= start < minute and any(bucket.tally):
                per_span = rolling.setdefault(channel, {})
                for n, (lo, _) in lows.items():
                    if start >= lo:
                        per_span.setdefault(n, []).append(bucket.tally)
        self.today = {channel: k.summed(tallies) for channel, tallies in today.items()}
        self.rolling = {
            channel: {n: k.summed(tallies) for n, tallies in per_span.items()}
            for channel, per_span in rolling.items()
        }


def _live_windows(
    qs: QueueState, now_ms: int, day_start: int, current: int, lows: dict[int, tuple[int, int]]
) -> dict[str, Windows]:
    """Per channel, the current interval, today and the rolling windows for a live snapshot
    (no history): the closed buckets' sums (`ClosedSums`, kept on the queue or taken now) with
    the current interval and minute added. The same channels and tallies as `_gather` gives."""
    minute = minute_start(now_ms)
    closed = qs.closed_sums
    if (
        closed is None
        or closed.minute != minute
        or closed.current != current
        or closed.day_start != day_start
        or closed.spans != tuple(lows)
    ):
        closed = qs.closed_sums = ClosedSums(qs, day_start, current, minute, lows)
    buckets = qs.buckets
    later: dict[str, list[k.Tally]] = {}
    for bkey in closed.later:  # off the queue's grid: counted as `_gather` counts them
        bucket = buckets.get(bkey)
        if bucket is not None and bkey[2] <= now_ms and any(bucket.tally):
            later.setdefault(bkey[1], []).append(bucket.tally)
    out: dict[str, Windows] = {}
    for channel in qs.totals:  # every channel with a bucket
        bucket = buckets.get(("i", channel, current))
        cur = bucket.tally if bucket is not None and any(bucket.tally) else None
        if cur is None and channel not in closed.channels and channel not in later:
            continue
        bucket = buckets.get(("m", channel, minute))
        now_minute = bucket.tally if bucket is not None and any(bucket.tally) else None
        today = [t for t in (closed.today.get(channel), cur) if t is not None]
        spans = closed.rolling.get(channel, {})
        rolling: dict[str, k.Tally] = {}
        for n, (lo, _) in lows.items():
            parts = [t for t in (spans.get(n), now_minute) if t is not None]
            if lo > minute:  # an empty window: under a minute long, which the settings refuse
                parts = []
            rolling[f"{n}m"] = k.summed(parts)
        out[channel] = (cur or k.new_tally(), k.summed(today + later.get(channel, [])), rolling)
    return out


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
