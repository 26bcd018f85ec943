"""The queue and agent engines as a batch report over interval tallies runs them (`ccpulse report
--from --to`); never the streaming worker.

Same arithmetic, same interval and running-total buckets as `Engine` and `AgentEngine`:

* `RangeEngine` keeps no minute buckets, which only the rolling windows of a live snapshot read
  (a range report never does). A contact's items go to two buckets instead of three: a quarter of
  the engine's time on a large replay.
* `RangeAgentEngine` tracks no changelog writes and no dirty tenants (`changelog=False`). An
  event appended to its agent's timeline has its items added straight to their buckets by
  `AgentEngine` itself (in any mode, when no bucket can hold the event already).
"""

from __future__ import annotations

from ccpulse.streams.kpi.agents import AgentEngine
from ccpulse.streams.kpi.engine import Engine
from ccpulse.streams.kpi.policy import PolicyBook


class RangeEngine(Engine):
    """`Engine` without minute buckets, for range reports only (never the streaming worker)."""

    def __init__(self, book: PolicyBook | None = None) -> None:
        super().__init__(book)
        self.keeps_minutes = False


class RangeAgentEngine(AgentEngine):
    """`AgentEngine` in report mode, for range reports only (never the streaming worker)."""

    def __init__(self, book: PolicyBook | None = None) -> None:
        super().__init__(book, changelog=False)
