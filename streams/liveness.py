"""Whether the worker consumes and writes: what its flushes observed, for `/healthz` and the
pipeline-health metrics (Redis publish failures, flush time).

Updated on the event loop by the publish step; read by the metrics server's thread, which only
reads numbers that are replaced whole.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field
from typing import Any, Final

#: Upper bounds of the flush-duration histogram, seconds: a flush normally takes a few ms; one
#: near `redis.flush_interval_seconds` (0.5 s) delays the figures on the wallboards.
FLUSH_BUCKETS_SECONDS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The publish loop ticks every 0.5 s (every 5 s while catching up): silence this long means
#: the event loop is blocked or the task died.
STALLED_LOOP_SECONDS: Final = 30.0
#: Input waiting on the broker with no message processed for this long: the consumer is stuck.
STUCK_CONSUMER_SECONDS: Final = 60.0
#: Redis failing at every flush for this long: the wallboards have gone stale.
FAILING_WRITES_SECONDS: Final = 30.0
#: While Redis is down, the wait before the next attempt doubles from the first up to the last.
RETRY_FIRST_SECONDS: Final = 0.5
RETRY_MAX_SECONDS: Final = 8.0

log = logging.getLogger("ccpulse.worker")


@dataclass
class WorkerLiveness:
    """What the flushes saw; monotonic clock for ages, wall clock for exported timestamps."""

    flushes: int = 0
    failures: int = 0
    last_success_wall: float | None = None
    failing_since: float | None = None
    flush_counts: list[int] = field(default_factory=lambda: [0] * len(FLUSH_BUCKETS_SECONDS))
    flush_seconds_sum: float = 0.0
    last_tick: float | None = None
    messages: int = 0
    lag_messages: int = 0
    last_progress: float | None = None

    def observe_progress(self, messages: int, lag_messages: int, now: float) -> None:
        """Record a flush tick with the messages consumed so far and the lag left."""
        if self.last_progress is None or messages != self.messages:
            self.last_progress = now
        self.messages = messages
        self.lag_messages = lag_messages
        self.last_tick = now

    def observe_flush(self, seconds: float, ok: bool, now: float, now_wall: float) -> None:
        """Record one Redis publish: its duration and whether it succeeded."""
        self.flushes += 1
        self.flush_seconds_sum += seconds
        i = bisect.bisect_left(FLUSH_BUCKETS_SECONDS, seconds)
        if i < len(self.flush_counts):
            self.flush_counts[i] += 1
        if ok:
            self.last_success_wall = now_wall
            self.failing_since = None
        else:
            self.failures += 1
            if self.failing_since is None:
                self.failing_since = now

    def flush_buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs of the flush-duration histogram, +Inf last."""
        out, running = [], 0
        for bound, count in zip(FLUSH_BUCKETS_SECONDS, self.flush_counts, strict=True):
            running += count
            out.append((str(bound), float(running)))
        return [*out, ("+Inf", float(self.flushes))]

    def status(self, now: float) -> tuple[bool, dict[str, Any]]:
        """(healthy, details) for `/healthz`: the loop ticks, input moves, Redis takes writes."""
        problems = []
        if self.last_tick is None:
            problems.append("starting: no flush yet")
        elif now - self.last_tick > STALLED_LOOP_SECONDS:
            problems.append(f"no flush for {now - self.last_tick:.0f} s")
        if (
            self.lag_messages > 0
            and self.last_progress is not None
            and now - self.last_progress > STUCK_CONSUMER_SECONDS
        ):
            problems.append(
                f"{self.lag_messages} input messages waiting and none processed for "
                f"{now - self.last_progress:.0f} s"
            )
        if self.failing_since is not None and now - self.failing_since > FAILING_WRITES_SECONDS:
            problems.append(f"redis writes failing for {now - self.failing_since:.0f} s")
        return not problems, {
            "status": "ok" if not problems else "failing",
            "problems": problems,
            "consuming": {"messages": self.messages, "lag_messages": self.lag_messages},
            "writing": {"flushes": self.flushes, "failures": self.failures,
                        "last_success": self.last_success_wall},
        }  # fmt: skip


class RedisOutage:
    """Back-off and logging while Redis refuses writes: one line when an outage starts, one
    with its length when it ends, and attempts spaced out up to `RETRY_MAX_SECONDS` between."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.attempts = 0
        self.retry_at = 0.0
        self._wait = RETRY_FIRST_SECONDS

    def due(self, now: float) -> bool:
        """Whether a publish should be tried now."""
        return self.since is None or now >= self.retry_at

    def failed(self, now: float, error: str) -> None:
        self.attempts += 1
        if self.since is None:
            self.since = now
            self._wait = RETRY_FIRST_SECONDS
            log.warning("redis unavailable, figures are kept and written when it is back "
                        "(retrying up to every %.0f s): %s", RETRY_MAX_SECONDS, error)  # fmt: skip
        else:
            self._wait = min(self._wait * 2, RETRY_MAX_SECONDS)
        self.retry_at = now + self._wait

    def succeeded(self, now: float) -> None:
        if self.since is not None:
            log.warning("redis back after %.1f s (%d failed attempts)", now - self.since,
                        self.attempts)  # fmt: skip
        self.since = None
        self.attempts = 0
