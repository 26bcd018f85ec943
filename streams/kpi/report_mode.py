"""The queue engine as a batch report over interval tallies runs it (`ccpulse report --from --to`).

Same arithmetic, same interval and running-total buckets as `Engine`; it keeps no minute buckets,
which only the rolling windows of a live snapshot read (a range report never does). A contact's
items go to two buckets instead of three: a quarter of the engine's time on a large replay.
"""

from __future__ import annotations

from ccpulse.streams.kpi.engine import Engine
from ccpulse.streams.kpi.state import BucketKey, QueueState


class RangeEngine(Engine):
    """`Engine` without minute buckets, for range reports only (never the streaming worker)."""

    def _item_keys(self, qs: QueueState, at: int, channel: str) -> tuple[BucketKey, ...]:
        return (("i", channel, qs.calendar.interval_start(at)), ("t", channel, 0))
