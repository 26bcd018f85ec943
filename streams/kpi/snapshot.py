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
    intervals: dict[str, dict[int, k.Tally]] = {}
    minutes: dict[str, list[tuple[int, k.Tally]]] = {}
    for (gran, channel, start), bucket in qs.buckets.items():
        if start > now_ms or not any(bucket.tally):
            continue  # empty: a contact moved out of it (same figures as if never there)
        if gran == "i":
            intervals.setdefault(channel, {})[start] = bucket.tally
        elif gran == "m":
            minutes.setdefault(channel, []).append((start, bucket.tally))
    channels = sorted(intervals)
    by_start: dict[int, list[k.Tally]] = {}
    for per_start in intervals.values():
        for start, tally in per_start.items():
            by_start.setdefault(start, []).append(tally)
    intervals[ALL_CHANNELS] = {start: k.summed(ts) for start, ts in by_start.items()}
    minutes[ALL_CHANNELS] = [m for ch in channels for m in minutes.get(ch, [])]

    def policy(channel: str) -> Any:
        return qs.policy if channel == ALL_CHANNELS else qs.policy_for(channel)

    out_channels: dict[str, Any] = {}
    for channel in [ALL_CHANNELS, *channels]:
        pol = policy(channel)
        per_start = intervals[channel]
        today = k.summed([t for s, t in per_start.items() if s >= day_start])
        rolling = {}
        for n in rolling_minutes:
            lo, hi = rolling_minutes_window(now_ms, n)
            tally = k.summed([t for s, t in minutes.get(channel, []) if lo <= s < hi])
            rolling[f"{n}m"] = figures(tally, pol)
        out_channels[channel] = {
            "current_interval": {
                "start": cal.label(current),
                "end": cal.label(cal.interval_end(current)),
                "figures": figures(per_start.get(current, k.new_tally()), pol),
            },
            "today": {"start": cal.label(day_start), "figures": figures(today, pol)},
            "rolling": rolling,
        }
        if history:
            out_channels[channel]["intervals"] = [
                {
                    "start": cal.label(s),
                    "end": cal.label(cal.interval_end(s)),
                    "figures": figures(per_start[s], pol),
                }
                for s in sorted(per_start)
            ]
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
            "too_late": qs.too_late,
            "duplicates": qs.duplicates,
            "watermark": cal.label(qs.watermark_ms) if qs.watermark_ms else None,
        },
    }
