"""The range report: for every queue (and channel) and every agent scope, one row per interval,
day or weekday of [from, to) and a total row, as contact-centre stats tools print them.

No arithmetic of its own: the engines run over the events as for `ccpulse report`, each interval's
tally is read from their interval state, and a day, weekday or total row is the `figures` of the
summed tallies, so its ratios and averages come from summed counts, never from averaged
averages. Shape: schemas/report-range.v1.json; docs/reports.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Final

from ccpulse.opening_hours import OpeningHours, OpenIntervals
from ccpulse.report import (
    AGENT_COLUMNS,
    QUEUE_COLUMNS,
    Replay,
    cell,
    input_summary,
    replay,
    replay_events,
)
from ccpulse.schemas import Event
from ccpulse.streams.kpi import PolicyBook, figures
from ccpulse.streams.kpi import counters as k
from ccpulse.streams.kpi.agent_tally import AgentTally
from ccpulse.streams.kpi.agent_views import agent_figures, scope_intervals
from ccpulse.streams.kpi.agents import ALL, QUEUE
from ccpulse.streams.kpi.snapshot import ALL_CHANNELS
from ccpulse.streams.kpi.windows import Calendar

RANGE_SCHEMA: Final = "https://ccpulse.dev/schemas/report-range.v1.json"
GROUPINGS: Final = ("interval", "day", "weekday")
DAY_MS: Final = 86_400_000
WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Agent figures summed over buckets, by field name.
AgentSums = dict[str, int]


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """What to report: [from_ms, to_ms), rows `by` interval, day or weekday, and whether a queue's
    intervals outside its opening hours are left out."""

    from_ms: int
    to_ms: int
    by: str = "interval"
    open_hours_only: bool = False

    def __post_init__(self) -> None:
        if self.to_ms <= self.from_ms:
            raise ValueError("--to must be after --from")
        if self.by not in GROUPINGS:
            raise ValueError(f"--by must be one of {', '.join(GROUPINGS)}")


def interval_starts(cal: Calendar, from_ms: int, to_ms: int) -> list[int]:
    """Starts of the intervals overlapping [from_ms, to_ms), in the calendar's zone."""
    out, start = [], cal.interval_start(from_ms)
    while start < to_ms:
        out.append(start)
        start = cal.interval_end(start)
    return out


def _periods(
    cal: Calendar, starts: list[int], by: str
) -> Iterator[tuple[dict[str, Any], list[int]]]:
    """The rows' periods: (label fields, interval starts it sums), in time (or weekday) order."""
    if by == "interval":
        for s in starts:
            yield {"start": cal.label(s), "end": cal.label(cal.interval_end(s))}, [s]
        return
    days: dict[int, list[int]] = {}
    for s in starts:
        days.setdefault(cal.day_bounds(s)[0], []).append(s)
    if by == "day":
        for day, members in days.items():
            end = cal.day_bounds(day)[1]
            label = {"date": cal.label(day)[:10], "start": cal.label(day), "end": cal.label(end)}
            yield label, members
        return
    by_weekday: dict[int, tuple[int, list[int]]] = {}
    for day, members in days.items():
        weekday = datetime.fromtimestamp(day / 1000, cal.zone).weekday()
        count, kept = by_weekday.get(weekday, (0, []))
        by_weekday[weekday] = (count + 1, kept + members)
    for weekday in sorted(by_weekday):
        count, members = by_weekday[weekday]
        yield {"weekday": WEEKDAYS[weekday], "days": count}, members


def _open(
    hours: OpenIntervals, tenant: str, queue: str, cal: Calendar, starts: list[int]
) -> list[int]:
    """The starts of the intervals that overlap the queue's opening hours."""
    zone = cal.zone_name
    return [s for s in starts if hours.is_open(tenant, queue, zone, s, cal.interval_end(s))]


def _sum_agent(tallies: Iterable[AgentSums]) -> AgentSums:
    out: AgentSums = {}
    for tally in tallies:
        for field, amount in tally.items():
            out[field] = out.get(field, 0) + amount
    return out


def _table(
    cal: Calendar, starts: list[int], by: str, per_start: dict[int, Any], summed: Any, fig: Any
) -> dict[str, Any]:
    """Rows and the total of one scope: `summed` adds tallies, `fig` turns one into figures."""
    rows = [
        {**label, "figures": fig(summed([per_start[s] for s in members if s in per_start]))}
        for label, members in _periods(cal, starts, by)
    ]
    total = fig(summed([per_start[s] for s in starts if s in per_start]))
    return {"rows": rows, "total": {"figures": total}}


def queue_tables(run: Replay, spec: RangeSpec, hours: OpenIntervals) -> list[dict[str, Any]]:
    """Every queue with data in the range: per channel and for all channels."""
    out = []
    for (tenant, queue), qs in sorted(run.engine.queues.items()):
        per_channel: dict[str, dict[int, k.Tally]] = {}
        for (gran, channel, start), bucket in qs.buckets.items():
            if gran == "i" and spec.from_ms - DAY_MS < start < spec.to_ms and any(bucket.tally):
                per_channel.setdefault(channel, {})[start] = bucket.tally
        table = queue_table(run.engine.book, tenant, queue, per_channel, spec, hours)
        if table is not None:
            out.append(table)
    return out


def queue_table(
    book: PolicyBook,
    tenant: str,
    queue: str,
    per_channel: dict[str, dict[int, k.Tally]],
    spec: RangeSpec,
    hours: OpenIntervals,
) -> dict[str, Any] | None:
    """One queue's tables from its interval tallies per channel (from the engine or from the
    live system's Redis); None when it has no data in the range."""
    pol = book.for_queue(tenant, queue)
    cal = Calendar(pol.time_zone, pol.interval_ms)
    starts = interval_starts(cal, spec.from_ms, spec.to_ms)
    if spec.open_hours_only:
        starts = _open(hours, tenant, queue, cal, starts)
    wanted = set(starts)
    per_channel = {c: {s: t for s, t in tallies.items() if s in wanted}
                   for c, tallies in per_channel.items()}  # fmt: skip
    per_channel = {c: tallies for c, tallies in per_channel.items() if tallies}
    if not per_channel:
        return None
    all_channels: dict[int, k.Tally] = {}
    for start in starts:
        found = [t[start] for t in per_channel.values() if start in t]
        if found:
            all_channels[start] = k.summed(found)
    channels = {ALL_CHANNELS: (all_channels, pol)}
    channels.update(
        (c, (per_channel[c], book.for_channel(tenant, queue, c))) for c in sorted(per_channel)
    )
    return {
        "tenant": tenant, "queue": queue, "time_zone": pol.time_zone,
        "interval_minutes": pol.interval_minutes, "attribution": str(pol.attribution),
        "sl_formula": str(pol.sl_formula),
        "opening_hours": (tenant, queue) in hours.hours,
        "channels": {
            c: _table(cal, starts, spec.by, tallies, k.summed,
                      lambda t, p=p: figures(t, p))
            for c, (tallies, p) in channels.items()
        },
    }  # fmt: skip


def agent_tables(
    run: Replay, spec: RangeSpec, hours: OpenIntervals, as_of_ms: int
) -> list[dict[str, Any]]:
    """Per tenant: all agents, each queue (its opening hours apply) and each agent."""
    family = run.families.get("agents")
    if family is None:
        return []
    out = []
    for tenant in family.tenants():
        t = family.data[tenant]
        cal = t.calendar
        zone = cal.zone_name
        starts = interval_starts(cal, spec.from_ms, spec.to_ms)
        per_scope = scope_intervals(t, as_of_ms)

        wanted = set(starts)
        scopes = {key: iv for key, iv in per_scope.items() if wanted & iv.keys()}
        tables: dict[str, Any] = {"all": None, "queues": {}, "agents": {}}
        for (kind, name), per_start in sorted(scopes.items()):
            mine = starts
            if kind == QUEUE and spec.open_hours_only:
                mine = _open(hours, tenant, name, cal, starts)
            table = _table(cal, mine, spec.by, per_start, _sum_agent, agent_figures)
            if kind == ALL:
                tables["all"] = table
            else:
                tables["queues" if kind == QUEUE else "agents"][name] = table
        if tables["all"] is None:
            tables["all"] = _table(cal, starts, spec.by, {}, _sum_agent, agent_figures)
        out.append({"tenant": tenant, "time_zone": zone,
                    "interval_minutes": cal.interval_ms // 60_000, **tables})  # fmt: skip
    return out


def range_report(
    run: Replay, spec: RangeSpec, opening_hours: OpeningHours | None = None
) -> dict[str, Any]:
    """The range report of engines that have run over the events up to `spec.to_ms`."""
    hours = OpenIntervals(opening_hours or {})
    # Agents still logged in at the end count up to `to`, or up to now for a range not yet over.
    as_of_ms = min(spec.to_ms, int(time.time() * 1000))
    queues = queue_tables(run, spec, hours)
    agents = agent_tables(run, spec, hours, as_of_ms)
    pipelines = [{"duplicates": q.duplicates, "too_late": q.too_late}
                 for q in run.engine.queues.values()]  # fmt: skip
    family = run.families.get("agents")
    for t in family.data.values() if family is not None else ():
        found = t.buckets.get((ALL, "", 0))  # the tenant's totals, if any counted
        totals = AgentTally() if found is None else found[1]
        pipelines.append({"duplicates": totals.duplicates, "too_late": totals.too_late})
    return {
        "$schema": RANGE_SCHEMA,
        "from_ms": spec.from_ms,
        "to_ms": spec.to_ms,
        "by": spec.by,
        "open_hours_only": spec.open_hours_only,
        "input": input_summary(run, pipelines),
        "errors": run.stats.errors,
        "queues": queues,
        "agents": agents,
    }


def build_range_report(
    lines: Iterable[str | bytes],
    book: PolicyBook,
    spec: RangeSpec,
    opening_hours: OpeningHours | None = None,
) -> dict[str, Any]:
    """Run the engines over the events (those stamped at or after `to` are left out) and read
    the range's rows."""
    return range_report(replay(lines, book, spec.to_ms - 1), spec, opening_hours)


def build_range_report_of_events(
    events: list[Event],
    book: PolicyBook,
    spec: RangeSpec,
    opening_hours: OpeningHours | None = None,
) -> dict[str, Any]:
    """`build_range_report` of decoded events (a queue_log read by `queue_log_decoded`)."""
    return range_report(replay_events(events, book, spec.to_ms - 1), spec, opening_hours)


# -- table output ---------------------------------------------------------------------------------


def _row_label(row: dict[str, Any]) -> str:
    if "weekday" in row:
        return f"{row['weekday']} ({row['days']} d)"
    if "date" in row:
        return str(row["date"])
    return f"{row['start'][:10]} {row['start'][11:16]}-{row['end'][11:16]}"


def _write_table(out: IO[str], table: dict[str, Any], columns: Any, width: int) -> None:
    out.write(f"{'':<27}" + "".join(f"{name:>{width}}" for name, _, _ in columns) + "\n")
    rows = [(_row_label(r), r["figures"]) for r in table["rows"]]
    rows.append(("total", table["total"]["figures"]))
    for label, figs in rows:
        cells = "".join(f"{cell(f, figs[key]):>{width}}" for _, key, f in columns)
        out.write(f"{label[:27]:<27}{cells}\n")


def render_range_table(report: dict[str, Any], out: IO[str]) -> None:
    """Human-readable range report: per queue and channel, then per agent scope."""
    for q in report["queues"]:
        hours = ", opening hours only" if report["open_hours_only"] and q["opening_hours"] else ""
        out.write(f"\n== {q['tenant']}/{q['queue']}  by {report['by']}  ({q['time_zone']}, "
                  f"{q['interval_minutes']} min, SL {q['sl_formula']}, {q['attribution']}"
                  f"{hours})\n")  # fmt: skip
        channels = list(q["channels"].items())
        if len(channels) == 2:  # one channel: its table is the all-channels table
            channels = channels[:1]
        for channel, table in channels:
            out.write(f"-- channel {channel}\n")
            _write_table(out, table, QUEUE_COLUMNS, 11)
    for snap in report["agents"]:
        scopes = [("all agents", snap["all"])]
        scopes += [(f"queue {n}", t) for n, t in snap["queues"].items()]
        scopes += [(f"agent {n}", t) for n, t in snap["agents"].items()]
        for label, table in scopes:
            out.write(f"\n== agents of {snap['tenant']}: {label}  by {report['by']}  "
                      f"({snap['time_zone']}, {snap['interval_minutes']} min)\n")  # fmt: skip
            _write_table(out, table, AGENT_COLUMNS, 12)
    inp = report["input"]
    out.write(f"\n{inp['events']} events from {inp['lines']} lines; {inp['rejected']} rejected, "
              f"{inp['duplicates']} duplicates, {inp['too_late']} too late, "
              f"{inp['ignored_after_at']} at or after --to\n")  # fmt: skip
