"""The ticket engine, specified by small hand-computed cases.

Unless a test says otherwise the tenant is acme in UTC with 15-minute intervals, 24/7 (elapsed
time), the default SLA targets (urgent 1 h / 4 h, high 4 h / 24 h, normal 8 h / 72 h, low
24 h / 120 h) and a one-hour at-risk window. Instants are on Monday 2026-03-02 unless given a
day; `at("09:10")` is that wall time in UTC.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import orjson
import pytest

from ccpulse.schemas.events import TicketEvent
from ccpulse.streams.kpi.business_hours import BusinessClock, BusinessSchedule
from ccpulse.streams.kpi.engine import Verdict
from ccpulse.streams.kpi.family import FamilyEngine
from ccpulse.streams.kpi.policy import EngineSettings, PolicyBook, QueuePolicy
from ccpulse.streams.kpi.tickets import (
    SlaTarget,
    TicketEngine,
    TicketSettings,
    nearest_rank,
)
from tests.helpers.clock import ms_of as ms

TENANT = "acme"
DAY = "2026-03-02"  # a Monday
HOUR, MIN = 3_600_000, 60_000




def at(clock: str, day: str = DAY, offset: str = "+00:00") -> int:
    if clock.count(":") == 1:
        clock += ":00"
    return ms(f"{day}T{clock}{offset}")


def label(clock: str, day: str = DAY, offset: str = "+00:00") -> str:
    return f"{day}T{clock}:00{offset}"


# -- event builders --------------------------------------------------------------------------

_ids = iter(range(10**9))


def _eid(eid: str | None) -> str:
    return eid or f"e{next(_ids)}"


def created(
    tid: str,
    ts: int,
    priority: str = "normal",
    group: str = "support",
    channel: str = "email",
    by_agent: bool = False,
    eid: str | None = None,
    tenant: str = TENANT,
) -> TicketEvent:
    return TicketEvent(_eid(eid), "ticket.created", ts, tenant, tid, channel, priority, group,
                       by_agent=by_agent)  # fmt: skip


def reply(tid: str, ts: int, public: bool = True, eid: str | None = None) -> TicketEvent:
    return TicketEvent(_eid(eid), "ticket.replied", ts, TENANT, tid, agent_id="a1", public=public)


def status(tid: str, ts: int, new_status: str, eid: str | None = None) -> TicketEvent:
    return TicketEvent(_eid(eid), "ticket.status_changed", ts, TENANT, tid, status=new_status)


def solve(tid: str, ts: int, eid: str | None = None) -> TicketEvent:
    return status(tid, ts, "solved", eid)


def reopen(tid: str, ts: int, eid: str | None = None) -> TicketEvent:
    return TicketEvent(_eid(eid), "ticket.reopened", ts, TENANT, tid)


def assign(
    tid: str, ts: int, group: str, priority: str | None = None, eid: str | None = None
) -> TicketEvent:
    return TicketEvent(_eid(eid), "ticket.assigned", ts, TENANT, tid, priority=priority,
                       group=group, agent_id="a2")  # fmt: skip


# -- helpers ---------------------------------------------------------------------------------


def make_engine(
    time_zone: str = "UTC",
    lateness_seconds: int = 86_400,
    retention_hours: int = 48,
    **settings: Any,
) -> TicketEngine:
    book = PolicyBook(
        default=QueuePolicy(time_zone=time_zone),
        engine=EngineSettings(
            lateness_seconds=lateness_seconds, interval_retention_hours=retention_hours
        ),
    )
    return TicketEngine(book, TicketSettings(**settings))


def run(events: list[TicketEvent], **kwargs: Any) -> TicketEngine:
    engine = make_engine(**kwargs)
    for e in events:
        engine.apply(e)
    return engine


def snap(engine: TicketEngine, now: int) -> dict[str, Any]:
    """The snapshot through a JSON round trip, as a sink would see it."""
    return orjson.loads(orjson.dumps(engine.snapshot(TENANT, now)))


def interval(snapshot: dict[str, Any], start_label: str) -> dict[str, Any]:
    found = {i["start"]: i["figures"] for i in snapshot["intervals"]}
    return found[start_label]


def pick(figs: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(figs[n] for n in names)


# -- the worked example of docs/ticket-kpis.md -------------------------------------------------

WORKED = [
    created("T1", at("09:00"), "normal", "billing", "email"),
    reply("T1", at("09:10")),
    solve("T1", at("09:40")),
    created("T2", at("09:05"), "high", "tech", "chat"),
    reply("T2", at("09:06"), public=False),  # internal note: not a response
    reply("T2", at("09:35")),
    reply("T2", at("09:50")),
    solve("T2", at("10:05")),
    created("T3", at("09:20"), "urgent", "tech", "email"),
    reply("T3", at("10:30")),  # 70 min: past the 1 h urgent target, breached at 10:20
    solve("T3", at("10:40")),
    reopen("T3", at("11:00")),
    solve("T3", at("11:30")),
    created("T4", at("09:30"), "low", "billing", "email", by_agent=True),
    reply("T4", at("09:31")),
    solve("T4", at("09:45")),
    created("T5", at("11:00"), "urgent", "billing", "email"),  # never answered: due 12:00
    created("T6", at("12:10"), "urgent", "tech", "chat"),  # due 13:10: at risk at 12:15
]
WORKED_NOW = at("12:15")


def test_worked_example_today() -> None:
    """The numbers of docs/ticket-kpis.md, "Worked example"."""
    today = snap(run(WORKED), WORKED_NOW)["today"]["figures"]
    assert pick(today, "created", "solved", "reopened", "resolved", "one_touch_resolved") == (
        6, 5, 1, 4, 2,
    )  # fmt: skip
    assert today["created_by_channel"] == {"chat": 2, "email": 4}
    # FRT: T1 600 s, T2 1800 s, T3 4200 s (T4 agent-created, T5 and T6 unanswered).
    assert pick(today, "frt_count", "frt_avg_seconds", "frt_median_seconds", "frt_p90_seconds") == (
        3, 2200.0, 1800.0, 4200.0,
    )  # fmt: skip
    # Resolution to the final solve: T4 900, T1 2400, T2 3600, T3 7800 (11:30 - 09:20).
    assert pick(
        today, "resolution_count", "resolution_avg_seconds", "resolution_median_seconds",
        "resolution_p90_seconds",
    ) == (4, 3675.0, 2400.0, 7800.0)  # fmt: skip
    assert today["fcr_rate"] == 0.5  # T1 and T4 of T1-T4
    assert today["reopen_rate"] == 0.2  # 1 reopen / 5 solves
    assert (today["frt_breaches"], today["resolution_breaches"]) == (2, 0)  # T3 10:20, T5 12:00


def test_worked_example_now_and_intervals() -> None:
    s = snap(run(WORKED), WORKED_NOW)
    assert s["now"]["open"] == 2
    assert s["now"]["open_by_group"] == {"billing": 1, "tech": 1}
    assert s["now"]["open_by_priority"] == {"urgent": 2}
    assert s["now"]["backlog_by_age"]["all"] == {
        "under_1h": 1, "1h_to_8h": 1, "8h_to_1d": 0, "1d_to_3d": 0, "over_3d": 0,
    }  # fmt: skip
    assert s["now"]["at_risk"] == {"first_response": 1, "resolution": 0}
    assert s["now"]["overdue"] == {"first_response": 1, "resolution": 0}
    assert s["now"]["oldest_open_age_seconds"] == 4500.0
    assert interval(s, label("10:15"))["frt_breaches"] == 1  # T3 at 10:20
    assert interval(s, label("12:00"))["frt_breaches"] == 1  # T5 at 12:00, still open
    assert interval(s, label("10:30"))["frt_median_seconds"] == 4200.0  # counted at the reply
    assert interval(s, label("09:15"))["created"] == 1  # T3
    assert s["current_interval"]["start"] == label("12:15")


# -- counts and breakdowns -------------------------------------------------------------------


def test_each_count_lands_in_the_interval_of_its_event() -> None:
    s = snap(
        run([
            created("A", at("09:01"), channel="chat"),
            created("B", at("09:14:59"), channel="email"),
            created("C", at("09:15"), channel="chat"),
            solve("A", at("09:20")),
            reopen("A", at("09:31")),
        ]),
        at("10:00"),
    )  # fmt: skip
    nine = interval(s, label("09:00"))
    assert pick(nine, "created", "solved", "reopened") == (2, 0, 0)
    assert nine["created_by_channel"] == {"chat": 1, "email": 1}
    assert pick(interval(s, label("09:15")), "created", "solved", "reopened") == (1, 1, 0)
    assert pick(interval(s, label("09:30")), "created", "solved", "reopened") == (0, 0, 1)


def test_group_and_priority_breakdowns_use_the_values_in_force_at_each_event() -> None:
    """Created under its first group; moved and raised before the solve, it is solved there."""
    s = snap(
        run([
            created("A", at("09:00"), "normal", "l1"),
            assign("A", at("09:05"), "l2", priority="high"),
            solve("A", at("09:10")),
            created("B", at("09:02"), "low", "l1"),
        ]),
        at("09:14"),
    )  # fmt: skip
    nine = interval(s, label("09:00"))
    assert {g: f["created"] for g, f in nine["by_group"].items()} == {"l1": 2, "l2": 0}
    assert nine["by_group"]["l1"]["solved"] == 0
    assert nine["by_group"]["l2"]["solved"] == 1
    assert nine["by_priority"]["normal"]["created"] == 1
    assert nine["by_priority"]["high"]["resolution_avg_seconds"] == 600.0
    assert s["now"]["open_by_group"] == {"l1": 1}
    assert s["now"]["open_by_priority"] == {"low": 1}


def test_closing_a_solved_ticket_is_not_a_second_solve() -> None:
    s = snap(
        run([
            created("A", at("09:00")),
            solve("A", at("09:10")),
            status("A", at("09:20"), "closed"),
            created("B", at("09:01")),
            status("B", at("09:25"), "closed"),  # closed without solved: one solve
            status("B", at("09:26"), "pending"),  # back to work from closed: a reopen
        ]),
        at("10:00"),
    )  # fmt: skip
    today = s["today"]["figures"]
    assert pick(today, "solved", "reopened", "resolved") == (2, 1, 1)
    assert s["now"]["open"] == 1


def test_ratios_are_none_without_a_denominator() -> None:
    today = snap(run([created("A", at("09:00"))]), at("09:30"))["today"]["figures"]
    assert today["created"] == 1
    for name in (
        "fcr_rate", "reopen_rate", "frt_avg_seconds", "frt_median_seconds", "frt_p90_seconds",
        "resolution_avg_seconds", "resolution_median_seconds", "resolution_p90_seconds",
    ):  # fmt: skip
        assert today[name] is None, name


def test_empty_tenant_snapshot() -> None:
    s = snap(make_engine(), at("09:00"))
    assert s["intervals"] == [] and s["now"]["open"] == 0
    assert s["now"]["oldest_open_age_seconds"] is None
    assert s["pipeline"] == {
        "too_late": 0, "duplicates": 0, "awaiting_creation": 0, "watermark": None,
    }  # fmt: skip


# -- first response time ---------------------------------------------------------------------


def test_frt_median_and_p90_are_nearest_rank() -> None:
    """Five FRTs 60, 120, 180, 240, 3000 s: median is the 3rd, p90 the ceil(4.5) = 5th."""
    events: list[TicketEvent] = []
    for i, seconds in enumerate((240, 60, 3000, 180, 120)):
        events += [created(f"T{i}", at("09:00")), reply(f"T{i}", at("09:00") + seconds * 1000)]
    figs = snap(run(events), at("10:00"))["today"]["figures"]
    assert pick(figs, "frt_count", "frt_avg_seconds", "frt_median_seconds", "frt_p90_seconds") == (
        5, 720.0, 180.0, 3000.0,
    )  # fmt: skip


def test_nearest_rank_of_an_even_count_takes_the_lower_middle() -> None:
    assert nearest_rank([10, 20, 30, 40], 50) == 20
    assert nearest_rank([10, 20, 30, 40], 90) == 40  # ceil(3.6) = 4th
    assert nearest_rank([10] * 10 + [99], 90) == 10  # ceil(9.9) = 10th
    assert nearest_rank([], 50) is None


def test_frt_counts_in_the_interval_of_the_reply() -> None:
    s = snap(run([created("A", at("09:50")), reply("A", at("10:20"))]), at("11:00"))
    assert interval(s, label("09:45"))["frt_count"] == 0
    assert interval(s, label("10:15"))["frt_avg_seconds"] == 1800.0


def test_internal_notes_and_later_replies_do_not_change_the_first_response() -> None:
    events = [
        created("A", at("09:00")),
        reply("A", at("09:05"), public=False),
        reply("A", at("09:40")),
        reply("A", at("09:45")),
    ]
    figs = snap(run(events), at("10:00"))["today"]["figures"]
    assert pick(figs, "frt_count", "frt_avg_seconds") == (1, 2400.0)


def test_only_internal_notes_leave_a_ticket_unanswered() -> None:
    events = [created("A", at("09:00"), "urgent"), reply("A", at("09:05"), public=False)]
    s = snap(run(events), at("10:30"))
    assert s["today"]["figures"]["frt_count"] == 0
    assert s["today"]["figures"]["frt_breaches"] == 1  # urgent, due 10:00, nobody answered
    assert s["now"]["overdue"]["first_response"] == 1


def test_agent_created_tickets_owe_no_first_response() -> None:
    events = [
        created("A", at("09:00"), "urgent", by_agent=True),
        reply("A", at("11:00")),
        solve("A", at("11:05")),
        created("B", at("09:00"), "urgent", by_agent=True),  # never answered: no FRT breach
    ]
    s = snap(run(events), at("12:00"))
    today = s["today"]["figures"]
    assert pick(today, "created", "frt_count", "frt_breaches") == (2, 0, 0)
    assert pick(today, "resolved", "one_touch_resolved", "resolution_avg_seconds") == (
        1, 1, 7500.0,
    )  # fmt: skip
    assert s["now"]["at_risk"]["first_response"] == 0
    assert s["now"]["overdue"] == {"first_response": 0, "resolution": 0}


# -- resolution, reopens and one-touch resolution ----------------------------------------------


def test_resolution_is_measured_to_the_final_solve_and_a_reopen_spoils_one_touch() -> None:
    events = [
        created("A", at("09:00")),
        reply("A", at("09:10")),
        solve("A", at("09:20")),
        reopen("A", at("10:00")),
        solve("A", at("10:30")),  # 90 min after creation, no second reply
        created("B", at("09:00")),
        reply("B", at("09:05")),
        solve("B", at("09:30")),  # one reply, never reopened: one-touch
        created("C", at("09:00")),
        reply("C", at("09:05")),
        reply("C", at("09:10")),
        solve("C", at("09:45")),  # two replies: not one-touch
    ]
    s = snap(run(events), at("11:00"))
    today = s["today"]["figures"]
    assert pick(today, "solved", "reopened", "resolved", "one_touch_resolved") == (4, 1, 3, 1)
    assert today["fcr_rate"] == pytest.approx(1 / 3)
    assert today["reopen_rate"] == 0.25
    assert interval(s, label("10:30"))["resolution_avg_seconds"] == 5400.0
    # A's first solve still counts as a solve at 09:15, but its resolution moved to 10:30.
    assert pick(interval(s, label("09:15")), "solved", "resolved") == (1, 0)


def test_a_reopened_ticket_is_not_resolved_until_solved_again() -> None:
    events = [created("A", at("09:00")), solve("A", at("09:20")), reopen("A", at("10:00"))]
    s = snap(run(events), at("10:10"))
    assert pick(s["today"]["figures"], "solved", "reopened", "resolved") == (1, 1, 0)
    assert s["now"]["open"] == 1
    assert s["today"]["figures"]["reopen_rate"] == 1.0


# -- business hours --------------------------------------------------------------------------

WEEKDAYS = BusinessSchedule.weekdays("09:00", "17:00")


def test_business_frt_skips_the_overnight_gap() -> None:
    """Monday 16:30 to Tuesday 09:30 is 17 h elapsed but 1 h of business time."""
    events = [created("A", at("16:30")), reply("A", at("09:30", "2026-03-03"))]
    s = snap(run(events, schedule=WEEKDAYS), at("10:00", "2026-03-03"))
    assert s["clock"] == "business"
    assert s["today"]["figures"]["frt_avg_seconds"] == 3600.0
    assert (
        snap(run(events), at("10:00", "2026-03-03"))["today"]["figures"]["frt_avg_seconds"]
        == 17 * 3600.0
    )


def test_business_frt_skips_the_weekend() -> None:
    """Friday 16:00 to Monday 10:00: 1 h on Friday and 1 h on Monday."""
    events = [created("A", at("16:00", "2026-03-06")), reply("A", at("10:00", "2026-03-09"))]
    s = snap(run(events, schedule=WEEKDAYS), at("11:00", "2026-03-09"))
    assert s["today"]["figures"]["frt_avg_seconds"] == 7200.0


def test_business_frt_across_the_spring_forward_weekend_in_paris() -> None:
    """Europe/Paris moves to summer time on Sunday 2026-03-29. Friday 16:00 CET (15:00 UTC) to
    Monday 10:00 CEST (08:00 UTC) is 65 h elapsed; business time is 1 h + 1 h = 2 h (Monday
    opens at 09:00 CEST = 07:00 UTC, not 08:00 UTC as a fixed +01:00 offset would have it)."""
    fri = at("16:00", "2026-03-27", "+01:00")
    mon = at("10:00", "2026-03-30", "+02:00")
    events = [created("A", fri), reply("A", mon)]
    paris = {"time_zone": "Europe/Paris", "schedule": WEEKDAYS}
    s = snap(run(events, **paris), at("11:00", "2026-03-30", "+02:00"))
    assert s["today"]["figures"]["frt_avg_seconds"] == 7200.0
    assert (mon - fri) == 65 * HOUR


def test_business_sla_due_and_breach_in_business_time_over_dst() -> None:
    """Urgent (1 h) created Friday 16:30 CET: due Monday 09:30 CEST after 30 + 30 minutes of
    opening hours; unanswered, the breach counts in Monday's 09:30 interval."""
    events = [created("A", at("16:30", "2026-03-27", "+01:00"), "urgent")]
    paris = {"time_zone": "Europe/Paris", "schedule": WEEKDAYS}
    engine = run(events, **paris)
    before = snap(engine, at("09:29", "2026-03-30", "+02:00"))
    assert before["now"]["at_risk"]["first_response"] == 1
    assert before["today"]["figures"]["frt_breaches"] == 0
    after = snap(engine, at("09:31", "2026-03-30", "+02:00"))
    assert interval(after, label("09:30", "2026-03-30", "+02:00"))["frt_breaches"] == 1
    assert after["now"]["overdue"]["first_response"] == 1


def test_per_tenant_schedule_overrides_the_default() -> None:
    events = [created("A", at("16:30")), reply("A", at("09:30", "2026-03-03"))]
    engine = run(events, schedule=WEEKDAYS, tenant_schedules={TENANT: None})
    figs = snap(engine, at("10:00", "2026-03-03"))["today"]["figures"]
    assert figs["frt_avg_seconds"] == 17 * 3600.0


def test_business_clock_overnight_window_and_dst_night() -> None:
    """A 22:00-06:00 window runs past midnight; on the spring-forward night it is 7 h long."""
    nights = BusinessSchedule(tuple((d, "22:00", "06:00") for d in range(7)))
    clock = BusinessClock(nights, "Europe/Paris")
    start = at("05:00", "2026-03-02", "+01:00")
    assert clock.add(start, 3 * HOUR) == at("00:00", "2026-03-03", "+01:00")
    noon_sat, noon_sun = at("12:00", "2026-03-28", "+01:00"), at("12:00", "2026-03-29", "+02:00")
    assert clock.between(noon_sat, noon_sun) == 7 * HOUR
    always = BusinessClock(BusinessSchedule(tuple((d, "00:00", "24:00") for d in range(7))), "UTC")
    assert always.between(at("09:00"), at("17:00", "2026-03-09")) == (7 * 24 + 8) * HOUR


def test_schedule_validation() -> None:
    with pytest.raises(ValueError):
        BusinessSchedule(())
    with pytest.raises(ValueError):
        BusinessSchedule(((7, "09:00", "17:00"),))
    with pytest.raises(ValueError):
        BusinessSchedule(((0, "9h", "17:00"),))


# -- SLA breaches ----------------------------------------------------------------------------


def test_a_late_response_breaches_at_the_due_instant_not_when_it_comes() -> None:
    """Normal: 8 h. Created 08:00, answered 17:30: the breach counts at 16:00."""
    s = snap(run([created("A", at("08:00")), reply("A", at("17:30"))]), at("18:00"))
    assert interval(s, label("16:00"))["frt_breaches"] == 1
    assert interval(s, label("17:30"))["frt_breaches"] == 0
    assert interval(s, label("17:30"))["frt_avg_seconds"] == 9.5 * 3600


def test_an_open_ticket_breaches_when_its_target_passes() -> None:
    engine = run([created("A", at("09:00"), "urgent")])
    early = snap(engine, at("09:59:59"))
    assert early["today"]["figures"]["frt_breaches"] == 0
    assert early["now"]["at_risk"] == {"first_response": 1, "resolution": 0}
    due = snap(engine, at("10:00"))  # the instant itself counts (breach instant <= now)
    assert interval(due, label("10:00"))["frt_breaches"] == 1
    assert due["now"]["at_risk"] == {"first_response": 0, "resolution": 0}
    late = snap(engine, at("12:30"))  # resolution (4 h) due 13:00: at risk now
    assert late["now"]["at_risk"] == {"first_response": 0, "resolution": 1}
    assert snap(engine, at("13:00"))["today"]["figures"]["resolution_breaches"] == 1


def test_a_response_exactly_at_the_target_is_in_time() -> None:
    events = [created("A", at("09:00"), "urgent"), reply("A", at("10:00"))]
    assert snap(run(events), at("12:00"))["today"]["figures"]["frt_breaches"] == 0


def test_solving_before_the_target_stops_the_first_response_clock() -> None:
    events = [created("A", at("09:00"), "urgent"), solve("A", at("09:30"))]
    figs = snap(run(events), at("12:00"))["today"]["figures"]
    assert pick(figs, "frt_count", "frt_breaches", "resolution_breaches") == (0, 0, 0)


def test_a_reopen_after_the_resolution_target_breaches_at_the_reopen() -> None:
    """High: 24 h to resolve, due Tuesday 09:00. Solved at 10:00 Monday, it is solved when the
    target passes; reopened Tuesday 12:00 it is unsolved past due: breached at 12:00."""
    events = [
        created("A", at("09:00"), "high"),
        reply("A", at("09:30")),
        solve("A", at("10:00")),
        reopen("A", at("12:00", "2026-03-03")),
        solve("A", at("13:00", "2026-03-03")),
    ]
    s = snap(run(events), at("14:00", "2026-03-03"))
    assert interval(s, label("12:00", "2026-03-03"))["resolution_breaches"] == 1
    assert s["today"]["figures"]["resolution_breaches"] == 1
    assert s["today"]["figures"]["resolution_avg_seconds"] == 28 * 3600.0


def test_a_priority_change_retargets_from_creation() -> None:
    """Raised to urgent at 09:30, the ticket's first response is due at 10:00 (1 h after
    creation), not 8 h after; the breach counts under the priority whose target it missed."""
    events = [created("A", at("09:00"), "normal"), assign("A", at("09:30"), "support", "urgent")]
    s = snap(run(events), at("10:05"))
    figs = interval(s, label("10:00"))
    assert figs["frt_breaches"] == 1
    assert figs["by_priority"]["urgent"]["frt_breaches"] == 1


def test_custom_targets_and_at_risk_window() -> None:
    targets = {p: SlaTarget(600, 3600) for p in ("low", "normal", "high", "urgent")}
    engine = run([created("A", at("09:00"))], targets=targets, at_risk_seconds=120)
    assert snap(engine, at("09:07"))["now"]["at_risk"]["first_response"] == 0
    assert snap(engine, at("09:08"))["now"]["at_risk"]["first_response"] == 1
    assert snap(engine, at("09:10"))["today"]["figures"]["frt_breaches"] == 1


# -- backlog ---------------------------------------------------------------------------------


def test_backlog_age_buckets_at_a_given_now() -> None:
    now = at("12:00", "2026-03-09")
    ages_min = {"a": 30, "b": 60, "c": 479, "d": 480, "e": 1440, "f": 2 * 1440, "g": 3 * 1440,
                "h": 5 * 1440}  # fmt: skip
    events = [created(t, now - m * MIN, group="x" if t < "e" else "y") for t, m in ages_min.items()]
    events += [created("solved", now - 90 * MIN), solve("solved", now - 10 * MIN)]
    events += [created("future", now + MIN)]  # not yet created at `now`
    s = snap(run(events, lateness_seconds=7 * 86_400), now)["now"]
    assert s["backlog_by_age"]["all"] == {
        "under_1h": 1, "1h_to_8h": 2, "8h_to_1d": 1, "1d_to_3d": 2, "over_3d": 2,
    }  # fmt: skip
    assert s["backlog_by_age"]["by_group"]["x"] == {
        "under_1h": 1, "1h_to_8h": 2, "8h_to_1d": 1, "1d_to_3d": 0, "over_3d": 0,
    }  # fmt: skip
    assert s["open"] == 8
    assert s["oldest_open_age_seconds"] == 5 * 86_400.0


def test_backlog_bounds_are_configurable() -> None:
    engine = run([created("A", at("09:00"))], backlog_bounds_seconds=(1800, 7200))
    assert snap(engine, at("10:00"))["now"]["backlog_by_age"]["all"] == {
        "under_30m": 0, "30m_to_2h": 1, "over_2h": 0,
    }  # fmt: skip


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="urgent"):
        TicketSettings(targets={p: SlaTarget(1, 1) for p in ("low", "normal", "high")})
    with pytest.raises(ValueError):
        TicketSettings(backlog_bounds_seconds=(3600, 3600))
    with pytest.raises(ValueError):
        TicketSettings(at_risk_seconds=-1)


# -- order, duplicates, lateness -------------------------------------------------------------


def test_any_arrival_order_gives_the_in_order_figures() -> None:
    in_order = snap(run(WORKED), WORKED_NOW)
    for seed in range(5):
        shuffled = WORKED[:]
        random.Random(seed).shuffle(shuffled)
        assert snap(run(shuffled), WORKED_NOW) == in_order
    assert snap(run(WORKED[::-1]), WORKED_NOW) == in_order


def test_same_event_id_twice_changes_nothing_but_is_counted() -> None:
    engine = run(WORKED)
    before = snap(engine, WORKED_NOW)
    assert engine.apply(WORKED[2]) is Verdict.DUPLICATE
    assert engine.apply(WORKED[0]) is Verdict.DUPLICATE
    after = snap(engine, WORKED_NOW)
    assert after["pipeline"]["duplicates"] == 2
    assert {**after, "pipeline": None} == {**before, "pipeline": None}


def test_two_versions_of_one_event_id_keep_the_same_one_whatever_the_order() -> None:
    first = reply("A", at("09:10"), eid="r")
    second = replace(first, ts_ms=at("09:20"))
    base = [created("A", at("09:00"), eid="c")]
    s1, s2 = (
        snap(run([*base, first, second]), at("10:00")),
        snap(run([*base, second, first]), at("10:00")),
    )
    assert s1 == s2
    assert s1["pipeline"]["duplicates"] == 1


def test_events_before_the_creation_wait_for_it() -> None:
    engine = run([reply("A", at("09:10")), solve("A", at("09:30"))])
    s = snap(engine, at("10:00"))
    assert s["pipeline"]["awaiting_creation"] == 1
    assert s["intervals"] == [] and s["now"]["open"] == 0
    engine.apply(created("A", at("09:00")))
    figs = snap(engine, at("10:00"))["today"]["figures"]
    assert pick(figs, "created", "frt_avg_seconds", "resolution_avg_seconds") == (1, 600.0, 1800.0)


def test_lateness_refuses_events_more_than_lateness_behind_the_watermark() -> None:
    engine = make_engine(lateness_seconds=3600)
    assert engine.apply(created("A", at("12:00"))) is Verdict.APPLIED  # watermark 12:00
    assert engine.apply(created("B", at("11:00"))) is Verdict.APPLIED  # exactly the lateness
    assert engine.apply(created("C", at("10:59:59"))) is Verdict.TOO_LATE
    assert engine.apply(reply("A", at("10:00"))) is Verdict.TOO_LATE
    s = snap(engine, at("12:05"))
    assert s["pipeline"]["too_late"] == 2
    assert s["today"]["figures"]["created"] == 2
    assert s["today"]["figures"]["frt_count"] == 0


# -- exactly once: replay and crash recovery ----------------------------------------------------

STREAM = [*WORKED[:9], WORKED[1], *WORKED[9:]]  # event 9 repeats event 1's id


def changelog(engine: TicketEngine, into: dict[Any, Any] | None = None) -> dict[Any, Any]:
    """Apply the engine's drained writes to a changelog (JSON round trip, deletions drop)."""
    log = {} if into is None else into
    for key, record in engine.drain_writes():
        if record is None:
            log.pop(key, None)
        else:
            log[key] = orjson.loads(orjson.dumps(record))
    return log


def test_records_are_written_buckets_then_tickets_then_meta() -> None:
    engine = make_engine()
    engine.apply(created("A", at("09:00")), pos=0)
    kinds = [key[1] for key, _ in engine.drain_writes()]
    assert kinds == sorted(kinds, key=["interval", "total", "ticket", "meta"].index)
    assert kinds[-2:] == ["ticket", "meta"]
    assert engine.drain_writes() == []


def test_replay_with_the_same_positions_changes_nothing() -> None:
    engine = make_engine()
    for pos, e in enumerate(STREAM):
        engine.apply(e, pos=pos)
    before = snap(engine, WORKED_NOW)
    assert before["pipeline"]["duplicates"] == 1
    assert [engine.apply(STREAM[p], pos=p) for p in range(4, 8)] == [Verdict.REPLAYED] * 4
    assert snap(engine, WORKED_NOW) == before


def test_replay_after_a_crash_part_way_through_the_writes() -> None:
    """Events 0-7 reached the changelog; of the writes of events 8-end only a prefix did (so
    later buckets and tickets beside earlier meta). For every such prefix, re-reading events
    8-end with their positions ends exactly where the engine that did not crash ended, in
    figures and record for record."""
    first = make_engine()
    for pos, e in enumerate(STREAM[:8]):
        first.apply(e, pos=pos)
    log = changelog(first)
    for pos in range(8, len(STREAM)):
        first.apply(STREAM[pos], pos=pos)
    later = [(k, orjson.loads(orjson.dumps(r))) for k, r in first.drain_writes()]
    kinds = [k[1] for k, _ in later]
    assert kinds.index("ticket") > 0 and kinds[-1] == "meta"
    full = {**log, **dict(later)}
    expected = snap(first, WORKED_NOW)

    for cut in range(len(later) + 1):
        crashed = {**log, **dict(later[:cut])}
        restored = make_engine()
        for key, record in crashed.items():
            restored.restore(key, record)
        restored.finish_restore()
        for pos in range(8, len(STREAM)):
            restored.apply(STREAM[pos], pos=pos)
        assert snap(restored, WORKED_NOW) == expected, cut
        assert changelog(restored, crashed) == full, cut
    assert expected["pipeline"]["duplicates"] == 1


def test_restore_rebuilds_the_open_tickets() -> None:
    engine = run(WORKED)
    log = changelog(engine)
    restored = make_engine()
    for key, record in reversed(list(log.items())):  # any order
        restored.restore(key, record)
    restored.finish_restore()
    assert restored.dirty_tenants() == {TENANT}
    assert snap(restored, WORKED_NOW) == snap(engine, WORKED_NOW)


# -- garbage collection ----------------------------------------------------------------------

GC_EVENTS = [
    created("old", at("09:00")),
    reply("old", at("09:10")),
    solve("old", at("09:20")),
    created("open", at("09:30")),
    created("now", at("12:00", "2026-03-05")),  # 74 h 40 min after the solve
]


def test_garbage_collection_drops_long_solved_tickets_without_changing_figures() -> None:
    """Lateness 24 h + retention 48 h: "old" was solved 74 h 40 min before the watermark."""
    engine = run(GC_EVENTS)
    now = at("12:30", "2026-03-05")
    before = snap(engine, now)
    changelog(engine)
    engine.collect_garbage()
    writes = dict(engine.drain_writes())
    assert writes[(TENANT, "ticket", "old")] is None
    assert (TENANT, "ticket", "open") not in writes  # open tickets are never dropped
    assert set(engine.states[TENANT].tickets) == {"open", "now"}
    assert snap(engine, now) == before


def test_a_ticket_solved_within_lateness_plus_retention_is_kept() -> None:
    """Solved 30 h before the watermark: past the 24 h lateness but not lateness + 48 h."""
    engine = run([
        created("recent", at("05:00", "2026-03-04")),
        solve("recent", at("06:00", "2026-03-04")),
        created("now", at("12:00", "2026-03-05")),
    ])  # fmt: skip
    engine.collect_garbage()
    assert set(engine.states[TENANT].tickets) == {"recent", "now"}


def test_an_event_for_an_expired_ticket_meets_the_same_fate_with_or_without_gc() -> None:
    late_reopen = reopen("old", at("11:00", "2026-03-05"))
    without_gc = run([*GC_EVENTS, late_reopen])
    with_gc = run(GC_EVENTS)
    with_gc.collect_garbage()
    with_gc.apply(late_reopen)
    now = at("12:30", "2026-03-05")
    assert snap(with_gc, now) == snap(without_gc, now)
    assert snap(with_gc, now)["pipeline"]["awaiting_creation"] == 1


# -- the family protocol ---------------------------------------------------------------------


def test_engine_is_a_family_engine_and_keeps_tenants_apart() -> None:
    engine: FamilyEngine = make_engine()
    assert engine.family == "tickets"
    engine.apply(created("A", at("09:00")))
    engine.apply(created("A", at("09:00"), tenant="other"))
    assert engine.tenants() == ["acme", "other"]
    assert engine.dirty_tenants() == {"acme", "other"}
    assert engine.dirty_tenants() == set()
    assert engine.snapshot("other", at("10:00"))["today"]["figures"]["created"] == 1
