"""Crashes while migrating timeline records that held their events, and ids reused after
garbage collection: no event record is ever replaced by one holding fewer events."""

from __future__ import annotations

import random
from dataclasses import replace

import orjson
import pytest

from ccpulse.streams.kpi import agent_records
from ccpulse.streams.kpi.agents import AgentEngine
from tests.unit.test_agent_records import (
    BOOK,
    LATER_EVENTS,
    LEGACY_EVENTS,
    LEGACY_LOG,
    Changelog,
    _history,
    _legacy_run,
    _restored,
    _run_with_crashes,
)
from tests.unit.test_agents import at, ev


def test_a_migration_cut_short_keeps_the_events_drained_with_it() -> None:
    # The migration's event records go out with the first drain after the restore, together
    # with the events applied since; a crash after the event records but before the timelines'
    # records leaves the legacy records in place, and the next restore migrates again.
    legacy: Changelog = {tuple(k): r for k, r in orjson.loads(LEGACY_LOG.read_bytes())}
    new = ev("c1", "login", "10:20:00", agent="carol", queue="sales")
    pos = len(LEGACY_EVENTS)
    clean = AgentEngine(BOOK)
    _legacy_run(clean)
    assert clean.apply(new, pos) == "applied"

    engine = _restored(legacy)
    assert engine.apply(new, pos) == "applied"
    writes = engine.drain_writes()
    cut = max(i for i, (k, _) in enumerate(writes) if k[1] == "e") + 1
    log = {**legacy, **dict(writes[:cut])}  # crash: the timelines' records are not written
    engine = _restored(log)
    assert engine.apply(new, pos) == "replayed"  # its event record was found
    log.update(engine.drain_writes())  # the second migration completes
    now = at("10:30:00")
    assert _restored(log).snapshot("default", now) == clean.snapshot("default", now)


@pytest.mark.parametrize("cap", [3, agent_records.MAX_BATCH_EVENTS])
@pytest.mark.parametrize("seed", range(12))
def test_replay_after_crashes_from_a_changelog_to_migrate(
    seed: int, cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As test_replay_after_crash_with_garbage_collection_gives_the_clean_figures, starting from
    # a changelog whose timeline records hold their events: crashes can cut the migration short.
    monkeypatch.setattr(agent_records, "MAX_BATCH_EVENTS", cap)
    rng = random.Random(seed)
    events = [e._replace(ts_ms=e.ts_ms + 3_600_000) for e in _history(rng)]
    events = [*LATER_EVENTS, *events]
    base = len(LEGACY_EVENTS)
    clean = AgentEngine(BOOK)
    _legacy_run(clean)
    for pos, e in enumerate(events, start=base):
        clean.apply(e, pos)
    changelog: Changelog = {tuple(k): r for k, r in orjson.loads(LEGACY_LOG.read_bytes())}
    engine = _run_with_crashes(_restored(changelog), events, base, changelog, rng, kept=0.7)
    now = max(e.ts_ms for e in events) + 60_000
    expected = clean.snapshot("default", now)
    assert engine.snapshot("default", now) == expected
    assert _restored(changelog).snapshot("default", now) == expected


def test_an_id_reused_after_garbage_collection_starts_a_record_of_its_own() -> None:
    """A producer that reuses an event id once garbage collection has forgotten it (a daily
    counter, say) gets a record of its own for the event: the record of the first use, which
    still holds other agents' events, is not replaced, and a restore holds every agent."""
    book = replace(BOOK, engine=replace(BOOK.engine, lateness_seconds=1800))
    engine, log = AgentEngine(book), {}
    first = [ev("x", "login", "09:00:00"), ev("y", "login", "09:50:00", agent="bob"),
             ev("z", "login", "10:00:00", agent="carol")]  # fmt: skip
    for pos, event in enumerate(first):
        engine.apply(event, pos)
    log.update(engine.drain_writes())
    engine.collect_garbage()  # the horizon is 09:30: x is folded, and its id forgotten
    log.update(engine.drain_writes())
    engine.apply(ev("x", "state", "10:05:00", state="paused"), 3)  # the same id, a new event
    log.update(engine.drain_writes())
    records = [k for k, r in log.items() if k[1] == "e" and r is not None]
    assert len(records) == 2
    back = _restored(log, book)
    assert sorted(back.data["default"].timelines) == sorted(engine.data["default"].timelines)
    now = at("10:10:00")
    assert back.snapshot("default", now) == engine.snapshot("default", now)
