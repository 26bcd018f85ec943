"""Agent figures as specifications: state time split exactly at interval boundaries, open
states counted up to the report instant, per-queue attribution, order independence and
exactly-once replay."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest

from ccpulse.schemas.events import AgentEvent
from ccpulse.streams.kpi import Attribution, PolicyBook, QueuePolicy
from ccpulse.streams.kpi.agents import AgentEngine

DAY = "2026-03-10"


def at(hms: str) -> int:
    return int(datetime.fromisoformat(f"{DAY}T{hms}+00:00").timestamp() * 1000)


def ev(eid: str, etype: str, hms: str, agent: str = "alice", **kw: Any) -> AgentEvent:
    return AgentEvent(eid, f"agent.{etype}", at(hms), "default", agent, **kw)


SHIFT = [
    ev("1", "login", "09:00:00"),
    ev("2", "state", "09:10:00", state="paused", reason="lunch"),
    ev("3", "state", "09:20:00", state="on_contact", queue="sales"),
    ev("4", "state", "09:25:00", state="wrap_up"),
    ev("5", "state", "09:27:00", state="available"),
    ev("6", "ring_no_answer", "09:40:00", queue="sales"),
    ev("7", "logout", "09:50:00"),
]


def run(events: list[AgentEvent], positions: bool = False) -> AgentEngine:
    engine = AgentEngine(PolicyBook())
    for i, e in enumerate(events):
        engine.apply(e, i if positions else None)
    return engine


def test_a_shift_in_seconds_per_state() -> None:
    snap = run(SHIFT).snapshot("default", at("10:00:00"))
    today = snap["agents"]["alice"]["today"]
    assert today["logged_in_seconds"] == 3000  # 09:00-09:50
    assert today["available_seconds"] == 600 + 1380  # 09:00-09:10, 09:27-09:50
    assert today["paused_seconds"] == 600
    assert today["paused_seconds_by_reason"] == {"lunch": 600}
    assert (today["on_contact_seconds"], today["wrap_up_seconds"]) == (300, 120)
    assert (today["handled"], today["ring_no_answer"]) == (1, 1)
    assert today["aht_seconds"] == 420
    assert today["occupancy"] == pytest.approx(420 / (3000 - 600))
    assert today["utilisation"] == pytest.approx(420 / 3000)
    assert snap["agents"]["alice"]["live"] is None  # logged out


def test_states_are_split_exactly_at_interval_boundaries() -> None:
    snap = run(SHIFT).snapshot("default", at("10:00:00"))
    second = next(i for i in snap["all"]["intervals"] if i["start"].endswith("09:15:00+00:00"))
    figs = second["figures"]
    # 09:15-09:30: paused 09:15-09:20, on contact -09:25, wrap -09:27, available -09:30.
    assert figs["logged_in_seconds"] == 900
    assert (figs["paused_seconds"], figs["on_contact_seconds"]) == (300, 300)
    assert (figs["wrap_up_seconds"], figs["available_seconds"]) == (120, 180)


def test_an_agent_still_logged_in_counts_up_to_the_report_instant() -> None:
    engine = run(SHIFT[:2])
    snap = engine.snapshot("default", at("09:20:00"))
    today = snap["agents"]["alice"]["today"]
    assert (today["logged_in_seconds"], today["paused_seconds"]) == (1200, 600)
    live = snap["agents"]["alice"]["live"]
    assert live["state"] == "paused" and live["reason"] == "lunch"
    assert live["time_in_state_seconds"] == 600
    assert snap["all"]["live"] == {"logged_in": 1, "by_state": {"paused": 1}, "available": 0}
    # Later instant: the same state keeps counting.
    later = engine.snapshot("default", at("09:30:00"))["agents"]["alice"]["today"]
    assert later["paused_seconds"] == 1200


def test_handling_time_belongs_to_the_contact_queue() -> None:
    events = [
        ev("1", "login", "09:00:00", queue="sales"),
        ev("2", "login", "09:00:00", queue="support"),
        ev("3", "state", "09:05:00", state="on_contact", queue="sales"),
        ev("4", "state", "09:10:00", state="available"),
    ]
    snap = run(events).snapshot("default", at("09:15:00"))
    sales, support = snap["queues"]["sales"]["today"], snap["queues"]["support"]["today"]
    assert (sales["logged_in_seconds"], sales["on_contact_seconds"], sales["handled"]) == (
        900,
        300,
        1,
    )
    assert (support["logged_in_seconds"], support["on_contact_seconds"]) == (900, 0)
    assert support["available_seconds"] == 600 and support["handled"] == 0
    assert snap["all"]["today"]["logged_in_seconds"] == 900  # once, not once per queue
    assert snap["queues"]["sales"]["live"]["available"] == 1


def test_state_without_login_means_logged_in_before_the_log_started() -> None:
    snap = run([ev("1", "state", "09:00:00", state="on_contact", queue="sales"),
                ev("2", "state", "09:04:00", state="available")]).snapshot(
        "default", at("09:05:00"))  # fmt: skip
    assert snap["agents"]["alice"]["today"]["logged_in_seconds"] == 300


def test_order_and_duplicates_do_not_matter() -> None:
    expected = run(SHIFT).snapshot("default", at("10:00:00"))
    rng = random.Random(4)
    for _ in range(20):
        shuffled = SHIFT + rng.sample(SHIFT, 3)
        rng.shuffle(shuffled)
        snap = run(shuffled).snapshot("default", at("10:00:00"))
        assert snap["pipeline"]["duplicates"] == 3
        snap["pipeline"] = expected["pipeline"]
        assert snap == expected


def test_beyond_lateness_an_event_is_counted_too_late() -> None:
    engine = AgentEngine(PolicyBook())
    engine.apply(ev("1", "login", "23:00:00"))
    engine.apply(
        AgentEvent("2", "agent.logout", at("23:00:00") - 25 * 3_600_000, "default", "alice")
    )
    assert engine.snapshot("default", at("23:30:00"))["pipeline"]["too_late"] == 1


@pytest.mark.parametrize("seed", range(8))
def test_replay_after_crash_at_any_point_gives_the_clean_figures(seed: int) -> None:
    rng = random.Random(seed)
    agents = ["a", "b", "c"]
    events: list[AgentEvent] = []
    for n in range(120):
        kind = rng.choice(["login", "logout", "state", "state", "state", "ring_no_answer"])
        hms = f"{9 + n // 60:02d}:{n % 60:02d}:{rng.randrange(60):02d}"
        extra: dict[str, Any] = {}
        if kind == "state":
            extra["state"] = rng.choice(["available", "on_contact", "wrap_up", "paused"])
            extra["reason"] = "break" if extra["state"] == "paused" else None
        if kind != "state" or extra["state"] == "on_contact":
            extra["queue"] = rng.choice(["sales", "support", None])
        events.append(ev(f"e{n}", kind, hms, agent=rng.choice(agents), **extra))
    events += rng.sample(events, 10)
    clean = run(events, positions=True)
    now = at("12:00:00")
    # Crashes: writes flushed every 5 events; a random prefix of the last flush survives;
    # the consumer restarts from a committed position at most one flush back.
    changelog: dict[tuple[str, ...], list[Any] | None] = {}
    engine = AgentEngine(PolicyBook())
    pos = 0
    while pos < len(events):
        stop = min(len(events), pos + rng.randrange(5, 40))
        survives = stop == len(events) and rng.random() < 0.3  # else it dies at `stop`
        committed = pos
        while pos < stop:
            engine.apply(events[pos], pos)
            pos += 1
            if pos % 5 == 0:
                writes = engine.drain_writes()
                if pos < stop or survives:
                    changelog.update(writes)
                    committed = pos
                else:
                    changelog.update(writes[: rng.randrange(len(writes) + 1)])
        if survives:
            changelog.update(engine.drain_writes())
            break
        engine = AgentEngine(PolicyBook())
        for key, record in changelog.items():
            if record is not None:
                engine.restore(key, record)
        engine.finish_restore()
        pos = committed
    restored = AgentEngine(PolicyBook())
    for key, record in changelog.items():
        if record is not None:
            restored.restore(key, record)
    restored.finish_restore()
    assert engine.snapshot("default", now) == clean.snapshot("default", now)
    assert restored.snapshot("default", now) == clean.snapshot("default", now)


def _intervals(engine: AgentEngine, scope: str, now: str) -> dict[str, tuple[int, float]]:
    snap = engine.snapshot("default", at(now))
    view = snap["all"] if scope == "all" else snap["queues"][scope]
    return {i["start"][11:16]: (i["figures"]["handled"], i["figures"]["on_contact_seconds"])
            for i in view["intervals"]}  # fmt: skip


def test_handled_counts_at_the_contact_entry_when_the_queue_attributes_by_arrival() -> None:
    # alice takes a sales call at 10:00:15 that waited 25 s: it entered the queue at 09:59:50.
    # She talks until 10:03:15 (180 s, in the 10:00 interval whatever the attribution).
    events = [
        ev("1", "login", "09:00:00", queue="sales"),
        ev("2", "state", "10:00:15", state="on_contact", queue="sales", wait_ms=25_000),
        ev("3", "state", "10:03:15", state="available"),
    ]
    for attribution, handled_at in ((Attribution.OUTCOME, "10:00"), (Attribution.ARRIVAL, "09:45")):
        book = PolicyBook(default=QueuePolicy(attribution=attribution))
        engine = AgentEngine(book)
        for e in events:
            engine.apply(e)
        for scope in ("all", "sales"):
            rows = _intervals(engine, scope, "10:30:00")  # 15-minute intervals
            assert {t: h for t, (h, _) in rows.items() if h} == {handled_at: 1}, attribution
            assert rows["10:00"][1] == 180


def test_a_state_after_a_logout_changes_nothing() -> None:
    # Logged in 09:00-09:30; Wazo logs an unpause right after the logoff, then a pause and a
    # call of the logged-out agent: none of them logs alice back in, nor counts as handled.
    engine = run([
        ev("1", "login", "09:00:00"),
        ev("2", "logout", "09:30:00"),
        ev("3", "state", "09:30:00", state="available"),
        ev("4", "state", "09:40:00", state="paused", reason="Break"),
        ev("5", "state", "09:45:00", state="on_contact", queue="sales"),
    ])  # fmt: skip
    today = engine.snapshot("default", at("10:00:00"))["agents"]["alice"]["today"]
    assert (today["logged_in_seconds"], today["handled"]) == (1800, 0)
    # A first event that is a state is still an implicit login.
    first = run([ev("1", "state", "09:40:00", state="paused")])
    assert first.snapshot("default", at("10:00:00"))["agents"]["alice"]["today"][
        "logged_in_seconds"] == 1200  # fmt: skip


def test_a_segment_counts_in_a_bucket_read_back_over_a_held_one() -> None:
    """A state's scopes hold the buckets they last counted in (`Scopes`). A record read back
    over one of them replaces it, and the next segment of that state counts in the bucket read
    back, not in the one it replaced."""
    engine = run([
        ev("1", "login", "09:00:00"),
        ev("2", "state", "09:02:00", state="paused", reason="lunch"),
        ev("3", "state", "09:04:00", state="available"),
    ])  # fmt: skip
    t = engine.data["default"]
    key = ("agent", "alice", at("09:00:00"))
    bucket = t.buckets[key]
    engine.restore(("default", "b", *key[:2], str(key[2])), [bucket[0], bucket[1].as_dict()])
    engine.apply(ev("4", "state", "09:06:00", state="paused", reason="lunch"))
    assert t.buckets[key][1].get("available_ms") == 240_000  # 09:00-09:02 and 09:04-09:06
