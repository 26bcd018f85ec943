"""The KPI engine, specified by small hand-computed cases.

Unless a test says otherwise the queue is acme/support in UTC with 15-minute intervals, outcome
attribution, a 20 s service-level threshold (met when wait <= 20 s), short abandons under 5 s
(wait < 5 s) and the "exclude short abandons" service-level formula. All instants are on Monday
2026-03-02; `at("09:01:20")` is that wall time in UTC.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import orjson
import pytest

from ccpulse.schemas.events import ContactEvent
from ccpulse.streams.kpi import (
    Attribution,
    Engine,
    EngineSettings,
    PolicyBook,
    QueuePolicy,
    SLFormula,
    Verdict,
    queue_snapshot,
)
from ccpulse.streams.kpi import counters as k
from tests.helpers.clock import ms_of as ms

TENANT, QUEUE = "acme", "support"
DAY = "2026-03-02"
ROLLING = (15, 60)
MAX_WAIT_MS = 86_400_000




def at(clock: str, day: str = DAY) -> int:
    """Epoch ms of a UTC wall-clock time such as "09:01:20" or "09:01:20.500"."""
    return ms(f"{day}T{clock}+00:00")


def label(clock: str, day: str = DAY) -> str:
    """Interval label of a UTC wall-clock time, as snapshots print it."""
    return f"{day}T{clock}+00:00"


def s(seconds: float) -> int:
    return round(seconds * 1000)


# -- event builders --------------------------------------------------------------------------


def event(
    etype: str,
    cid: str,
    ts: int,
    eid: str | None = None,
    channel: str = "voice",
    queue: str = QUEUE,
    **extra: Any,
) -> ContactEvent:
    return ContactEvent(
        event_id=eid or f"{cid}-{etype.split('.')[1]}",
        type=etype,
        ts_ms=ts,
        tenant=TENANT,
        queue=queue,
        channel=channel,
        contact_id=cid,
        **extra,
    )


def offered(cid: str, ts: int, **kw: Any) -> ContactEvent:
    return event("contact.offered", cid, ts, **kw)


def blocked(cid: str, ts: int, reason: str = "full", **kw: Any) -> ContactEvent:
    return event("contact.blocked", cid, ts, reason=reason, **kw)


def answered(cid: str, ts: int, wait: float | None = None, **kw: Any) -> ContactEvent:
    wait_ms = None if wait is None else s(wait)
    return event("contact.answered", cid, ts, agent_id="a-1", wait_ms=wait_ms, **kw)


def abandoned(cid: str, ts: int, wait: float | None = None, **kw: Any) -> ContactEvent:
    wait_ms = None if wait is None else s(wait)
    return event("contact.abandoned", cid, ts, wait_ms=wait_ms, **kw)


def dequeued(
    cid: str, ts: int, reason: str = "timeout", wait: float | None = None, **kw: Any
) -> ContactEvent:
    wait_ms = None if wait is None else s(wait)
    return event("contact.dequeued", cid, ts, reason=reason, wait_ms=wait_ms, **kw)


def completed(
    cid: str,
    ts: int,
    talk: float,
    hold: float = 0,
    wrap: float = 0,
    resolved: bool | None = None,
    **kw: Any,
) -> ContactEvent:
    return event(
        "contact.completed",
        cid,
        ts,
        agent_id="a-1",
        talk_ms=s(talk),
        hold_ms=s(hold),
        wrap_ms=s(wrap),
        resolved=resolved,
        **kw,
    )


# -- engine and snapshot helpers -------------------------------------------------------------


def make_engine(
    lateness_seconds: int = 86_400,
    max_wait_seconds: int = 86_400,
    channels: dict[str, QueuePolicy] | None = None,
    **policy: Any,
) -> Engine:
    base = QueuePolicy(**policy)
    book = PolicyBook(
        default=base,
        channels={(TENANT, QUEUE, ch): pol for ch, pol in (channels or {}).items()},
        engine=EngineSettings(lateness_seconds=lateness_seconds, max_wait_seconds=max_wait_seconds),
    )
    return Engine(book)


def run(events: list[ContactEvent], **kw: Any) -> Engine:
    engine = make_engine(**kw)
    verdicts = engine.apply_all(events)
    assert verdicts[Verdict.APPLIED] == len(events)
    return engine


def snapshot(engine: Engine, now: int, max_wait_ms: int = MAX_WAIT_MS) -> dict[str, Any]:
    snap: dict[str, Any] = queue_snapshot(engine.queue(TENANT, QUEUE), now, ROLLING, max_wait_ms)
    return snap


def intervals(snap: dict[str, Any], channel: str = "all") -> dict[str, dict[str, Any]]:
    """Interval start label -> figures."""
    return {i["start"]: i["figures"] for i in snap["channels"][channel]["intervals"]}


def interval(snap: dict[str, Any], start: str, channel: str = "all") -> dict[str, Any]:
    return intervals(snap, channel)[start]


def counts(figs: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(figs[n] for n in names)


# -- one interval with every kind of contact ---------------------------------------------------

#: Ten contacts in the 09:00-09:15 interval (voice, outcome attribution):
#:   c1 waits 10 s and is answered (within 20 s); c2 waits exactly 20 s (within: inclusive);
#:   c3 waits 21 s (not within). c4 abandons after 4 s (short, within threshold); c5 after
#:   exactly 5 s (not short: strict, within threshold); c6 after 30 s (neither). c7 times out
#:   after 60 s. c8 is blocked (queue full), c9 blocked (no agents). c10 still waits at 09:14.
#:   Completions: c1 talk 120 hold 10 wrap 30 resolved; c2 talk 200 wrap 40 not resolved;
#:   c3 talk 100 hold 20 wrap 20, resolution not reported.
SCENARIO: list[ContactEvent] = [
    offered("c1", at("09:00:00")),
    answered("c1", at("09:00:10")),
    completed("c1", at("09:05:00"), talk=120, hold=10, wrap=30, resolved=True),
    offered("c2", at("09:01:00")),
    answered("c2", at("09:01:20")),
    completed("c2", at("09:08:00"), talk=200, wrap=40, resolved=False),
    offered("c3", at("09:02:00")),
    answered("c3", at("09:02:21")),
    completed("c3", at("09:12:00"), talk=100, hold=20, wrap=20),
    offered("c4", at("09:03:00")),
    abandoned("c4", at("09:03:04")),
    offered("c5", at("09:04:00")),
    abandoned("c5", at("09:04:05")),
    offered("c6", at("09:05:00")),
    abandoned("c6", at("09:05:30")),
    offered("c7", at("09:06:00")),
    dequeued("c7", at("09:07:00"), reason="timeout"),
    blocked("c8", at("09:08:00"), reason="full"),
    blocked("c9", at("09:09:00"), reason="no_agents"),
    offered("c10", at("09:10:00")),
]
SCENARIO_NOW = at("09:14:00")

SCENARIO_FIGURES: dict[str, Any] = {
    "offered": 8,  # c1-c7 and c10
    "blocked": 2,
    "blocked_full": 1,
    "blocked_no_agents": 1,
    "blocked_closed": 0,
    "blocked_other": 0,
    "answered": 3,
    "answered_within_threshold": 2,
    "abandoned": 3,
    "short_abandoned": 1,
    "abandoned_within_threshold": 2,
    "dequeued": 1,
    "dequeued_timeout": 1,
    "dequeued_overflow": 0,
    "completed": 3,
    "service_level": 2 / 5,  # 2 met / (3 answered + 3 abandoned - 1 short)
    "service_level_target": 0.8,
    "service_level_threshold_seconds": 20.0,
    "asa_seconds": 17.0,  # (10 + 20 + 21) / 3
    "answered_wait_seconds_sum": 51.0,
    "longest_answered_wait_seconds": 21.0,
    "abandonment_rate": 3 / 8,
    "average_abandon_seconds": 13.0,  # (4 + 5 + 30) / 3
    "abandoned_wait_seconds_sum": 39.0,
    "longest_abandoned_wait_seconds": 30.0,
    "blockage_rate": 2 / 10,  # blocked / (offered + blocked)
    "answer_rate": 3 / 8,
    "aht_seconds": 180.0,  # (420 talk + 30 hold + 90 wrap) / 3
    "talk_seconds_sum": 420.0,
    "hold_seconds_sum": 30.0,
    "wrap_seconds_sum": 90.0,
    "longest_talk_seconds": 200.0,
    "longest_hold_seconds": 20.0,
    "longest_wrap_seconds": 40.0,
    "first_contact_resolution_rate": 1 / 2,  # c1 resolved, c2 not, c3 not reported
}


def assert_figures(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value), name


def test_every_counter_and_kpi_of_one_interval() -> None:
    snap = snapshot(run(SCENARIO), SCENARIO_NOW)
    figs = interval(snap, label("09:00:00"))
    assert_figures(figs, SCENARIO_FIGURES)
    assert_figures(interval(snap, label("09:00:00"), "voice"), SCENARIO_FIGURES)
    assert list(intervals(snap)) == [label("09:00:00")]


def test_current_interval_today_and_rolling_agree_on_one_interval() -> None:
    snap = snapshot(run(SCENARIO), SCENARIO_NOW)
    view = snap["channels"]["all"]
    assert view["current_interval"]["start"] == label("09:00:00")
    assert view["current_interval"]["end"] == label("09:15:00")
    assert view["today"]["start"] == label("00:00:00")
    assert_figures(view["current_interval"]["figures"], SCENARIO_FIGURES)
    assert_figures(view["today"]["figures"], SCENARIO_FIGURES)
    # The 15-minute window at 09:14 covers the minutes 09:00-09:14: everything.
    assert_figures(view["rolling"]["15m"], SCENARIO_FIGURES)
    assert snap["live"]["all"] == {"in_queue": 1, "longest_wait_seconds": 240.0}
    assert snap["pipeline"] == {
        "too_late": 0,
        "duplicates": 0,
        "watermark": "2026-03-02T09:12:00+00:00",  # c3's completion, the latest event
    }


@pytest.mark.parametrize(
    ("formula", "counts_dequeued", "expected"),
    [
        (SLFormula.ANSWERED, False, Fraction(2, 3)),
        (SLFormula.ANSWERED_AND_ABANDONED, False, Fraction(2, 6)),
        (SLFormula.EXCLUDE_SHORT_ABANDONS, False, Fraction(2, 5)),
        (SLFormula.EXCLUDE_ABANDONS_WITHIN_THRESHOLD, False, Fraction(2, 4)),
        (SLFormula.ABANDONS_WITHIN_THRESHOLD_MET, False, Fraction(2 + 2, 6)),
        # The one dequeued contact joins every denominator.
        (SLFormula.ANSWERED, True, Fraction(2, 4)),
        (SLFormula.ANSWERED_AND_ABANDONED, True, Fraction(2, 7)),
        (SLFormula.EXCLUDE_SHORT_ABANDONS, True, Fraction(2, 6)),
        (SLFormula.EXCLUDE_ABANDONS_WITHIN_THRESHOLD, True, Fraction(2, 5)),
        (SLFormula.ABANDONS_WITHIN_THRESHOLD_MET, True, Fraction(4, 7)),
    ],
)
def test_service_level_formulas(
    formula: SLFormula, counts_dequeued: bool, expected: Fraction
) -> None:
    engine = run(SCENARIO, sl_formula=formula, sl_counts_dequeued=counts_dequeued)
    figs = interval(snapshot(engine, SCENARIO_NOW), label("09:00:00"))
    assert figs["service_level"] == pytest.approx(float(expected))
    assert snapshot(engine, SCENARIO_NOW)["sl_formula"] == formula.value


def test_abandonment_rate_without_short_abandons() -> None:
    engine = run(SCENARIO, abandon_rate_excludes_short=True)
    figs = interval(snapshot(engine, SCENARIO_NOW), label("09:00:00"))
    assert figs["abandonment_rate"] == pytest.approx((3 - 1) / (8 - 1))


def test_ratios_are_none_without_a_denominator() -> None:
    snap = snapshot(run([offered("c1", at("09:00:00"))]), at("09:01:00"))
    figs = interval(snap, label("09:00:00"))
    assert counts(figs, "service_level", "asa_seconds", "aht_seconds", "blockage_rate") == (
        None,
        None,
        None,
        0.0,
    )
    assert figs["first_contact_resolution_rate"] is None
    assert figs["abandonment_rate"] == 0.0


@pytest.mark.parametrize(
    ("wait", "within"),
    [(19.999, 1), (20.0, 1), (20.001, 0), (0.0, 1)],
)
def test_answered_within_threshold_is_inclusive(wait: float, within: int) -> None:
    engine = run([answered("c1", at("09:01:00"), wait=wait)])
    figs = interval(snapshot(engine, at("09:02:00")), label("09:00:00"))
    assert counts(figs, "answered", "answered_within_threshold") == (1, within)
    assert figs["asa_seconds"] == pytest.approx(wait)


@pytest.mark.parametrize(
    ("wait", "short", "within"),
    [(4.999, 1, 1), (5.0, 0, 1), (20.0, 0, 1), (20.001, 0, 0)],
)
def test_short_abandon_is_strict_and_abandon_within_threshold_inclusive(
    wait: float, short: int, within: int
) -> None:
    engine = run([abandoned("c1", at("09:01:00"), wait=wait)])
    figs = interval(snapshot(engine, at("09:02:00")), label("09:00:00"))
    assert counts(figs, "abandoned", "short_abandoned", "abandoned_within_threshold") == (
        1,
        short,
        within,
    )


def test_dequeued_counts_by_reason() -> None:
    engine = run(
        [
            offered("c1", at("09:00:00")),
            dequeued("c1", at("09:02:00"), reason="overflow", to_queue="support-l2"),
            offered("c2", at("09:01:00")),
            dequeued("c2", at("09:03:00"), reason="transfer"),
            dequeued("c3", at("09:04:00"), reason="overflow", wait=30),
            blocked("c4", at("09:05:00"), reason="closed"),
            blocked("c5", at("09:06:00"), reason="other"),
        ]
    )
    figs = interval(snapshot(engine, at("09:10:00")), label("09:00:00"))
    assert counts(
        figs, "dequeued", "dequeued_overflow", "dequeued_transfer", "dequeued_timeout"
    ) == (3, 2, 1, 0)
    assert counts(figs, "blocked", "blocked_closed", "blocked_other", "offered") == (2, 1, 1, 2)
    assert figs["blockage_rate"] == pytest.approx(2 / 4)
    # Dequeued contacts are neither answered nor abandoned.
    assert counts(figs, "answered", "abandoned", "service_level") == (0, 0, None)


def test_answer_without_any_wait_counts_but_not_in_asa() -> None:
    engine = run(
        [
            answered("c1", at("09:01:00")),  # no offer seen, no wait_seconds: wait unknown
            offered("c2", at("09:01:00")),
            answered("c2", at("09:01:10")),
        ]
    )
    figs = interval(snapshot(engine, at("09:02:00")), label("09:00:00"))
    assert counts(figs, "answered", "asa_seconds", "answered_wait_seconds_sum") == (2, 10.0, 10.0)


# -- which interval a contact counts in --------------------------------------------------------

#: Offered at 09:14:50, answered 30 s later at 09:15:20, completed at 09:20.
CROSSING = [
    offered("c1", at("09:14:50")),
    answered("c1", at("09:15:20")),
    completed("c1", at("09:20:00"), talk=60),
]


def test_outcome_attribution_counts_each_event_in_its_own_interval() -> None:
    snap = snapshot(run(CROSSING, attribution="outcome"), at("09:25:00"))
    first, second = interval(snap, label("09:00:00")), interval(snap, label("09:15:00"))
    assert counts(first, "offered", "answered", "completed") == (1, 0, 0)
    assert counts(second, "offered", "answered", "completed") == (0, 1, 1)
    assert second["asa_seconds"] == 30.0
    assert second["service_level"] == 0.0  # 30 s > 20 s
    assert snap["attribution"] == "outcome"


def test_arrival_attribution_counts_everything_where_the_contact_entered() -> None:
    snap = snapshot(run(CROSSING, attribution="arrival"), at("09:25:00"))
    first = interval(snap, label("09:00:00"))
    assert counts(first, "offered", "answered", "completed", "asa_seconds") == (1, 1, 1, 30.0)
    assert first["aht_seconds"] == 60.0
    second = intervals(snap).get(label("09:15:00"), {"answered": 0, "completed": 0})
    assert counts(second, "answered", "completed") == (0, 0)
    assert snap["attribution"] == "arrival"


def test_arrival_without_offer_uses_outcome_time_minus_logged_wait() -> None:
    engine = run(
        [answered("c1", at("09:15:20"), wait=30), completed("c1", at("09:20:00"), talk=60)],
        attribution="arrival",
    )
    snap = snapshot(engine, at("09:25:00"))
    first = interval(snap, label("09:00:00"))  # entered at 09:14:50
    assert counts(first, "offered", "answered", "completed", "asa_seconds") == (0, 1, 1, 30.0)
    assert list(intervals(snap)) == [label("09:00:00")]


def test_blocked_counts_at_its_own_time_under_arrival() -> None:
    engine = run([blocked("c1", at("09:15:01"))], attribution="arrival")
    snap = snapshot(engine, at("09:20:00"))
    assert list(intervals(snap)) == [label("09:15:00")]
    assert interval(snap, label("09:15:00"))["blocked_full"] == 1


def test_wait_seconds_wins_over_timestamps() -> None:
    engine = run([offered("c1", at("09:00:00")), answered("c1", at("09:00:30"), wait=12)])
    figs = interval(snapshot(engine, at("09:01:00")), label("09:00:00"))
    assert counts(figs, "asa_seconds", "answered_within_threshold") == (12.0, 1)
    assert figs["longest_answered_wait_seconds"] == 12.0


def test_wait_from_timestamps_when_no_wait_seconds() -> None:
    engine = run([offered("c1", at("09:00:00")), abandoned("c1", at("09:00:30.250"))])
    figs = interval(snapshot(engine, at("09:01:00")), label("09:00:00"))
    assert figs["average_abandon_seconds"] == pytest.approx(30.25)


# -- order, duplicates and replays -----------------------------------------------------------


def test_answer_logged_before_the_entry_gives_in_order_figures() -> None:
    events = [
        offered("c1", at("09:14:50")),
        answered("c1", at("09:15:20")),
        completed("c1", at("09:20:00"), talk=60, resolved=True),
        offered("c2", at("09:01:00")),
        abandoned("c2", at("09:01:03")),
    ]
    for attribution in ("outcome", "arrival"):
        in_order = snapshot(run(events, attribution=attribution), at("09:25:00"))
        reversed_ = snapshot(run(events[::-1], attribution=attribution), at("09:25:00"))
        assert reversed_ == in_order
    # ... and those figures are the right ones (arrival attribution, as last computed).
    first = interval(in_order, label("09:00:00"))
    assert counts(first, "offered", "answered", "abandoned", "short_abandoned") == (2, 1, 1, 1)
    assert first["asa_seconds"] == 30.0
    assert snapshot(run(events[::-1]), at("09:25:00"))["live"]["all"]["in_queue"] == 0


def test_same_event_id_twice_changes_nothing() -> None:
    events = [offered("c1", at("09:00:00")), answered("c1", at("09:00:15"))]
    once = run(events)
    twice = run(events)
    assert twice.apply(events[1]) is Verdict.DUPLICATE
    assert twice.apply(events[0]) is Verdict.DUPLICATE
    snap_once, snap_twice = snapshot(once, at("09:05:00")), snapshot(twice, at("09:05:00"))
    assert snap_twice["pipeline"]["duplicates"] == 2
    assert snap_twice["channels"] == snap_once["channels"]
    assert snap_twice["live"] == snap_once["live"]
    assert interval(snap_twice, label("09:00:00"))["answered"] == 1


def test_a_second_outcome_for_the_same_contact_is_a_duplicate() -> None:
    engine = run([offered("c1", at("09:00:00")), answered("c1", at("09:00:15"), eid="x1")])
    later = abandoned("c1", at("09:00:40"), eid="x2")
    assert engine.apply(later) is Verdict.DUPLICATE
    figs = interval(snapshot(engine, at("09:05:00")), label("09:00:00"))
    assert counts(figs, "answered", "abandoned", "asa_seconds") == (1, 0, 15.0)


def test_earliest_event_of_a_role_wins_whatever_the_arrival_order() -> None:
    engine = run([offered("c1", at("09:00:00")), answered("c1", at("09:00:40"), eid="late")])
    assert engine.apply(answered("c1", at("09:00:15"), eid="early")) is Verdict.APPLIED
    figs = interval(snapshot(engine, at("09:05:00")), label("09:00:00"))
    assert counts(figs, "answered", "asa_seconds", "answered_within_threshold") == (1, 15.0, 1)
    assert figs["longest_answered_wait_seconds"] == 15.0
    in_order = make_engine()
    in_order.apply_all(
        [
            offered("c1", at("09:00:00")),
            answered("c1", at("09:00:15"), eid="early"),
            answered("c1", at("09:00:40"), eid="late"),
        ]
    )
    assert snapshot(in_order, at("09:05:00")) == snapshot(engine, at("09:05:00"))
    # Of two events claiming one role, one is a duplicate, whichever arrived first.
    assert snapshot(engine, at("09:05:00"))["pipeline"]["duplicates"] == 1


def test_replay_with_the_same_positions_changes_nothing() -> None:
    events = [*SCENARIO, answered("c10", at("09:14:30"))]
    engine = make_engine()
    for pos, e in enumerate(events):
        assert engine.apply(e, pos=pos) is Verdict.APPLIED
    before = snapshot(engine, SCENARIO_NOW)
    for pos in range(5, len(events)):
        assert engine.apply(events[pos], pos=pos) is Verdict.REPLAYED
    assert snapshot(engine, SCENARIO_NOW) == before
    # Without positions the same events are duplicates: figures unchanged, but counted.
    assert engine.apply(events[7]) is Verdict.DUPLICATE
    assert snapshot(engine, SCENARIO_NOW)["channels"] == before["channels"]


#: Events 0-5 reached the changelog completely; then a crash lost some records of 6-11.
CRASH_STREAM = [
    offered("c1", at("09:00:00")),
    offered("c2", at("09:01:00")),
    answered("c1", at("09:00:50"), eid="c1-late"),
    offered("c3", at("09:02:00")),
    answered("c2", at("09:01:30")),
    abandoned("c3", at("09:02:03")),
    answered("c1", at("09:00:25"), eid="c1-early"),  # 6: replaces c1-late (50 s -> 25 s)
    answered("c2", at("09:01:30")),  # 7: same event id as event 4
    offered("c4", at("09:03:00")),
    completed("c1", at("09:06:00"), talk=100),
    answered("c4", at("09:03:10")),
    offered("c5", at("09:04:00")),  # 11: still waiting
]


def records(engine: Engine) -> tuple[dict[Any, Any], dict[str, Any], Any]:
    """JSON round trip of every record of the queue, as a changelog would hold them."""
    qs = engine.queue(TENANT, QUEUE)
    buckets = {k: orjson.loads(orjson.dumps(b.to_record())) for k, b in qs.buckets.items()}
    contacts = {c: orjson.loads(orjson.dumps(x.to_record())) for c, x in qs.contacts.items()}
    return buckets, contacts, orjson.loads(orjson.dumps(qs.meta_record()))


@pytest.mark.parametrize("contacts_written", [True, False])
def test_replay_after_a_crash_between_changelog_records(contacts_written: bool) -> None:
    """Records are written buckets, then contacts, then queue meta. The crash left buckets of
    event 11, contacts of event 11 or of event 5, and the meta of event 5. Re-reading events
    6-11 with their positions must end exactly where the engine that did not crash ended:
    a record whose `pos` is at or past an event already holds it."""
    first = make_engine()
    for pos, e in enumerate(CRASH_STREAM[:6]):
        first.apply(e, pos=pos)
    _, contacts_at_5, meta_at_5 = records(first)
    for pos in range(6, len(CRASH_STREAM)):
        first.apply(CRASH_STREAM[pos], pos=pos)
    buckets_at_11, contacts_at_11, _ = records(first)

    restored = make_engine()
    for key, rec in buckets_at_11.items():
        restored.restore_bucket(TENANT, QUEUE, key, rec)
    for cid, rec in (contacts_at_11 if contacts_written else contacts_at_5).items():
        restored.restore_contact(TENANT, QUEUE, cid, rec)
    restored.restore_meta(TENANT, QUEUE, meta_at_5)
    for pos in range(6, len(CRASH_STREAM)):
        restored.apply(CRASH_STREAM[pos], pos=pos)

    now = at("09:10:00")
    assert snapshot(restored, now) == snapshot(first, now)
    figs = interval(snapshot(restored, now), label("09:00:00"))
    # c1 25 s, c2 30 s, c4 10 s answered; c3 abandoned after 3 s; c5 waits.
    assert counts(figs, "offered", "answered", "abandoned", "short_abandoned") == (5, 3, 1, 1)
    assert figs["asa_seconds"] == pytest.approx(65 / 3)
    assert figs["longest_answered_wait_seconds"] == 30.0
    assert snapshot(restored, now)["live"]["all"] == {"in_queue": 1, "longest_wait_seconds": 360.0}
    # Event 7 repeats event 4's id; c1-late lost its role to c1-early: two duplicates.
    assert snapshot(restored, now)["pipeline"]["duplicates"] == 2


def test_the_next_event_counts_in_a_bucket_read_back_over_a_held_one() -> None:
    """The engine holds the buckets a queue's last event counted in (`ChannelBuckets`). A
    record read back over one of them replaces it, and the next event counts in the bucket
    read back, not in the one it replaced."""
    engine = make_engine()
    engine.apply(offered("c1", at("09:00:00")))
    qs = engine.queue(TENANT, QUEUE)
    for key in [("i", "voice", at("09:00:00")), ("t", "voice", 0)]:
        record = orjson.loads(orjson.dumps(qs.buckets[key].to_record()))
        engine.restore_bucket(TENANT, QUEUE, key, record)
    engine.apply(offered("c2", at("09:01:00")))
    snap = snapshot(engine, at("09:05:00"))
    assert counts(interval(snap, label("09:00:00")), "offered") == (2,)
    assert qs.buckets[("t", "voice", 0)].tally[k.OFFERED] == 2


@pytest.mark.parametrize("with_positions", [False, True])
def test_running_totals_follow_replacements(with_positions: bool) -> None:
    """The per-channel running totals (what Prometheus exports as counters) hold the same
    counts as the intervals, also when an event replaces another's role (event 6)."""
    engine = make_engine()
    for pos, e in enumerate(CRASH_STREAM):
        engine.apply(e, pos=pos if with_positions else None)
    qs = engine.queue(TENANT, QUEUE)
    total = qs.buckets[("t", "voice", 0)].tally

    def field(name: str) -> int:
        return int(total[k.INDEX[name]])

    assert (field("offered"), field("answered"), field("abandoned")) == (5, 3, 1)
    assert field("answered_wait_ms_sum") == 25_000 + 30_000 + 10_000  # c1 early, c2, c4
    assert field("answered_wait_ms_max") == 30_000
    assert (field("completed"), field("talk_ms_sum")) == (1, 100_000)
    assert field("duplicates") == 2
    assert qs.duplicates == 2


# -- lateness ----------------------------------------------------------------------------------


def test_late_events_within_lateness_update_their_interval_and_beyond_are_counted() -> None:
    engine = make_engine(lateness_seconds=3600)
    assert engine.apply(offered("c1", at("12:00:00"))) is Verdict.APPLIED  # watermark 12:00
    assert engine.apply(offered("c2", at("11:10:00"))) is Verdict.APPLIED
    assert engine.apply(answered("c2", at("11:10:30"))) is Verdict.APPLIED
    # Exactly the lateness behind the watermark is still in time ("more than" is too late).
    assert engine.apply(offered("c3", at("11:00:00"))) is Verdict.APPLIED
    assert engine.apply(offered("c4", at("10:59:59.999"))) is Verdict.TOO_LATE
    assert engine.apply(answered("c4", at("10:59:59"), wait=3)) is Verdict.TOO_LATE
    snap = snapshot(engine, at("12:05:00"))
    assert counts(interval(snap, label("11:00:00")), "offered", "answered", "asa_seconds") == (
        2,
        1,
        30.0,
    )
    assert label("10:45:00") not in intervals(snap)
    assert snap["pipeline"] == {
        "too_late": 2,
        "duplicates": 0,
        "watermark": "2026-03-02T12:00:00+00:00",
    }
    assert snap["channels"]["all"]["today"]["figures"]["offered"] == 3


def test_contact_waiting_longer_than_lateness_keeps_its_wait() -> None:
    """An email waits two hours with one hour of lateness: its answer still knows the entry.

    Contacts still waiting are kept up to max_wait_seconds (as `collect_garbage` does), so the
    answer is timed and, under arrival attribution, counted where the contact entered.
    """
    engine = make_engine(lateness_seconds=3600, attribution="arrival")
    engine.apply(offered("c1", at("08:00:00"), channel="email"))
    engine.apply(offered("c2", at("09:59:00"), channel="email"))
    assert engine.apply(answered("c1", at("10:00:00"), channel="email")) is Verdict.APPLIED
    snap = snapshot(engine, at("10:01:00"))
    assert counts(interval(snap, label("08:00:00")), "offered", "answered", "asa_seconds") == (
        1,
        1,
        7200.0,
    )
    assert snap["live"]["all"] == {"in_queue": 1, "longest_wait_seconds": 120.0}


def test_contact_waiting_longer_than_max_wait_starts_afresh() -> None:
    engine = make_engine(lateness_seconds=3600, max_wait_seconds=3600)
    engine.apply(offered("c1", at("08:00:00")))
    engine.apply(offered("c2", at("09:59:00")))
    assert engine.apply(answered("c1", at("10:00:00"))) is Verdict.APPLIED
    snap = snapshot(engine, at("10:01:00"), max_wait_ms=3_600_000)
    figs = interval(snap, label("10:00:00"))
    assert counts(figs, "answered", "asa_seconds") == (1, None)  # the entry is forgotten
    assert interval(snap, label("08:00:00"))["offered"] == 1


# -- live view -------------------------------------------------------------------------------


def test_live_in_queue_and_longest_wait_per_channel() -> None:
    engine = run(
        [
            offered("c1", at("09:00:00")),
            offered("c2", at("09:02:00")),
            offered("c3", at("09:03:00"), channel="chat"),
            offered("c4", at("08:59:00")),
            answered("c4", at("09:01:00")),
            blocked("c5", at("09:04:00")),
            offered("c6", at("09:04:30"), channel="chat"),
            abandoned("c6", at("09:04:40"), channel="chat"),
        ]
    )
    live = snapshot(engine, at("09:05:00"))["live"]
    assert live == {
        "all": {"in_queue": 3, "longest_wait_seconds": 300.0},
        "voice": {"in_queue": 2, "longest_wait_seconds": 300.0},
        "chat": {"in_queue": 1, "longest_wait_seconds": 120.0},
    }
    # Contacts waiting longer than max_wait have lost their outcome: out of the live view.
    live = snapshot(engine, at("09:05:00"), max_wait_ms=250_000)["live"]
    assert live["all"] == {"in_queue": 2, "longest_wait_seconds": 180.0}
    # Seen from 09:02:30, c3 has not arrived yet.
    live = snapshot(engine, at("09:02:30"))["live"]
    assert live["all"] == {"in_queue": 2, "longest_wait_seconds": 150.0}
    assert "chat" not in live  # only channels with someone waiting are listed


def test_live_view_of_an_empty_queue() -> None:
    engine = run([offered("c1", at("09:00:00")), answered("c1", at("09:00:05"))])
    assert snapshot(engine, at("09:01:00"))["live"] == {
        "all": {"in_queue": 0, "longest_wait_seconds": 0.0}
    }


# -- channels ----------------------------------------------------------------------------------

ROLL_UP = [
    offered("v1", at("09:00:00")),
    answered("v1", at("09:00:10")),
    completed("v1", at("09:03:00"), talk=100, resolved=True),
    offered("h1", at("09:01:00"), channel="chat"),
    answered("h1", at("09:01:40"), channel="chat"),
    completed("h1", at("09:09:00"), talk=300, hold=0, wrap=0, resolved=False, channel="chat"),
    offered("h2", at("09:02:00"), channel="chat"),
    abandoned("h2", at("09:02:03"), channel="chat"),
]


def test_all_channels_roll_up() -> None:
    snap = snapshot(run(ROLL_UP), at("09:10:00"))
    assert sorted(snap["channels"]) == ["all", "chat", "voice"]
    voice = interval(snap, label("09:00:00"), "voice")
    chat = interval(snap, label("09:00:00"), "chat")
    both = interval(snap, label("09:00:00"))
    assert counts(voice, "offered", "answered", "answered_within_threshold") == (1, 1, 1)
    assert counts(chat, "offered", "answered", "answered_within_threshold") == (2, 1, 0)
    assert counts(both, "offered", "answered", "answered_within_threshold") == (3, 2, 1)
    assert counts(both, "abandoned", "short_abandoned", "completed") == (1, 1, 2)
    assert both["asa_seconds"] == 25.0  # (10 + 40) / 2
    assert both["longest_answered_wait_seconds"] == 40.0  # the larger of 10 and 40
    assert both["longest_talk_seconds"] == 300.0
    assert both["aht_seconds"] == 200.0
    assert both["first_contact_resolution_rate"] == 0.5
    # Exclude short abandons: voice 1/1, chat 0/(1 + 1 - 1), all 1/(2 + 1 - 1).
    assert (voice["service_level"], chat["service_level"], both["service_level"]) == (
        1.0,
        0.0,
        0.5,
    )
    assert snap["channels"]["all"]["today"]["figures"]["offered"] == 3


def test_per_channel_policy_overrides() -> None:
    chat_policy = QueuePolicy(
        sl_threshold_seconds=60,
        short_abandon_seconds=10,
        sl_formula=SLFormula.ANSWERED_AND_ABANDONED,
    )
    engine = run(
        [
            offered("v1", at("09:00:00")),
            answered("v1", at("09:00:45")),  # 45 s: over voice's 20 s
            offered("h1", at("09:01:00"), channel="chat"),
            answered("h1", at("09:01:45"), channel="chat"),  # 45 s: within chat's 60 s
            offered("h2", at("09:02:00"), channel="chat"),
            abandoned("h2", at("09:02:08"), channel="chat"),  # 8 s: short for chat (< 10 s)
            offered("v2", at("09:03:00")),
            abandoned("v2", at("09:03:08")),  # 8 s: not short for voice (>= 5 s)
        ],
        channels={"chat": chat_policy},
    )
    snap = snapshot(engine, at("09:10:00"))
    voice = interval(snap, label("09:00:00"), "voice")
    chat = interval(snap, label("09:00:00"), "chat")
    both = interval(snap, label("09:00:00"))
    assert counts(voice, "answered_within_threshold", "short_abandoned") == (0, 0)
    assert counts(chat, "answered_within_threshold", "short_abandoned") == (1, 1)
    assert chat["service_level"] == 0.5  # answered and abandoned: 1 / (1 + 1)
    assert chat["service_level_threshold_seconds"] == 60
    assert voice["service_level"] == 0.0  # 0 / (1 + 1 - 0)
    # "all" adds the channel tallies and applies the queue's own formula (exclude short).
    assert counts(both, "answered_within_threshold", "short_abandoned") == (1, 1)
    assert both["service_level"] == pytest.approx(1 / (2 + 2 - 1))
    assert both["service_level_threshold_seconds"] == 20.0


# -- time zones ------------------------------------------------------------------------------


def test_today_on_the_23_hour_day() -> None:
    engine = run(
        [
            offered("c1", ms("2026-03-28T23:50:00+01:00")),  # the day before
            offered("c2", ms("2026-03-29T00:30:00+01:00")),
            offered("c3", ms("2026-03-29T03:10:00+02:00")),
            offered("c4", ms("2026-03-29T23:30:00+02:00")),
            answered("c4", ms("2026-03-29T23:30:05+02:00")),
        ],
        time_zone="Europe/Paris",
    )
    snap = snapshot(engine, ms("2026-03-29T23:59:59+02:00"))
    view = snap["channels"]["all"]
    assert view["today"]["start"] == "2026-03-29T00:00:00+01:00"
    assert counts(view["today"]["figures"], "offered", "answered") == (3, 1)
    assert view["current_interval"]["start"] == "2026-03-29T23:45:00+02:00"
    assert view["current_interval"]["end"] == "2026-03-30T00:00:00+02:00"
    assert list(intervals(snap)) == [
        "2026-03-28T23:45:00+01:00",
        "2026-03-29T00:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T23:30:00+02:00",
    ]
    assert snap["time_zone"] == "Europe/Paris"


def test_fall_back_hour_counts_in_two_intervals() -> None:
    engine = run(
        [
            offered("c1", ms("2026-10-25T02:10:00+02:00")),
            offered("c2", ms("2026-10-25T02:10:00+01:00")),
            offered("c3", ms("2026-10-25T02:14:00+01:00")),
        ],
        time_zone="Europe/Paris",
    )
    snap = snapshot(engine, ms("2026-10-25T23:59:00+01:00"))
    assert {k: v["offered"] for k, v in intervals(snap).items()} == {
        "2026-10-25T02:00:00+02:00": 1,
        "2026-10-25T02:00:00+01:00": 2,
    }
    assert snap["channels"]["all"]["today"]["figures"]["offered"] == 3


def test_hourly_intervals_in_st_johns() -> None:
    engine = run(
        [
            offered("c1", ms("2026-01-15T12:10:00-03:30")),
            offered("c2", at("15:29:59", "2026-01-15")),
        ],
        time_zone="America/St_Johns",
        interval_minutes=60,
    )
    snap = snapshot(engine, ms("2026-01-15T13:00:00-03:30"))
    assert {k: v["offered"] for k, v in intervals(snap).items()} == {
        "2026-01-15T11:00:00-03:30": 1,  # 15:29:59Z is 11:59:59 local
        "2026-01-15T12:00:00-03:30": 1,
    }


# -- rolling windows -------------------------------------------------------------------------


def test_rolling_windows_cover_whole_minutes() -> None:
    engine = run(
        [
            offered("c1", at("09:45:59")),
            offered("c2", at("09:46:00")),
            offered("c3", at("10:00:10")),
            offered("c4", at("09:00:59")),
        ]
    )
    rolling = snapshot(engine, at("10:00:30"))["channels"]["all"]["rolling"]
    # 15 m: minutes 09:46-10:00; 60 m: minutes 09:01-10:00.
    assert (rolling["15m"]["offered"], rolling["60m"]["offered"]) == (2, 3)


# -- retractions of maxima -------------------------------------------------------------------


def test_maximum_drops_back_when_an_earlier_answer_replaces_the_longest_wait() -> None:
    engine = run(
        [
            offered("c1", at("09:00:00")),
            answered("c1", at("09:00:50"), eid="c1-late"),
            offered("c2", at("09:01:00")),
            answered("c2", at("09:01:30")),
        ]
    )
    figs = interval(snapshot(engine, at("09:05:00")), label("09:00:00"))
    assert figs["longest_answered_wait_seconds"] == 50.0
    assert engine.apply(answered("c1", at("09:00:25"), eid="c1-early")) is Verdict.APPLIED
    figs = interval(snapshot(engine, at("09:05:00")), label("09:00:00"))
    assert counts(figs, "answered", "answered_wait_seconds_sum") == (2, 55.0)
    assert figs["longest_answered_wait_seconds"] == 30.0  # c2's, no longer c1's 50 s


def test_arrival_attribution_moves_a_contact_when_its_offer_arrives() -> None:
    """c2 is first placed by its answer and completion (no entry known), then its offer shows
    it entered at 09:05: both move to 09:00 and 09:15's maxima fall back to c1's."""
    engine = run(
        [
            offered("c1", at("09:16:00")),
            answered("c1", at("09:16:30")),
            completed("c1", at("09:18:00"), talk=60, hold=5),
            answered("c2", at("09:20:00")),
            completed("c2", at("09:25:00"), talk=300, hold=40),
        ],
        attribution="arrival",
    )
    now = at("09:29:00")
    q15 = interval(snapshot(engine, now), label("09:15:00"))
    assert counts(q15, "answered", "completed", "longest_talk_seconds") == (2, 2, 300.0)
    assert counts(q15, "longest_hold_seconds", "asa_seconds") == (40.0, 30.0)

    assert engine.apply(offered("c2", at("09:05:00"))) is Verdict.APPLIED
    snap = snapshot(engine, now)
    q00, q15 = interval(snap, label("09:00:00")), interval(snap, label("09:15:00"))
    assert counts(q15, "offered", "answered", "completed") == (1, 1, 1)
    assert counts(q15, "longest_talk_seconds", "longest_hold_seconds", "talk_seconds_sum") == (
        60.0,
        5.0,
        60.0,
    )
    assert q15["longest_answered_wait_seconds"] == 30.0
    assert counts(q00, "offered", "answered", "completed", "asa_seconds") == (1, 1, 1, 900.0)
    assert counts(q00, "longest_answered_wait_seconds", "longest_talk_seconds") == (900.0, 300.0)


def test_arrival_attribution_longest_wait_drops_back_when_offer_moves_a_contact() -> None:
    engine = run(
        [
            offered("c1", at("09:01:00")),
            answered("c1", at("09:01:10")),
            answered("c2", at("09:20:00"), wait=400),  # entry 09:13:20 by its own wait
        ],
        attribution="arrival",
    )
    now = at("09:25:00")
    figs = interval(snapshot(engine, now), label("09:00:00"))
    assert counts(figs, "answered", "longest_answered_wait_seconds") == (2, 400.0)

    assert engine.apply(offered("c2", at("08:50:00"))) is Verdict.APPLIED
    snap = snapshot(engine, now)
    q00, q45 = interval(snap, label("09:00:00")), interval(snap, label("08:45:00"))
    assert counts(q00, "answered", "longest_answered_wait_seconds", "asa_seconds") == (
        1,
        10.0,
        10.0,
    )
    # The logged wait still wins over 08:50 -> 09:20.
    assert counts(q45, "offered", "answered", "longest_answered_wait_seconds") == (1, 1, 400.0)


def test_engine_without_book_uses_industry_defaults() -> None:
    engine = Engine()
    engine.apply(offered("c1", at("09:00:00")))
    engine.apply(answered("c1", at("09:00:20")))
    snap = snapshot(engine, at("09:01:00"))
    figs = interval(snap, label("09:00:00"))
    assert counts(figs, "service_level", "service_level_target") == (1.0, 0.8)
    assert (snap["time_zone"], snap["interval_minutes"]) == ("UTC", 15)


def test_queues_are_kept_apart() -> None:
    engine = run([offered("c1", at("09:00:00")), offered("c1", at("09:00:00"), queue="sales")])
    assert set(engine.queues) == {(TENANT, QUEUE), (TENANT, "sales")}
    assert interval(snapshot(engine, at("09:01:00")), label("09:00:00"))["offered"] == 1


def test_policy_replace_keeps_validation() -> None:
    with pytest.raises(ValueError, match="interval_minutes"):
        replace(QueuePolicy(), interval_minutes=20)
    from_config: dict[str, Any] = {"attribution": "arrival", "sl_formula": "answered"}
    policy = QueuePolicy(**from_config)  # plain strings, as a file gives them
    assert (policy.attribution, policy.sl_formula) == (Attribution.ARRIVAL, SLFormula.ANSWERED)


def test_minute_buckets_past_the_rolling_horizon_go_while_events_flow() -> None:
    """Replaying ten hours at full speed (no garbage-collection timer in between) keeps only
    the minute buckets the rolling windows can still read, writes the others' deletions to the
    changelog, and leaves the rolling figures intact."""
    engine = Engine(PolicyBook(engine=EngineSettings(rolling_minutes=ROLLING)))
    start = at("08:00:00")
    horizon_minutes = max(ROLLING) + 10
    most = 0
    deleted: set[Any] = set()
    for minute in range(600):
        engine.apply(event("contact.offered", f"c{minute}", start + minute * 60_000 + 5_000))
        qs = engine.queues[(TENANT, QUEUE)]
        minutes = [b for b in qs.buckets if b[0] == "m"]
        assert len(minutes) == qs.minute_buckets
        most = max(most, len(minutes))
        changes = engine.drain_changes()
        deleted |= {bkey for _, bkey in changes.deleted_buckets}
        assert not {bkey for _, bkey in changes.buckets} & deleted
    assert most <= 2 * horizon_minutes + 2  # without this: one per minute replayed, 600
    assert len(deleted) >= 600 - most  # every dropped bucket is deleted in the changelog
    now = start + 599 * 60_000 + 30_000
    snap = queue_snapshot(engine.queues[(TENANT, QUEUE)], now, ROLLING, MAX_WAIT_MS)
    rolling = snap["channels"]["all"]["rolling"]
    assert (rolling["15m"]["offered"], rolling["60m"]["offered"]) == (15, 60)
    assert snap["channels"]["all"]["today"]["figures"]["offered"] == 600


def test_dropping_old_minutes_waits_until_the_event_is_applied() -> None:
    """A retraction can ask for a maximum to be recomputed in a minute bucket that is just past
    the rolling horizon; the minute clean-up runs after that recomputation, not before it."""
    from ccpulse.streams.pipeline import Pipeline

    pipeline = Pipeline(PolicyBook())
    engine = pipeline.engine(0)
    engine.apply(event("contact.completed", "x", at("09:00:40"), eid="x-b", talk_ms=s(100),
                       hold_ms=0, wrap_ms=0), 1)  # fmt: skip
    engine.apply(event("contact.offered", "y", at("10:10:20")), 2)  # horizon now 09:00:20
    writes = pipeline.table_writes()
    restored = Pipeline(PolicyBook()).restore(0, [(k, v) for _, k, v in writes if v is not None])
    # An earlier-id completion of the same contact replaces the first: talk max 100 s -> 50 s.
    verdict = restored.apply(event("contact.completed", "x", at("09:00:40"), eid="x-a",
                                   talk_ms=s(50), hold_ms=0, wrap_ms=0), 3)  # fmt: skip
    assert verdict is Verdict.APPLIED
    qs = restored.queues[(TENANT, QUEUE)]
    assert ("m", "voice", at("09:00:00")) not in qs.buckets  # past the horizon: dropped
    assert qs.minute_buckets == sum(1 for b in qs.buckets if b[0] == "m")
    snap = queue_snapshot(qs, at("10:10:30"), ROLLING, MAX_WAIT_MS)
    assert snap["channels"]["all"]["today"]["figures"]["longest_talk_seconds"] == 50.0
