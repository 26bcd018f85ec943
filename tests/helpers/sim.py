"""Simulator runs for the tests: traffic from Monday 2026-01-05 00:00 UTC, queues with round
defaults, and the checks every run of the simulator must pass, whatever its configuration."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import strategies as st

from ccpulse.schemas import decode_message, routing_key
from ccpulse.sources.simulator import SimConfig, SimQueue, batched, simulate

Ev = dict[str, Any]

#: Monday 2026-01-05 00:00 UTC.
START_MS = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000
#: A "now" far after every simulated instant, so that nothing is refused as from the future.
FAR_FUTURE_MS = START_MS + 400 * 86_400_000


def run(
    queues: list[SimQueue], hours: float, seed: int = 7, start_ms: int = START_MS, **flags: Any
) -> list[Ev]:
    """`hours` of simulated events; `flags` are SimConfig's (the daily curve is off unless
    asked for)."""
    flags.setdefault("daily_curve", False)
    return list(simulate(SimConfig(queues, seed, start_ms, hours * 3600, **flags)))


def queue(name: str = "q", **kwargs: Any) -> SimQueue:
    """A queue of 5 agents, 60 arrivals an hour, 5-minute handling and 2-minute patience, but
    for what `kwargs` set."""
    values: dict[str, Any] = {
        "agents": 5,
        "arrivals_per_hour": 60.0,
        "mean_handle_seconds": 300.0,
        "mean_patience_seconds": 120.0,
    }
    values.update(kwargs)
    return SimQueue(name, **values)


@st.composite
def any_queue(draw: st.DrawFn, /, name: str, max_wait: bool = False, **fixed: Any) -> SimQueue:
    """A queue with any staffing (none included), traffic, handling time, patience (endless
    included), capacity and opening hours, and with `max_wait` any maximum wait; `fixed` sets
    the rest (tenant, channel, time zone...)."""
    open_hours = draw(st.one_of(st.none(), st.tuples(st.integers(0, 23), st.integers(1, 24))))
    if open_hours is not None and open_hours[0] == open_hours[1]:
        open_hours = None  # not a valid setting: the hours must differ
    if max_wait:
        fixed["max_wait_seconds"] = draw(st.one_of(st.none(), st.floats(0, 600)))
    return queue(
        name,
        agents=draw(st.integers(0, 6)),
        arrivals_per_hour=draw(st.floats(0, 400)),
        mean_handle_seconds=draw(st.floats(1, 1200)),
        mean_patience_seconds=draw(st.one_of(st.just(math.inf), st.floats(1, 600))),
        capacity=draw(st.integers(0, 10)),
        open_hours=open_hours,
        **fixed,
    )


def decode_all(events: list[Ev]) -> list[Any]:
    """The events decoded in the batches the simulator sends: none refused, each batch under
    the routing key of every event in it."""
    decoded = []
    for key, batch in batched(events, 500):
        result = decode_message(orjson.dumps(batch), now_ms=FAR_FUTURE_MS)
        assert not result.rejections, [r.describe() for r in result.rejections[:3]]
        assert {routing_key(e) for e in result.events} == {key}
        decoded.extend(result.events)
    return decoded


def check_stream(events: list[Ev]) -> None:
    """Whole-millisecond timestamps in time order, and no event id twice."""
    ts = [e["ts"] for e in events]
    assert all(isinstance(t, int) for t in ts)
    assert ts == sorted(ts), "events out of time order"
    assert len({e["event_id"] for e in events}) == len(events), "duplicate event ids"
