"""Throughput: the topics every row reads, and the rows run in interleaved rounds.

A single run of a row is not a verdict: rates drift with the day and with the neighbours'
load. Each round runs every selected row once (both shapes), rounds follow one another
(a, a2, ..., e, a, a2, ..., e, ...), so slow spells fall on all rows alike; ratios are taken
between runs of the same round, and the report judges their median.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
import uuid
from collections import Counter
from importlib.util import find_spec
from typing import Any

from .runner import KINDS, Bench, Run
from .topics import create_topics, messages, produce
from .workload import BATCH, SHAPES, mixed_events, throughput_events

#: The measured runs of each (kind, shape), one per round, in round order.
Rows = dict[tuple[str, str], list[Run]]


def selected_kinds(args: argparse.Namespace) -> list[str]:
    """The throughput rows asked for (--kinds, --skip-quix), in KINDS order."""
    wanted = set(args.kinds.split(","))
    unknown = wanted - set(KINDS)
    if unknown:
        raise SystemExit(f"unknown --kinds: {', '.join(sorted(unknown))}")
    kinds = [k for k in KINDS if k in wanted and not (k == "quix" and args.skip_quix)]
    if "quix" in kinds and "throughput" in args.only.split(",") and not find_spec("quixstreams"):
        # Found at the start, not as a row of zeros in every round.
        raise SystemExit(
            "the Quix Streams rows need the bench's packages: "
            ".venv/bin/pip install -e '.[bench]' (or leave them out: --skip-quix)"
        )
    return kinds


def _encode(events: list[dict[str, Any]], name: str) -> dict[str, list[tuple[bytes, bytes, int]]]:
    """Both shapes of the events, by "<name>single" and "<name>batched"."""
    return {f"{name}{s}": messages(events, 1 if s == "single" else BATCH) for s in SHAPES}


def prepare_topics(bench: Bench, kinds: list[str]) -> dict[str, str]:
    """Generate, encode and produce the topics the rows read; their names by "[set-]shape"."""
    args = bench.args
    end_ms = int(time.time() * 1000) - 60_000
    t = time.monotonic()
    encoded = _encode(throughput_events(args.events, args.queues, end_ms), "")
    print(f"generated and encoded {args.events:,} events in {time.monotonic() - t:.1f} s "
          f"({len(encoded['single']):,} / {len(encoded['batched']):,} messages)",
          flush=True)  # fmt: skip
    if "ccpulse-mixed" in kinds:
        mixed = mixed_events(args.events, args.queues, end_ms)
        families = Counter(str(e["type"]).partition(".")[0] for e in mixed)
        print("mixed topic: " + ", ".join(f"{n:,} {f}" for f, n in families.most_common()),
              flush=True)  # fmt: skip
        encoded |= _encode(mixed, "mixed-")
        del mixed
    if "ccpulse-many" in kinds:
        t = time.monotonic()
        encoded |= _encode(throughput_events(args.events, args.many_queues, end_ms), "many-")
        print(f"many-queues topic: {args.events:,} events over {args.many_queues:,} queues in "
              f"{len(encoded['many-single']):,} / {len(encoded['many-batched']):,} messages "
              f"({time.monotonic() - t:.1f} s)", flush=True)  # fmt: skip
    run_id = uuid.uuid4().hex[:6]
    topics = {name: f"bench-{run_id}-{name}" for name in encoded}
    asyncio.run(create_topics(bench.broker, topics.values()))
    for name, msgs in encoded.items():
        t = time.monotonic()
        asyncio.run(produce(bench.broker, topics[name], msgs))
        print(f"produced {topics[name]} in {time.monotonic() - t:.1f} s", flush=True)
    return topics


def topic_of(kind: str, shape: str, topics: dict[str, str]) -> str:
    prefix = {"ccpulse-mixed": "mixed-", "ccpulse-many": "many-"}.get(kind, "")
    return topics[prefix + shape]


def run_rounds(bench: Bench, kinds: list[str], topics: dict[str, str], rows: Rows) -> None:
    """Every selected row, both shapes, once per round, for --repeat rounds, into `rows` (filled
    as runs end, so that an interrupted bench still reports the rounds it did)."""
    args = bench.args
    timeout = 60 + args.events / 1500
    for round_ in range(args.repeat):
        if args.repeat > 1:
            print(f"round {round_ + 1} of {args.repeat}", flush=True)
        for shape in SHAPES:
            for kind in kinds:
                run = bench.measure(kind, shape, topic_of(kind, shape, topics), args.events,
                                    timeout, round_)  # fmt: skip
                rows.setdefault((kind, shape), []).append(run)


def round_ratios(rows: Rows, num: tuple[str, str], den: tuple[str, str]) -> list[float]:
    """num's rate / den's rate in each round both ran (NaN where den measured nothing)."""
    by_round = {r.round: r for r in rows.get(den, [])}
    out = []
    for a in rows.get(num, []):
        b = by_round.get(a.round)
        if b is not None:
            out.append(a.rate / b.rate if b.rate else math.nan)
    return out


def median(values: list[float]) -> float:
    """Median of the finite values (NaN if none)."""
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def median_run(runs: list[Run]) -> Run | None:
    """The run whose rate is the (lower) median: the one its breakdown is shown for."""
    if not runs:
        return None
    ordered = sorted(runs, key=lambda r: r.rate)
    return ordered[(len(ordered) - 1) // 2]
