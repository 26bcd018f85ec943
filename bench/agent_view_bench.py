"""ccpulse agent view bench: what a flush's agent figures cost late in the day.

At every flush the worker takes the live agent view (`AgentEngine.snapshot(history=False)`) of
each tenant whose agents moved: per agent, per queue and for all agents, the current interval
and today. Today is a sum over the day's buckets; the view keeps the closed intervals' part on
the tenant (`ClosedAgentSums`) until one of those buckets changes or the interval turns, so a
flush reads the current interval's buckets and the agents' open segments.

This bench feeds an agent engine HOURS of simulated traffic (every agent event of the
simulator's workforce for QUEUES queues over 10 tenants), then takes views as a worker's flushes
do: every TICK of event time over the last SECONDS (by default the whole last 15-minute interval
of the day: early in an interval, each agent's first event closes a segment begun in the
interval before and drops the kept sums), each after that tick's events. Each round times the
same views twice, interleaved: as shipped, and, as the baseline measured in the same run, with
the kept sums dropped before every view (every bucket of the day read again; the code before
they were kept did the same reading without copying the sums, a little less work). Figures are
medians over the rounds; both give the same views (checked).

    .venv/bin/python bench/agent_view_bench.py                # 200 queues, 10 h, 3 rounds
    .venv/bin/python bench/agent_view_bench.py --seconds 30   # the last 30 s only
    .venv/bin/python bench/agent_view_bench.py --quick        # 50 queues, 2 h, one round
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline.workload import bench_queues  # noqa: E402
from ccpulse.schemas import AgentEvent, decode_object  # noqa: E402
from ccpulse.sources.simulator import SimConfig, simulate  # noqa: E402
from ccpulse.streams.kpi.agents import AgentEngine  # noqa: E402


def agent_events(queues: int, hours: float, end_ms: int) -> list[AgentEvent]:
    """The simulator's agent events over `hours` before `end_ms`, decoded."""
    config = SimConfig(bench_queues(queues, 30.0), seed=3, start_ms=end_ms - int(hours * 3.6e6),
                       duration_seconds=hours * 3600, daily_curve=False, drain=False,
                       tickets=False, surveys=False)  # fmt: skip
    out = []
    for raw in simulate(config):
        if raw["type"].startswith("agent."):
            decoded = decode_object(raw, end_ms)
            assert isinstance(decoded, AgentEvent)
            out.append(decoded)
    return out


def _views(
    events: list[AgentEvent], from_ms: int, end_ms: int, tick_ms: int, kept: bool
) -> tuple[float, int, list[Any]]:
    """Apply the events; over [from_ms, end_ms), a view of every tenant every tick after the
    tick's events. Returns seconds in views, views taken, and the last tick's views."""
    engine = AgentEngine()
    i = 0
    while i < len(events) and events[i].ts_ms < from_ms:
        engine.apply(events[i], i)
        i += 1
    engine.drain_writes()
    spent, taken, last = 0.0, 0, []
    for edge in range(from_ms + tick_ms, end_ms + 1, tick_ms):
        while i < len(events) and events[i].ts_ms < edge:
            engine.apply(events[i], i)
            i += 1
        engine.drain_writes()
        last = []
        for tenant in engine.tenants():
            if not kept:
                engine.data[tenant].closed = None
            t = time.perf_counter()
            last.append(engine.snapshot(tenant, edge, history=False))
            spent += time.perf_counter() - t
            taken += 1
    return spent, taken, last


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queues", type=int, default=200, help="queues over 10 tenants (200)")
    p.add_argument("--hours", type=float, default=10.0, help="of traffic before the views (10)")
    p.add_argument("--seconds", type=float, default=900.0, help="of views at the end (900)")
    p.add_argument("--tick-ms", type=int, default=1000, help="between views (1,000)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    p.add_argument("--quick", action="store_true", help="50 queues, 2 h, one round")
    args = p.parse_args()
    if args.quick:
        args.queues, args.hours, args.seconds, args.rounds = 50, 2.0, 60.0, 1
    # A day's end in UTC, so that the whole history is one day: late in the day.
    end_ms = (int(time.time() * 1000) // 86_400_000) * 86_400_000 - 3_600_000
    events = sorted(agent_events(args.queues, args.hours, end_ms), key=lambda e: e.ts_ms)
    from_ms = end_ms - int(args.seconds * 1000)
    print(f"ccpulse agent view bench: {args.queues:,} queues, {args.hours:g} h of agent traffic "
          f"({len(events):,} events), a view of each tenant every {args.tick_ms} ms over the last "
          f"{args.seconds:g} s, {args.rounds} rounds", flush=True)  # fmt: skip
    runs: dict[str, list[float]] = {"shipped": [], "rebuilt": []}
    for n in range(args.rounds):
        results = {}
        for kind in runs:
            spent, taken, last = _views(events, from_ms, end_ms, args.tick_ms, kind == "shipped")
            runs[kind].append(spent / taken * 1000)
            results[kind] = last
            print(f"  [{n + 1}] {kind:<8} {spent / taken * 1000:7.2f} ms a tenant's view "
                  f"({taken:,} views)", flush=True)  # fmt: skip
        if results["shipped"] != results["rebuilt"]:
            raise SystemExit("the views differ: the kept sums are wrong")
    shipped, rebuilt = (statistics.median(runs[k]) for k in ("shipped", "rebuilt"))
    print(f"\nMedian: {shipped:.2f} ms a tenant's view as shipped, {rebuilt:.2f} ms rebuilt "
          f"from every bucket (baseline): {rebuilt / shipped:.1f}x")


if __name__ == "__main__":
    main()
