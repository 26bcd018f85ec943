"""The queue and agent engines as a batch report over interval tallies runs them (`ccpulse report
--from --to`); never the streaming worker.

Same arithmetic, same interval and running-total buckets as `Engine` and `AgentEngine`:

* `RangeEngine` keeps no minute buckets, which only the rolling windows of a live snapshot read
  (a range report never does). A contact's items go to two buckets instead of three: a quarter of
  the engine's time on a large replay.
* `RangeAgentEngine` tracks no changelog writes and no dirty tenants (`changelog=False`), and
  adds the items of an event appended to its agent's timeline straight to their buckets: a
  report replays without positions and such an event only adds (its old contribution is
  empty), so the grouping of a diff's items by bucket, for the replay guard and the changelog,
  is not needed. Each bucket gets the same additions in the same order; that grouping was a
  quarter of the agent engine's time.
"""

from __future__ import annotations

from ccpulse.streams.kpi.agents import AgentEngine, Item, Tally, TenantAgents
from ccpulse.streams.kpi.engine import Engine
from ccpulse.streams.kpi.policy import PolicyBook
from ccpulse.streams.kpi.state import BucketKey, QueueState


class RangeEngine(Engine):
    """`Engine` without minute buckets, for range reports only (never the streaming worker)."""

    def _item_keys(self, qs: QueueState, at: int, channel: str) -> tuple[BucketKey, ...]:
        return (("i", channel, qs.calendar.interval_start(at)), ("t", channel, 0))


class RangeAgentEngine(AgentEngine):
    """`AgentEngine` in report mode, for range reports only (never the streaming worker)."""

    def __init__(self, book: PolicyBook | None = None) -> None:
        super().__init__(book, changelog=False)

    def _apply_diff(
        self, t: TenantAgents, tenant: str, old: list[Item], new: list[Item], pos: int | None,
        total: bool = False,
    ) -> None:  # fmt: skip
        if old or pos is not None:  # an event out of order, or a replay with positions
            super()._apply_diff(t, tenant, old, new, pos, total)
            return
        interval_start = t.calendar.interval_start
        buckets = t.buckets
        last_at = start = -1
        for kind, name, at, field, amount in new:
            if at != last_at:  # the items of one segment piece share their instant
                last_at, start = at, 0 if total else interval_start(at)
            bucket = buckets.get((kind, name, start))
            if bucket is None:
                bucket = buckets[(kind, name, start)] = [-1, {}]
            tally: Tally = bucket[1]
            value = tally.get(field, 0) + amount
            if value:
                tally[field] = value
            else:
                tally.pop(field, None)
