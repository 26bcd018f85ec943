"""Property: the survey engine's figures equal a direct recomputation from random responses.

Random `survey.response` events of one or two tenants are generated: CSAT, NPS and CES scores
across their contract ranges, whole and fractional (up to 3 decimals, the documented precision),
with the edges of every scale and class (CSAT 0, 1, 3.999, 4, 5, 5.001, 10; NPS 6, 7, 8, 9; CES
1, 5, 5.001, 7), an optional queue, agent, contact or ticket (some contacts answering twice
under new ids) and a channel (or the default); each tenant has its own zone (a DST change day in
Paris spring and autumn and St John's, half-hour offsets in St John's and Kolkata, a half-hour
shift at Lord Howe, a DST jump at midnight in Santiago), interval length and 11 days of
responses. One of several CSAT and CES scales is configured (the default, 1-10 satisfied from
8, 0-10 from 9 with CES 1-5, a fractional threshold with CES 2-6). The events are encoded as
contract JSON, decoded, and delivered either fully shuffled (lateness 30 days) or each up to 2
days after its `ts` (lateness 1 hour, a day, or exactly how far some response is behind on
arrival), with re-sends under the same id (some with another score: the id decides); in some
cases the engine's garbage collection runs every few events. Interval retention is 0 (keep),
2 or 48 hours.

For several report instants (inside the 11 days, at the latest response, and up to 8 days
after it) a fresh engine gets the responses at or before the instant, as `ccpulse report --at`
does. A deliberately simple second computation, written here from docs/survey-kpis.md and
sharing no code with `ccpulse.streams.kpi` (it uses `zoneinfo` and `fractions`; its calendar
and delivery replay are the property tests' own, in tests/helpers), replays the delivery order
per tenant for the too-late (more than the lateness behind the tenant's
watermark) and duplicate (an id already taken) rules, leaves scores outside the configured
scale to `out_of_scale`, and derives CSAT (share of satisfied), NPS (% promoters 9-10 minus %
detractors 0-6), the CES average and the response counts, for all, per queue (`(none)`), agent
and channel, over the current interval, today, the 7 local days and each of today's intervals
(local midnights found by bisection over minutes). Figures are compared exactly. When the
garbage collection is off, a snapshot of the engine holding every response is also taken at the
inner instants: its current interval, today and 7 days hold whole periods, later responses
included.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ccpulse.schemas import SurveyEvent
from ccpulse.streams.kpi import EngineSettings, PolicyBook, QueuePolicy
from ccpulse.streams.kpi.surveys import SurveyEngine, SurveySettings
from tests.helpers.clock import DAY, HOUR, MIN, Cal, ms_of
from tests.helpers.deliveries import Kept, apply_all, decode_one, delivery, kept, resends

#: (zone, local midnight from which 11 days of responses run).
ZONES = [
    ("UTC", "2026-03-02T00:00:00+00:00"),
    ("Europe/Paris", "2026-03-23T00:00:00+01:00"),  # 23-hour day on the 29th
    ("Europe/Paris", "2026-10-19T00:00:00+02:00"),  # 25-hour day on the 25th
    ("America/St_Johns", "2026-03-03T00:00:00-03:30"),  # -03:30, summer time on the 8th
    ("Asia/Kolkata", "2026-06-01T00:00:00+05:30"),
    ("Australia/Lord_Howe", "2026-09-29T00:00:00+10:30"),  # 30-minute shift on 10-04
    ("America/Santiago", "2026-09-01T00:00:00-04:00"),  # 09-06 starts at 01:00
]
SPAN_DAYS = 11
#: (csat min, csat max, satisfied from, ces min, ces max).
SCALES = [(1, 5, 4, 1, 7), (1, 10, 8, 1, 7), (0, 10, 9, 1, 5), (1, 5, 4.5, 2, 6)]
CHANNELS = (None, "voice", "chat", "email")  # None: the contract's default, voice
NO_QUEUE = "(none)"  # documented row of responses without a queue


@dataclass(frozen=True)
class Resp:
    """One generated response, as plain data (the second computation reads only these)."""

    eid: str
    tenant: str
    ts: int
    survey: str
    score: Fraction  # exact: a whole number or thousandths
    queue: str | None
    agent: str | None
    channel: str


# -- the generator ----------------------------------------------------------------------------


def thousandths(low: int, high: int) -> st.SearchStrategy[Fraction]:
    return st.integers(low * 1000, high * 1000).map(lambda k: Fraction(k, 1000))


SCORES: dict[str, st.SearchStrategy[Fraction]] = {
    "csat": st.one_of(
        st.sampled_from(["0", "1", "3.999", "4", "4.5", "5", "5.001", "7.999", "8", "9", "10"]).map(
            Fraction
        ),
        st.integers(0, 10).map(Fraction),
        thousandths(0, 10),
    ),
    "nps": st.one_of(st.sampled_from([0, 6, 7, 8, 9, 10]), st.integers(0, 10)).map(Fraction),
    "ces": st.one_of(
        st.sampled_from(["1", "1.999", "2", "5", "5.001", "6", "6.001", "7"]).map(Fraction),
        st.integers(1, 7).map(Fraction),
        thousandths(1, 7),
    ),
}


@dataclass(frozen=True)
class Tenant:
    name: str
    zone: str
    origin_ms: int
    minutes: int


@st.composite
def responses(draw: st.DrawFn, t: Tenant) -> list[tuple[Resp, dict[str, Any]]]:
    """Responses with their wire documents; a few contacts answer twice under new ids."""
    out = []
    for i in range(draw(st.integers(1, 40))):
        survey = draw(st.sampled_from(["csat", "nps", "ces"]))
        score = draw(SCORES[survey])
        minute = draw(st.one_of(st.integers(0, SPAN_DAYS * 1440 - 1),
                                st.integers(6 * 1440 - 60, 7 * 1440 + 60)))  # fmt: skip
        ts = t.origin_ms + minute * MIN + draw(st.sampled_from([0, 0, 0, 1, 59_999]))
        queue = draw(st.sampled_from(["sales", "support", None]))
        agent = draw(st.sampled_from(["ana", "ben", None]))
        channel = draw(st.sampled_from(CHANNELS))
        r = Resp(f"{t.name}-{i}", t.name, ts, survey, score, queue, agent, channel or "voice")
        doc: dict[str, Any] = {"event_id": r.eid, "type": "survey.response", "ts": ts,
                               "tenant": t.name, "survey": survey}  # fmt: skip
        if draw(st.booleans()):
            doc["ts"] = datetime.fromtimestamp(ts / 1000, ZoneInfo(t.zone)).isoformat(
                timespec="milliseconds"
            )
        whole = score.denominator == 1 and draw(st.booleans())
        doc["score"] = int(score) if whole else float(score)
        for name, value in (("queue", queue), ("agent_id", agent), ("channel", channel)):
            if value is not None or (name != "channel" and draw(st.booleans())):
                doc[name] = value
        if draw(st.booleans()):
            doc[draw(st.sampled_from(["contact_id", "ticket_id"]))] = f"c{draw(st.integers(0, 3))}"
        out.append((r, doc))
    return out


@dataclass
class Case:
    tenants: list[Tenant]
    scale: tuple[float, float, float, float, float]
    lateness_ms: int
    retention_hours: int
    gc_every: int | None
    arrivals: list[tuple[Resp, bytes]]  # delivery order, re-sends included
    instants: list[int]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    tenants = []
    for name in draw(st.sampled_from([["acme"], ["acme", "globex"]])):
        zone, origin = draw(st.sampled_from(ZONES))
        tenants.append(Tenant(name, zone, ms_of(origin), draw(st.sampled_from([15, 30, 60]))))
    made = [pair for t in tenants for pair in draw(responses(t))]
    rnd = draw(st.randoms(use_true_random=False))
    sent = list(made)
    for r, doc in resends(rnd, made):  # re-sends: the id decides
        if rnd.random() < 0.3:
            other = {"csat": 3, "nps": 0, "ces": 2}[r.survey]
            r, doc = replace(r, score=Fraction(other)), {**doc, "score": other}
        sent.append((r, doc))
    # Shuffled, or each copy delivered up to 2 days after its ts (lateness per tenant).
    sent, lateness_ms = delivery(draw, rnd, sent, lambda pair: pair[0].ts, 2 * DAY, [HOUR, DAY],
                                 stream_of=lambda pair: pair[0].tenant)  # fmt: skip
    arrivals = [(r, orjson.dumps(doc)) for r, doc in sent]
    first, last = min(r.ts for r, _ in made), max(r.ts for r, _ in made)
    instants = sorted(
        {
            last,
            draw(st.integers(first, last)),
            draw(st.sampled_from(made))[0].ts,
            last + draw(st.sampled_from([1, 15 * MIN, 20 * HOUR, 6 * DAY, 8 * DAY])),
        }
    )
    return Case(
        tenants,
        draw(st.sampled_from(SCALES)),
        lateness_ms,
        draw(st.sampled_from([0, 2, 48])),
        draw(st.none() | st.integers(1, 8)),
        arrivals,
        instants,
    )


# -- the second computation -------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    csat_min: Fraction
    csat_max: Fraction
    satisfied: Fraction
    ces_min: Fraction
    ces_max: Fraction

    def in_scale(self, r: Resp) -> bool:
        if r.survey == "csat":
            return self.csat_min <= r.score <= self.csat_max
        if r.survey == "ces":
            return self.ces_min <= r.score <= self.ces_max
        return True  # NPS is always 0-10, as the contract is


def window_figures(rs: list[Resp], scale: Scale) -> dict[str, Any]:
    csat = [r.score for r in rs if r.survey == "csat"]
    nps = [r.score for r in rs if r.survey == "nps"]
    ces = [r.score for r in rs if r.survey == "ces"]
    satisfied = sum(1 for s in csat if s >= scale.satisfied)
    promoters = sum(1 for s in nps if s >= 9)
    detractors = sum(1 for s in nps if s <= 6)

    def share(part: Fraction | int, whole: int) -> float | None:
        return float(Fraction(part) / whole) if whole else None

    return {
        "csat": share(satisfied, len(csat)),
        "csat_responses": len(csat),
        "csat_satisfied": satisfied,
        "nps": share(100 * promoters - 100 * detractors, len(nps)),
        "nps_responses": len(nps),
        "promoters": promoters,
        "passives": len(nps) - promoters - detractors,
        "detractors": detractors,
        "ces_average": share(sum(ces, Fraction(0)), len(ces)),
        "ces_responses": len(ces),
    }


def window(rs: list[Resp], scale: Scale, cal: Cal, start: int, end: int) -> dict[str, Any]:
    inside = [r for r in rs if start <= r.ts < end]
    rows: dict[str, dict[str, list[Resp]]] = {"by_queue": {}, "by_agent": {}, "by_channel": {}}
    for r in inside:
        rows["by_queue"].setdefault(r.queue or NO_QUEUE, []).append(r)
        if r.agent is not None:
            rows["by_agent"].setdefault(r.agent, []).append(r)
        rows["by_channel"].setdefault(r.channel, []).append(r)
    return {
        "start": cal.label(start),
        "end": cal.label(end),
        "all": window_figures(inside, scale),
        **{dim: {k: window_figures(v, scale) for k, v in per.items()} for dim, per in rows.items()},
    }


def expected_snapshot(
    k: Kept[Resp], out_of_scale: int, scale: Scale, cal: Cal, now: int, retention_ms: int
) -> dict[str, Any]:
    rs = [r for r in k.events if scale.in_scale(r)]
    today = cal.day(now)
    floor = max(today[0], now - retention_ms) if retention_ms else today[0]
    starts = sorted({cal.interval(r.ts)[0] for r in rs if floor <= cal.interval(r.ts)[0] <= now})
    return {
        "current_interval": window(rs, scale, cal, *cal.interval(now)),
        "today": window(rs, scale, cal, *today),
        "rolling_7d": window(rs, scale, cal, *cal.week(now)),
        "intervals": [window(rs, scale, cal, *cal.interval(s)) for s in starts],
        "pipeline": {
            "too_late": k.too_late,
            "duplicates": k.duplicates,
            "out_of_scale": out_of_scale,
            "watermark": None if k.watermark is None else cal.label(k.watermark),
        },
    }


# -- the property ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_survey_figures_equal_a_direct_recomputation(case: Case) -> None:
    csat_min, csat_max, satisfied, ces_min, ces_max = case.scale
    scale = Scale(*(Fraction(x) for x in case.scale))
    book = PolicyBook(
        tenants={t.name: QueuePolicy(time_zone=t.zone, interval_minutes=t.minutes)
                 for t in case.tenants},
        engine=EngineSettings(lateness_seconds=case.lateness_ms // 1000,
                              interval_retention_hours=case.retention_hours),
    )  # fmt: skip
    survey_settings = SurveySettings(csat_min, csat_max, satisfied, ces_min, ces_max)
    decoded = [(r, decode_one(raw, SurveyEvent)) for r, raw in case.arrivals]
    for r, d in decoded:
        assert (d.event_id, d.ts_ms, d.score, d.queue, d.agent_id, d.channel) == (
            r.eid, r.ts, float(r.score), r.queue, r.agent, r.channel
        )  # fmt: skip
    cals = {t.name: Cal(ZoneInfo(t.zone), t.minutes) for t in case.tenants}

    def run(upto: int) -> tuple[SurveyEngine, dict[str, tuple[Kept[Resp], int]]]:
        """An engine fed the responses at or before `upto`, and what the rules keep of them."""
        engine = SurveyEngine(book, survey_settings)
        delivered = [(r, d) for r, d in decoded if r.ts <= upto]
        apply_all(engine, (d for _, d in delivered), case.gc_every)
        want = {}
        for t in case.tenants:
            mine = [r for r, _ in delivered if r.tenant == t.name]
            k = kept(mine, case.lateness_ms)
            want[t.name] = (k, sum(1 for r in k.events if not scale.in_scale(r)))
        return engine, want

    for now in case.instants:
        engine, want = run(now)
        for t in case.tenants:
            k, out_of_scale = want[t.name]
            event(f"too late: {'some' if k.too_late else 'none'}")
            got = engine.snapshot(t.name, now)
            expected = expected_snapshot(
                k, out_of_scale, scale, cals[t.name], now, case.retention_hours * HOUR
            )
            assert got["as_of"] == cals[t.name].label(now)
            assert (got["time_zone"], got["interval_minutes"]) == (t.zone, t.minutes)
            for name, value in expected.items():
                assert got[name] == value, f"{t.name} {name} at {cals[t.name].label(now)}"
            # The live sinks' snapshot: the same figures, without the history.
            live = engine.snapshot(t.name, now, history=False)
            assert live == {name: v for name, v in got.items() if name != "intervals"}
    if case.gc_every:
        return
    # Responses after an instant still count in its interval, day and week (whole periods).
    engine, want = run(case.instants[-1])
    for now in case.instants:
        for t in case.tenants:
            k, out_of_scale = want[t.name]
            got = engine.snapshot(t.name, now)
            expected = expected_snapshot(k, out_of_scale, scale, cals[t.name], now, 0)
            for name in ("current_interval", "today", "rolling_7d"):
                assert got[name] == expected[name], f"{t.name} {name}, all responses"


def test_calendar_helper_matches_known_days() -> None:
    """The second computation's own calendar, checked on hand-picked days."""
    paris = Cal(ZoneInfo("Europe/Paris"), 15)
    assert paris.week(ms_of("2026-03-30T00:30:00+02:00")) == (
        ms_of("2026-03-24T00:00:00+01:00"),
        ms_of("2026-03-31T00:00:00+02:00"),
    )
    assert paris.interval(ms_of("2026-03-29T01:50:00+01:00")) == (
        ms_of("2026-03-29T01:45:00+01:00"),
        ms_of("2026-03-29T03:00:00+02:00"),
    )
    santiago = Cal(ZoneInfo("America/Santiago"), 60)
    assert santiago.day(ms_of("2026-09-06T12:00:00-03:00"))[0] == ms_of("2026-09-06T01:00:00-03:00")
    howe = Cal(ZoneInfo("Australia/Lord_Howe"), 60)
    assert howe.interval(ms_of("2026-10-04T03:10:00+11:00"))[0] == ms_of(
        "2026-10-04T02:30:00+11:00"
    )
