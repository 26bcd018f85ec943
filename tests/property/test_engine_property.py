"""Property: the engine's interval and today figures equal a direct count from the contacts.

Random valid histories (2-3 queues in zones with DST, half-hour offsets and a midnight DST
jump; several channels) are encoded as contract JSON, decoded, shuffled and partly duplicated,
then fed to the engine. A deliberately simple second computation, written here from the
documented rules and sharing no code with `ccpulse.streams.kpi`, groups the distinct events by
contact, keeps the earliest event of each role, and counts every part of each contact in the
interval of the instant it is attributed to (local days and intervals from the property tests'
own calendar, tests/helpers/clock.py). Only the decoder, the event dataclass and `zoneinfo` are
shared (plus the engine's field index, used only to read its running totals).

A second property delivers events late, by up to 40 minutes, against lateness horizons of 1 to
30 minutes, and checks too-late and duplicate counts and the figures against a replay of the
documented lateness rules.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ccpulse.schemas import ContactEvent
from ccpulse.streams.kpi import (
    Engine,
    EngineSettings,
    PolicyBook,
    QueuePolicy,
    SLFormula,
    Verdict,
    queue_snapshot,
)
from ccpulse.streams.kpi.counters import INDEX as ENGINE_FIELD_INDEX  # to read totals only
from ccpulse.streams.kpi.state_writes import drain_writes
from tests.helpers.clock import DAY, HOUR, MIN, Cal, day_start, ms_of
from tests.helpers.deliveries import arrival_order, decode_all

#: (zone, instant near which histories start): DST days, half-hour offsets, a midnight jump.
ZONES: list[tuple[str, str]] = [
    ("UTC", "2026-03-02T07:00:00+00:00"),
    ("Europe/Paris", "2026-03-28T20:00:00+01:00"),
    ("Europe/Paris", "2026-10-24T20:00:00+02:00"),
    ("America/St_Johns", "2026-03-07T20:00:00-03:30"),
    ("Australia/Lord_Howe", "2026-10-03T20:00:00+10:30"),
    ("America/Santiago", "2026-09-05T20:00:00-04:00"),
    ("America/Santiago", "2026-04-04T20:00:00-03:00"),
    ("Asia/Kolkata", "2026-06-01T20:00:00+05:30"),
]
CHANNELS = ("voice", "chat", "email")
QUEUE_NAMES = [("acme", "sales"), ("acme", "support"), ("default", "sales"), ("default", "q 2")]
FORMULAS = (
    "answered",
    "answered_and_abandoned",
    "exclude_short_abandons",
    "exclude_abandons_within_threshold",
    "abandons_within_threshold_met",
)
BLOCK_REASONS = ("full", "no_agents", "closed", "other")
DEQUEUE_REASONS = ("timeout", "overflow", "transfer", "empty", "key", "other")
OUTCOMES = ("contact.answered", "contact.abandoned", "contact.dequeued")


# -- the rules of one queue, as plain data -------------------------------------------------


@dataclass(frozen=True)
class Rules:
    threshold_ms: int
    short_ms: int
    formula: str
    counts_dequeued: bool

    def policy(self, **queue_level: Any) -> QueuePolicy:
        return QueuePolicy(
            sl_threshold_seconds=self.threshold_ms / 1000,
            short_abandon_seconds=self.short_ms / 1000,
            sl_formula=SLFormula(self.formula),
            sl_counts_dequeued=self.counts_dequeued,
            **queue_level,
        )


@dataclass(frozen=True)
class QueueSpec:
    tenant: str
    queue: str
    zone: str
    origin_ms: int
    interval_minutes: int
    rules: Rules
    chat_rules: Rules | None


rules_st = st.builds(
    Rules,
    threshold_ms=st.sampled_from([10_000, 20_000, 30_000]),
    short_ms=st.sampled_from([3_000, 5_000]),
    formula=st.sampled_from(FORMULAS),
    counts_dequeued=st.booleans(),
)


@st.composite
def queue_specs(draw: st.DrawFn) -> list[QueueSpec]:
    n = draw(st.integers(2, 3))
    names = draw(st.permutations(QUEUE_NAMES))[:n]
    specs = []
    for tenant, queue in names:
        zone, origin = draw(st.sampled_from(ZONES))
        specs.append(
            QueueSpec(
                tenant,
                queue,
                zone,
                ms_of(origin),
                draw(st.sampled_from([15, 30, 60])),
                draw(rules_st),
                draw(st.none() | rules_st),
            )
        )
    return specs


def build_book(specs: list[QueueSpec], attribution: str, **engine: int) -> PolicyBook:
    queues = {}
    channels = {}
    for q in specs:
        level = {"time_zone": q.zone, "interval_minutes": q.interval_minutes}
        queues[(q.tenant, q.queue)] = q.rules.policy(attribution=attribution, **level)
        if q.chat_rules is not None:
            channels[(q.tenant, q.queue, "chat")] = q.chat_rules.policy(
                attribution=attribution, **level
            )
    return PolicyBook(queues=queues, channels=channels, engine=EngineSettings(**engine))


# -- random histories ------------------------------------------------------------------------

wait_st = st.one_of(
    st.sampled_from([0, 2_999, 3_000, 4_999, 5_000, 9_999, 10_000, 20_000, 20_001, 30_000]),
    st.integers(0, 40 * MIN),
)


@st.composite
def contact_events(draw: st.DrawFn, q: QueueSpec, cid: str, span_ms: int) -> list[dict[str, Any]]:
    """The wire events of one visit: offered, then an outcome or none, maybe completed; or a
    block. Some events repeat a role with a different id (the earliest must win)."""
    channel = draw(st.sampled_from(CHANNELS))
    entered = q.origin_ms + draw(st.integers(0, span_ms))
    n = 0

    def wire(etype: str, ts: int, **fields: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        doc: dict[str, Any] = {
            "event_id": f"{q.tenant}/{q.queue}/{cid}/{n}",
            "type": etype,
            "ts": ts,
            "tenant": q.tenant,
            "queue": q.queue,
            "channel": channel,
            "contact_id": cid,
            **fields,
        }
        if draw(st.booleans()):  # the same instant as RFC 3339 in the queue's local time
            local = datetime.fromtimestamp(ts / 1000, ZoneInfo(q.zone))
            doc["ts"] = local.isoformat(timespec="milliseconds")
        if doc["tenant"] == "default" and draw(st.booleans()):
            del doc["tenant"]
        if channel == "voice" and draw(st.booleans()):
            del doc["channel"]
        return doc

    kind = draw(st.sampled_from(["blocked", "waiting", *OUTCOMES]))
    if kind == "blocked":
        return [wire("contact.blocked", entered, reason=draw(st.sampled_from(BLOCK_REASONS)))]
    events = []
    if kind == "waiting" or draw(st.integers(0, 4)) > 0:  # now and then the offer is lost
        events.append(wire("contact.offered", entered))
    if kind == "waiting":
        return events

    def outcome(etype: str, wait: int) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if draw(st.booleans()):
            fields["wait_seconds"] = wait / 1000  # consistent with the timestamps
        if etype == "contact.answered":
            fields["agent_id"] = "a-1"
        elif etype == "contact.dequeued":
            fields["reason"] = draw(st.sampled_from(DEQUEUE_REASONS))
        return wire(etype, entered + wait, **fields)

    wait = draw(wait_st)
    events.append(outcome(kind, wait))
    if draw(st.integers(0, 5)) == 0:  # a second outcome claims the same role
        events.append(outcome(draw(st.sampled_from(OUTCOMES)), draw(wait_st)))
    if kind == "contact.answered" and draw(st.booleans()):
        talk = draw(st.integers(0, 30 * MIN))
        fields: dict[str, Any] = {"agent_id": "a-1", "talk_seconds": talk / 1000}
        if draw(st.booleans()):
            fields["hold_seconds"] = draw(st.integers(0, 5 * MIN)) / 1000
        if draw(st.booleans()):
            fields["wrap_seconds"] = draw(st.integers(0, 5 * MIN)) / 1000
        if draw(st.booleans()):
            fields["resolved"] = draw(st.booleans())
        events.append(wire("contact.completed", entered + wait + talk + 1000, **fields))
    return events


@st.composite
def histories(draw: st.DrawFn, span_ms: int = 9 * HOUR) -> tuple[list[QueueSpec], list[bytes]]:
    """Queue specs and the messages carrying their events: shuffled, with duplicates, some
    messages being JSON array batches."""
    specs = draw(queue_specs())
    docs: list[dict[str, Any]] = []
    for q in specs:
        for i in range(draw(st.integers(1, 12))):
            docs.extend(draw(contact_events(q, f"c{i}", span_ms)))
    docs.extend(draw(st.lists(st.sampled_from(docs), max_size=len(docs) // 3 + 1)))
    rnd = draw(st.randoms(use_true_random=False))
    rnd.shuffle(docs)
    messages = []
    i = 0
    while i < len(docs):
        size = rnd.choice([1, 1, 1, 2, 3])
        chunk = docs[i : i + size]
        messages.append(orjson.dumps(chunk if size > 1 or rnd.random() < 0.2 else chunk[0]))
        i += size
    return specs, messages


# -- the second computation ------------------------------------------------------------------


def interval_start(q: QueueSpec, ts: int) -> int:
    """The start of the queue's interval holding `ts` (tests/helpers/clock.py: the days start
    at local midnight, or at a DST jump over it)."""
    return Cal(ZoneInfo(q.zone), q.interval_minutes).interval(ts)[0]


SUMS = (
    "offered", "answered", "answered_timed", "answered_within", "answered_wait_sum",
    "abandoned", "abandoned_timed", "short_abandoned", "abandoned_within", "abandoned_wait_sum",
    "completed", "talk_sum", "hold_sum", "wrap_sum", "resolution_reported", "resolved",
    *(f"blocked_{r}" for r in BLOCK_REASONS), *(f"dequeued_{r}" for r in DEQUEUE_REASONS),
)  # fmt: skip
MAXES = ("answered_wait_max", "abandoned_wait_max", "talk_max", "hold_max", "wrap_max")

Count = dict[str, int]


def fold(total: Count, part: Count) -> None:
    for name, value in part.items():
        if name in MAXES:
            total[name] = max(total.get(name, 0), value)
        else:
            total[name] = total.get(name, 0) + value


def earliest(events: list[ContactEvent]) -> ContactEvent | None:
    return min(events, key=lambda e: (e.ts_ms, e.event_id), default=None)


def visit_parts(events: list[ContactEvent], rules: Rules, arrival: bool) -> list[tuple[int, Count]]:
    """(instant, counts) of every part of one visit, from its distinct events."""
    by_type: dict[str, list[ContactEvent]] = defaultdict(list)
    for e in events:
        by_type[e.type].append(e)
    offer = earliest(by_type["contact.offered"])
    block = earliest(by_type["contact.blocked"])
    outcome = earliest([e for t in OUTCOMES for e in by_type[t]])
    done = earliest(by_type["contact.completed"])
    parts: list[tuple[int, Count]] = []
    if offer:
        parts.append((offer.ts_ms, {"offered": 1}))
    if block:
        parts.append((block.ts_ms, {f"blocked_{block.reason}": 1}))
    entry = None
    if offer:
        entry = offer.ts_ms
    elif outcome and outcome.wait_ms is not None:
        entry = outcome.ts_ms - outcome.wait_ms
    if outcome:
        wait = outcome.wait_ms
        if wait is None and offer:
            wait = max(0, outcome.ts_ms - offer.ts_ms)
        counts: Count
        if outcome.type == "contact.dequeued":
            counts = {f"dequeued_{outcome.reason}": 1}
        elif outcome.type == "contact.answered":
            counts = {"answered": 1}
            if wait is not None:
                counts.update(
                    answered_timed=1,
                    answered_within=int(wait <= rules.threshold_ms),
                    answered_wait_sum=wait,
                    answered_wait_max=wait,
                )
        else:
            counts = {"abandoned": 1}
            if wait is not None:
                counts.update(
                    abandoned_timed=1,
                    short_abandoned=int(wait < rules.short_ms),
                    abandoned_within=int(wait <= rules.threshold_ms),
                    abandoned_wait_sum=wait,
                    abandoned_wait_max=wait,
                )
        at = entry if arrival and entry is not None else outcome.ts_ms
        parts.append((at, counts))
    if done:
        counts = {
            "completed": 1,
            "talk_sum": done.talk_ms,
            "talk_max": done.talk_ms,
            "hold_sum": done.hold_ms,
            "hold_max": done.hold_ms,
            "wrap_sum": done.wrap_ms,
            "wrap_max": done.wrap_ms,
        }
        if done.resolved is not None:
            counts.update(resolution_reported=1, resolved=int(done.resolved))
        parts.append((entry if arrival and entry is not None else done.ts_ms, counts))
    return parts


#: channel -> interval start -> counts; channel "all" included.
Expected = dict[str, dict[int, Count]]


def expected_intervals(q: QueueSpec, visits: list[list[ContactEvent]], arrival: bool) -> Expected:
    out: Expected = defaultdict(dict)
    for events in visits:
        channel = events[0].channel
        rules = q.chat_rules if channel == "chat" and q.chat_rules else q.rules
        for at, counts in visit_parts(events, rules, arrival):
            start = interval_start(q, at)
            for ch in (channel, "all"):
                fold(out[ch].setdefault(start, {}), counts)
    return out


def distinct_visits(events: list[ContactEvent], q: QueueSpec) -> list[list[ContactEvent]]:
    unique = {e.event_id: e for e in events if (e.tenant, e.queue) == (q.tenant, q.queue)}
    visits: dict[str, list[ContactEvent]] = defaultdict(list)
    for e in unique.values():
        visits[e.contact_id].append(e)
    return list(visits.values())


def expected_figures(c: Count, rules: Rules) -> dict[str, Any]:
    """The figures the snapshot must show for counts `c` (from docs/kpi-definitions.md)."""

    def get(name: str) -> int:
        return c.get(name, 0)

    dequeued = sum(get(f"dequeued_{r}") for r in DEQUEUE_REASONS)
    # Answered contacts with an unknown wait are left out of the service level, as of ASA.
    met, base = get("answered_within"), get("answered_timed")
    if rules.formula == "answered_and_abandoned":
        base += get("abandoned")
    elif rules.formula == "exclude_short_abandons":
        base += get("abandoned") - get("short_abandoned")
    elif rules.formula == "exclude_abandons_within_threshold":
        base += get("abandoned") - get("abandoned_within")
    elif rules.formula == "abandons_within_threshold_met":
        met += get("abandoned_within")
        base += get("abandoned")
    if rules.counts_dequeued:
        base += dequeued
    figures: dict[str, Any] = {
        "offered": get("offered"),
        **{f"blocked_{r}": get(f"blocked_{r}") for r in BLOCK_REASONS},
        **{f"dequeued_{r}": get(f"dequeued_{r}") for r in DEQUEUE_REASONS},
        "dequeued": dequeued,
        "answered": get("answered"),
        "answered_within_threshold": get("answered_within"),
        "abandoned": get("abandoned"),
        "short_abandoned": get("short_abandoned"),
        "abandoned_within_threshold": get("abandoned_within"),
        "completed": get("completed"),
        "answered_wait_seconds_sum": get("answered_wait_sum") / 1000,
        "longest_answered_wait_seconds": get("answered_wait_max") / 1000,
        "abandoned_wait_seconds_sum": get("abandoned_wait_sum") / 1000,
        "longest_abandoned_wait_seconds": get("abandoned_wait_max") / 1000,
        "talk_seconds_sum": get("talk_sum") / 1000,
        "hold_seconds_sum": get("hold_sum") / 1000,
        "wrap_seconds_sum": get("wrap_sum") / 1000,
        "longest_talk_seconds": get("talk_max") / 1000,
        "longest_hold_seconds": get("hold_max") / 1000,
        "longest_wrap_seconds": get("wrap_max") / 1000,
        "service_level": met / base if base else None,
        "service_level_threshold_seconds": rules.threshold_ms / 1000,
        "asa_seconds": (
            get("answered_wait_sum") / get("answered_timed") / 1000
            if get("answered_timed")
            else None
        ),
        "first_contact_resolution_rate": (
            get("resolved") / get("resolution_reported") if get("resolution_reported") else None
        ),
    }
    return figures


def assert_same_figures(actual: dict[str, Any], counts: Count, rules: Rules, where: str) -> None:
    for name, value in expected_figures(counts, rules).items():
        got = actual[name]
        if value is None or isinstance(value, int):
            assert got == value, f"{where}: {name} is {got!r}, expected {value!r}"
        else:
            assert got == pytest.approx(value, rel=1e-12, abs=1e-9), f"{where}: {name}"


def check_snapshot(engine: Engine, q: QueueSpec, expected: Expected, now: int) -> None:
    snap = queue_snapshot(engine.queue(q.tenant, q.queue), now, (15, 60), 30 * DAY)
    zone = ZoneInfo(q.zone)
    today = day_start(zone, now)
    wanted = {
        ch: {start: c for start, c in per.items() if start <= now} for ch, per in expected.items()
    }
    wanted = {ch: per for ch, per in wanted.items() if per or ch == "all"}
    assert set(snap["channels"]) == set(wanted) | {"all"}
    for channel, view in snap["channels"].items():
        rules = q.chat_rules if channel == "chat" and q.chat_rules else q.rules
        per = wanted.get(channel, {})
        got: dict[int, dict[str, Any]] = {}
        for item in view["intervals"]:
            parsed = datetime.fromisoformat(item["start"])
            start = round(parsed.timestamp() * 1000)
            assert parsed.utcoffset() == datetime.fromtimestamp(start / 1000, zone).utcoffset()
            assert interval_start(q, start) == start, item["start"]
            got[start] = item["figures"]
        assert sorted(got) == sorted(per), f"{q.queue} {channel}: interval starts differ"
        for start, counts in per.items():
            where = f"{q.tenant}/{q.queue} {channel} {datetime.fromtimestamp(start / 1000, zone)}"
            assert_same_figures(got[start], counts, rules, where)
        today_counts: Count = {}
        for start, counts in per.items():
            if start >= today:
                fold(today_counts, counts)
        assert round(datetime.fromisoformat(view["today"]["start"]).timestamp() * 1000) == today
        assert_same_figures(view["today"]["figures"], today_counts, rules, f"{channel} today")


def written(engine: Engine, i: int, gc_every: int | None) -> None:
    """As the worker after a batch: the changes go to the state table (only then can their
    contacts be frozen); with `gc_every`, the garbage collection runs after the first event
    and every `gc_every` events from there: contacts and buckets past their horizons are
    dropped, idle contacts frozen. The writes freeze the contacts whose visit is over."""
    drain_writes(engine, 0, [], {}, set())
    if gc_every and i % gc_every == 0:
        engine.collect_garbage()


def freezing_soon(engine: Engine, idle_minutes: int) -> None:
    """Contacts idle for `idle_minutes` frozen, looked for after every other new contact:
    many more are thawed again than with the shipped half hour and 4,096."""
    engine.idle_contact_ms = idle_minutes * MIN
    engine.freeze_every = engine.freeze_at = 2


def feed(
    engine: Engine, events: list[ContactEvent], replay_from: int | None, gc_every: int | None
) -> None:
    """Apply the events (with positions, then replayed from `replay_from`, if given), each
    `written` after."""
    if replay_from is None:
        for i, e in enumerate(events):
            assert engine.apply(e) in (Verdict.APPLIED, Verdict.DUPLICATE)
            written(engine, i, gc_every)
        return
    for pos, e in enumerate(events):
        assert engine.apply(e, pos=pos) in (Verdict.APPLIED, Verdict.DUPLICATE)
        written(engine, pos, gc_every)
    for pos in range(replay_from, len(events)):
        assert engine.apply(events[pos], pos=pos) is Verdict.REPLAYED
        written(engine, pos, gc_every)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    history=histories(),
    attribution=st.sampled_from(["outcome", "arrival"]),
    replay=st.booleans(),
    gc_every=st.none() | st.integers(1, 8),
    idle_minutes=st.sampled_from([0, 1, 5, 30]),
    data=st.data(),
)
def test_intervals_and_today_equal_a_direct_count(
    history: tuple[list[QueueSpec], list[bytes]],
    attribution: str,
    replay: bool,
    gc_every: int | None,
    idle_minutes: int,
    data: Any,
) -> None:
    specs, messages = history
    events = decode_all(messages)
    engine = Engine(build_book(specs, attribution, lateness_seconds=30 * 86_400))
    freezing_soon(engine, idle_minutes)
    replay_from = data.draw(st.integers(0, len(events)), label="replay_from") if replay else None
    feed(engine, events, replay_from, gc_every)
    frozen = sum(len(qs.contacts.cold) for qs in engine.queues.values())
    event(f"contacts frozen at the end: {'some' if frozen else 'none'}")
    assert sum(qs.too_late for qs in engine.queues.values()) == 0
    latest = max(e.ts_ms for e in events)
    earliest_ts = min(e.ts_ms for e in events)
    for q in specs:
        visits = distinct_visits(events, q)
        expected = expected_intervals(q, visits, attribution == "arrival")
        for now in {latest + HOUR, data.draw(st.integers(earliest_ts, latest), label="now")}:
            check_snapshot(engine, q, expected, now)
        # Every delivered copy beyond one winner per role is a duplicate, whatever the order.
        mine = [e for e in events if (e.tenant, e.queue) == (q.tenant, q.queue)]
        roles = sum(len({role_of(e) for e in visit}) for visit in visits)
        check_running_totals(engine, q, expected, len(mine) - roles)


def role_of(e: ContactEvent) -> str:
    return "outcome" if e.type in OUTCOMES else e.type


#: Running-total field of the engine's tally for each count of the second computation.
TOTAL_FIELDS = {
    "answered_within": "answered_within_threshold",
    "abandoned_within": "abandoned_within_threshold",
    **{
        f"{w}_wait_{a}": f"{w}_wait_ms_{a}"
        for w in ("answered", "abandoned")
        for a in ("sum", "max")
    },
    **{f"{d}_{a}": f"{d}_ms_{a}" for d in ("talk", "hold", "wrap") for a in ("sum", "max")},
}


def check_running_totals(engine: Engine, q: QueueSpec, expected: Expected, dups: int) -> None:
    """The per-channel totals since the queue was first seen (exported to Prometheus) hold the
    counts of all intervals together. (The engine's field index is used to read them only.)"""
    qs = engine.queue(q.tenant, q.queue)
    totals = {ch: b.tally for (gran, ch, _), b in qs.buckets.items() if gran == "t"}
    for channel, per in expected.items():
        if channel == "all":
            continue
        want: Count = {}
        for counts in per.values():
            fold(want, counts)
        for name in (*SUMS, *MAXES):
            got = totals[channel][ENGINE_FIELD_INDEX[TOTAL_FIELDS.get(name, name)]]
            assert got == want.get(name, 0), f"{q.queue} {channel} total {name}"
    assert qs.duplicates == dups


# -- lateness --------------------------------------------------------------------------------


def expected_with_lateness(
    q: QueueSpec, arrivals: list[ContactEvent], lateness_ms: int, max_wait_ms: int, arrival: bool
) -> tuple[Expected, int, int]:
    """Replay the arrival order by the documented lateness rules: an event more than the
    lateness behind the watermark is too late; a visit whose newest event is more than the
    lateness behind (and that is not a contact still waiting within max_wait) is forgotten and
    a later event of the contact starts a new visit; an event whose role the visit already
    holds is a duplicate, and the earlier of the two is kept. Returns counts, too_late and
    duplicates."""
    watermark = 0
    too_late = duplicates = 0
    current: dict[str, list[ContactEvent]] = {}
    finished: list[list[ContactEvent]] = []

    role = role_of
    for e in arrivals:
        if watermark - e.ts_ms > lateness_ms:
            too_late += 1
            continue
        visit = current.get(e.contact_id)
        if visit is not None:
            age = watermark - max(x.ts_ms for x in visit)
            roles = {role(x) for x in visit}
            waiting = "contact.offered" in roles and not roles & {"contact.blocked", "outcome"}
            if age > lateness_ms and (not waiting or age > max_wait_ms):
                finished.append(visit)
                visit = None
        if visit is None:
            visit = current[e.contact_id] = []
        held = [x for x in visit if role(x) == role(e)]
        if held:  # one of two events of a role is a duplicate, whichever came first
            duplicates += 1
        if not held or (e.ts_ms, e.event_id) < (held[0].ts_ms, held[0].event_id):
            visit[:] = [x for x in visit if role(x) != role(e)] + [e]
        watermark = max(watermark, e.ts_ms)
    return (
        expected_intervals(q, [*finished, *current.values()], arrival),
        too_late,
        duplicates,
    )


@st.composite
def late_arrivals(draw: st.DrawFn) -> tuple[QueueSpec, list[ContactEvent]]:
    """One queue's events in a delivery order where each event is delayed by up to 40 min."""
    zone, origin = draw(st.sampled_from(ZONES))
    q = QueueSpec("acme", "support", zone, ms_of(origin), 15, draw(rules_st), None)
    docs: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 14))):
        docs.extend(draw(contact_events(q, f"c{i}", 3 * HOUR)))
    docs.extend(draw(st.lists(st.sampled_from(docs), max_size=len(docs) // 3 + 1)))
    events: list[ContactEvent] = decode_all([orjson.dumps(docs)])
    delays = draw(st.lists(st.integers(0, 40 * MIN), min_size=len(events), max_size=len(events)))
    return q, arrival_order(events, lambda e: e.ts_ms, delays)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=late_arrivals(),
    lateness_minutes=st.sampled_from([1, 5, 15, 30]),
    max_wait_is_lateness=st.booleans(),
    attribution=st.sampled_from(["outcome", "arrival"]),
    gc_every=st.none() | st.integers(1, 8),
    idle_minutes=st.sampled_from([0, 1, 5, 30]),
)
def test_lateness_rules(
    case: tuple[QueueSpec, list[ContactEvent]],
    lateness_minutes: int,
    max_wait_is_lateness: bool,
    attribution: str,
    gc_every: int | None,
    idle_minutes: int,
) -> None:
    q, arrivals = case
    lateness = lateness_minutes * 60
    max_wait = lateness if max_wait_is_lateness else 10 * 86_400
    engine = Engine(
        build_book([q], attribution, lateness_seconds=lateness, max_wait_seconds=max_wait)
    )
    freezing_soon(engine, idle_minutes)
    verdicts = []
    for i, e in enumerate(arrivals):  # garbage collection (and freezing) changes no figure
        verdicts.append(engine.apply(e))
        written(engine, i, gc_every)
    expected, too_late, duplicates = expected_with_lateness(
        q, arrivals, lateness * 1000, max_wait * 1000, attribution == "arrival"
    )
    qs = engine.queue(q.tenant, q.queue)
    event(f"too late: {'some' if too_late else 'none'}; duplicates: {min(duplicates, 1)}+")
    assert (qs.too_late, qs.duplicates) == (too_late, duplicates)
    assert verdicts.count(Verdict.TOO_LATE) == too_late
    check_snapshot(engine, q, expected, max(e.ts_ms for e in arrivals) + HOUR)


def test_day_start_helper_matches_known_days() -> None:
    """The second computation's own day arithmetic, checked on hand-picked days."""
    cases = [
        ("Europe/Paris", "2026-03-29T12:00:00+02:00", "2026-03-29T00:00:00+01:00"),
        ("Europe/Paris", "2026-10-25T02:30:00+01:00", "2026-10-25T00:00:00+02:00"),
        ("America/Santiago", "2026-09-06T12:00:00-03:00", "2026-09-06T01:00:00-03:00"),
        ("America/Santiago", "2026-04-04T23:30:00-04:00", "2026-04-04T00:00:00-03:00"),
        ("America/St_Johns", "2026-03-08T01:00:00-03:30", "2026-03-08T00:00:00-03:30"),
    ]
    for zone, ts, start in cases:
        assert day_start(ZoneInfo(zone), ms_of(ts)) == ms_of(start), (zone, ts)
    spec = QueueSpec("t", "q", "Australia/Lord_Howe", 0, 60, Rules(1, 1, "answered", False), None)
    assert interval_start(spec, ms_of("2026-10-04T03:10:00+11:00")) == ms_of(
        "2026-10-04T02:30:00+11:00"
    )
