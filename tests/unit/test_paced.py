"""`paced` releases events as their event time comes, and a stop ends it at once, even while it
waits minutes for the next event of a quiet night."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ccpulse.sources.produce import paced


def _events(*ts_ms: int) -> list[dict[str, Any]]:
    return [{"ts": ts, "n": n} for n, ts in enumerate(ts_ms)]


def test_events_come_in_chunks_at_their_pace() -> None:
    async def scenario() -> list[list[int]]:
        return [
            [e["n"] for e in chunk] async for chunk in paced(_events(0, 100, 1_000), 10.0, 0.05)
        ]

    started = time.monotonic()
    assert asyncio.run(scenario()) == [[0, 1], [2]]
    assert time.monotonic() - started >= 0.09  # the third is due 1 s / 10 after the first


def test_a_stop_ends_the_wait_for_an_event_ten_minutes_away() -> None:
    async def scenario() -> tuple[list[list[int]], float]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, stop.set)
        started = time.monotonic()
        chunks = [[e["n"] for e in c] async for c in paced(_events(0, 600_000), 1.0, stop=stop)]
        return chunks, time.monotonic() - started

    chunks, took = asyncio.run(scenario())
    assert chunks == [[0]]
    assert took < 5.0
