"""The simulated contact-centre events of every part of the bench, and the constants of the
workload (partitions, batch size, shapes)."""

from __future__ import annotations

import itertools
import math
from typing import Any

from ccpulse.sources.simulator import SimConfig, SimQueue, simulate

PARTITIONS = 4
BATCH = 100
EVENTS_PER_CONTACT = 2.9  # what the simulator emits per contact with the queues below (measured)
SHAPES = ("single", "batched")
SHAPE_LABEL = {"single": "one event/msg", "batched": f"~{BATCH} events/msg"}
#: The six counts of a queue's Redis hash that each contract event type raises by exactly one.
COUNT_FIELDS = tuple(
    f"today.all.{n}"
    for n in ("offered", "blocked", "answered", "abandoned", "dequeued", "completed")
)
#: Queue KPIs are what this bench measures: the simulator's agent, ticket and survey families
#: (on by default since they exist) stay off, so every event is a contact event of one queue.
CONTACTS_ONLY: dict[str, Any] = {
    k: False for k in ("agents", "tickets", "surveys") if k in SimConfig.__dataclass_fields__
}


def bench_queues(
    count: int, contacts_per_hour: float, handle_s: float = 240.0, patience_s: float = 180.0
) -> list[SimQueue]:
    """`count` queues over 10 tenants and three channels, staffed for ~85 % occupancy."""
    erlangs = contacts_per_hour * handle_s / 3600
    agents = max(1, math.ceil(erlangs / 0.85))
    channels = ("voice", "chat", "email")
    return [
        SimQueue(f"q{i:04d}", tenant=f"tenant{i % 10}", channel=channels[i % 3], agents=agents,
                 arrivals_per_hour=contacts_per_hour, mean_handle_seconds=handle_s,
                 mean_patience_seconds=patience_s, capacity=max(50, agents * 2))
        for i in range(count)
    ]  # fmt: skip


def throughput_events(n_events: int, n_queues: int, end_ms: int) -> list[dict[str, Any]]:
    """Exactly `n_events` simulated events over `n_queues` queues in the 2 hours before end_ms."""
    hours = 2.0
    rate = n_events / n_queues / EVENTS_PER_CONTACT / hours * 1.15
    while True:
        config = SimConfig(bench_queues(n_queues, rate), seed=7,
                           start_ms=end_ms - int(hours * 3_600_000), duration_seconds=hours * 3600,
                           daily_curve=False, drain=False, **CONTACTS_ONLY)  # fmt: skip
        events = list(itertools.islice(simulate(config), n_events))
        if len(events) == n_events:
            return events
        rate *= 1.3


def mixed_events(n_events: int, n_queues: int, end_ms: int) -> list[dict[str, Any]]:
    """Exactly `n_events` simulated events with every family on: the queues' contacts, their
    agents' states, ticket desks and survey responses, in the 2 hours before end_ms."""
    hours = 2.0
    rate = n_events / n_queues / EVENTS_PER_CONTACT / hours * 0.5
    while True:
        config = SimConfig(bench_queues(n_queues, rate), seed=7,
                           start_ms=end_ms - int(hours * 3_600_000), duration_seconds=hours * 3600,
                           daily_curve=False, drain=False)  # fmt: skip
        events = list(itertools.islice(simulate(config), n_events))
        if len(events) == n_events:
            return events
        rate *= 1.3


def day_events(n_queues: int, contacts_per_hour: float, end_ms: int) -> list[dict[str, Any]]:
    """A day of steady traffic on `n_queues` queues, ending at `end_ms`."""
    config = SimConfig(bench_queues(n_queues, contacts_per_hour, handle_s=300), seed=11,
                       start_ms=end_ms - 86_400_000, duration_seconds=86_400,
                       daily_curve=False, drain=False, **CONTACTS_ONLY)  # fmt: skip
    return list(simulate(config))


def live_events(n_queues: int, rate: float, seconds: float, start_ms: int) -> list[dict[str, Any]]:
    """About `rate` events/s over `n_queues` queues for `seconds`, from start_ms."""
    contacts_per_hour = rate / EVENTS_PER_CONTACT / n_queues * 3600
    for _ in range(3):  # calibrate the arrival rate to the events/s wanted
        queues = bench_queues(n_queues, contacts_per_hour, handle_s=60, patience_s=60)
        config = SimConfig(queues, seed=5, start_ms=start_ms, duration_seconds=seconds,
                           daily_curve=False, drain=False, **CONTACTS_ONLY)  # fmt: skip
        events = list(simulate(config))
        achieved = len(events) / seconds
        if abs(achieved / rate - 1) < 0.03:
            break
        contacts_per_hour *= rate / achieved
    return events
