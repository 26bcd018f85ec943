"""Property: the ticket engine's figures equal a direct recomputation from random lifecycles.

Random tickets (created, public replies and internal notes, status changes, reopens, group and
priority changes, some agent-created) in zones with DST and a half-hour offset are shuffled and
partly duplicated, then fed to the engine. A deliberately simple second computation, written
here and sharing no code with `ccpulse.streams.kpi`, walks each ticket's events in the order
they were generated and derives (local intervals from the property tests' own calendar,
tests/helpers/clock.py): tickets created and solves per local interval, the first
response time of each ticket in the interval of its reply (in business hours by stepping
through whole UTC hours when a Mon-Fri 09-17 schedule is set), open tickets per group, and the
SLA breaches (24/7 only): first-response breaches per interval of the due instant (a first
response or solve after it, or none at all), and the number of resolution breaches (final solve
after the due instant, or none).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccpulse.schemas.events import TicketEvent
from ccpulse.streams.kpi.business_hours import BusinessSchedule
from ccpulse.streams.kpi.policy import EngineSettings, PolicyBook, QueuePolicy
from ccpulse.streams.kpi.tickets import TicketEngine, TicketSettings
from tests.helpers.clock import DAY, HOUR, MIN, SEC, Cal, label, ms_of

#: (zone, where histories start, whether the hour-stepping business model fits the zone).
ZONES = [
    ("UTC", "2026-03-05T06:00:00+00:00", True),
    ("Europe/Paris", "2026-03-27T12:00:00+01:00", True),  # spring forward on the 29th
    ("Europe/Paris", "2026-10-23T12:00:00+02:00", True),  # fall back on the 25th
    ("America/St_Johns", "2026-03-07T20:00:00-03:30", False),
]
GROUPS = ("l1", "l2", "vip")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "chat", "social")
STATUSES = ("open", "pending", "on_hold", "solved", "closed")
#: (first response, resolution) targets in hours, as documented.
TARGET_HOURS = {"urgent": (1, 4), "high": (4, 24), "normal": (8, 72), "low": (24, 120)}


@dataclass
class Lifecycle:
    ticket_id: str
    events: list[TicketEvent] = field(default_factory=list)  # in generation (= time) order


@st.composite
def lifecycle(draw: st.DrawFn, ticket_id: str, base_ms: int) -> Lifecycle:
    t = base_ms + draw(st.integers(0, 48 * 60)) * MIN + draw(st.integers(0, 59)) * SEC
    life = Lifecycle(ticket_id)
    seq = iter(range(100))

    def eid() -> str:
        return f"{ticket_id}-{next(seq):02d}"  # ids sort in generation order (ties in time)

    life.events.append(
        TicketEvent(eid(), "ticket.created", t, "acme", ticket_id, draw(st.sampled_from(CHANNELS)),
                    draw(st.sampled_from(PRIORITIES)), draw(st.sampled_from(GROUPS)),
                    by_agent=draw(st.integers(0, 4)) == 0)
    )  # fmt: skip
    for _ in range(draw(st.integers(0, 7))):
        t += draw(st.sampled_from((0, 1, 5, 30, 90, 600))) * MIN + draw(st.integers(0, 59)) * SEC
        kind = draw(st.sampled_from(("reply", "note", "status", "reopen", "assign")))
        if kind in ("reply", "note"):
            e = TicketEvent(eid(), "ticket.replied", t, "acme", ticket_id, agent_id="a",
                            public=kind == "reply")  # fmt: skip
        elif kind == "status":
            e = TicketEvent(eid(), "ticket.status_changed", t, "acme", ticket_id,
                            status=draw(st.sampled_from(STATUSES)))  # fmt: skip
        elif kind == "reopen":
            e = TicketEvent(eid(), "ticket.reopened", t, "acme", ticket_id)
        else:
            e = TicketEvent(eid(), "ticket.assigned", t, "acme", ticket_id,
                            priority=draw(st.none() | st.sampled_from(PRIORITIES)),
                            group=draw(st.sampled_from(GROUPS)), agent_id="b")  # fmt: skip
        life.events.append(e)
    return life


# -- the independent recomputation -----------------------------------------------------------


def interval_start(ts_ms: int, zone: ZoneInfo, minutes: int) -> int:
    """The start of the local interval holding `ts_ms` (tests/helpers/clock.py)."""
    return Cal(zone, minutes).interval(ts_ms)[0]


def business_ms(start: int, end: int, zone: ZoneInfo) -> int:
    """Mon-Fri 09:00-17:00 local, stepping through whole UTC hours (zones on whole hours)."""
    total, hour = 0, start - start % HOUR
    while hour < end:
        local = datetime.fromtimestamp(hour / 1000, zone)
        if local.weekday() < 5 and 9 <= local.hour < 17:
            total += max(0, min(end, hour + HOUR) - max(start, hour))
        hour += HOUR
    return total


@dataclass
class Expected:
    created: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    solved: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    frt: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    open_by_group: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    frt_breaches: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    resolution_breaches: int = 0


def recompute(lives: list[Lifecycle], zone: ZoneInfo, minutes: int, business: bool) -> Expected:
    out = Expected()
    for life in lives:
        created = life.events[0]
        group, priority = created.group, created.priority
        solved, first_reply, first_solve, final_solve = False, None, None, None
        for e in life.events:
            group, priority = e.group or group, e.priority or priority
            if e.type == "ticket.replied" and e.public and first_reply is None:
                first_reply = e.ts_ms
            if e.type in ("ticket.status_changed", "ticket.reopened"):
                now_solved = e.type == "ticket.status_changed" and e.status in ("solved", "closed")
                if now_solved and not solved:
                    out.solved[interval_start(e.ts_ms, zone, minutes)] += 1
                    first_solve = first_solve or e.ts_ms
                    final_solve = e.ts_ms
                solved = now_solved
        out.created[interval_start(created.ts_ms, zone, minutes)] += 1
        if not solved:
            assert group is not None
            out.open_by_group[group] += 1
        if not created.by_agent and first_reply is not None:
            took = (
                business_ms(created.ts_ms, first_reply, zone)
                if business
                else first_reply - created.ts_ms
            )
            out.frt[interval_start(first_reply, zone, minutes)].append(took)
        assert priority is not None
        frt_hours, res_hours = TARGET_HOURS[priority]
        stops = [t for t in (first_reply, first_solve) if t is not None]
        due = created.ts_ms + frt_hours * HOUR
        if not created.by_agent and (not stops or min(stops) > due):
            out.frt_breaches[interval_start(due, zone, minutes)] += 1  # when it happened
        if not solved or (
            final_solve is not None and final_solve > created.ts_ms + res_hours * HOUR
        ):
            out.resolution_breaches += 1
    return out


def rank(values: list[int], percent: int) -> float | None:
    ordered = sorted(values)
    return ordered[max(1, (percent * len(ordered) + 99) // 100) - 1] / 1000 if ordered else None


# -- the property ----------------------------------------------------------------------------


@st.composite
def scenario(draw: st.DrawFn) -> tuple[Any, ...]:
    zone_name, base, fits = draw(st.sampled_from(ZONES))
    base_ms = ms_of(base)
    n = draw(st.integers(1, 10))
    lives = [draw(lifecycle(f"T{i}", base_ms)) for i in range(n)]
    business = fits and draw(st.booleans())
    minutes = draw(st.sampled_from((15, 30, 60)))
    return zone_name, lives, business, minutes, draw(st.randoms(use_true_random=False))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_shuffled_duplicated_lifecycles_match_a_direct_recomputation(case: tuple[Any, ...]) -> None:
    zone_name, lives, business, minutes, rnd = case
    zone = ZoneInfo(zone_name)
    events = [e for life in lives for e in life.events]
    extra = [rnd.choice(events) for _ in range(rnd.randint(0, 5))]
    stream = events + extra
    rnd.shuffle(stream)

    book = PolicyBook(
        default=QueuePolicy(time_zone=zone_name, interval_minutes=minutes),
        engine=EngineSettings(lateness_seconds=30 * 86_400, interval_retention_hours=0),
    )
    schedule = BusinessSchedule.weekdays("09:00", "17:00") if business else None
    engine = TicketEngine(book, TicketSettings(schedule=schedule))
    for e in stream:
        engine.apply(e)
    now = max(e.ts_ms for e in events) + 6 * DAY
    snap = engine.snapshot("acme", now)
    want = recompute(lives, zone, minutes, business)
    # The live sinks' snapshot: the same figures, without the history.
    live = engine.snapshot("acme", now, history=False)
    assert live == {name: v for name, v in snap.items() if name != "intervals"}

    got = {i["start"]: i["figures"] for i in snap["intervals"]}
    for counts, name in ((want.created, "created"), (want.solved, "solved")):
        assert {s: n for s, n in ((s, f[name]) for s, f in got.items()) if n} == {
            label(zone, s): n for s, n in counts.items()
        }, name
    got_frt = {s: f["frt_count"] for s, f in got.items() if f["frt_count"]}
    assert got_frt == {label(zone, s): len(v) for s, v in want.frt.items()}
    for start, values in want.frt.items():
        figs = got[label(zone, start)]
        assert figs["frt_avg_seconds"] == sum(values) / len(values) / 1000
        assert figs["frt_median_seconds"] == rank(values, 50)
        assert figs["frt_p90_seconds"] == rank(values, 90)
    assert snap["now"]["open_by_group"] == dict(sorted(want.open_by_group.items()))
    assert snap["pipeline"]["duplicates"] == len(extra)
    if not business:
        got_breaches = {s: f["frt_breaches"] for s, f in got.items() if f["frt_breaches"]}
        assert got_breaches == {label(zone, s): n for s, n in want.frt_breaches.items()}
        assert sum(f["resolution_breaches"] for f in got.values()) == want.resolution_breaches
