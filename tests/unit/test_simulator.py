"""The contact-centre simulator: reproducible, contract-valid, consistent and statistically sane."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.sources.simulator import (
    DAILY_CURVE,
    SimConfig,
    SimQueue,
    batched,
    daily_curve,
    default_queues,
)
from ccpulse.streams.kpi import Engine, queue_snapshot
from tests.helpers import sim
from tests.helpers.sim import HOUR_MS, START_MS, Ev, any_queue, check_stream, decode_all, queue

OUTCOMES = ("contact.answered", "contact.abandoned", "contact.dequeued")
COMPLETE = {
    ("contact.blocked",),
    ("contact.offered", "contact.abandoned"),
    ("contact.offered", "contact.dequeued"),
    ("contact.offered", "contact.answered", "contact.completed"),
}
UNFINISHED = {("contact.offered",), ("contact.offered", "contact.answered")}


def run(
    queues: list[SimQueue],
    hours: float,
    seed: int = 7,
    start_ms: int = START_MS,
    daily_curve: bool = False,
    drain: bool = True,
) -> list[Ev]:
    """Contact events only: the agent, ticket and survey families are off (they have their own
    tests in test_simulator_families.py)."""
    return sim.run(queues, hours, seed, start_ms, daily_curve=daily_curve, drain=drain,
                   agents=False, tickets=False, surveys=False)  # fmt: skip


def by_contact(events: list[Ev]) -> dict[str, list[Ev]]:
    contacts: dict[str, list[Ev]] = defaultdict(list)
    for e in events:
        contacts[e["contact_id"]].append(e)
    return contacts


def check_consistency(events: list[Ev], queues: list[SimQueue], finished: bool = True) -> None:
    """Every invariant a run must keep, whatever its configuration."""
    staff = {(q.tenant, q.name): q.agents for q in queues}
    check_stream(events)
    served: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    starts: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for cid, seq in by_contact(events).items():
        types = tuple(e["type"] for e in seq)
        assert types in COMPLETE or (not finished and types in UNFINISHED), (cid, types)
        assert len({(e["tenant"], e["queue"], e["channel"]) for e in seq}) == 1
        first = seq[0]
        qkey = (first["tenant"], first["queue"])
        if len(seq) < 2:
            continue
        offered, outcome = seq[0], seq[1]
        assert outcome["ts"] >= offered["ts"]
        assert abs(outcome["wait_seconds"] * 1000 - (outcome["ts"] - offered["ts"])) <= 1
        if outcome["type"] != "contact.answered":
            continue
        agent = outcome["agent_id"]
        match = re.fullmatch(rf"agent-{re.escape(first['queue'])}-(\d+)", agent)
        assert match and 1 <= int(match.group(1)) <= staff[qkey], agent
        starts[qkey].append((offered["ts"], outcome["ts"]))
        if len(seq) < 3:
            continue
        done = seq[2]
        assert done["agent_id"] == agent
        assert isinstance(done["resolved"], bool)
        handle_ms = (done["talk_seconds"] + done["hold_seconds"] + done["wrap_seconds"]) * 1000
        assert abs(done["ts"] - outcome["ts"] - handle_ms) <= 1
        served[(*qkey, agent)].append((outcome["ts"], done["ts"]))
    for spans in served.values():  # an agent handles one contact at a time (wrap included)
        spans.sort()
        assert all(a[1] <= b[0] for a, b in pairwise(spans))
    for pairs in starts.values():  # FIFO: answered in order of arrival
        pairs.sort()
        answers = [answered for _, answered in pairs]
        assert answers == sorted(answers)


# -- reproducibility and the contract --------------------------------------------------------


def test_same_seed_same_events_and_other_seed_other_events() -> None:
    first = run(default_queues(), hours=6, seed=11, start_ms=START_MS + 8 * HOUR_MS)
    again = run(default_queues(), hours=6, seed=11, start_ms=START_MS + 8 * HOUR_MS)
    other = run(default_queues(), hours=6, seed=12, start_ms=START_MS + 8 * HOUR_MS)
    assert len(first) > 1000
    assert first == again
    assert first != other
    assert {e["event_id"] for e in first}.isdisjoint(e["event_id"] for e in other)


def test_a_queue_keeps_its_traffic_when_other_queues_change() -> None:
    alone = run([queue("a")], hours=4, seed=3)
    together = run([queue("b", arrivals_per_hour=500), queue("a")], hours=4, seed=3)
    strip = [{k: v for k, v in e.items() if k not in ("event_id", "contact_id")} for e in alone]
    assert strip == [
        {k: v for k, v in e.items() if k not in ("event_id", "contact_id")}
        for e in together
        if e["queue"] == "a"
    ]


def mixed_queues() -> list[SimQueue]:
    """The demo set plus queues that block 'full' and time out often."""
    return [
        *default_queues(),
        queue("tight", tenant="t2", agents=2, arrivals_per_hour=90, capacity=3),
        queue("timeouts", tenant="t2", agents=1, max_wait_seconds=60, channel="sms"),
    ]


def test_every_event_passes_the_decoder() -> None:
    events = run(mixed_queues(), hours=48, daily_curve=True)
    decoded = decode_all(events)
    assert len(decoded) == len(events)
    assert {e.type for e in decoded} == {
        "contact.offered", "contact.blocked", "contact.answered", "contact.abandoned",
        "contact.dequeued", "contact.completed",
    }  # fmt: skip
    for raw, ev in zip(
        sorted(events, key=lambda e: e["event_id"]),
        sorted(decoded, key=lambda e: e.event_id),
        strict=True,
    ):
        assert ev.ts_ms == raw["ts"]
        if "wait_seconds" in raw:
            assert ev.wait_ms == round(raw["wait_seconds"] * 1000)


def test_contact_sequences_are_consistent() -> None:
    queues = mixed_queues()
    events = run(queues, hours=36, daily_curve=True)
    check_consistency(events, queues)
    reasons = Counter(e.get("reason") for e in events)
    assert reasons["full"] > 0 and reasons["timeout"] > 0 and reasons["closed"] > 0
    assert Counter(e["type"] for e in events)["contact.abandoned"] > 0


# -- statistics --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_arrival_count_is_poisson(seed: int) -> None:
    rate, hours = 600.0, 24
    events = run([queue(arrivals_per_hour=rate, agents=60)], hours=hours, seed=seed)
    arrivals = sum(e["type"] in ("contact.offered", "contact.blocked") for e in events)
    mean = rate * hours
    assert abs(arrivals - mean) < 4 * math.sqrt(mean)


def test_daily_curve_follows_local_time() -> None:
    zone = "Asia/Kolkata"  # UTC+05:30, so local hours are not UTC hours
    rate, days = 400.0, 7
    events = run([queue(arrivals_per_hour=rate, agents=60, time_zone=zone)], hours=24 * days,
                 daily_curve=True)  # fmt: skip
    hours = Counter(
        datetime.fromtimestamp(e["ts"] / 1000, ZoneInfo(zone)).hour
        for e in events
        if e["type"] == "contact.offered"
    )
    expected = rate * days * sum(DAILY_CURVE)  # the mean of the linear pieces is the table mean
    assert abs(hours.total() - expected) < 4 * math.sqrt(expected)
    assert hours.most_common(1)[0][0] in (9, 10, 13, 14)
    assert hours[10] > 15 * hours[3]
    assert hours[12] < hours[10] and hours[12] < hours[14]  # lunch dip
    assert daily_curve(10) == 1.0 and daily_curve(2.5) == pytest.approx(0.02)


def kpis(events: list[Ev], threshold_s: float = 20.0) -> tuple[float, float]:
    """Abandonment rate and service level (answered within threshold over answered+abandoned)."""
    types = Counter(e["type"] for e in events)
    within = sum(e["type"] == "contact.answered" and e["wait_seconds"] <= threshold_s
                 for e in events)  # fmt: skip
    handled = types["contact.answered"] + types["contact.abandoned"]
    return types["contact.abandoned"] / types["contact.offered"], within / handled


def test_overstaffed_queue_answers_nearly_everyone_fast() -> None:
    abandon_rate, sl = kpis(run([queue(agents=20)], hours=48))  # 5 Erlangs on 20 agents
    assert abandon_rate < 0.01
    assert sl > 0.97


def test_understaffed_queue_loses_many_callers() -> None:
    abandon_rate, sl = kpis(run([queue(agents=3, mean_patience_seconds=60)], hours=48))
    assert abandon_rate > 0.3
    assert sl < 0.5


def test_capacity_blocks_full_and_is_never_exceeded() -> None:
    capacity = 3
    q = queue(agents=2, arrivals_per_hour=120, mean_patience_seconds=600, capacity=capacity)
    events = run([q], hours=24)
    check_consistency(events, [q])
    waiting: set[str] = set()
    full = 0
    for e in events:
        if e["type"] == "contact.offered":
            waiting.add(e["contact_id"])
            assert len(waiting) <= capacity
        elif e["type"] in OUTCOMES:
            waiting.discard(e["contact_id"])
        elif e["type"] == "contact.blocked":
            assert e["reason"] == "full"
            assert len(waiting) == capacity
            full += 1
    assert full > 50


def test_zero_capacity_is_a_loss_system() -> None:
    events = run([queue(agents=4, arrivals_per_hour=60, capacity=0)], hours=24)
    answered = [e for e in events if e["type"] == "contact.answered"]
    assert answered and all(e["wait_seconds"] == 0 for e in answered)
    assert Counter(e.get("reason") for e in events)["full"] > 0


def test_no_agents_blocks_everyone() -> None:
    events = run([queue(agents=0)], hours=5)
    assert events and all(e["type"] == "contact.blocked" for e in events)
    assert {e["reason"] for e in events} == {"no_agents"}


def test_closed_outside_open_hours_in_local_time() -> None:
    zone = ZoneInfo("America/New_York")
    events = run([queue(open_hours=(9, 17), time_zone="America/New_York")], hours=72)
    for e in events:
        hour = datetime.fromtimestamp(e["ts"] / 1000, zone).hour
        if e["type"] == "contact.offered":
            assert 9 <= hour < 17
        elif e["type"] == "contact.blocked":
            assert e["reason"] == "closed"
            assert not 9 <= hour < 17
    assert Counter(e["type"] for e in events)["contact.blocked"] > 0


def test_overnight_open_hours_wrap_midnight() -> None:
    events = run([queue(open_hours=(22, 6))], hours=48)
    for e in events:
        hour = datetime.fromtimestamp(e["ts"] / 1000, UTC).hour
        if e["type"] == "contact.offered":
            assert hour >= 22 or hour < 6


def test_max_wait_dequeues_timeouts_at_the_limit() -> None:
    q = queue(agents=1, mean_handle_seconds=600, mean_patience_seconds=math.inf,
              max_wait_seconds=120)  # fmt: skip
    events = run([q], hours=24)
    check_consistency(events, [q])
    types = Counter(e["type"] for e in events)
    assert types["contact.abandoned"] == 0
    timeouts = [e for e in events if e["type"] == "contact.dequeued"]
    assert len(timeouts) > 100
    assert all(e["reason"] == "timeout" and e["wait_seconds"] == 120.0 for e in timeouts)


def test_drain_finishes_contacts_and_no_drain_stops_at_the_end() -> None:
    q = queue(agents=3)
    end_ms = START_MS + 6 * HOUR_MS
    drained = run([q], hours=6)
    cut = run([q], hours=6, drain=False)
    assert max(e["ts"] for e in drained) > end_ms
    assert all(
        e["ts"] < end_ms for e in drained if e["type"] in ("contact.offered", "contact.blocked")
    )
    assert cut == [e for e in drained if e["ts"] < end_ms]
    check_consistency(cut, [q], finished=False)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        queue(channel="fax")
    with pytest.raises(ValueError):
        queue("bad/name")
    with pytest.raises(ValueError):
        queue(open_hours=(9, 9))
    with pytest.raises(ValueError):
        queue(time_zone="Mars/Olympus")
    with pytest.raises(ValueError):
        SimConfig([queue(), queue()], 1, START_MS, 60)
    with pytest.raises(ValueError):
        SimConfig([queue()], 1, 1_700_000_000, 60)  # epoch seconds


@settings(max_examples=40, deadline=None)
@given(
    q=any_queue("p", max_wait=True, tenant="x", channel="chat", time_zone="Europe/Paris"),
    seed=st.integers(0, 2**32),
    curve=st.booleans(),
    drain=st.booleans(),
)
def test_any_configuration_keeps_the_invariants(
    q: SimQueue, seed: int, curve: bool, drain: bool
) -> None:
    events = run([q, queue("other")], hours=3, seed=seed, daily_curve=curve, drain=drain)
    check_consistency(events, [q, queue("other")], finished=drain)
    assert len(decode_all(events)) == len(events)


# -- batching ----------------------------------------------------------------------------------


def test_batched_keeps_per_queue_order_and_size() -> None:
    events = run(default_queues(), hours=10, daily_curve=True, start_ms=START_MS + 8 * HOUR_MS)
    size = 7
    batches = list(batched(events, size))
    assert sum(len(b) for _, b in batches) == len(events)
    per_queue: dict[str, list[Ev]] = defaultdict(list)
    for key, batch in batches:
        assert 1 <= len(batch) <= size
        assert {f"{e['tenant']}/{e['queue']}" for e in batch} == {key}
        per_queue[key].extend(batch)
    for key, got in per_queue.items():
        assert got == [e for e in events if f"{e['tenant']}/{e['queue']}" == key]
    assert set(per_queue) == {q.key for q in default_queues()}


def test_batched_flushes_quiet_queues_after_max_span() -> None:
    events = [
        {"tenant": "t", "queue": "slow", "ts": 0},
        *({"tenant": "t", "queue": "busy", "ts": i * 1000} for i in range(1, 100)),
    ]
    batches = list(batched(events, 50, max_span_ms=10_000))
    assert batches[0] == ("t/slow", [events[0]])  # flushed once the busy queue passed 10 s
    assert all(b[-1]["ts"] - b[0]["ts"] <= 10_000 for _, b in batches)
    assert [len(b) for k, b in batches if k == "t/busy"] == [11] * 9
    unbounded = list(batched(events, 50))
    assert [(k, len(b)) for k, b in unbounded] == [("t/busy", 50), ("t/slow", 1), ("t/busy", 49)]
    assert list(batched([], 3)) == []
    with pytest.raises(ValueError):
        list(batched(events, 0))


# -- through the KPI engine ---------------------------------------------------------------------


def test_a_simulated_hour_through_the_kpi_engine() -> None:
    events = run(default_queues(), hours=1, daily_curve=True, start_ms=START_MS + 9 * HOUR_MS)
    engine = Engine()
    for ev in decode_all(events):
        engine.apply(ev)
    now_ms = events[-1]["ts"]
    assert now_ms < START_MS + 24 * HOUR_MS  # everything lands on the same UTC day
    tally: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for e in events:
        tally[(e["tenant"], e["queue"])][e["type"].removeprefix("contact.")] += 1
    assert set(engine.queues) == set(tally)
    for key, counts in tally.items():
        snap = queue_snapshot(engine.queues[key], now_ms, (15, 60), 86_400_000)
        today = snap["channels"]["all"]["today"]["figures"]
        for name in ("offered", "answered", "abandoned", "blocked", "dequeued", "completed"):
            assert today[name] == counts[name], (key, name)


@pytest.mark.parametrize(
    ("zone", "day"), [("America/New_York", (2026, 3, 8)), ("Europe/London", (2026, 10, 25))]
)
def test_daylight_saving_changes_keep_local_open_hours(
    zone: str, day: tuple[int, int, int]
) -> None:
    start_ms = int(datetime(*day, tzinfo=UTC).timestamp() * 1000) - 12 * HOUR_MS
    q = queue(open_hours=(1, 3), time_zone=zone, arrivals_per_hour=300, agents=30)
    events = run([q], hours=48, start_ms=start_ms, daily_curve=True)
    check_consistency(events, [q])
    offered_hours = {
        datetime.fromtimestamp(e["ts"] / 1000, ZoneInfo(zone)).hour
        for e in events
        if e["type"] == "contact.offered"
    }
    assert offered_hours == {1, 2}
