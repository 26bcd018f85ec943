"""One fetch of the input topic applied through the pipeline, its state written in bounds.

The consumer's bulk lane (streams/bulk_lane.py) hands the worker a fetch's records per
partition; the worker (streams/app.py) applies them here, then marks their offsets. Kept free of
Faust, so that the write bound is tested on its own (tests/unit/test_fetch.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline, family_runs

log = logging.getLogger("ccpulse.worker")


async def apply_fetch(
    pipeline: Pipeline,
    batches: Sequence[tuple[Any, Sequence[Any]]],
    dead_letter: Callable[[DeadLetter], None],
    write_state: Callable[[], Awaitable[None]],
    write_every_events: int,
) -> None:
    """Apply a fetch's records (per partition, in offset order), then queue their state
    writes with `write_state`; also after every `write_every_events` events within the fetch,
    so that a fetch of big messages never holds all its records in memory at once. A message
    that cannot be processed is dead-lettered, and the rest of the fetch goes on."""
    health = pipeline.health
    process = pipeline.process
    pipeline.read_clock(int(time.time() * 1000))  # no flush snapshots before this instant
    written_at = health.messages_events
    for _tp, records in batches:
        for m in family_runs(records):  # each engine's events in turn, in offset order
            msg = m if m.value is not None else Message(m.topic, m.partition, m.offset,
                                                        m.key, b"")  # fmt: skip
            try:
                process(msg, dead_letter)
            except Exception as exc:  # a crash here would skip the rest of the batch
                log.exception("message %s[%d]@%d could not be processed", m.topic,
                              m.partition, m.offset)  # fmt: skip
                health.invalid += 1
                error = f"message could not be processed: {type(exc).__name__}: {exc}"
                dead_letter(DeadLetter("invalid", error, msg.value, msg))
            if health.messages_events - written_at >= write_every_events:
                await write_state()  # a big fetch: keep its writes in bounds
                written_at = health.messages_events
    # Shielded: records drained from the engines must reach the client's batches even if
    # the fetch loop is cancelled meanwhile (a shutdown).
    await asyncio.shield(write_state())
