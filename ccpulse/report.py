"""The offline report: contract events from a JSON-lines file through the KPI engine to a table
or JSON (shape: schemas/report.v1.json). The same engine the streaming agents run."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO, Any

from ccpulse.report_families import render_surveys, render_tickets
from ccpulse.schemas import Event, decode_message
from ccpulse.schemas.decode import datetime_ms
from ccpulse.streams.kpi import Engine, PolicyBook, queue_snapshot
from ccpulse.streams.kpi.families import family_of, new_family_engines

REPORT_SCHEMA = "https://ccpulse.dev/schemas/report.v1.json"


@dataclass(slots=True)
class InputStats:
    lines: int = 0
    events: int = 0
    rejected: int = 0
    ignored_after_at: int = 0
    errors: list[str] = field(default_factory=list)


def read_events(lines: Iterable[str | bytes], stats: InputStats) -> Iterator[Event]:
    """Decode each non-blank line; bad elements are recorded with their line number."""
    now_ms = int(time.time() * 1000)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        stats.lines += 1
        result = decode_message(line, now_ms)
        for rejection in result.rejections:
            stats.rejected += 1
            stats.errors.append(f"line {number}: {rejection.describe()}")
        yield from result.events


def parse_instant(text: str) -> int:
    """`--at`: RFC 3339 with offset, or epoch milliseconds."""
    if text.isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"--at needs an offset or Z: {text!r}")
    return datetime_ms(parsed)


@dataclass(slots=True)
class Replay:
    """The engines after a run over an events file, cut at `at_ms`."""

    engine: Engine
    families: dict[str, Any]
    stats: InputStats
    at_ms: int


def replay(lines: Iterable[str | bytes], book: PolicyBook, at_ms: int | None = None) -> Replay:
    """Run the engines over the events of JSON lines, ignoring those after `at_ms` (default: the
    last event)."""
    stats = InputStats()
    events = list(read_events(lines, stats))
    return replay_events(events, book, at_ms, stats)


def replay_events(
    events: list[Event], book: PolicyBook, at_ms: int | None = None, stats: InputStats | None = None
) -> Replay:
    """Run the engines over decoded events (see `replay`)."""
    stats = stats or InputStats(lines=len(events))
    stats.events = len(events)
    if at_ms is None:
        at_ms = max((e.ts_ms for e in events), default=int(time.time() * 1000))
    # The report keeps every interval: retention only bounds a long-running worker's memory.
    keep_all = replace(book, engine=replace(book.engine, interval_retention_hours=0))
    run = Replay(Engine(keep_all), new_family_engines(keep_all), stats, at_ms)
    apply_events(run, events)
    return run


def apply_events(run: Replay, events: Iterable[Event]) -> None:
    """Each event up to the replay's instant to its engine: the queue engine, or its family's."""
    stats, at_ms, engine, families = run.stats, run.at_ms, run.engine, run.families
    for event in events:
        if event.ts_ms > at_ms:
            stats.ignored_after_at += 1
            continue
        name = family_of(event)
        if name is None:
            engine.apply(event)  # type: ignore[arg-type]
        else:
            families[name].apply(event)


def input_summary(run: Replay, pipelines: list[dict[str, Any]]) -> dict[str, int]:
    """The report's `input` object: what was read and what the engines refused."""
    return {
        "lines": run.stats.lines,
        "events": run.stats.events,
        "rejected": run.stats.rejected,
        "ignored_after_at": run.stats.ignored_after_at,
        "duplicates": sum(p["duplicates"] for p in pipelines),
        "too_late": sum(p["too_late"] for p in pipelines),
    }


def build_report(
    lines: Iterable[str | bytes], book: PolicyBook, at_ms: int | None = None
) -> dict[str, Any]:
    """Run the engine over the events and snapshot every queue at `at_ms` (default: last event)."""
    run = replay(lines, book, at_ms)
    engine, families, stats, at_ms = run.engine, run.families, run.stats, run.at_ms
    rolling = book.engine.rolling_minutes
    max_wait_ms = book.engine.max_wait_seconds * 1000
    queues = [
        queue_snapshot(engine.queues[key], at_ms, rolling, max_wait_ms)
        for key in sorted(engine.queues)
    ]
    others = {
        name: [family.snapshot(tenant, at_ms) for tenant in family.tenants()]
        for name, family in families.items()
    }
    counted = [q["pipeline"] for q in queues] + [s["pipeline"] for v in others.values() for s in v]
    return {
        "$schema": REPORT_SCHEMA,
        "as_of_ms": at_ms,
        "input": input_summary(run, counted),
        "errors": stats.errors,
        "queues": queues,
        **others,
    }


QUEUE_COLUMNS = (
    ("offered", "offered", "{:d}"),
    ("answered", "answered", "{:d}"),
    ("in SL", "answered_within_threshold", "{:d}"),
    ("abandoned", "abandoned", "{:d}"),
    ("blocked", "blocked", "{:d}"),
    ("SL", "service_level", "{:.1%}"),
    ("ASA s", "asa_seconds", "{:.1f}"),
    ("aband.", "abandonment_rate", "{:.1%}"),
    ("AHT s", "aht_seconds", "{:.1f}"),
    ("max wait s", "longest_answered_wait_seconds", "{:.0f}"),
)


def cell(fmt: str, value: Any) -> str:
    return "-" if value is None else fmt.format(value)


def render_table(report: dict[str, Any], out: IO[str]) -> None:
    """Human-readable report: per queue and channel, intervals then today, rolling and live."""
    header = f"{'':<27}" + "".join(f"{name:>11}" for name, _, _ in QUEUE_COLUMNS)
    for q in report["queues"]:
        setup = f"{q['interval_minutes']} min, SL {q['sl_formula']}, {q['attribution']}"
        title = f"{q['tenant']}/{q['queue']}  as of {q['as_of']}"
        out.write(f"\n== {title}  ({q['time_zone']}, {setup})\n")
        live = q["live"]["all"]
        out.write(f"   live: {live['in_queue']} in queue, longest wait "
                  f"{live['longest_wait_seconds']:.0f} s\n")  # fmt: skip
        for channel, view in q["channels"].items():
            out.write(f"-- channel {channel}\n{header}\n")
            rows = [
                (i["start"][11:16] + "-" + i["end"][11:16], i["figures"]) for i in view["intervals"]
            ]
            rows.append(("today", view["today"]["figures"]))
            rows.extend((f"last {n}", f) for n, f in view["rolling"].items())
            for label, figs in rows:
                cells = "".join(f"{cell(f, figs[key]):>11}" for _, key, f in QUEUE_COLUMNS)
                out.write(f"{label:<27}{cells}\n")
    for snap in report.get("agents", []):
        _render_agents(snap, out)
    for snap in report.get("tickets", []):
        render_tickets(snap, out)
    for snap in report.get("surveys", []):
        render_surveys(snap, out)
    inp = report["input"]
    out.write(f"\n{inp['events']} events from {inp['lines']} lines; {inp['rejected']} rejected, "
              f"{inp['duplicates']} duplicates, {inp['too_late']} too late, "
              f"{inp['ignored_after_at']} after --at\n")  # fmt: skip


def write_errors(report: dict[str, Any], err: IO[str] = sys.stderr) -> None:
    for line in report["errors"]:
        err.write(f"ccpulse report: {line}\n")


AGENT_COLUMNS = (
    ("logged in s", "logged_in_seconds", "{:.0f}"),
    ("avail. s", "available_seconds", "{:.0f}"),
    ("contact s", "on_contact_seconds", "{:.0f}"),
    ("wrap s", "wrap_up_seconds", "{:.0f}"),
    ("paused s", "paused_seconds", "{:.0f}"),
    ("handled", "handled", "{:d}"),
    ("AHT s", "aht_seconds", "{:.1f}"),
    ("occupancy", "occupancy", "{:.1%}"),
    ("RNA", "ring_no_answer", "{:d}"),
)


def _render_agents(snap: dict[str, Any], out: IO[str]) -> None:
    """Agents of one tenant today: all agents, per queue, per agent."""
    out.write(f"\n== agents of {snap['tenant']}  as of {snap['as_of']}  (today)\n")
    out.write(f"{'':<27}" + "".join(f"{name:>12}" for name, _, _ in AGENT_COLUMNS) + "\n")
    rows = [("all agents", snap["all"]["today"])]
    rows += [(f"queue {q}", v["today"]) for q, v in snap["queues"].items()]
    rows += [(f"agent {a}", v["today"]) for a, v in snap["agents"].items()]
    for label, figs in rows:
        cells = "".join(f"{cell(f, figs[key]):>12}" for _, key, f in AGENT_COLUMNS)
        out.write(f"{label[:27]:<27}{cells}\n")
