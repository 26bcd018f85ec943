"""Property: a tenant's live agent view (the worker's, `history=False`) equals one taken afresh,
whenever it is taken.

The live view keeps, on the tenant, the sums of the buckets of the intervals before the current
one (`ClosedAgentSums`), and reuses them until the interval turns or the engine makes, changes
or drops one of those buckets. The agent property's random histories (DST days, odd offsets,
15 to 60-minute intervals, shuffled, late and re-sent events) are applied one at a time, with
positions, the records drained into a changelog and, in some cases, the garbage collector run
every few events or the engine rebuilt from its changelog (a restart). Between events, views
are taken at instants that stand still, follow the event, move on by minutes or intervals, or
jump anywhere in the history (back too); each must equal the view of the same state that reads
every bucket (`history=True`, its interval lists left out). A unit test below covers buckets of
another calendar (an interval length changed across a restart).
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
from tests.unit.test_agent_records import Changelog, _restored
from tests.unit.test_agents import at, ev

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
    log: Changelog = {}
    restart_every = data.draw(st.none() | st.integers(2, 12), label="restart every")
    decoded = [decode_one(raw, AgentEvent) for _, raw in case.arrivals]
    low = min(d.ts_ms for d in decoded) - HOUR
    high = max(d.ts_ms for d in decoded) + 2 * HOUR
    now = data.draw(st.integers(low, high), label="first instant")
    reused = 0
    for pos, d in enumerate(decoded):
        engine.apply(d, pos=pos)
        if case.gc_every and pos % case.gc_every == 0:
            engine.collect_garbage()
        log.update(engine.drain_writes())
        if restart_every and pos % restart_every == restart_every - 1:
            engine = _restored(log, book)
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
    """The property's mechanism, on two agents: events of the current interval leave the kept
    sums in place, and so does one appended to its agent's timeline whose segment reaches back
    into an earlier interval (what it adds there is added to them); one applied out of order
    to an earlier interval drops them."""
    engine = AgentEngine()
    for e in [ev("1", "login", "09:00:00", queue="q1"),
              ev("2", "state", "09:05:00", state="available"),
              ev("b1", "login", "09:10:00", agent="bob", queue="q1"),
              ev("3", "state", "09:20:00", state="on_contact", queue="q1")]:  # fmt: skip
        engine.apply(e)
    now = at("09:25:00")
    first = engine.snapshot("default", now, history=False)
    kept = engine.data["default"].closed
    assert kept is not None and kept.current == at("09:15:00")
    engine.apply(ev("4", "state", "09:24:00", state="wrap_up", queue="q1"))  # this interval
    engine.apply(ev("b2", "state", "09:22:00", agent="bob", state="paused"))  # from 09:10
    second = engine.snapshot("default", now, history=False)
    assert engine.data["default"].closed is kept
    assert second == afresh(engine, now, "default")
    engine.apply(ev("5", "state", "09:10:00", state="paused"))  # out of order, before 09:15
    assert engine.data["default"].closed is None
    third = engine.snapshot("default", now, history=False)
    assert third == afresh(engine, now, "default")
    paused = [s["agents"]["alice"]["today"]["paused_seconds"] for s in (first, second, third)]
    assert paused == [0.0, 0.0, 600.0]
    available = [s["agents"]["bob"]["today"]["available_seconds"] for s in (first, second)]
    assert available == [900.0, 720.0]


def test_the_kept_sums_are_dropped_once_keeping_them_costs_more_than_reading_afresh() -> None:
    """Each addition to a closed interval's bucket is also made to the kept sums, up to as
    many additions as there were buckets to read when they were made (a worker catching up
    adds to closed intervals at nearly every event). One more drops them; the next view reads
    the buckets afresh, with the same figures."""
    engine = AgentEngine()
    agents = [f"a{i}" for i in range(10)]
    for i, agent in enumerate(agents):
        engine.apply(ev(f"{agent}-in", "login", f"09:00:0{i}", agent=agent, queue="q1"))
        engine.apply(ev(f"{agent}-av", "state", f"09:05:0{i}", agent=agent, state="available"))
    now = at("09:40:00")
    engine.snapshot("default", now, history=False)
    kept = engine.data["default"].closed
    buckets = len(engine.data["default"].buckets)  # of 09:00: each agent's, all agents', q1's
    assert kept is not None and kept.budget == buckets == len(agents) + 2
    n = 0
    while engine.data["default"].closed is kept:
        # Each closes its agent's segment from 09:05 to 09:30: two closed intervals, three
        # scopes in each (the agent, all agents, q1), six additions.
        agent = agents[n]
        engine.apply(ev(f"{agent}-p", "state", "09:30:00", agent=agent, state="paused"))
        n += 1
    assert n == buckets // 6 + 1 and kept.budget == -1 and engine.data["default"].closed is None
    assert engine.snapshot("default", now, history=False) == afresh(engine, now, "default")


def test_buckets_of_another_calendar_count_once_the_view_reaches_them() -> None:
    """The tenant's interval length changed across a restart: the buckets read back start on
    the old calendar's quarter-hours, inside the new calendar's current hour. A live view
    counts each once its instant reaches it, as the view read from every bucket does, with the
    same kept sums throughout the hour."""
    quarters = AgentEngine(PolicyBook(default=QueuePolicy(interval_minutes=15)))
    for pos, e in enumerate([ev("1", "login", "09:00:00", queue="q1"),
                             ev("2", "state", "09:20:00", state="paused"),
                             ev("3", "state", "09:40:00", state="available"),
                             ev("4", "logout", "09:55:00")]):  # fmt: skip
        quarters.apply(e, pos)
    hours = _restored(dict(quarters.drain_writes()),
                      PolicyBook(default=QueuePolicy(interval_minutes=60)))  # fmt: skip
    views, kept = [], []
    for now in ("09:10:00", "09:35:00", "09:59:00"):
        views.append(hours.snapshot("default", at(now), history=False))
        assert views[-1] == afresh(hours, at(now), "default"), now
        kept.append(hours.data["default"].closed)
    assert kept[0] is not None and kept[0].later
    assert kept[1] is kept[0] and kept[2] is kept[0]
    assert [v["all"]["today"]["paused_seconds"] for v in views] == [0.0, 1200.0, 1200.0]
