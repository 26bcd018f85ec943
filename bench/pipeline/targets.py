"""Issue 18's targets, judged on the median over the interleaved rounds.

A ratio target compares two rows of the same round; its verdict is the median of those per-round
ratios, shown with their range so that a pass by a hair in one lucky round reads as such.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from .latency import Latency
from .memory import Memory
from .throughput import Rows, median, round_ratios
from .workload import SHAPE_LABEL

#: Peak RSS targets by the number of queues of the memory run, MB.
MEMORY_TARGETS_MB = {1_000: 300.0, 10_000: 1_500.0}
#: p99 produce -> Redis must stay under this at --latency-rate (5,000 ev/s by default).
LATENCY_P99_S = 1.0


@dataclass
class Check:
    text: str
    value: str
    ok: bool | None


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def ratio_value(ratios: list[float]) -> str:
    """ "1.12x (0.95-1.30x over 3 rounds)": the median and range of per-round ratios."""
    finite = [r for r in ratios if not math.isnan(r)]
    if not finite:
        return "-"
    if len(finite) == 1:
        return f"{finite[0]:.2f}x (1 round)"
    return (f"{median(finite):.2f}x ({min(finite):.2f}-{max(finite):.2f}x over "
            f"{len(finite)} rounds)")  # fmt: skip


def ratio_check(
    text: str, rows: Rows, num: tuple[str, str], den: tuple[str, str], at_least: float
) -> Check:
    ratios = round_ratios(rows, num, den)
    m = median(ratios)
    return Check(text, ratio_value(ratios), None if math.isnan(m) else m >= at_least)


def throughput_checks(args: argparse.Namespace, rows: Rows) -> list[Check]:
    """The ratio targets of issue 18 (each on the median of its per-round ratios)."""
    checks = [
        ratio_check("one event per message: ccpulse >= 1.0x Quix Streams", rows,
                    ("ccpulse", "single"), ("quix", "single"), 1.0),
        ratio_check(f"batched ({SHAPE_LABEL['batched']}): ccpulse >= 2.0x Quix Streams", rows,
                    ("ccpulse", "batched"), ("quix", "batched"), 2.0),
    ]  # fmt: skip
    for shape in ("single", "batched"):
        checks.append(ratio_check(
            f"all event families mixed >= 0.8x the queue-only rate [{SHAPE_LABEL[shape]}]",
            rows, ("ccpulse-mixed", shape), ("ccpulse", shape), 0.8))  # fmt: skip
    for shape in ("single", "batched"):
        checks.append(ratio_check(
            f"throughput at {args.many_queues:,} queues >= 0.8x the rate at {args.queues:,} "
            f"queues [{SHAPE_LABEL[shape]}]",
            rows, ("ccpulse-many", shape), ("ccpulse", shape), 0.8))  # fmt: skip
    return checks


def guard_rails(rows: Rows) -> list[Check]:
    """The bench's former targets, printed for information: regressions show here first."""
    single = rows.get(("ccpulse", "single"), [])
    out = [ratio_check("(info) 1/msg pipeline / naive Faust windowed-table baseline (was >= 3x)",
                       rows, ("ccpulse", "single"), ("faust-naive", "single"), 3.0)]  # fmt: skip
    # The faster of the two stock no-op agents, per round.
    floors = []
    for run in single:
        rates = [r.rate for kind in ("faust-noop", "faust-noop-take")
                 for r in rows.get((kind, "single"), []) if r.round == run.round]  # fmt: skip
        floors.append(run.rate / max(rates) if rates and max(rates) else math.nan)
    m = median(floors)
    out.append(Check("(info) 1/msg pipeline / the faster stock no-op Faust agent (was >= 0.8x)",
                     ratio_value(floors), None if math.isnan(m) else m >= 0.8))  # fmt: skip
    return out


def latency_checks(args: argparse.Namespace, lats: list[Latency]) -> list[Check]:
    shipped = next((x for x in lats if x.variant == "shipped"), lats[0] if lats else None)
    checks = []
    if shipped is not None:
        checks.append(Check(
            f"p99 produce-to-Redis < {LATENCY_P99_S:.0f} s at {args.latency_rate:,.0f} ev/s "
            f"[{shipped.label}]", f"p99 {shipped.p99:.3f} s (p50 {shipped.p50:.3f} s, offered "
            f"{shipped.offered_rate:,.0f} ev/s)",
            None if math.isnan(shipped.p99) else shipped.p99 < LATENCY_P99_S))  # fmt: skip
    for other in lats:
        if other is not shipped:
            checks.append(Check(f"  (info, not the target) p99 < 1 s [{other.label}]",
                                f"p99 {other.p99:.3f} s (p50 {other.p50:.3f} s)",
                                None if math.isnan(other.p99) else other.p99 < 1.0))  # fmt: skip
    return checks


def memory_checks(mems: list[Memory]) -> list[Check]:
    checks = []
    for mem in mems:
        limit = MEMORY_TARGETS_MB.get(mem.queues)
        text = f"peak RSS, {mem.queues:,} queues x a day of 15-min intervals"
        if limit is None:
            checks.append(Check(f"{text} (no target at this size)", f"{mem.peak_rss_mb:.0f} MB",
                                None))  # fmt: skip
            continue
        if not mem.peak_rss_mb:
            ok = None
        elif mem.peak_rss_mb >= limit:
            ok = False  # over the limit, even if the run stopped early
        else:
            ok = True if mem.status == "ok" else None
        checks.append(Check(f"{text} < {limit:,.0f} MB", f"{mem.peak_rss_mb:.0f} MB"
                            + ("" if mem.status == "ok" else f" ({mem.status})"), ok))  # fmt: skip
    return checks
