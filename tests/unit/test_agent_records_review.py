"""Review: crashes during the migration of timeline records that held their events."""

from __future__ import annotations

import orjson

from ccpulse.streams.kpi.agents import AgentEngine
from tests.unit.test_agent_records import (
    BOOK,
    LEGACY_EVENTS,
    LEGACY_LOG,
    Changelog,
    _legacy_run,
    _restored,
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
