"""The printed report: tables of every part (medians and ranges over rounds) and the targets."""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

from .ccpulse_child import SECTION_LABELS
from .latency import Latency
from .memory import Memory
from .runner import KINDS, Run
from .targets import guard_rails, latency_checks, memory_checks, throughput_checks, verdict
from .throughput import Rows, median, median_run, round_ratios
from .workload import BATCH, PARTITIONS, SHAPE_LABEL, SHAPES

#: Rows measured over less than this many seconds are marked: a fetch or two decides them.
SHORT_RUN_S = 2.0


def _span(values: list[float], fmt: str) -> str:
    """ "lo-hi" of the values, or "-" for fewer than two."""
    finite = [v for v in values if not math.isnan(v)]
    if len(finite) < 2:
        return "-"
    return f"{format(min(finite), fmt)}-{format(max(finite), fmt)}"


def _rate_cells(runs: list[Run]) -> tuple[str, str]:
    """(median rate with its marks, range of the rounds' rates) of one row and shape."""
    if not runs:
        return "skipped", "-"
    mark = "" if all(r.status == "ok" for r in runs) else " (!)"
    if any(r.seconds < SHORT_RUN_S for r in runs):
        mark += " *"
    rates = [r.rate for r in runs]
    return f"{median(rates):,.0f}{mark}", _span(rates, ",.0f")


def _ratio_cell(ratios: list[float]) -> str:
    m = median(ratios)
    if math.isnan(m):
        return "-"
    span = _span(ratios, ".2f")
    return f"{m:.2f}x" + ("" if span == "-" else f" ({span})")


def _label(args: argparse.Namespace, kind: str) -> str:
    if kind == "ccpulse-many":
        return f"a3. same, queue events over {args.many_queues:,} queues"
    return KINDS[kind]


def throughput_tables(args: argparse.Namespace, rows: Rows) -> list[str]:
    """Median rate and range of each row; median and range of the per-round ratios to row a."""
    rounds = max((len(v) for v in rows.values()), default=0)
    s, b = SHAPE_LABEL["single"], SHAPE_LABEL["batched"]
    out = ["", f"Throughput (events/s, first to last event handled, start-up excluded): median "
           f"and range over {rounds} interleaved round(s)", "",
           f"| {'consumer':<58} | {s:>14} | {'range':>19} | {b:>16} | {'range':>19} "
           "| peak RSS MB (1/msg, batched) | others' CPU, cores |",
           f"|{'-' * 60}|{'-' * 15}:|{'-' * 20}:|{'-' * 17}:|{'-' * 20}:|{'-' * 29}:|"
           f"{'-' * 19}:|"]  # fmt: skip
    for kind in KINDS:
        if not any((kind, shape) in rows for shape in SHAPES):
            continue
        label = _label(args, kind)
        single, batched = rows.get((kind, "single"), []), rows.get((kind, "batched"), [])
        (m1, r1), (m2, r2) = _rate_cells(single), _rate_cells(batched)
        rss = " / ".join(f"{max(r.peak_rss_mb for r in x):.0f}" if x else "-"
                         for x in (single, batched))  # fmt: skip
        others = " / ".join(f"{max(r.others_cores for r in x):.2f}" if x else "-"
                            for x in (single, batched))  # fmt: skip
        out.append(f"| {label:<58} | {m1:>14} | {r1:>19} | {m2:>16} | {r2:>19} | {rss:>28} "
                   f"| {others:>17} |")  # fmt: skip
    out += ["", "(peak RSS and others' CPU: the highest over the rounds)", "",
            "Ratios of the ccpulse pipeline (row a) to each row, each round's runs compared, "
            "median (range)", "",
            f"| {'ccpulse pipeline / ...':<58} | {s:>20} | {b:>20} |",
            f"|{'-' * 60}|{'-' * 21}:|{'-' * 21}:|"]  # fmt: skip
    for kind in KINDS:
        if kind == "ccpulse" or not any((kind, shape) in rows for shape in SHAPES):
            continue
        label = _label(args, kind)
        cells = [_ratio_cell(round_ratios(rows, ("ccpulse", shape), (kind, shape)))
                 for shape in SHAPES]  # fmt: skip
        out.append(f"| {label:<58} | {cells[0]:>20} | {cells[1]:>20} |")
    for (kind, shape), runs in sorted(rows.items()):
        for run in runs:
            if run.status != "ok":
                out.append(f"(!) {KINDS[kind]} [{SHAPE_LABEL[shape]}], round {run.round + 1}: "
                           f"{run.status}")  # fmt: skip
    if any(r.seconds < SHORT_RUN_S for runs in rows.values() for r in runs):
        out.append(
            f"* read the whole topic in under {SHORT_RUN_S:.0f} s in some round: "
            "indicative only (the first fetch is not timed, a few fetches decide the rate)"
        )
    return out


def breakdown(rows: Rows) -> list[str]:
    """Where the ccpulse run's time went (the run of median rate of each shape):
    child_ccpulse samples its main thread's stack."""
    found = {shape: median_run(rows.get(("ccpulse", shape), [])) for shape in SHAPES}
    if not any(r and r.extra.get("samples") for r in found.values()):
        return []
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, cell: Callable[[Run], str]) -> None:
        cells = []
        for shape in SHAPES:
            r = found[shape]
            ok = r is not None and r.extra.get("samples") and r.seconds
            cells.append(cell(r) if ok and r is not None else "-")
        rows.append((label, cells))

    def share(section: str) -> Callable[[Run], str]:
        def cell(r: Run) -> str:
            samples = r.extra["samples"]
            return f"{samples.get(section, 0) / max(1, sum(samples.values())):.0%}"

        return cell

    for section, label in SECTION_LABELS.items():
        row(label, share(section))
    row(
        "changelog writes per event",
        lambda r: f"{r.extra.get('calls', {}).get('changelog_writes', 0) / max(1, r.events):.2f}",
    )

    def flushes(r: Run) -> str:
        n = r.extra.get("calls", {}).get("redis_publish", 0)
        return f"{n} ({r.extra.get('flush_seconds', 0.0) / max(1, n):.2f} s)"

    row("sinks flushes in the run (s each)", flushes)

    def collections(r: Run) -> str:
        seconds, counts = r.extra.get("gc_seconds"), r.extra.get("gc_counts")
        if not seconds or not counts:
            return "-"
        return f"{sum(counts)} ({sum(seconds) / max(1e-9, r.seconds):.0%})"

    row("cyclic GC: collections (share of the run's time)", collections)
    row(
        "CPU while measured, cores: worker (all threads) / broker",
        lambda r: f"{r.extra.get('cores', 0):.2f} / {r.extra.get('broker_cores', 0):.2f}",
    )
    out = ["", "Where the ccpulse run's time went: its main thread's stack sampled every 5 ms, "
           "time-weighted (bench-only sampler in the worker process; the run of median "
           "rate)", "",
           f"| {'':<62} | {SHAPE_LABEL['single']:>14} | {SHAPE_LABEL['batched']:>16} |",
           f"|{'-' * 64}|{'-' * 15}:|{'-' * 17}:|"]  # fmt: skip
    out += [f"| {label:<62} | {c[0]:>14} | {c[1]:>16} |" for label, c in rows]
    return out


def code_version() -> str:
    """The commit measured, and whether project code differs from it (others may be editing)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "ccpulse", "streams",
             "sinks", "schemas", "sources"], capture_output=True, text=True, timeout=10,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}" + (f" + {len(dirty)} uncommitted project file(s)" if dirty else "")


def report(
    args: argparse.Namespace, rows: Rows, lats: list[Latency], mems: list[Memory]
) -> list[str]:
    """The whole report: header, tables of each part, targets."""
    lines: list[str] = []
    add = lines.append
    add("")
    add(f"ccpulse pipeline bench: {args.events:,} events over {args.queues} queues, "
        f"{PARTITIONS} partitions, nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"code {args.code_version}, load average at start {args.load_start}")  # fmt: skip
    if rows:
        lines.extend(throughput_tables(args, rows))
        lines.extend(breakdown(rows))
    if lats:
        add("")
        add(f"Latency, produce -> Redis update reflecting the event, per event ({args.queues} "
            f"queues, batched producer with real time stamps, target {args.latency_rate:,.0f} "
            "ev/s)")  # fmt: skip
        add("")
        add(f"| {'worker':<62} | offered ev/s |   p50 s |   p90 s |   p99 s |   max s | "
            "events measured (not seen) | event time->Redis p50/p99 s |")  # fmt: skip
        add(f"|{'-' * 64}|-------------:|--------:|--------:|--------:|--------:|"
            f"{'-' * 27}:|{'-' * 28}:|")  # fmt: skip
        for x in lats:
            seen = f"{x.measured_events:,} ({x.unmatched_events})"
            ev = f"{x.event_time_p50:.3f} / {x.event_time_p99:.3f}"
            add(f"| {x.label:<62} | {x.offered_rate:>12,.0f} | {x.p50:>7.3f} | {x.p90:>7.3f} | "
                f"{x.p99:>7.3f} | {x.max:>7.3f} | {seen:>26} | {ev:>27} |")  # fmt: skip
            if x.status != "ok":
                add(f"(!) {x.label}: {x.status}")
        add("")
        for x in lats:
            add(f"- {x.label}: a flush to Redis every {x.flush_period:.2f} s on average; from "
                f"building the snapshots (as_of_ms) to its notices arriving: p50 "
                f"{x.publish_p50:.3f} s, max {x.publish_max:.3f} s; other processes used "
                f"{x.others_cores:.2f} cores meanwhile")  # fmt: skip
        add("")
        add("Method: events carry real time stamps and are sent as they fall due: every 0.25 s "
            "one JSON array per queue of the events due (so event time -> Redis adds up to "
            "0.25 s of producer batching). Each message's send time and its queue's cumulative "
            "event count are noted. A subscriber on <prefix>:updates stamps each notice on "
            "arrival and reads the queue hash's today.all offered + blocked + answered + "
            "abandoned + dequeued + completed (each contract event raises exactly one), so it "
            "knows which messages the update reflects: delay = notice arrival - send time, per "
            f"event, after a warm-up of {min(5.0, args.latency_seconds / 4):.0f} s; an event "
            "not seen within 10 s counts as infinitely late.")  # fmt: skip
    for mem in mems:
        add("")
        add(
            f"Memory: real `ccpulse worker` fed a day ({mem.events:,} events, {mem.messages:,} "
            f"messages of <= {BATCH}) for {mem.queues:,} queues; "
            f"{mem.intervals_per_queue:.1f} intervals per queue in Redis, "
            f"{mem.events_counted:,} events in /metrics, caught up in {mem.seconds:.0f} s "
            f"(intervals all in Redis {mem.intervals_seconds:.0f} s later); "
            f"peak RSS (VmHWM) {mem.peak_rss_mb:.0f} MB, {mem.end_rss_mb:.0f} MB at the end; "
            f"other processes used {mem.others_cores:.2f} cores meanwhile"
        )
        if mem.status != "ok":
            add(f"  (!) {mem.status}")
    checks = throughput_checks(args, rows) if rows else []
    checks += latency_checks(args, lats) + memory_checks(mems)
    add("")
    add("Targets (issue 18; a ratio passes when its median over the rounds passes)")
    add("")
    for c in checks:
        add(f"  {verdict(c.ok):<4}  {c.text}: {c.value}")
    if rows:
        add("")
        add("Former targets, kept as guard rails")
        add("")
        for c in guard_rails(rows):
            add(f"  {verdict(c.ok):<4}  {c.text}: {c.value}")
    return lines
