"""Property: a tenant's live agent view (the worker's, `history=False`) equals one taken afresh,
whenever it is taken.

The live view keeps, on the tenant, the sums of the buckets of the intervals before the current
one (`ClosedAgentSums`), and reuses them until the interval turns or the engine makes, changes
or drops one of those buckets. The agent property's random histories (DST days, odd offsets,
15 to 60-minute intervals, shuffled, late and re-sent events) are applied one at a time, with
positions, the records drained and, in some cases, the garbage collector run every few events.
Between events, views are taken at instants that stand still, follow the event, move on by
minutes or intervals, or jump anywhere in the history (back too); each must equal the view of
the same state that reads every bucket (`history=True`, its interval lists left out).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ccpulse.schemas import AgentEvent
from ccpulse.streams.kpi import EngineSettings, PolicyBook, QueuePolicy
from ccpulse.streams.kpi.agents import AgentEngine
from tests.helpers.clock import HOUR, MIN
from tests.helpers.deliveries import decode_one
from tests.property.test_agents_property import TENANT, Case, cases

STEPS = ("same", "event", "minute", "interval", "jump")


def afresh(engine: AgentEngine, now_ms: int, tenant: str = TENANT) -> dict[str, Any]:
    """The view from every bucket, without the interval lists a live one leaves out."""
    snap = engine.snapshot(tenant, now_ms)
    snap["all"].pop("intervals")
    for view in snap["queues"].values():
        view.pop("intervals")
    return snap


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), data=st.data())
def test_a_live_agent_view_equals_one_taken_afresh(case: Case, data: Any) -> None:
    book = PolicyBook(
        default=QueuePolicy(time_zone=case.zone, interval_minutes=case.minutes),
        engine=EngineSettings(
            lateness_seconds=case.lateness_ms // 1000, interval_retention_hours=6
        ),
    )
    engine = AgentEngine(book)
    decoded = [decode_one(raw, AgentEvent) for _, raw in case.arrivals]
    low = min(d.ts_ms for d in decoded) - HOUR
    high = max(d.ts_ms for d in decoded) + 2 * HOUR
    now = data.draw(st.integers(low, high), label="first instant")
    reused = 0
    for pos, d in enumerate(decoded):
        engine.apply(d, pos=pos)
        engine.drain_writes()
        if case.gc_every and pos % case.gc_every == 0:
            engine.collect_garbage()
        for step in data.draw(st.lists(st.sampled_from(STEPS), max_size=2), label="views"):
            if step == "event":  # just after this event: its interval is the view's
                now = d.ts_ms + data.draw(st.integers(0, 90_000), label="after")
            elif step == "minute":
                now += MIN
            elif step == "interval":
                now += case.minutes * MIN
            elif step == "jump":
                now = data.draw(st.integers(low, high), label="instant")
            tenant = engine.data.get(TENANT)
            kept = None if tenant is None else tenant.closed
            live = engine.snapshot(TENANT, now, history=False)
            reused += kept is not None and engine.data[TENANT].closed is kept
            assert live == afresh(engine, now), f"at {now}, event {pos}"
    event(f"kept sums reused: {'yes' if reused else 'no'}")


def test_the_kept_sums_are_reused_until_a_closed_bucket_changes() -> None:
    """The property's mechanism, on one agent: events of the current interval leave the kept
    sums in place; one that changes an earlier interval's bucket drops them."""
    from tests.unit.test_agents import at, ev

    engine = AgentEngine()
    for e in [ev("1", "login", "09:00:00", queue="q1"),
              ev("2", "state", "09:05:00", state="available"),
              ev("3", "state", "09:20:00", state="on_contact", queue="q1")]:  # fmt: skip
        engine.apply(e)
    now = at("09:25:00")
    first = engine.snapshot("default", now, history=False)
    kept = engine.data["default"].closed
    assert kept is not None and kept.current == at("09:15:00")
    engine.apply(ev("4", "state", "09:24:00", state="wrap_up", queue="q1"))  # this interval
    engine.snapshot("default", now, history=False)
    assert engine.data["default"].closed is kept
    engine.apply(ev("5", "state", "09:10:00", state="paused"))  # an earlier interval
    assert engine.data["default"].closed is None
    second = engine.snapshot("default", now, history=False)
    paused = [s["agents"]["alice"]["today"]["paused_seconds"] for s in (first, second)]
    assert paused == [0.0, 600.0]
    assert second == afresh(engine, now, "default")

