"""The cheaper Faust parts behave as Faust's own: a message hand-off that completes at once needs
no task, one that has to wait goes on (or is abandoned) exactly as under `wait_first`; a fetch
drains only the partitions active when it started; raw schemas give the message's bytes; the
worker keeps the requested log level and bounds its shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
import time
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.transport.consumer import Consumer as FaustConsumer

from ccpulse.streams import faust_parts
from ccpulse.streams.faust_parts import (
    GC_GEN0_THRESHOLD,
    GC_GEN1_THRESHOLD,
    Consumer,
    QuietMonitor,
    RawSchema,
    Worker,
    _resume,
)


async def _put_two(queue: asyncio.Queue[int]) -> str:
    await queue.put(1)
    await queue.put(2)
    return "done"


def test_a_coroutine_started_by_hand_is_carried_on_to_its_result() -> None:
    async def scenario() -> tuple[list[int], str]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        coro = _put_two(queue)
        waiting_on = coro.send(None)  # the first put fits; the second waits for room
        assert waiting_on is not None
        task = asyncio.ensure_future(_resume(coro, waiting_on))
        await asyncio.sleep(0.01)
        assert not task.done()
        got = [await queue.get()]
        result = await task
        got.append(await queue.get())
        return got, result

    assert asyncio.run(scenario()) == ([1, 2], "done")


def test_cancelling_the_carried_on_coroutine_leaves_no_waiter_behind() -> None:
    async def scenario() -> tuple[bool, int]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        await queue.put(0)
        coro = _put_two(queue)
        task = asyncio.ensure_future(_resume(coro, coro.send(None)))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return coro.cr_frame is None, len(queue._putters)  # type: ignore[attr-defined]

    assert asyncio.run(scenario()) == (True, 0)


class _Handoff:
    """A conductor callback that puts each message into a bounded queue, as Faust's does."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxsize)
        self.calls = 0

    async def __call__(self, message: Any) -> None:
        self.calls += 1
        await self.queue.put(message)


def _consumer(buffered: set[str] | None = None) -> Any:
    """A `Consumer` with only what `_deliver` uses: `suspend_flow`, `wait_first` and the
    partitions paused for a full buffer."""
    consumer = Consumer.__new__(Consumer)
    waits: list[int] = []

    async def wait_first(*coros: Any, **_: Any) -> Any:
        waits.append(len(coros))
        futures = [asyncio.ensure_future(c) for c in coros]
        done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            fut.cancel()
        return done

    object.__setattr__(consumer, "__dict__", {})
    active: set[str] = set()
    consumer.__dict__.update(
        suspend_flow=asyncio.Event(), wait_first=wait_first, waits=waits,
        _buffered_partitions=buffered if buffered is not None else set(),
        _get_active_partitions=lambda: active, drain_wait_seconds=30.0,
    )  # fmt: skip
    return consumer


def test_a_message_the_buffer_has_room_for_is_handed_over_without_waiting() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        consumer, handoff = _consumer(), _Handoff(maxsize=10)
        for n in range(5):
            await Consumer._deliver(consumer, handoff, n)
        return [handoff.queue.get_nowait() for _ in range(5)], consumer.waits

    assert asyncio.run(scenario()) == ([0, 1, 2, 3, 4], [])


def test_a_message_for_a_full_buffer_waits_for_room_and_keeps_its_order() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        consumer, handoff = _consumer(), _Handoff(maxsize=1)
        await Consumer._deliver(consumer, handoff, 0)
        deliver = asyncio.ensure_future(Consumer._deliver(consumer, handoff, 1))
        await asyncio.sleep(0.01)
        assert not deliver.done()  # blocked: the buffer is full
        first = await handoff.queue.get()
        await deliver
        return [first, handoff.queue.get_nowait()], consumer.waits

    assert asyncio.run(scenario()) == ([0, 1], [2])


def test_after_waiting_for_room_the_next_hand_off_waits_until_the_buffer_has_drained() -> None:
    """Faust paused the partition that filled the buffer; the consumer goes on once it is
    resumed, not each time one slot frees."""

    async def scenario() -> tuple[bool, bool, list[int]]:
        consumer, handoff = _consumer(buffered={"tp-0"}), _Handoff(maxsize=1)
        await Consumer._deliver(consumer, handoff, 0)
        deliver = asyncio.ensure_future(Consumer._deliver(consumer, handoff, 1))
        await asyncio.sleep(0.01)
        await handoff.queue.get()  # room for message 1: it is put, then the drain is awaited
        await asyncio.sleep(0.01)
        waiting_for_drain = not deliver.done() and handoff.queue.qsize() == 1
        Consumer.on_buffer_drop(consumer, "tp-0")  # Faust resumes the partition
        await asyncio.wait_for(deliver, 1.0)
        return waiting_for_drain, deliver.done(), consumer.waits

    assert asyncio.run(scenario()) == (True, True, [2, 2])


def test_a_rebalance_abandons_a_hand_off_that_waits_for_room() -> None:
    async def scenario() -> tuple[int, int]:
        consumer, handoff = _consumer(), _Handoff(maxsize=1)
        await Consumer._deliver(consumer, handoff, 0)
        deliver = asyncio.ensure_future(Consumer._deliver(consumer, handoff, 1))
        await asyncio.sleep(0.01)
        consumer.suspend_flow.set()
        await asyncio.wait_for(deliver, 1.0)
        return handoff.queue.qsize(), len(handoff.queue._putters)  # type: ignore[attr-defined]

    assert asyncio.run(scenario()) == (1, 0)  # message 1 was not put, and nothing waits


def test_while_flow_is_suspended_every_hand_off_goes_through_wait_first() -> None:
    async def scenario() -> list[int]:
        consumer, handoff = _consumer(), _Handoff(maxsize=10)
        consumer.suspend_flow.set()
        await Consumer._deliver(consumer, handoff, 0)
        return consumer.waits

    assert asyncio.run(scenario()) == [2]


def test_a_fetch_drains_only_the_partitions_active_when_it_started() -> None:
    """Recovery pauses the changelogs (emptying Faust's live set) while a fetch waits in the
    consumer thread; aiokafka would then drain every partition, stream records included."""
    consumer = Consumer.__new__(Consumer)
    live = {"changelog-0", "changelog-1"}
    seen: list[set[str]] = []

    async def getmany(active_partitions: set[str], timeout: float) -> dict[str, list[int]]:
        live.clear()  # recovery has read the changelogs meanwhile and paused them
        seen.append(set(active_partitions))
        return {}

    consumer.flow_active = True
    consumer.not_waiting_next_records = asyncio.Event()
    consumer.app = SimpleNamespace(client_only=False)
    consumer._get_active_partitions = lambda: live
    consumer._getmany = getmany

    asyncio.run(consumer._wait_next_records(timeout=0.1))
    assert seen == [{"changelog-0", "changelog-1"}]


def test_the_raw_schema_gives_the_message_bytes_untouched() -> None:
    message = SimpleNamespace(key=b"acme/sales", value=b'{"type": "contact.offered"}')
    schema = RawSchema(key_type=bytes, value_type=bytes)
    assert schema.loads_key(None, message) == b"acme/sales"
    assert schema.loads_value(None, message) == b'{"type": "contact.offered"}'


def test_the_quiet_monitor_keeps_no_per_event_statistics() -> None:
    monitor = QuietMonitor()
    before = monitor.events_active, len(monitor.events_runtime)
    state = monitor.on_stream_event_in(None, 1, None, None)  # type: ignore[arg-type]
    monitor.on_stream_event_out(None, 1, None, None, state)  # type: ignore[arg-type]
    monitor.on_message_in(None, 1, None)  # type: ignore[arg-type]
    assert (monitor.events_active, len(monitor.events_runtime)) == before


def test_the_worker_keeps_the_requested_log_level_and_collects_garbage_less_often() -> None:
    app = faust.App("faust-parts-test", broker="kafka://127.0.0.1:1", web_enabled=False)
    root, saved_level, saved_handlers = (
        logging.getLogger(),
        logging.root.level,
        logging.root.handlers[:],
    )
    saved_threshold = gc.get_threshold()
    try:
        worker = Worker(app, loglevel="warning", quiet=True)
        worker._setup_logging()
        assert root.level == logging.WARNING  # Faust's own worker leaves it at DEBUG
        assert not root.isEnabledFor(logging.DEBUG)
        assert gc.get_threshold()[:2] == (GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD)
    finally:
        root.setLevel(saved_level)
        root.handlers[:] = saved_handlers
        gc.set_threshold(*saved_threshold)


def test_a_shutdown_that_never_ends_ends_the_process_after_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exits: list[float] = []
    exited = threading.Event()

    def record_exit(seconds: float) -> None:
        exits.append(seconds)
        exited.set()

    monkeypatch.setattr(faust_parts, "_exit_after_timeout", record_exit)
    # Faust's own shutdown, here one that never finishes (a broker that went away first).
    monkeypatch.setattr(faust.Worker, "_schedule_shutdown", lambda self, signum: None)
    worker = Worker.__new__(Worker)
    worker.shutdown_timeout_seconds = 0.05
    worker._schedule_shutdown(signal.SIGTERM)
    worker._schedule_shutdown(signal.SIGINT)  # a second signal starts no second clock
    assert exited.wait(5)
    time.sleep(0.1)
    assert exits == [0.05]


class _CommitApp:
    """What the commit guard uses of the app: the producer's flush and `commit_guard`."""

    def __init__(self, failure: BaseException | None) -> None:
        self.failure = failure
        self.flushes = 0
        self.producer = SimpleNamespace(flush=self._flush)

    async def _flush(self) -> None:
        self.flushes += 1

    def commit_guard(self) -> BaseException | None:
        return self.failure


def _committing_consumer(
    app: _CommitApp, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[Any], list[BaseException]]:
    committed: list[Any] = []
    crashes: list[BaseException] = []

    async def faust_commit(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
        committed.append(dict(offsets))
        return True

    async def crash(exc: BaseException) -> None:
        crashes.append(exc)

    monkeypatch.setattr(FaustConsumer, "_commit_offsets", faust_commit)
    consumer = Consumer.__new__(Consumer)
    consumer.app = app
    consumer.log = logging.getLogger("test")
    consumer.crash = crash
    return consumer, committed, crashes


def test_offsets_are_committed_while_every_state_write_succeeded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _CommitApp(failure=None)
    consumer, committed, crashes = _committing_consumer(app, monkeypatch)
    assert asyncio.run(consumer._commit_offsets({"tp": 7})) is True
    assert (committed, crashes, app.flushes) == ([{"tp": 7}], [], 1)


def test_no_offset_is_committed_once_a_state_write_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = RuntimeError("broker refused the batch")
    app = _CommitApp(failure=refused)
    consumer, committed, crashes = _committing_consumer(app, monkeypatch)
    assert asyncio.run(consumer._commit_offsets({"tp": 7})) is False
    assert (committed, crashes) == ([], [refused])
