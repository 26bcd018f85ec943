"""The survey engine (CSAT, NPS, CES), specified by small hand-computed cases.

Unless a test says otherwise the tenant is acme in UTC with 15-minute intervals, CSAT on 1-5
(satisfied 4-5), CES on 1-7, a day of lateness and 48 hours of interval retention. Instants are
written as RFC 3339 text, e.g. `at("2026-03-10T09:05:00Z")`.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ccpulse.schemas import decode_message
from ccpulse.schemas.events import SurveyEvent
from ccpulse.streams.kpi import EngineSettings, PolicyBook, QueuePolicy, Verdict
from ccpulse.streams.kpi.family import FamilyEngine, RecordWrite
from ccpulse.streams.kpi.surveys import SurveyEngine, SurveySettings

TENANT = "acme"
DOC = Path(__file__).resolve().parents[2] / "docs" / "survey-kpis.md"


def at(text: str) -> int:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None
    return round(parsed.timestamp() * 1000)


DAY_MS = 86_400_000
T9 = at("2026-03-10T09:00:00Z")
NOON = at("2026-03-10T12:00:00Z")

_ids = itertools.count()


def resp(
    survey: str,
    score: float,
    ts: int = T9,
    eid: str | None = None,
    queue: str | None = "sales",
    agent: str | None = None,
    channel: str = "voice",
    contact: str | None = None,
    tenant: str = TENANT,
) -> SurveyEvent:
    return SurveyEvent(
        event_id=eid or f"r{next(_ids)}",
        type="survey.response",
        ts_ms=ts,
        tenant=tenant,
        survey=survey,
        score=float(score),
        channel=channel,
        queue=queue,
        agent_id=agent,
        contact_id=contact,
    )


def make(
    zone: str = "UTC",
    interval_minutes: int = 15,
    lateness_seconds: int = 86_400,
    retention_hours: int = 48,
    settings: SurveySettings | None = None,
) -> SurveyEngine:
    book = PolicyBook(
        tenants={TENANT: QueuePolicy(time_zone=zone, interval_minutes=interval_minutes)},
        engine=EngineSettings(
            lateness_seconds=lateness_seconds, interval_retention_hours=retention_hours
        ),
    )
    return SurveyEngine(book, settings)


def run(events: list[SurveyEvent], **kw: Any) -> SurveyEngine:
    engine = make(**kw)
    for e in events:
        assert engine.apply(e) == Verdict.APPLIED
    return engine


def today(engine: SurveyEngine, now: int = NOON) -> dict[str, Any]:
    return engine.snapshot(TENANT, now)["today"]


def nps_of(*scores: int) -> dict[str, Any]:
    return today(run([resp("nps", s) for s in scores]))["all"]


# -- the three KPIs ----------------------------------------------------------------------------


def test_csat_nps_ces_of_a_hand_example() -> None:
    events = [
        *(resp("csat", s) for s in (5, 4, 3, 2, 5)),  # satisfied: 5, 4, 5
        *(resp("nps", s) for s in (10, 9, 9, 8, 7, 6, 3)),  # P 10 9 9, passive 8 7, D 6 3
        *(resp("ces", s) for s in (2, 3, 7, 1.5)),
    ]
    figs = today(run(events))["all"]
    assert figs == {
        "csat": 3 / 5,
        "csat_responses": 5,
        "csat_satisfied": 3,
        "nps": pytest.approx(100 * (3 - 2) / 7),  # 14.29
        "nps_responses": 7,
        "promoters": 3,
        "passives": 2,
        "detractors": 2,
        "ces_average": 13.5 / 4,  # (2 + 3 + 7 + 1.5) / 4 = 3.375
        "ces_responses": 4,
    }


@pytest.mark.parametrize(
    ("scores", "nps", "counts"),
    [
        ((9, 10, 10), 100.0, (3, 0, 0)),  # all promoters
        ((0, 6, 3), -100.0, (0, 0, 3)),  # all detractors
        ((7, 8, 7), 0.0, (0, 3, 0)),  # all passives
        ((10,), 100.0, (1, 0, 0)),  # one answer: 100, and nps_responses says 1
        ((6,), -100.0, (0, 0, 1)),  # 6 is the highest detractor score
        ((7,), 0.0, (0, 1, 0)),  # 7 is the lowest passive
        ((8,), 0.0, (0, 1, 0)),  # 8 is the highest passive
        ((9,), 100.0, (1, 0, 0)),  # 9 is the lowest promoter
        ((10, 0), 0.0, (1, 0, 1)),
        ((10, 10, 10, 5), 50.0, (3, 0, 1)),  # 75 % - 25 %
    ],
)
def test_nps_edge_cases(scores: tuple[int, ...], nps: float, counts: tuple[int, int, int]) -> None:
    figs = nps_of(*scores)
    assert figs["nps"] == nps
    assert (figs["promoters"], figs["passives"], figs["detractors"]) == counts
    assert figs["nps_responses"] == len(scores)


def test_no_responses_give_none_ratios_and_zero_counts() -> None:
    figs = today(run([resp("nps", 10)]))["all"]  # NPS only: CSAT and CES have no answers
    assert (figs["csat"], figs["csat_responses"], figs["csat_satisfied"]) == (None, 0, 0)
    assert (figs["ces_average"], figs["ces_responses"]) == (None, 0)
    empty = make().snapshot("nobody", NOON)
    assert empty["today"]["all"]["nps"] is None and empty["today"]["all"]["nps_responses"] == 0
    assert empty["today"]["by_queue"] == {} and empty["intervals"] == []


def test_csat_scale_is_configurable() -> None:
    """1-10 with 8 and above satisfied: 8, 10 and 9.5 are satisfied, 7.5 and 1 are not."""
    ten = SurveySettings(csat_scale_max=10, csat_satisfied_min=8)
    figs = today(run([resp("csat", s) for s in (8, 7.5, 10, 9.5, 1)], settings=ten))["all"]
    assert (figs["csat_satisfied"], figs["csat_responses"], figs["csat"]) == (3, 5, 3 / 5)
    # The same scores on the default 1-5 scale: 8, 7.5, 10 and 9.5 are out of scale.
    engine = make()
    for s in (8, 7.5, 10, 9.5, 1):
        assert engine.apply(resp("csat", s)) == Verdict.APPLIED
    snap = engine.snapshot(TENANT, NOON)
    assert (snap["today"]["all"]["csat_responses"], snap["today"]["all"]["csat"]) == (1, 0.0)
    assert snap["pipeline"]["out_of_scale"] == 4


def test_scores_outside_the_configured_scale_count_apart() -> None:
    """CSAT 0 and 6 are outside 1-5; CES 7 is outside a configured 1-5 CES scale."""
    engine = make(settings=SurveySettings(ces_scale_max=5))
    for e in (resp("csat", 0), resp("csat", 6), resp("csat", 5), resp("ces", 7), resp("ces", 5)):
        assert engine.apply(e) == Verdict.APPLIED
    snap = engine.snapshot(TENANT, NOON)
    figs = snap["today"]["all"]
    assert (figs["csat_responses"], figs["csat"]) == (1, 1.0)
    assert (figs["ces_responses"], figs["ces_average"]) == (1, 5.0)
    assert snap["pipeline"]["out_of_scale"] == 3


@pytest.mark.parametrize(
    "bad",
    [
        {"csat_scale_max": 11},  # beyond the contract's 0-10
        {"csat_satisfied_min": 6},  # above the scale
        {"csat_scale_min": 4, "csat_satisfied_min": 4},  # the lowest score cannot satisfy
        {"ces_scale_min": 0},  # the contract's CES is 1-7
        {"ces_scale_max": 1},
    ],
)
def test_settings_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SurveySettings(**bad)


# -- breakdowns --------------------------------------------------------------------------------


def test_breakdowns_by_queue_agent_and_channel() -> None:
    events = [
        resp("csat", 5, queue="sales", agent="ana"),
        resp("csat", 2, queue="sales", agent="ben", channel="chat"),
        resp("csat", 4, queue=None, agent="ana", channel="email"),
        resp("nps", 10, queue="support", agent=None, channel="chat"),
        resp("nps", 3, queue="sales", agent="ben"),
        resp("ces", 6, queue=None, agent=None),
    ]
    window = today(run(events))
    assert set(window) == {"start", "end", "all", "by_queue", "by_agent", "by_channel"}
    q, a, c = window["by_queue"], window["by_agent"], window["by_channel"]
    assert list(q) == ["(none)", "sales", "support"]
    assert (q["sales"]["csat"], q["sales"]["csat_responses"], q["sales"]["nps"]) == (0.5, 2, -100)
    assert (q["(none)"]["csat"], q["(none)"]["ces_average"]) == (1.0, 6.0)
    assert (q["support"]["nps"], q["support"]["csat"]) == (100.0, None)
    # Responses without an agent are in no by_agent row (but in all, by_queue, by_channel).
    assert list(a) == ["ana", "ben"]
    assert (a["ana"]["csat"], a["ana"]["csat_responses"], a["ana"]["nps_responses"]) == (1.0, 2, 0)
    assert (a["ben"]["csat"], a["ben"]["nps"]) == (0.0, -100.0)
    assert list(c) == ["chat", "email", "voice"]
    assert (c["chat"]["csat"], c["chat"]["nps"], c["voice"]["ces_average"]) == (0.0, 100.0, 6.0)
    assert window["all"]["csat_responses"] == 3 and window["all"]["nps"] == 0.0
    for dim in ("by_queue", "by_channel"):  # these rows add up to "all"
        for name in ("csat_responses", "nps_responses", "ces_responses", "promoters"):
            assert sum(f[name] for f in window[dim].values()) == window["all"][name]


def test_current_interval_and_intervals_of_today() -> None:
    events = [
        resp("csat", 5, at("2026-03-10T08:50:00Z")),
        resp("csat", 1, at("2026-03-10T09:01:00Z")),
        resp("csat", 4, at("2026-03-10T09:14:59Z")),
        resp("csat", 5, at("2026-03-09T23:59:00Z")),  # yesterday: in no interval of today
    ]
    snap = run(events).snapshot(TENANT, at("2026-03-10T09:10:00Z"))
    cur = snap["current_interval"]
    assert (cur["start"], cur["end"]) == ("2026-03-10T09:00:00+00:00", "2026-03-10T09:15:00+00:00")
    assert (cur["all"]["csat_responses"], cur["all"]["csat_satisfied"]) == (2, 1)
    assert [(i["start"], i["all"]["csat_responses"]) for i in snap["intervals"]] == [
        ("2026-03-10T08:45:00+00:00", 1),
        ("2026-03-10T09:00:00+00:00", 2),
    ]
    assert snap["today"]["all"]["csat_responses"] == 3
    assert snap["rolling_7d"]["all"]["csat_responses"] == 4


# -- windows in local time -----------------------------------------------------------------------


def test_rolling_7_days_are_local_days_across_the_spring_change() -> None:
    """Paris moves to summer time on Sunday 2026-03-29 (a 23-hour day). At 00:30 on Monday
    03-30 the window is Tuesday 03-24 00:00 to Monday 03-30 24:00 local: 7 local days of 167
    hours in all. The answers of 03-23 are out although less than 7 x 24 hours old; the 00:10
    answer of 03-24 is in."""
    events = [
        resp("nps", 0, at("2026-03-23T12:00:00+01:00")),  # out (a naive 168 h window has it)
        resp("nps", 0, at("2026-03-23T23:30:00+01:00")),  # out
        resp("nps", 10, at("2026-03-24T00:10:00+01:00")),  # in: first minutes of day 1
        resp("nps", 9, at("2026-03-29T01:30:00+01:00")),  # in: the 23-hour day, before 02:00
        resp("nps", 10, at("2026-03-29T03:30:00+02:00")),  # in: the 23-hour day, after
        resp("nps", 8, at("2026-03-30T00:20:00+02:00")),  # in: today
    ]
    now = at("2026-03-30T00:30:00+02:00")
    snap = run(events, zone="Europe/Paris").snapshot(TENANT, now)
    week = snap["rolling_7d"]
    assert week["start"] == "2026-03-24T00:00:00+01:00"
    assert week["end"] == "2026-03-31T00:00:00+02:00"
    assert at(week["end"]) - at(week["start"]) == 167 * 3_600_000
    assert now - at("2026-03-23T12:00:00+01:00") < 7 * DAY_MS
    assert (week["all"]["nps_responses"], week["all"]["nps"]) == (4, 75.0)  # 3 P, 1 passive
    assert snap["today"]["all"]["nps_responses"] == 1
    assert snap["today"]["start"] == "2026-03-30T00:00:00+02:00"


def test_rolling_7_days_across_the_autumn_change() -> None:
    """Paris goes back to winter time on Sunday 2026-10-25 (a 25-hour day)."""
    events = [
        resp("csat", 5, at("2026-10-19T23:59:00+02:00")),  # day before the window
        resp("csat", 5, at("2026-10-20T00:00:00+02:00")),  # first instant of the window
        resp("csat", 2, at("2026-10-25T02:30:00+02:00")),  # the repeated hour, first time
        resp("csat", 4, at("2026-10-25T02:30:00+01:00")),  # the repeated hour, second time
    ]
    snap = run(events, zone="Europe/Paris").snapshot(TENANT, at("2026-10-26T23:00:00+01:00"))
    assert snap["rolling_7d"]["start"] == "2026-10-20T00:00:00+02:00"
    assert (snap["rolling_7d"]["all"]["csat_responses"], snap["rolling_7d"]["all"]["csat"]) == (
        3,
        2 / 3,
    )


def test_today_resets_at_local_midnight() -> None:
    engine = run(
        [resp("csat", 5, at("2026-03-10T23:50:00+01:00"))], zone="Europe/Paris", interval_minutes=30
    )
    before = engine.snapshot(TENANT, at("2026-03-10T23:59:00+01:00"))
    assert before["today"]["all"]["csat_responses"] == 1
    assert before["current_interval"]["start"] == "2026-03-10T23:30:00+01:00"
    assert before["current_interval"]["all"]["csat_responses"] == 1
    after = engine.snapshot(TENANT, at("2026-03-11T00:01:00+01:00"))  # 22:xx UTC the day before
    assert (after["today"]["all"]["csat_responses"], after["today"]["all"]["csat"]) == (0, None)
    assert after["today"]["start"] == "2026-03-11T00:00:00+01:00"
    assert after["current_interval"]["all"]["csat_responses"] == 0
    assert after["intervals"] == []
    assert after["rolling_7d"]["all"]["csat_responses"] == 1
    assert (after["time_zone"], after["interval_minutes"]) == ("Europe/Paris", 30)


# -- duplicates, lateness, order -----------------------------------------------------------------


def test_the_same_event_id_twice_changes_nothing() -> None:
    engine = make()
    first = resp("csat", 5, eid="s-1")
    assert engine.apply(first) == Verdict.APPLIED
    before = today(engine)
    assert engine.apply(first) == Verdict.DUPLICATE
    assert engine.apply(replace(first, score=1.0)) == Verdict.DUPLICATE  # the id decides
    assert today(engine) == before
    assert engine.snapshot(TENANT, NOON)["pipeline"]["duplicates"] == 2


def test_a_second_answer_for_the_same_contact_is_a_second_response() -> None:
    engine = run([resp("nps", 10, contact="c-1"), resp("nps", 0, contact="c-1")])
    figs = today(engine)["all"]
    assert (figs["nps_responses"], figs["nps"]) == (2, 0.0)
    assert engine.snapshot(TENANT, NOON)["pipeline"]["duplicates"] == 0


def test_lateness_is_measured_from_the_tenant_watermark() -> None:
    """Lateness 1 h; the watermark reaches 12:00. 11:00:00 is exactly an hour behind: in.
    10:59:59 is more than an hour behind: too late, counted, not applied."""
    engine = make(lateness_seconds=3600)
    assert engine.apply(resp("csat", 5, at("2026-03-10T12:00:00Z"))) == Verdict.APPLIED
    assert engine.apply(resp("csat", 5, at("2026-03-10T11:00:00Z"))) == Verdict.APPLIED
    assert engine.apply(resp("csat", 1, at("2026-03-10T10:59:59Z"))) == Verdict.TOO_LATE
    other = resp("csat", 1, at("2026-03-10T10:00:00Z"), tenant="globex")  # its own watermark
    assert engine.apply(other) == Verdict.APPLIED
    snap = engine.snapshot(TENANT, NOON)
    assert (snap["today"]["all"]["csat_responses"], snap["today"]["all"]["csat"]) == (2, 1.0)
    assert snap["pipeline"]["too_late"] == 1
    assert snap["pipeline"]["watermark"] == "2026-03-10T12:00:00+00:00"


def test_out_of_order_arrival_gives_in_order_figures() -> None:
    rng = random.Random(7)
    events = [
        resp(rng.choice(["csat", "nps", "ces"]), rng.randint(1, 7), T9 + rng.randrange(3_600_000),
             queue=rng.choice(["a", "b", None]), agent=rng.choice(["x", "y", None]))
        for _ in range(60)
    ]  # fmt: skip
    in_order = sorted(events, key=lambda e: e.ts_ms)
    expected = run(in_order).snapshot(TENANT, NOON)
    for _ in range(5):
        shuffled = rng.sample(events, len(events))
        shuffled += rng.sample(events, 10)  # and some re-sent
        engine = make()
        for e in shuffled:
            engine.apply(e)
        got = engine.snapshot(TENANT, NOON)
        assert got["pipeline"]["duplicates"] == 10
        assert {k: v for k, v in got.items() if k != "pipeline"} == {
            k: v for k, v in expected.items() if k != "pipeline"
        }


# -- exactly-once ------------------------------------------------------------------------------


def test_the_engine_is_a_family_engine() -> None:
    engine: FamilyEngine = make()
    assert engine.family == "surveys"


def test_replay_with_the_same_positions_changes_nothing() -> None:
    events = [resp("csat", 5), resp("nps", 9), resp("ces", 3), resp("csat", 2)]
    engine = make()
    for pos, e in enumerate(events):
        assert engine.apply(e, pos) == Verdict.APPLIED
    before = engine.snapshot(TENANT, NOON)
    for pos, e in enumerate(events):
        assert engine.apply(e, pos) == Verdict.REPLAYED
    assert engine.snapshot(TENANT, NOON) == before
    assert engine.apply(events[0], 10) == Verdict.DUPLICATE  # a new position: a re-send


def roundtrip(record: list[Any]) -> list[Any]:
    loaded: list[Any] = orjson.loads(orjson.dumps(record))
    return loaded


def restored(writes: list[RecordWrite], **kw: Any) -> SurveyEngine:
    """A fresh engine loaded from the table the changelog `writes` leave (in shuffled order)."""
    table = dict(writes)
    engine = make(**kw)
    items = list(table.items())
    random.Random(len(items)).shuffle(items)
    for key, record in items:
        if record is not None:
            engine.restore(key, roundtrip(record))
    engine.finish_restore()
    return engine


def test_write_order_is_tallies_totals_seen_meta_then_deletions() -> None:
    engine = make(lateness_seconds=3600)
    engine.apply(resp("csat", 5, at("2026-03-10T08:00:00Z"), eid="old", agent="ana"), 0)
    engine.apply(resp("csat", 7, at("2026-03-10T10:00:00Z"), eid="big"), 1)  # out of scale
    kinds = [key[1] for key, _ in engine.drain_writes()]
    # "old": interval and day x (all, queue, channel, agent); "big" only in out_of_scale.
    assert kinds == ["tally"] * 8 + ["totals", "seen", "seen", "meta"]
    engine.collect_garbage()  # "old" is more than an hour behind 10:00
    writes = engine.drain_writes()
    assert writes == [((TENANT, "seen", "old"), None)]


def test_a_crash_between_tallies_and_seen_record_is_replayed_exactly() -> None:
    """Event 1 touched 8 tallies; only the first 3 reached the changelog (no seen, no meta).
    Re-reading from position 0 fills in the other 5 and counts nothing twice."""
    events = [resp("nps", 10, eid="a", agent="ana"), resp("nps", 0, eid="b", agent="ana")]
    clean = make()
    log: list[RecordWrite] = []
    clean.apply(events[0], 0)
    log += clean.drain_writes()
    clean.apply(events[1], 1)
    second = clean.drain_writes()
    assert [key[1] for key, _ in second] == ["tally"] * 8 + ["seen", "meta"]
    engine = restored(log + second[:3])
    assert engine.apply(events[0], 0) == Verdict.REPLAYED
    assert engine.apply(events[1], 1) == Verdict.APPLIED
    assert engine.snapshot(TENANT, NOON) == clean.snapshot(TENANT, NOON)
    assert engine.snapshot(TENANT, NOON)["today"]["by_agent"]["ana"]["nps"] == 0.0
    # With the seen record written, the event is known to be held in full.
    engine = restored(log + second[:9])
    assert engine.apply(events[1], 1) == Verdict.REPLAYED
    assert engine.snapshot(TENANT, NOON) == clean.snapshot(TENANT, NOON)


def test_deletions_are_written_after_the_meta() -> None:
    """X (09:00) is re-sent at position 1; Y (10:30) puts X past the hour of lateness and the
    garbage collection forgets X. Whatever prefix of those writes survives a crash, re-reading
    positions 1-2 counts X once: a surviving deletion implies the meta of position 2."""
    x, y = resp("csat", 5, eid="x"), resp("csat", 1, at("2026-03-10T10:30:00Z"), eid="y")
    clean = make(lateness_seconds=3600)
    clean.apply(x, 0)
    log = clean.drain_writes()
    assert clean.apply(x, 1) == Verdict.DUPLICATE
    assert clean.apply(y, 2) == Verdict.APPLIED
    clean.collect_garbage()
    writes = clean.drain_writes()
    assert writes[-1] == ((TENANT, "seen", "x"), None)
    expected = clean.snapshot(TENANT, NOON)
    assert expected["today"]["all"]["csat_responses"] == 2
    for cut in range(len(writes) + 1):
        engine = restored(log + writes[:cut], lateness_seconds=3600)
        engine.apply(x, 1)
        engine.apply(y, 2)
        assert engine.snapshot(TENANT, NOON) == expected, cut


T0 = at("2026-03-20T00:00:00Z")  # ten days across the Paris spring change


def history(rng: random.Random, n: int) -> list[SurveyEvent]:
    """Two tenants over ten days, out of order within 2 h, 10 % re-sent, some far too late."""
    events = []
    for i in range(n):
        survey = rng.choice(["csat", "nps", "ces"])
        score = {"csat": rng.choice([0, 1, 2, 3, 4, 4.5, 5, 5, 7]), "nps": rng.randint(0, 10),
                 "ces": rng.choice([1, 2, 3.5, 4, 6, 7])}[survey]  # fmt: skip
        events.append(
            resp(survey, score, T0 + rng.randrange(10 * DAY_MS), eid=f"e{i}",
                 tenant=rng.choice([TENANT, "globex"]), queue=rng.choice(["a", "b", None]),
                 agent=rng.choice(["x", "y", "z", None]), channel=rng.choice(["voice", "chat"]))
        )  # fmt: skip
    events.sort(key=lambda e: e.ts_ms + rng.randrange(-2 * 3_600_000, 2 * 3_600_000))
    for e in rng.sample(events, n // 10):  # re-sent copies, soon (a retry) or much later
        i = events.index(e) + rng.choice([1, 2, 5, 10, 30, n])
        events.insert(min(i, len(events)), e)
    for i in rng.sample(range(len(events)), n // 20):
        events[i] = replace(events[i], event_id=f"late{i}", ts_ms=events[i].ts_ms - 5 * 3_600_000)
    return events


SETTINGS: dict[str, Any] = {"lateness_seconds": 3 * 3600, "retention_hours": 6}


def make_history_engine() -> SurveyEngine:
    book = PolicyBook(
        tenants={
            TENANT: QueuePolicy(time_zone="Europe/Paris"),
            "globex": QueuePolicy(time_zone="America/New_York", interval_minutes=30),
        },
        engine=EngineSettings(lateness_seconds=3 * 3600, interval_retention_hours=6),
    )
    return SurveyEngine(book)


def run_with_crashes(events: list[SurveyEvent], rng: random.Random, crashes: int) -> SurveyEngine:
    """Apply with positions; every 5 events end a batch (garbage collection, then its writes are
    sent), every 17 a commit (all sent writes are durable, then the offset). At each crash only
    a random prefix of the writes sent since the last commit survives (the changelog keeps
    order); a fresh engine restores the table and re-reads from up to 20 positions before the
    committed one."""
    log: list[RecordWrite] = []
    committed = 0
    engine = make_history_engine()
    for crash in range(crashes + 1):
        sent: list[RecordWrite] = []
        budget = rng.randrange(1, 80) if crash < crashes else len(events) * 2
        start = max(0, committed - rng.randrange(20))
        for pos in range(start, len(events)):
            engine.apply(events[pos], pos)
            if pos % 5 == 4:  # end of a batch: housekeeping, then its writes are sent
                engine.collect_garbage()
                sent += engine.drain_writes()
            if pos % 17 == 16:
                log += sent + engine.drain_writes()
                sent = []
                committed = max(committed, pos + 1)
            budget -= 1
            if budget == 0:
                break
        else:
            log += sent + engine.drain_writes()
            return engine
        log += sent[: rng.randrange(len(sent) + 1)]
        engine = make_history_engine()
        table = dict(log)
        for key, record in rng.sample(list(table.items()), len(table)):
            if record is not None:
                engine.restore(key, roundtrip(record))
        engine.finish_restore()
    raise AssertionError("unreachable")


def figures_at(engine: SurveyEngine, now: int) -> dict[str, Any]:
    return {t: engine.snapshot(t, now) for t in (TENANT, "globex")}


@pytest.mark.parametrize("seed", range(25))
def test_crashes_at_random_points_give_the_figures_of_a_clean_run(seed: int) -> None:
    rng = random.Random(seed)
    events = history(rng, 400)
    clean = make_history_engine()
    for pos, e in enumerate(events):
        clean.apply(e, pos)
    crashed = run_with_crashes(events, rng, crashes=30)
    end = max(e.ts_ms for e in events)
    for now in (end + 60_000, end + DAY_MS // 2, end + 3 * DAY_MS):
        assert figures_at(crashed, now) == figures_at(clean, now)
    # Neither garbage collection nor positions change a figure.
    collected = make_history_engine()
    for e in events:
        collected.apply(e)
        collected.collect_garbage()
    assert figures_at(collected, end + 60_000) == figures_at(clean, end + 60_000)
    # The history exercised what it should.
    pipe = [clean.snapshot(t, end)["pipeline"] for t in (TENANT, "globex")]
    assert sum(p["too_late"] for p in pipe) > 0 and sum(p["duplicates"] for p in pipe) > 0
    assert sum(p["out_of_scale"] for p in pipe) > 0
    assert len(crashed.states[TENANT].seen) < len(clean.states[TENANT].seen)


def test_restoring_every_record_reproduces_every_figure() -> None:
    rng = random.Random(3)
    events = history(rng, 300)
    engine = make_history_engine()
    log: list[RecordWrite] = []
    for pos, e in enumerate(events):
        engine.apply(e, pos)
        if pos % 50 == 0:
            engine.collect_garbage()
            log += engine.drain_writes()
    log += engine.drain_writes()
    again = make_history_engine()
    for key, record in dict(log).items():
        if record is not None:
            again.restore(key, roundtrip(record))
    again.finish_restore()
    assert again.dirty_tenants() == {TENANT, "globex"}
    end = max(e.ts_ms for e in events)
    assert figures_at(again, end) == figures_at(engine, end)
    assert again.tenants() == [TENANT, "globex"]


def test_garbage_collection_keeps_memory_to_the_windows() -> None:
    """Lateness 3 h, retention 6 h: after ten days only the last days' tallies, the intervals
    of the last hours and the responses of the last 3 hours are held."""
    engine = make(lateness_seconds=3 * 3600, retention_hours=6)
    for h in range(240):
        engine.apply(resp("csat", 5, T0 + h * 3_600_000 + 60_000, agent=f"a{h % 5}"))
    engine.collect_garbage()
    st = engine.states[TENANT]
    assert len(st.seen) == 4  # 20:01 (exactly 3 h behind 23:01: not past lateness) to 23:01
    days = sorted(start for gran, start in st.periods if gran == "d")
    assert len(days) == 7
    intervals = [start for gran, start in st.periods if gran == "i"]
    assert len(intervals) == 7  # 17:00 ... 23:00: 17:00-17:15 ends after 17:01 (23:01 - 6 h)
    assert engine.snapshot(TENANT, T0 + 10 * DAY_MS - 1)["rolling_7d"]["all"]["csat_responses"] == (
        7 * 24
    )


def test_dirty_tenants_are_reported_once() -> None:
    engine = make()
    engine.apply(resp("csat", 5))
    engine.apply(resp("csat", 5, tenant="globex"))
    assert engine.dirty_tenants() == {TENANT, "globex"}
    assert engine.dirty_tenants() == set()


def test_snapshot_is_json_ready_with_the_documented_shape() -> None:
    snap = run([resp("csat", 5, agent="ana")]).snapshot(TENANT, NOON)
    assert orjson.loads(orjson.dumps(snap)) == snap
    assert list(snap) == [
        "tenant", "as_of", "as_of_ms", "time_zone", "interval_minutes",
        "current_interval", "today", "rolling_7d", "intervals", "pipeline",
    ]  # fmt: skip
    assert set(snap["pipeline"]) == {"too_late", "duplicates", "out_of_scale", "watermark"}
    assert list(snap["today"]["all"]) == [
        "csat", "csat_responses", "csat_satisfied", "nps", "nps_responses", "promoters",
        "passives", "detractors", "ces_average", "ces_responses",
    ]  # fmt: skip


# -- docs/survey-kpis.md: the worked example ------------------------------------------------------


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text("utf-8"), flags=re.S | re.M)


def doc_example() -> dict[str, Any]:
    engine = SurveyEngine(PolicyBook())
    verdicts = []
    for line in doc_blocks("jsonl")[0].splitlines():
        (event,) = decode_message(line, now_ms=NOON).events
        verdicts.append(engine.apply(event))
    assert verdicts.count(Verdict.DUPLICATE) == 1
    return engine.snapshot("demo", NOON)


def test_doc_worked_example_overall() -> None:
    snap = doc_example()
    figs = snap["today"]["all"]
    # CSAT: s1 5, s2 4, s4 5 satisfied of s1-s5; NPS: 4 promoters, 2 passives, 2 detractors of
    # 8; CES: (2 + 3 + 4.5 + 6) / 4.
    assert (figs["csat"], figs["csat_satisfied"], figs["csat_responses"]) == (0.6, 3, 5)
    assert (figs["promoters"], figs["passives"], figs["detractors"]) == (4, 2, 2)
    assert figs["nps"] == 100 * (4 - 2) / 8 == 25.0
    assert (figs["ces_average"], figs["ces_responses"]) == (3.875, 4)
    assert snap["pipeline"] == {"too_late": 0, "duplicates": 1, "out_of_scale": 1,
                                "watermark": "2026-03-10T10:30:00+00:00"}  # fmt: skip
    (printed,) = [orjson.loads(b) for b in doc_blocks("json") if '"csat_satisfied"' in b]
    assert printed == figs


def test_doc_worked_example_breakdowns() -> None:
    today_ = doc_example()["today"]
    q, a, c = today_["by_queue"], today_["by_agent"], today_["by_channel"]
    expected = {  # (csat, nps, ces_average) worked out by hand in the doc
        ("by_queue", "sales"): (1.0, 100 * 2 / 3, 2.0),
        ("by_queue", "support"): (0.5, 25.0, 3.75),
        ("by_queue", "(none)"): (0.0, -100.0, 6.0),
        ("by_agent", "ana"): (1.0, 100 * 2 / 3, 2.0),
        ("by_agent", "ben"): (0.5, 0.0, 3.75),
        ("by_channel", "voice"): (2 / 3, 20.0, 3.25),
        ("by_channel", "chat"): (1.0, 100.0, 3.0),
        ("by_channel", "email"): (0.0, -100.0, 6.0),
    }
    for (dim, name), (csat, nps, ces) in expected.items():
        figs = today_[dim][name]
        assert figs["csat"] == pytest.approx(csat)
        assert figs["nps"] == pytest.approx(nps)
        assert figs["ces_average"] == ces
    assert (set(q), set(a), set(c)) == (
        {"sales", "support", "(none)"},
        {"ana", "ben"},
        {"voice", "chat", "email"},
    )
    # Each table row the doc prints is the engine's figures, rounded as printed.
    doc = DOC.read_text("utf-8")
    for (dim, name), _ in expected.items():
        f = today_[dim][name]
        row = (
            f"| `{name}` | {f['csat_responses']} | {f['csat']:.2f} | {f['nps_responses']} | "
            f"{f['nps']:.1f} | {f['ces_responses']} | {f['ces_average']:.3f} |"
        )
        assert row in doc, row
