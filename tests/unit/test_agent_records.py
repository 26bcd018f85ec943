"""The agent engine's changelog records: one per event, the timeline's own record without its
events, replay after a crash at any point (with garbage collection and late, out-of-order and
re-sent events), and changelogs written before events had records of their own."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from ccpulse.schemas.events import AgentEvent
from ccpulse.streams.kpi import EngineSettings, PolicyBook, agent_records
from ccpulse.streams.kpi.agents import AgentEngine
from ccpulse.streams.kpi.state_writes import record_bytes
from tests.unit.test_agents import at, ev

#: What the engine wrote before events had records of their own (each timeline's record held
#: its events), for `LEGACY_EVENTS` with positions, a drain every third event and a garbage
#: collection after the seventh; lateness 30 minutes.
LEGACY_LOG = Path(__file__).parents[1] / "data" / "agents" / "changelog-before-event-records.json"
LEGACY_EVENTS = [
    ev("1", "login", "09:00:00", queue="sales"),
    ev("b1", "login", "09:05:00", agent="bob"),
    ev("2", "state", "09:10:00", state="paused", reason="lunch"),
    ev("3", "state", "09:20:00", state="on_contact", queue="sales", wait_ms=12_000),
    ev("b2", "state", "09:31:00", agent="bob", state="on_contact", queue="support"),
    ev("4", "state", "09:25:00", state="wrap_up"),
    ev("5", "state", "09:27:00", state="available"),
    ev("3", "state", "09:20:00", state="on_contact", queue="sales", wait_ms=12_000),
    ev("6", "ring_no_answer", "09:40:00", queue="sales", contact_id="c-9", ring_ms=15_000),
    ev("b3", "state", "10:20:00", agent="bob", state="paused"),
    ev("7", "logout", "10:05:00", queue="sales"),
    ev("b0", "state", "09:02:00", agent="bob", state="available"),
]
LATER_EVENTS = [
    ev("8", "login", "10:25:00", queue="support"),
    ev("b4", "state", "10:24:00", agent="bob", state="available"),
    ev("9", "state", "10:31:00", state="on_contact", queue="support"),
    ev("b5", "logout", "10:40:00", agent="bob"),
]
BOOK = PolicyBook(engine=EngineSettings(lateness_seconds=1800))
Changelog = dict[tuple[str, ...], Any]


def _legacy_run(engine: AgentEngine) -> Changelog:
    log: Changelog = {}
    for pos, e in enumerate(LEGACY_EVENTS):
        engine.apply(e, pos)
        if pos == 6:
            engine.collect_garbage()
        if pos % 3 == 2:
            log.update(engine.drain_writes())
    log.update(engine.drain_writes())
    return log


def _restored(log: Changelog, book: PolicyBook = BOOK) -> AgentEngine:
    engine = AgentEngine(book)
    for key, record in log.items():
        if record is not None:
            engine.restore(key, orjson.loads(record_bytes(record)))  # as the worker writes it
    engine.finish_restore()
    return engine


def _snapshots(engine: AgentEngine) -> list[dict[str, Any]]:
    return [engine.snapshot("default", at(t)) for t in ("09:45:00", "10:30:00", "11:00:00")]


def test_events_are_written_once_per_drain_and_a_timeline_record_holds_its_base() -> None:
    applied = AgentEngine(BOOK)
    verdicts = [applied.apply(e, pos) for pos, e in enumerate(LEGACY_EVENTS)]
    engine = AgentEngine(BOOK)
    log = _legacy_run(engine)  # drains after positions 2, 5, 8 and 11
    records = [(k, r) for k, r in log.items() if k[1] == "e"]
    # A record per drain: the tenant's events applied since the previous one, in that order,
    # each with its position, keyed by the first.
    assert [(k[2], k[3]) for k, _ in records] == [("alice", "1"), ("alice", "3"), ("alice", "5"),
                                                  ("bob", "b3")]  # fmt: skip
    written = [(pos, AgentEvent(*r)) for _, batch in records if batch for pos, r in batch]
    assert written == [(p, e) for p, e in enumerate(LEGACY_EVENTS) if verdicts[p] == "applied"]
    # The garbage collection folded alice's login into her base: her timeline has a record
    # (bob's has none: he dropped nothing). The first event record also holds events that are
    # not folded: it is kept.
    assert [k for k in log if k[1] == "a"] == [("default", "a", "alice")]
    base = engine.data["default"].timelines["alice"].base.to_record()
    assert log[("default", "a", "alice")] == [8, at("09:00:00"), base]  # as of the next drain
    assert _snapshots(_restored(log)) == _snapshots(engine)


def test_a_changelog_written_before_events_had_records_is_read_and_rewritten() -> None:
    legacy: Changelog = {tuple(k): r for k, r in orjson.loads(LEGACY_LOG.read_bytes())}
    clean = AgentEngine(BOOK)
    _legacy_run(clean)
    engine = _restored(legacy)
    assert _snapshots(engine) == _snapshots(clean)
    # Restoring writes each such timeline again: its events as records of their own, first.
    migration = engine.drain_writes()
    assert [key[1] for key, _ in migration] == ["e", "a", "a"]
    timelines = [r for k, r in legacy.items() if k[1] == "a"]
    written = orjson.loads(record_bytes(migration[0][1]))  # the record as the worker writes it
    assert written == [[t[0], event] for t in timelines for event in t[3]]
    assert all(len(r) == 3 for _, r in migration[1:])
    # A migration cut short at any point still restores the same figures; a complete one
    # leaves nothing to migrate.
    for cut in range(len(migration) + 1):
        log = {**legacy, **dict(migration[:cut])}
        again = _restored(log)
        assert _snapshots(again) == _snapshots(clean)
        assert (again.drain_writes() == []) is (cut == len(migration))
    # And the engine goes on from there as if it had never stopped.
    assert {engine.apply(e, pos) for pos, e in enumerate(LEGACY_EVENTS)} == {"replayed"}
    for pos, e in enumerate(LATER_EVENTS, start=len(LEGACY_EVENTS)):
        assert engine.apply(e, pos) == clean.apply(e, pos)
    assert _snapshots(engine) == _snapshots(clean)
    engine.collect_garbage()
    log = {**legacy, **dict(migration), **dict(engine.drain_writes())}
    assert _snapshots(_restored(log)) == _snapshots(clean)


def _history(rng: random.Random) -> list[AgentEvent]:
    """Three agents' events in time order, then delivered slightly out of order (some beyond
    the 20-minute lateness), with some sent twice."""
    events: list[AgentEvent] = []
    for n in range(150):
        kind = rng.choice(["login", "logout", "state", "state", "state", "ring_no_answer"])
        hms = f"{9 + n // 40:02d}:{n % 40 + rng.randrange(20):02d}:{rng.randrange(60):02d}"
        extra: dict[str, Any] = {}
        if kind == "state":
            extra["state"] = rng.choice(["available", "on_contact", "wrap_up", "paused"])
            extra["reason"] = "break" if extra["state"] == "paused" else None
        if kind != "state" or extra["state"] == "on_contact":
            extra["queue"] = rng.choice(["sales", "support", None])
        events.append(ev(f"e{n}", kind, hms, agent=rng.choice("abc"), **extra))
    events.sort(key=lambda e: e.ts_ms + rng.randrange(-25, 5) * 60_000)
    for _ in range(12):
        i = rng.randrange(len(events))
        events.insert(min(len(events), i + rng.randrange(1, 30)), events[i])
    return events


def _run_with_crashes(
    engine: AgentEngine,
    events: list[AgentEvent],
    base: int,
    changelog: Changelog,
    rng: random.Random,
    kept: float,
) -> AgentEngine:
    """Apply `events` at positions from `base`, their writes flushed into `changelog` every
    four events, garbage collection now and then. A flush is kept whole with odds `kept`;
    otherwise a crash keeps a random prefix of it, and the input is replayed from the last
    complete flush by an engine restored from the changelog. Returns the last engine."""
    pos = committed = 0
    while pos < len(events):
        engine.apply(events[pos], base + pos)
        pos += 1
        if rng.random() < 0.1:
            engine.collect_garbage()
        if pos % 4 and pos < len(events):
            continue
        writes = engine.drain_writes()
        if pos == len(events) or rng.random() < kept:
            changelog.update(writes)
            committed = pos
            continue
        changelog.update(writes[: rng.randrange(len(writes) + 1)])
        engine = _restored(changelog)
        pos = committed
    return engine


@pytest.mark.parametrize("cap", [3, agent_records.MAX_BATCH_EVENTS])
@pytest.mark.parametrize("seed", range(12))
def test_replay_after_crash_with_garbage_collection_gives_the_clean_figures(
    seed: int, cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_records, "MAX_BATCH_EVENTS", cap)  # events per event record
    rng = random.Random(seed)
    events = _history(rng)
    clean = AgentEngine(BOOK)
    verdicts = [clean.apply(e, pos) for pos, e in enumerate(events)]
    assert {"applied", "too_late", "duplicate"} <= set(verdicts)
    # Writes flushed every few events, garbage collection now and then; a crash keeps a random
    # prefix of the last flush, and the input is replayed from the last complete flush.
    changelog: Changelog = {}
    engine = _run_with_crashes(AgentEngine(BOOK), events, 0, changelog, rng, kept=0.8)
    assert all(len(r) <= cap for k, r in changelog.items() if k[1] == "e" and r is not None)
    now = max(e.ts_ms for e in events) + 60_000
    expected = clean.snapshot("default", now)
    assert engine.snapshot("default", now) == expected
    assert _restored(changelog).snapshot("default", now) == expected


def _timelines(engine: AgentEngine) -> dict[str, Any]:
    return {
        agent: (tl.pos, tl.base_ms, tl.base, [(e.ts_ms, e.event_id) for e in tl.events], tl.current)
        for agent, tl in engine.data["default"].timelines.items()
    }


def test_a_garbage_collection_whose_deletions_were_cut_short() -> None:
    engine = AgentEngine(BOOK)
    log = _legacy_run(engine)
    for pos, e in enumerate(LATER_EVENTS, start=len(LEGACY_EVENTS)):
        engine.apply(e, pos)
    engine.apply(ev("10", "state", "11:30:00", state="available"), 20)
    log.update(engine.drain_writes())
    engine.collect_garbage()  # folds every event before 11:00
    writes = engine.drain_writes()
    deletes = [(key, r) for key, r in writes if key[1] == "e"]
    assert deletes and all(r is None for _, r in deletes) and writes[-len(deletes) :] == deletes
    # Cut after the timelines' records: the events they folded still have records.
    log.update(writes[: -len(deletes)])
    restored = _restored(log)
    assert _timelines(restored) == _timelines(engine)
    assert _snapshots(restored) == _snapshots(engine)
    assert sorted(restored.drain_writes()) == sorted(deletes)  # deleted now


@pytest.mark.parametrize("seed", range(8))
def test_appended_events_add_what_the_diff_of_their_items_adds(seed: int) -> None:
    # An engine that never finds a bucket past an event's position adds an appended event's
    # items straight to its buckets; one that always might (`_bucket_pos` forced up) takes the
    # general path, the diff of the timeline's closed items. Both must hold the same buckets,
    # with the same fields in the same order, and write the same records in the same order,
    # also when garbage collection drops buckets the agents counted in (retention 1 hour).
    rng = random.Random(seed)
    events = _history(rng)
    # Agent d counts in the 09:00 interval, then nothing until an event at 11:30 delivered
    # after 12:10: by then that interval's buckets are gone, and d's segment starts there.
    late = next(i for i, e in enumerate(events) if e.ts_ms >= at("12:10:00")) + 1
    events.insert(late, ev("d3", "state", "11:30:00", agent="d", state="paused"))
    events[:0] = [ev("d1", "login", "09:00:00", agent="d"),
                  ev("d2", "state", "09:05:00", agent="d", state="available")]  # fmt: skip
    book = PolicyBook(engine=EngineSettings(lateness_seconds=7200, interval_retention_hours=1))
    direct, general = AgentEngine(book), AgentEngine(book)
    general._bucket_pos = 1 << 62
    for pos, e in enumerate(events):
        verdict = direct.apply(e, pos)
        assert verdict == general.apply(e, pos) and (verdict == "applied" or e.agent_id != "d")
        if rng.random() < 0.15 or pos == late + 1:
            direct.collect_garbage()
            general.collect_garbage()
        if pos % 7 == 0:
            assert direct.drain_writes() == general.drain_writes()

    def ordered(engine: AgentEngine) -> list[Any]:
        return [(k, b[0], list(b[1].items())) for k, b in engine.data["default"].buckets.items()]

    assert ordered(direct) == ordered(general)
    assert direct.drain_writes() == general.drain_writes()


def _as_written(writes: Any) -> list[tuple[tuple[str, ...], bytes | None]]:
    return [(key, None if record is None else record_bytes(record)) for key, record in writes]


@pytest.mark.parametrize("seed", range(8))
def test_a_restored_engine_writes_what_the_live_one_writes(seed: int) -> None:
    # Restored from its changelog at any point, the engine goes on as the live one does: the
    # same verdicts and, at every drain, the same records byte for byte (a tally's fields in
    # their fixed order, pause reasons after them), in the same order of kinds (buckets, event
    # records, timelines, the tenant's record, then deletions). Within a kind the order may
    # differ (the timelines' records, for one): replay does not depend on it.
    rng = random.Random(seed)
    events = _history(rng)
    book = PolicyBook(engine=EngineSettings(lateness_seconds=1200))
    cut = rng.randrange(20, len(events) - 20)
    live, log = AgentEngine(book), {}
    for pos, e in enumerate(events[:cut]):
        live.apply(e, pos)
        if rng.random() < 0.1:
            live.collect_garbage()
        if rng.random() < 0.3:
            log.update(live.drain_writes())
    log.update(live.drain_writes())
    restored = _restored(log, book)
    assert restored.drain_writes() == []
    compared = 0
    for pos, e in enumerate(events[cut:], cut):
        assert restored.apply(e, pos) == live.apply(e, pos)
        if rng.random() < 0.1:
            live.collect_garbage()
            restored.collect_garbage()
        if rng.random() < 0.3 or pos == len(events) - 1:
            written, rewritten = (
                _as_written(live.drain_writes()),
                _as_written(restored.drain_writes()),
            )
            assert [(k[1], r is None) for k, r in rewritten] == [
                (k[1], r is None) for k, r in written
            ]
            assert sorted(rewritten, key=repr) == sorted(written, key=repr)
            compared += len(written)
    assert compared > 0
