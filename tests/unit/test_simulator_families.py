"""The simulator's agent, ticket and survey families: reproducible, contract-valid and consistent
with the contacts (and each other)."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.report import build_report
from ccpulse.schemas import routing_key
from ccpulse.sources.simulator import (
    SimConfig,
    SimQueue,
    SimTicketDesk,
    batch_key,
    batched,
    default_desks,
    default_queues,
    simulate,
)
from ccpulse.sources.simulator_tickets import BusinessClock
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.kpi.families import FACTORIES
from tests.helpers.sim import HOUR_MS, START_MS, Ev, any_queue, check_stream, decode_all, queue, run

PAUSE_REASONS = {"break", "lunch", "training"}
STATUSES = {"new", "open", "pending", "on_hold", "solved", "closed"}
PRIORITIES = {"low", "normal", "high", "urgent"}


def family(events: list[Ev], name: str) -> list[Ev]:
    return [e for e in events if e["type"].startswith(name + ".")]


def contacts_of(events: list[Ev]) -> dict[str, list[Ev]]:
    out: dict[str, list[Ev]] = defaultdict(list)
    for e in family(events, "contact"):
        out[e["contact_id"]].append(e)
    return out


def check_agents(events: list[Ev], queues: list[SimQueue], finished: bool = True) -> dict[str, int]:
    """Each agent's events follow the state machine, and its on_contact and wrap-up spans are
    exactly the contacts it answered; pauses and rings only while available. Returns a summary."""
    home = {
        (q.tenant, f"agent-{q.name}-{n}"): q.name for q in queues for n in range(1, q.agents + 1)
    }
    #: (tenant, agent) -> [(answer, talk end, done)] of the contacts it answered
    handled: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    answer_ts: dict[str, int] = {}
    answered_by: dict[tuple[str, str], list[int]] = defaultdict(list)
    for cid, seq in contacts_of(events).items():
        types = [e["type"] for e in seq]
        if "contact.answered" not in types:
            continue
        answered = seq[types.index("contact.answered")]
        answer_ts[cid] = answered["ts"]
        answered_by[(answered["tenant"], answered["agent_id"])].append(answered["ts"])
        if "contact.completed" not in types:
            assert not finished, cid
            continue
        done = seq[types.index("contact.completed")]
        talk_end = answered["ts"] + round((done["talk_seconds"] + done["hold_seconds"]) * 1000)
        handled[(answered["tenant"], answered["agent_id"])].append(
            (answered["ts"], talk_end, done["ts"])
        )
    timelines: dict[tuple[str, str], list[Ev]] = defaultdict(list)
    for e in family(events, "agent"):
        timelines[(e["tenant"], e["agent_id"])].append(e)
    summary: Counter[str] = Counter()
    for key, evs in timelines.items():
        assert key in home, key
        # consumers that sort by (ts, event_id) see the same order
        assert sorted(evs, key=lambda e: (e["ts"], e["event_id"])) == evs, key
        state, since = "offline", 0
        spans: list[tuple[int, int]] = []
        dones: list[int] = []
        pauses: list[tuple[int, int]] = []
        for e in evs:
            kind = e["type"]
            if kind == "agent.login":
                assert state == "offline" and e["queue"] == home[key], (key, e)
                new = "available"
            elif kind == "agent.logout":
                assert state == "available" and e["queue"] == home[key], (key, e)
                new = "offline"
            elif kind == "agent.ring_no_answer":
                assert state == "available", (key, e)
                assert e["queue"] == home[key] and e["ring_seconds"] > 0
                assert answer_ts.get(e["contact_id"], e["ts"]) >= e["ts"]
                summary["rings"] += 1
                continue
            else:
                new = e["state"]
                if new == "on_contact":
                    assert state == "available" and e["queue"] == home[key], (key, e)
                elif new == "wrap_up":
                    assert state == "on_contact" and e["queue"] == home[key], (key, e)
                    spans.append((since, e["ts"]))
                elif new == "available":
                    assert state in ("wrap_up", "paused"), (key, state, e)
                    if state == "wrap_up":
                        dones.append(e["ts"])
                    else:
                        pauses.append((since, e["ts"]))
                elif new == "paused":
                    assert state == "available" and e["reason"] in PAUSE_REASONS, (key, e)
                    summary[e["reason"]] += 1
                else:
                    raise AssertionError(e)
            state, since = new, e["ts"]
        if finished:
            assert state == "offline", (key, state)
        mine = sorted(handled.get(key, []))
        if finished:
            assert spans == [(a, t) for a, t, _ in mine], key
            assert dones == [d for _, _, d in mine], key
        else:  # cut at the end: contacts completed after it have no completion
            assert {(a, t) for a, t, _ in mine} <= set(spans), key
            assert {a for a, _ in spans} <= set(answered_by[key]), key
        busy = sorted((a, d) for a, _, d in mine)
        for p0, p1 in pauses:  # never overlapping a contact, wrap-up included
            assert all(p1 <= a or p0 >= d for a, d in busy), (key, p0, p1)
        summary["handled"] += len(spans)
        summary["pauses"] += len(pauses)
    answered_total = sum(len(v) for v in handled.values())
    if finished:
        assert summary["handled"] == answered_total
    return dict(summary)


def check_contacts(events: list[Ev], finished: bool = True) -> None:
    """Contact sequences complete and an agent on one contact at a time (FIFO aside: a contact
    that rings unanswered can be overtaken)."""
    served: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    allowed = {
        ("contact.blocked",),
        ("contact.offered", "contact.abandoned"),
        ("contact.offered", "contact.dequeued"),
        ("contact.offered", "contact.answered", "contact.completed"),
    }
    if not finished:
        allowed |= {("contact.offered",), ("contact.offered", "contact.answered")}
    for cid, seq in contacts_of(events).items():
        types = tuple(e["type"] for e in seq)
        assert types in allowed, (cid, types)
        if len(seq) == 3 and seq[1]["type"] == "contact.answered":
            assert seq[1]["wait_seconds"] * 1000 == pytest.approx(
                seq[1]["ts"] - seq[0]["ts"], abs=1
            )
            served[(seq[1]["tenant"], seq[1]["agent_id"])].append((seq[1]["ts"], seq[2]["ts"]))
    for spans in served.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in pairwise(spans))


def check_tickets(
    events: list[Ev], desks: list[SimTicketDesk], finished: bool = True
) -> Counter[str]:
    """Each ticket: created first, strictly increasing ts, legal status changes, replies and
    assignments by the desk's agents, reopened only when solved; solved (or closed) at the end."""
    by_key = {(d.tenant, d.group): d for d in desks}
    tickets: dict[str, list[Ev]] = defaultdict(list)
    for e in family(events, "ticket"):
        tickets[e["ticket_id"]].append(e)
    seen: Counter[str] = Counter()
    for tid, evs in tickets.items():
        created = evs[0]
        assert created["type"] == "ticket.created", tid
        assert [e["type"] for e in evs].count("ticket.created") == 1
        assert all(a["ts"] < b["ts"] for a, b in pairwise(evs)), tid
        desk = by_key[(created["tenant"], created["group"])]
        pool = {f"agent-{desk.group}-{n}" for n in range(1, desk.agents + 1)}
        assert created["channel"] in {c for c, w in desk.channels if w > 0}
        assert created["priority"] in PRIORITIES
        status, first_reply, first_solve = "new", None, None
        for e in evs[1:]:
            assert status != "closed", (tid, e)
            kind = e["type"]
            if kind == "ticket.replied":
                assert e["agent_id"] in pool and status not in ("solved", "closed"), (tid, e)
                if e["public"] and first_reply is None:
                    first_reply = e["ts"]
                seen["replies" if e["public"] else "notes"] += 1
            elif kind == "ticket.assigned":
                assert e["agent_id"] in pool and e["group"] == desk.group
                seen["assigned"] += 1
            elif kind == "ticket.status_changed":
                new = e["status"]
                assert new in STATUSES and new != status, (tid, status, new)
                if status == "solved":
                    assert new == "closed", (tid, new)  # reopening goes by ticket.reopened
                if new == "closed":
                    assert status == "solved"
                if new == "solved" and first_solve is None:
                    first_solve = e["ts"]
                seen[new] += 1
                status = new
            elif kind == "ticket.reopened":
                assert status == "solved", (tid, status)
                status = "open"
                seen["reopened"] += 1
            else:
                raise AssertionError(e)
        if created["by_agent"]:
            seen["by_agent"] += 1
        elif first_solve is not None:
            assert first_reply is not None and first_reply < first_solve, tid
        if finished:
            assert status == ("solved" if desk.close_after_hours is None else "closed"), tid
    seen["tickets"] = len(tickets)
    return seen


# -- reproducibility, flags and the contract -----------------------------------------------------


def test_same_seed_same_events_other_seed_other_events() -> None:
    start = START_MS + 8 * HOUR_MS
    first = run(default_queues(), 6, seed=11, start_ms=start, daily_curve=True)
    again = run(default_queues(), 6, seed=11, start_ms=start, daily_curve=True)
    other = run(default_queues(), 6, seed=12, start_ms=start, daily_curve=True)
    assert first == again
    assert first != other
    assert {e["event_id"] for e in first}.isdisjoint(e["event_id"] for e in other)
    check_stream(first)
    assert {e["type"].partition(".")[0] for e in first} == {"contact", "agent", "ticket", "survey"}


def test_tickets_and_surveys_leave_the_contacts_and_agents_as_they_were() -> None:
    qs = default_queues()
    full = run(qs, 12, seed=5, daily_curve=True)
    bare = run(qs, 12, seed=5, daily_curve=True, tickets=False, surveys=False)
    assert [e for e in full if not e["type"].startswith(("ticket.", "survey."))] == bare
    no_surveys = run(qs, 12, seed=5, daily_curve=True, surveys=False)
    assert family(no_surveys, "ticket") == family(full, "ticket")
    contacts_only = run(qs, 12, seed=5, daily_curve=True, agents=False, tickets=False,
                        surveys=False)  # fmt: skip
    assert {e["type"].partition(".")[0] for e in contacts_only} == {"contact"}
    with_surveys = run(qs, 12, seed=5, daily_curve=True, agents=False, tickets=False)
    assert family(with_surveys, "contact") == contacts_only


def test_a_queue_keeps_its_agents_when_other_queues_change() -> None:
    def strip(events: list[Ev]) -> list[Ev]:
        mine = [e for e in events if e.get("queue") == "a" or "-a-" in e.get("agent_id", "")]
        return [{k: v for k, v in e.items() if k not in ("event_id", "contact_id")} for e in mine]

    alone = run([queue("a")], 8, seed=3, tickets=False, surveys=False)
    together = run([queue("b", arrivals_per_hour=300, agents=30), queue("a")], 8, seed=3,
                   tickets=False, surveys=False)  # fmt: skip
    assert strip(alone) == strip(together)


def mixed_queues() -> list[SimQueue]:
    return [
        *default_queues(),
        queue("tight", tenant="t2", agents=2, arrivals_per_hour=90, capacity=3),
        queue("loss", tenant="t2", agents=3, capacity=0, channel="sms"),
        queue("idle", tenant="t2", agents=2, arrivals_per_hour=0),
        queue("nobody", tenant="t2", agents=0),
    ]


def test_every_event_decodes_under_its_routing_key() -> None:
    events = run(mixed_queues(), 48, daily_curve=True)
    decoded = decode_all(events)
    assert len(decoded) == len(events)
    types = Counter(e.type for e in decoded)
    for name in ("agent.login", "agent.logout", "agent.state", "agent.ring_no_answer",
                 "ticket.created", "ticket.replied", "ticket.status_changed", "ticket.reopened",
                 "ticket.assigned", "survey.response", "contact.completed"):  # fmt: skip
        assert types[name] > 0, name
    states = Counter((e.state, e.reason) for e in decoded if e.type == "agent.state")
    assert {r for s, r in states if s == "paused"} == PAUSE_REASONS
    assert {e.survey for e in decoded if e.type == "survey.response"} == {"csat", "nps", "ces"}
    for raw, ev in zip(events, decoded, strict=False):
        if raw["event_id"] == ev.event_id:
            assert ev.ts_ms == raw["ts"]
    assert all(batch_key(e) == routing_key(d) for e, d in zip(
        sorted(events, key=lambda e: e["event_id"]),
        sorted(decoded, key=lambda e: e.event_id), strict=True))  # fmt: skip


# -- agents ------------------------------------------------------------------------------------


def test_agent_timelines_match_the_contacts_they_answered() -> None:
    qs = mixed_queues()
    events = run(qs, 36, daily_curve=True)
    check_stream(events)
    check_contacts(events)
    summary = check_agents(events, qs)
    assert summary["handled"] > 5000
    assert summary["rings"] > 20
    assert summary["lunch"] > 0 and summary["break"] > summary["lunch"] and summary["training"] > 0


def test_agents_work_the_opening_hours_in_local_time() -> None:
    zone = ZoneInfo("Europe/London")
    q = queue("shop", agents=4, open_hours=(9, 17), time_zone="Europe/London")
    events = run([q], 72, start_ms=START_MS + 12 * HOUR_MS, tickets=False, surveys=False)
    check_agents(events, [q])
    logins = [e for e in events if e["type"] == "agent.login"]
    logouts = [e for e in events if e["type"] == "agent.logout"]
    # Monday from noon (the start, open), Tuesday, Wednesday, Thursday until noon (the end)
    assert len(logins) == len(logouts) == 4 * 4
    local = [datetime.fromtimestamp(e["ts"] / 1000, zone) for e in logins]
    assert all(e["ts"] == START_MS + 12 * HOUR_MS for e in logins[:4])
    assert [(t.hour, t.minute) for t in local[4:]] == [(9, 0)] * 12
    for e in logouts:
        t = datetime.fromtimestamp(e["ts"] / 1000, zone)
        assert t.hour >= 17 or e["ts"] >= START_MS + 84 * HOUR_MS  # closing, or the run's end
    # nothing happens to an agent between its logout and the next login
    sessions: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for e in family(events, "agent"):
        if e["type"] == "agent.login":
            sessions[e["agent_id"]].append((e["ts"], -1))
        elif e["type"] == "agent.logout":
            sessions[e["agent_id"]][-1] = (sessions[e["agent_id"]][-1][0], e["ts"])
    for e in family(events, "agent"):
        assert any(a <= e["ts"] <= b for a, b in sessions[e["agent_id"]]), e


def test_pauses_take_agents_out_of_the_queue() -> None:
    """Pauses shrink the staff: the same traffic waits longer with them than without."""
    q = queue(agents=6, arrivals_per_hour=65, mean_patience_seconds=math.inf, capacity=1000)
    with_agents = run([q], 24 * 5, tickets=False, surveys=False)
    without = run([q], 24 * 5, agents=False, tickets=False, surveys=False)
    summary = check_agents(with_agents, [q])
    assert summary["pauses"] > 5 * 6 * 24 * 60 / 150

    def mean_wait(events: list[Ev]) -> float:
        return statistics.fmean(e["wait_seconds"] for e in events
                                if e["type"] == "contact.answered")  # fmt: skip

    assert mean_wait(with_agents) > 1.2 * mean_wait(without)


def test_no_drain_cuts_every_family_at_the_end() -> None:
    qs = default_queues()
    end_ms = START_MS + 10 * HOUR_MS
    drained = run(qs, 2, start_ms=START_MS + 8 * HOUR_MS, daily_curve=True)
    cut = run(qs, 2, start_ms=START_MS + 8 * HOUR_MS, daily_curve=True, drain=False)
    assert cut == [e for e in drained if e["ts"] < end_ms]
    check_agents(cut, qs, finished=False)
    check_tickets(cut, default_desks(qs), finished=False)


def test_a_simulated_hour_through_the_report() -> None:
    """The report's agents handled what the contacts say they answered (and tickets, once the
    report has a tickets family, go through it too)."""
    qs = default_queues()
    events = run(qs, 1, start_ms=START_MS + 9 * HOUR_MS, daily_curve=True,
                 tickets="tickets" in FACTORIES)  # fmt: skip
    at_ms = max(e["ts"] for e in events if e["type"].startswith(("agent.", "contact.")))
    assert at_ms < START_MS + 24 * HOUR_MS
    lines = [orjson.dumps(e) for e in events]
    report = build_report(lines, PolicyBook(), at_ms)
    assert report["input"]["rejected"] == 0 and not report["errors"]
    answered: Counter[tuple[str, str]] = Counter(
        (e["tenant"], e["agent_id"]) for e in events if e["type"] == "contact.answered"
    )
    got = {
        (snap["tenant"], agent): figures["today"]["handled"]
        for snap in report["agents"]
        for agent, figures in snap["agents"].items()
        if figures["today"]["handled"]
    }
    assert got == dict(answered)
    assert sum(answered.values()) > 200
    per_queue = Counter(
        (e["tenant"], e["queue"]) for e in events if e["type"] == "contact.answered"
    )
    for snap in report["agents"]:
        for name, figures in snap["queues"].items():
            assert figures["today"]["handled"] == per_queue[(snap["tenant"], name)]
    csat = Counter(
        e["tenant"] for e in family(events, "survey") if e["survey"] == "csat" and e["ts"] <= at_ms
    )
    assert {s["tenant"]: s["today"]["all"]["csat_responses"] for s in report["surveys"]} == csat
    assert csat.total() > 20


# -- tickets -----------------------------------------------------------------------------------


def test_ticket_lifecycles_are_valid() -> None:
    desks = [
        SimTicketDesk("acme", "care", 30, 6, time_zone="Europe/London"),
        SimTicketDesk("globex", "it", 10, 1, time_zone="America/New_York", close_after_hours=None,
                      by_agent_ratio=0.3, channels=(("email", 1.0),)),
    ]  # fmt: skip
    events = run([queue()], 24 * 7, desks=desks, daily_curve=True)
    check_stream(events)
    seen = check_tickets(events, desks)
    assert seen["tickets"] > 1000
    for name in ("replies", "notes", "assigned", "open", "pending", "solved", "closed",
                 "reopened", "by_agent", "on_hold"):  # fmt: skip
        assert seen[name] > 0, name
    assert seen["reopened"] < 0.15 * seen["tickets"]
    it = [e for e in events if e["type"] == "ticket.created" and e["group"] == "it"]
    assert {e["channel"] for e in it} == {"email"}
    assert 0.2 < sum(e["by_agent"] for e in it) / len(it) < 0.4


def first_replies(events: list[Ev]) -> list[tuple[Ev, int]]:
    """(creation, first public reply instant) of the tickets owing a first response."""
    created: dict[str, Ev] = {}
    out = []
    for e in family(events, "ticket"):
        if e["type"] == "ticket.created" and not e["by_agent"]:
            created[e["ticket_id"]] = e
        elif e["type"] == "ticket.replied" and e["public"] and e["ticket_id"] in created:
            out.append((created.pop(e["ticket_id"]), e["ts"]))
    return out


def test_first_replies_are_faster_during_business_hours() -> None:
    desk = SimTicketDesk("acme", "care", 40, 8, time_zone="Europe/Paris", business_hours=(9, 17))
    events = run([queue()], 24 * 14, desks=[desk], agents=False, surveys=False, daily_curve=True)
    clock = BusinessClock("Europe/Paris", (9, 17))
    day: list[int] = []
    night: list[int] = []
    for created, reply in first_replies(events):
        if created["priority"] == "urgent":
            continue
        (day if clock.is_open(created["ts"]) else night).append(reply - created["ts"])
        if created["priority"] != "urgent":  # worked in business hours only
            assert clock.is_open(reply - 1) or clock.is_open(reply)
    assert len(day) > 500 and len(night) > 200
    assert statistics.median(day) * 3 < statistics.median(night)
    urgent = [r - c["ts"] for c, r in first_replies(events) if c["priority"] == "urgent"]
    assert statistics.median(urgent) < statistics.median(day)


def test_default_desks_one_per_tenant() -> None:
    desks = default_desks(default_queues())
    assert [(d.tenant, d.group, d.tickets_per_hour) for d in desks] == [
        ("acme", "desk", 39.0), ("globex", "desk", 12.0),
    ]  # fmt: skip
    assert desks[0].time_zone == "Europe/London" and desks[1].time_zone == "America/New_York"
    events = run(default_queues(), 24, daily_curve=True, agents=False, surveys=False)
    assert {(e["tenant"], e["group"]) for e in events if e["type"] == "ticket.created"} == {
        ("acme", "desk"), ("globex", "desk"),
    }  # fmt: skip
    assert run([queue()], 5, desks=[], agents=False, surveys=False) == run(
        [queue()], 5, tickets=False, agents=False, surveys=False
    )


# -- surveys -----------------------------------------------------------------------------------


def test_surveys_follow_completed_contacts_and_solved_tickets() -> None:
    qs = mixed_queues()
    events = run(qs, 48, daily_curve=True)
    contacts = contacts_of(events)
    solved: dict[str, int] = {}
    for e in family(events, "ticket"):
        if e.get("status") == "solved":
            solved[e["ticket_id"]] = e["ts"]
    kinds: dict[str, set[str]] = defaultdict(set)
    ranges = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
    for e in family(events, "survey"):
        low, high = ranges[e["survey"]]
        assert isinstance(e["score"], int) and low <= e["score"] <= high
        owner = e.get("contact_id") or e["ticket_id"]
        assert e["survey"] not in kinds[owner]
        kinds[owner].add(e["survey"])
        if "contact_id" in e:
            done = contacts[e["contact_id"]][-1]
            assert done["type"] == "contact.completed" and done["ts"] <= e["ts"]
            for k in ("tenant", "queue", "channel", "agent_id"):
                assert e[k] == done[k]
        else:
            assert solved[e["ticket_id"]] <= e["ts"]
            assert e["agent_id"].startswith("agent-desk-") and e["channel"] in ("email", "social",
                                                                                "chat")  # fmt: skip
    completed = sum(seq[-1]["type"] == "contact.completed" for seq in contacts.values())
    surveyed = sum(1 for owner in kinds if owner in contacts)
    assert 0.2 < surveyed / completed < 0.3
    tickets_surveyed = sum(1 for owner in kinds if owner in solved)
    assert 0.15 < tickets_surveyed / len(solved) < 0.35
    assert all("csat" in k for k in kinds.values())


def test_long_waits_bring_lower_scores() -> None:
    q = queue(agents=5, arrivals_per_hour=62, mean_patience_seconds=900, capacity=200)
    events = run([q], 24 * 14, tickets=False, seed=2)
    wait = {e["contact_id"]: e["wait_seconds"] for e in events if e["type"] == "contact.answered"}
    scores: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for e in family(events, "survey"):
        w = wait[e["contact_id"]]
        if w <= 20 or w >= 180:
            scores[(e["survey"], w <= 20)].append(e["score"])
    assert min(len(v) for v in scores.values()) > 100, {k: len(v) for k, v in scores.items()}
    csat_short, csat_long = statistics.fmean(scores[("csat", True)]), statistics.fmean(
        scores[("csat", False)])  # fmt: skip
    assert csat_short > csat_long + 0.5
    assert statistics.fmean(scores[("nps", True)]) > statistics.fmean(scores[("nps", False)]) + 1
    assert statistics.fmean(scores[("ces", True)]) > statistics.fmean(scores[("ces", False)]) + 0.5
    assert statistics.fmean(scores[("csat", True)]) > 3.8


# -- settings, batching, any configuration ---------------------------------------------------


def test_invalid_desk_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        SimTicketDesk("acme", "bad/group", 10, 2)
    with pytest.raises(ValueError):
        SimTicketDesk("acme", "care", 10, 0)
    with pytest.raises(ValueError):
        SimTicketDesk("acme", "care", 10, 2, business_hours=(18, 8))
    with pytest.raises(ValueError):
        SimTicketDesk("acme", "care", 10, 2, channels=(("fax", 1.0),))
    with pytest.raises(ValueError):
        SimTicketDesk("acme", "care", 10, 2, reopen_ratio=1.5)
    with pytest.raises(ValueError):
        SimConfig([queue()], 1, START_MS, 60, desks=[SimTicketDesk("a", "b", 1, 1)] * 2)
    with pytest.raises(ValueError):
        SimConfig([queue()], 1, START_MS, 60, survey_response_ratio=2)


def test_batched_groups_families_under_their_routing_keys() -> None:
    events = run([queue(tenant="acme")], 6)
    keys = {key for key, _ in batched(events, 50)}
    assert keys == {"acme/q", "acme/#agents", "acme/#tickets", "acme/#surveys"}


@settings(max_examples=20, deadline=None)
@given(
    q=any_queue("p", tenant="x", channel="chat", time_zone="Europe/Paris"),
    tickets_per_hour=st.floats(0, 60),
    seed=st.integers(0, 2**32),
    curve=st.booleans(),
    drain=st.booleans(),
)
def test_any_configuration_keeps_every_family_consistent(
    q: SimQueue, tickets_per_hour: float, seed: int, curve: bool, drain: bool
) -> None:
    qs = [q, queue("other", tenant="x")]
    desks = [SimTicketDesk("x", "d", tickets_per_hour, 2, time_zone="Asia/Kolkata")]
    events = run(qs, 26, seed=seed, daily_curve=curve, drain=drain, desks=desks)
    check_stream(events)
    check_contacts(events, finished=drain)
    check_agents(events, qs, finished=drain)
    check_tickets(events, desks, finished=drain)
    assert len(decode_all(events)) == len(events)


@pytest.mark.parametrize("name", ["agent", "ticket", "survey"])
def test_events_match_the_family_json_schemas(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    path = Path(__file__).resolve().parents[2] / "schemas" / f"{name}-event.v1.json"
    if not path.exists():
        pytest.skip(f"no {path.name}")
    validator = jsonschema.Draft202012Validator(
        orjson.loads(path.read_bytes()),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    events = family(
        run(mixed_queues(), 12, start_ms=START_MS + 6 * HOUR_MS, daily_curve=True), name
    )
    assert events
    for e in events:
        errors = [err.message for err in validator.iter_errors(e)]
        assert not errors, (e, errors)


def test_a_desk_rate_too_small_to_represent_creates_no_ticket() -> None:
    """Regression: 5e-324 tickets/hour underflows to 0 per millisecond (a division by zero)."""
    desk = SimTicketDesk("default", "desk", 5e-324, 1)
    config = SimConfig([], 0, 1_773_100_800_000, 3600.0, desks=[desk], agents=False)
    assert [e for e in simulate(config) if e["type"].startswith("ticket.")] == []
