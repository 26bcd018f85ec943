"""Property: the agent engine's figures equal a direct recomputation from random agent histories.

Random histories of 1-4 agents of one tenant are generated: logins and logouts with and without
a queue, `agent.state` available, on_contact and wrap_up (with or without the contact's queue),
paused (with or without a reason), offline, a reason on a state that ignores it, and
`agent.ring_no_answer`; most agents start with a login, some are first seen in a state. The
zones have a DST change day (Paris spring and autumn, St John's), half-hour offsets (St John's,
Kolkata), a half-hour DST shift (Lord Howe) and a DST jump at midnight (Santiago); intervals are
15, 30 or 60 minutes. An agent's timestamps never go backwards and its event ids sort in
generation order, so equal timestamps (allowed now and then) fold in the documented order. The
events are encoded as contract JSON, decoded, and delivered either fully shuffled (lateness 30
days) or each up to 6 hours after its `ts` (lateness 10 to 60 minutes, or exactly how far some
event is behind on arrival), with some re-sent; in some cases the engine's garbage collection
runs every few events.

For several report instants (inside the history, at one of its events, at its latest event, and
up to 30 hours after it, so across local midnight) a fresh engine gets the events at or before
the instant, as `ccpulse report --at` does. A deliberately simple second computation, written
here from docs/agent-kpis.md and sharing no code with `ccpulse.streams.kpi` (it uses
`zoneinfo`; its calendar and delivery replay are the property tests' own, in tests/helpers),
replays the delivery order for the too-late and duplicate rules, walks each
agent's kept events in (ts, event_id) order by the fold rules, and cuts each state segment (the
last one open up to the instant) at every interval boundary: local midnights (found by
bisection over minutes) and every interval length after them. Per interval, per agent, per
queue and for all agents it derives logged-in, available, on-contact, wrap-up and paused time
(paused also by reason), contacts handled and rings unanswered; it checks every interval,
`today`, `current_interval`, the ratios, the live views (agents per state, logged in,
available; each agent's state, reason, queues, since and time in state) and the pipeline counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ccpulse.schemas import AgentEvent
from ccpulse.streams.kpi import EngineSettings, PolicyBook, QueuePolicy
from ccpulse.streams.kpi.agents import AgentEngine
from tests.helpers.clock import HOUR, MIN, SEC, Grid, local_date, midnight, ms_of
from tests.helpers.deliveries import apply_all, decode_one, delivery, kept, resends

TENANT = "acme"
#: (zone, instant near which histories start): each history runs over the next local midnight.
ZONES = [
    ("UTC", "2026-03-10T14:00:00+00:00"),
    ("Europe/Paris", "2026-03-28T16:00:00+01:00"),  # 23-hour day on the 29th
    ("Europe/Paris", "2026-10-24T16:00:00+02:00"),  # 25-hour day on the 25th
    ("America/St_Johns", "2026-03-07T16:00:00-03:30"),  # -03:30, summer time on the 8th
    ("Asia/Kolkata", "2026-06-01T16:00:00+05:30"),
    ("Australia/Lord_Howe", "2026-10-03T16:00:00+10:30"),  # 30-minute shift on the 4th
    ("America/Santiago", "2026-09-05T16:00:00-04:00"),  # the 6th starts at 01:00
]
QUEUES = ("sales", "support", "billing")
REASONS = (None, "break", "lunch", "training")


@dataclass(frozen=True)
class Ev:
    """One generated event, as plain data (the second computation reads only these)."""

    eid: str
    kind: str  # login, logout, state, ring
    ts: int
    agent: str
    queue: str | None = None
    state: str | None = None
    reason: str | None = None


# -- the generator ----------------------------------------------------------------------------

gap_st = st.one_of(
    st.sampled_from([0, 1, 59, 60, 300, 840, 900, 1800, 2700, 3600, 3 * 3600]).map(
        lambda s: s * SEC
    ),
    st.integers(1, 3 * HOUR),
)


@st.composite
def agent_history(draw: st.DrawFn, agent: str, base_ms: int) -> list[Ev]:
    t = base_ms + draw(st.integers(0, 8 * 60)) * MIN + draw(st.sampled_from([0, 0, 1, 30 * SEC]))
    out: list[Ev] = []
    first_kind = draw(st.sampled_from(["login"] * 5 + ["state", "state", "ring", "logout"]))
    for n in range(draw(st.integers(1, 14))):
        if n:
            t += draw(gap_st)
        kind = first_kind if n == 0 else draw(st.sampled_from(["state"] * 5 + ["login",
                                                                "logout", "ring"]))  # fmt: skip
        eid = f"{agent}-{n:02d}"  # ids sort in generation order (equal timestamps fold so)
        queue = draw(st.sampled_from((*QUEUES, None)))
        if kind == "state":
            state = draw(st.sampled_from(["available", "on_contact", "on_contact", "wrap_up",
                                          "wrap_up", "paused", "paused", "offline"]))  # fmt: skip
            if state == "paused":
                reason = draw(st.sampled_from(REASONS))
            else:  # validated, then ignored
                reason = draw(st.sampled_from([None, None, None, "ignored"]))
            if state not in ("on_contact", "wrap_up") and draw(st.booleans()):
                queue = None
            out.append(Ev(eid, kind, t, agent, queue, state, reason))
        else:
            out.append(Ev(eid, kind, t, agent, queue))
    return out


def wire(e: Ev, zone: str, rnd: Any) -> dict[str, Any]:
    """The contract JSON of an event, `ts` as epoch ms or as local RFC 3339."""
    doc: dict[str, Any] = {
        "event_id": e.eid,
        "type": {"ring": "agent.ring_no_answer"}.get(e.kind, f"agent.{e.kind}"),
        "ts": e.ts,
        "tenant": TENANT,
        "agent_id": e.agent,
    }
    if rnd.random() < 0.5:
        doc["ts"] = datetime.fromtimestamp(e.ts / 1000, ZoneInfo(zone)).isoformat(
            timespec="milliseconds"
        )
    if e.queue is not None or rnd.random() < 0.3:
        doc["queue"] = e.queue
    if e.state is not None:
        doc["state"] = e.state
    if e.reason is not None:
        doc["reason"] = e.reason
    if e.kind == "ring" and rnd.random() < 0.5:
        doc.update(contact_id=f"c-{e.eid}", ring_seconds=rnd.choice([0, 12.5, 20]))
    return doc


@dataclass
class Case:
    zone: str
    minutes: int
    lateness_ms: int
    gc_every: int | None
    histories: list[list[Ev]]
    arrivals: list[tuple[Ev, bytes]]  # delivery order, re-sends included
    instants: list[int]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    zone, origin = draw(st.sampled_from(ZONES))
    base_ms = ms_of(origin)
    n = draw(st.integers(1, 4))
    histories = [draw(agent_history(f"a{i}", base_ms)) for i in range(n)]
    events = [e for h in histories for e in h]
    rnd = draw(st.randoms(use_true_random=False))
    # Shuffled, or each copy delivered up to 6 hours after its ts: then some are too late.
    sent, lateness_ms = delivery(draw, rnd, events + resends(rnd, events), lambda e: e.ts,
                                 6 * HOUR, [10 * MIN, 30 * MIN, HOUR])  # fmt: skip
    arrivals = [(e, orjson.dumps(wire(e, zone, rnd))) for e in sent]
    first, last = min(e.ts for e in events), max(e.ts for e in events)
    instants = sorted(
        {
            last,
            draw(st.integers(first, last)),
            draw(st.sampled_from(events)).ts,
            last + draw(st.sampled_from([1, 59 * SEC, 15 * MIN, 2 * HOUR, 30 * HOUR])),
        }
    )
    gc_every = draw(st.none() | st.integers(1, 8))
    minutes = draw(st.sampled_from([15, 30, 60]))
    return Case(zone, minutes, lateness_ms, gc_every, histories, arrivals, instants)


# -- the second computation -------------------------------------------------------------------


@dataclass
class Fold:
    """An agent's situation after some of its events (docs/agent-kpis.md, fold rules)."""

    logged_in: bool = False
    members: frozenset[str] = frozenset()
    state: str = "offline"
    reason: str | None = None
    contact_queue: str | None = None
    since: int = 0
    seen: bool = False  # a login, logout or state folded: no later state is an implicit login

    def after(self, e: Ev) -> Fold:
        if e.kind == "ring":  # counted, changes nothing
            return self
        if e.kind == "state" and e.state != "offline" and self.seen and not self.logged_in:
            return self  # a state of a logged-out agent changes nothing
        members, logged_in = self.members, self.logged_in
        state, reason, contact_queue = self.state, self.reason, self.contact_queue
        if e.kind == "login":
            members = members | {e.queue} if e.queue else members
            if not logged_in:
                logged_in, state = True, "available"
        elif e.kind == "logout" or e.state == "offline":
            members = members - {e.queue} if e.kind == "logout" and e.queue else frozenset()
            if not members:  # logged out of every queue (or of none known)
                logged_in, state, reason, contact_queue = False, "offline", None, None
        else:  # a state; seen without a login, the agent logged in before the log started
            logged_in, state = True, e.state or "?"
            reason = e.reason if e.state == "paused" else None
            if e.state == "on_contact":
                contact_queue = e.queue
            elif e.state == "wrap_up":  # else the queue of the on_contact just before it
                carried = self.contact_queue if self.state == "on_contact" else None
                contact_queue = e.queue or carried
            else:
                contact_queue = None
        moved = (state, reason, contact_queue) != (self.state, self.reason, self.contact_queue)
        since = e.ts if moved or not self.logged_in else self.since
        return Fold(logged_in, members, state, reason, contact_queue, since, True)


Scope = tuple[str, str]  # ("all", ""), ("agent", id) or ("queue", name)
#: scope -> interval start -> field -> amount (milliseconds or counts).
Tallies = dict[Scope, dict[int, Counter[str]]]


@dataclass
class Expected:
    tallies: Tallies
    live: dict[str, Fold]  # agents logged in at the instant
    too_late: int
    duplicates: int


def recompute(arrivals: list[Ev], lateness_ms: int, grid: Grid, now: int) -> Expected:
    taken = kept(arrivals, lateness_ms)  # the delivery order replayed by the documented rules
    tallies: Tallies = defaultdict(lambda: defaultdict(Counter))

    def add(scopes: list[Scope], at: int, name: str, amount: int) -> None:
        for scope in scopes:
            tallies[scope][at][name] += amount

    def segment(agent: str, s: Fold, a: int, b: int) -> None:
        if not s.logged_in:  # offline: no time counts
            return
        names = ["logged_in", s.state]
        if s.state == "paused":
            names.append("paused:" + (s.reason or "unspecified"))
        handling = s.state in ("on_contact", "wrap_up")
        queues = set(s.members) | ({s.contact_queue} if handling and s.contact_queue else set())
        for start, ms in grid.pieces(a, b):
            for name in names:
                add([("agent", agent), ("all", "")], start, name, ms)
            for q in sorted(queues):
                add([("queue", q)], start, "logged_in", ms)  # member, or handling its contact
                if not handling or s.contact_queue == q or s.contact_queue is None:
                    for name in names[1:]:
                        add([("queue", q)], start, name, ms)

    by_agent: dict[str, list[Ev]] = defaultdict(list)
    for e in taken.events:
        by_agent[e.agent].append(e)
    live: dict[str, Fold] = {}
    for agent, evs in by_agent.items():
        evs.sort(key=lambda e: (e.ts, e.eid))
        s = Fold()
        for i, e in enumerate(evs):
            s = s.after(e)
            end = evs[i + 1].ts if i + 1 < len(evs) else now  # the last segment is open
            segment(agent, s, e.ts, end)
            counted = "ring_no_answer" if e.kind == "ring" else "handled"
            handled = e.state == "on_contact" and s.state == "on_contact"  # not logged out
            if e.kind == "ring" or handled:  # in its own queue, or the members'
                queues = [e.queue] if e.queue else sorted(s.members)
                scopes = [("agent", agent), ("all", ""), *(("queue", q) for q in queues)]
                add(scopes, grid.start_of(e.ts), counted, 1)
        if s.logged_in:
            live[agent] = s
    return Expected(tallies, live, taken.too_late, taken.duplicates)


def figures(c: Counter[str]) -> dict[str, Any]:
    """The figures of docs/agent-kpis.md from milliseconds and counts."""
    logged_in, paused = c["logged_in"], c["paused"]
    handling = c["on_contact"] + c["wrap_up"]
    return {
        "logged_in_seconds": logged_in / 1000,
        "available_seconds": c["available"] / 1000,
        "on_contact_seconds": c["on_contact"] / 1000,
        "wrap_up_seconds": c["wrap_up"] / 1000,
        "paused_seconds": paused / 1000,
        "paused_seconds_by_reason": {
            k.removeprefix("paused:"): v / 1000 for k, v in c.items() if k.startswith("paused:")
        },
        "handled": c["handled"],
        "ring_no_answer": c["ring_no_answer"],
        "aht_seconds": handling / 1000 / c["handled"] if c["handled"] else None,
        "occupancy": handling / (logged_in - paused) if logged_in != paused else None,
        "utilisation": handling / logged_in if logged_in else None,
    }


def assert_figures(got: dict[str, Any], counts: Counter[str], where: str) -> None:
    want = figures(counts)
    assert set(got) == set(want), where
    for name, value in want.items():
        if isinstance(value, float) and name in ("aht_seconds", "occupancy", "utilisation"):
            assert got[name] == pytest.approx(value, rel=1e-12), f"{where}: {name}"
        else:
            assert got[name] == value, f"{where}: {name} is {got[name]!r}, expected {value!r}"


def live_view(agents: list[Fold]) -> dict[str, Any] | None:
    if not agents:
        return None
    by_state = Counter(s.state for s in agents)
    return {"logged_in": len(agents), "by_state": dict(by_state),
            "available": by_state["available"]}  # fmt: skip


def check(snap: dict[str, Any], want: Expected, grid: Grid, now: int, history: bool = True) -> None:
    """`snap` against the recomputation; without `history` (the live sinks' snapshot), the
    same figures and no interval list."""
    today = midnight(grid.zone, local_date(grid.zone, now))
    current = grid.start_of(now)
    assert snap["as_of"] == grid.label(now)
    assert snap["pipeline"] == {"too_late": want.too_late, "duplicates": want.duplicates}
    listed = {"all": {("all", "")}, "queues": set(), "agents": set()}
    for scope in want.tallies:
        if scope[0] != "all":
            listed[scope[0] + "s"].add(scope)
    assert set(snap["queues"]) == {name for _, name in listed["queues"]}
    assert set(snap["agents"]) == {name for _, name in listed["agents"]}

    for kind, scopes in listed.items():
        for scope in scopes:
            view = snap["all"] if kind == "all" else snap[kind][scope[1]]
            per = want.tallies.get(scope, {})
            where = f"{scope[0]} {scope[1]} at {grid.label(now)}"
            assert_figures(view["current_interval"], per.get(current, Counter()), where + " cur")
            day: Counter[str] = Counter()
            for start, counts in per.items():
                if start >= today:
                    day.update(counts)
            assert_figures(view["today"], day, where + " today")
            if kind != "agents" and not history:
                assert "intervals" not in view, where
            elif kind != "agents":
                got = {i["start"]: i for i in view["intervals"]}
                assert list(got) == [grid.label(s) for s in sorted(per)], where + " intervals"
                for start, counts in per.items():
                    item = got[grid.label(start)]
                    assert item["end"] == grid.label(grid.end_of(start)), where
                    assert_figures(item["figures"], counts, f"{where} {item['start']}")
    # Live views: all counts every agent logged in; a queue its members; an agent itself.
    assert snap["all"]["live"] == live_view(list(want.live.values()))
    for name, view in snap["queues"].items():
        members = [s for s in want.live.values() if name in s.members]
        assert view["live"] == live_view(members), f"live {name}"
    for agent, view in snap["agents"].items():
        s = want.live.get(agent)
        expected = None if s is None else {
            "state": s.state,
            "reason": s.reason,
            "queues": sorted(s.members),
            "since": grid.label(s.since),
            "time_in_state_seconds": (now - s.since) / 1000,
        }  # fmt: skip
        assert view["live"] == expected, f"live {agent}"


# -- the property ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_agent_figures_equal_a_direct_recomputation(case: Case) -> None:
    book = PolicyBook(
        default=QueuePolicy(time_zone=case.zone, interval_minutes=case.minutes),
        engine=EngineSettings(
            lateness_seconds=case.lateness_ms // 1000, interval_retention_hours=30 * 24
        ),
    )
    decoded = [(e, decode_one(raw, AgentEvent)) for e, raw in case.arrivals]
    for e, d in decoded:
        assert (d.event_id, d.ts_ms, d.agent_id, d.queue) == (e.eid, e.ts, e.agent, e.queue)
    events = [e for h in case.histories for e in h]
    grid = Grid(ZoneInfo(case.zone), case.minutes, min(e.ts for e in events), case.instants[-1])
    for now in case.instants:
        engine = AgentEngine(book)
        delivered = [(e, d) for e, d in decoded if e.ts <= now]  # as `ccpulse report --at`
        apply_all(engine, (d for _, d in delivered), case.gc_every)
        want = recompute([e for e, _ in delivered], case.lateness_ms, grid, now)
        event(f"too late: {'some' if want.too_late else 'none'}")
        check(engine.snapshot(TENANT, now), want, grid, now)
        check(engine.snapshot(TENANT, now, history=False), want, grid, now, history=False)


def test_grid_helper_matches_known_days() -> None:
    """The second computation's own calendar, checked on hand-picked days."""
    paris = Grid(ZoneInfo("Europe/Paris"), 15, ms_of("2026-03-29T12:00:00+02:00"), 0)
    spring = [s for s in paris.starts if local_date(paris.zone, s) == date(2026, 3, 29)]
    assert len(spring) == 92 and spring[0] == ms_of("2026-03-29T00:00:00+01:00")
    assert paris.start_of(ms_of("2026-03-29T03:05:00+02:00")) == ms_of("2026-03-29T03:00:00+02:00")
    assert paris.end_of(ms_of("2026-03-29T01:45:00+01:00")) == ms_of("2026-03-29T03:00:00+02:00")
    santiago = Grid(ZoneInfo("America/Santiago"), 60, ms_of("2026-09-06T12:00:00-03:00"), 0)
    assert santiago.start_of(ms_of("2026-09-06T01:10:00-03:00")) == ms_of(
        "2026-09-06T01:00:00-03:00"
    )
    howe = Grid(ZoneInfo("Australia/Lord_Howe"), 60, ms_of("2026-10-04T12:00:00+11:00"), 0)
    assert howe.start_of(ms_of("2026-10-04T03:10:00+11:00")) == ms_of("2026-10-04T02:30:00+11:00")
    assert howe.pieces(ms_of("2026-10-03T23:50:00+10:30"), ms_of("2026-10-04T01:10:00+10:30")) == [
        (ms_of("2026-10-03T23:00:00+10:30"), 10 * MIN),
        (ms_of("2026-10-04T00:00:00+10:30"), HOUR),
        (ms_of("2026-10-04T01:00:00+10:30"), 10 * MIN),
    ]
