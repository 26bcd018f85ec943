"""Faust's parts with less work per message: what a Faust worker spends per message, not the
KPI arithmetic, limits single-event input (docs/performance.md). Same behaviour otherwise.

* `Transport` / `Consumer`: a configurable broker-side fetch wait (Faust fixes 1.5 s), and a
  message hand-off without asyncio tasks. Faust hands every fetched message to the agents'
  buffers through `wait_first(callback(message), suspend_flow.wait())`: four tasks and an
  `asyncio.wait` per message. Here the hand-off runs directly; only when it has to wait (a full
  buffer) does it go on under `wait_first`, so a rebalance still abandons it as in Faust.
  While every partition is paused for a full agent buffer, the next fetch is tried after 50 ms
  rather than after Faust's fixed 1-s sleep.
* A commit guard: before committing offsets, the consumer flushes the producer and asks the
  app's `commit_guard` whether a state write has failed; if one has, it commits nothing and
  stops the worker (a restart replays from the last commit).
* Two fixes to Faust's fetch that a SIGKILL-and-restart test found (docs/exactly-once.md):
  the consumer thread is given a copy of the active partitions, not Faust's live set, so a
  fetch that was started while the changelogs were being read cannot return stream records
  once recovery empties the set (aiokafka reads an empty set as "every partition", and Faust
  then drops those records as not active, with the position already past them); and seeking
  to the committed offsets also moves a partition with no committed offset (or offset 0),
  which aiokafka's `seek_to_committed` leaves where the last fetch left it.
* `RawSchema`: the message's key and value bytes as they are (no codec look-ups).
* `QuietMonitor`: Faust's monitor without its per-message statistics, which only Faust's web
  views read (the worker runs without them; ccpulse's own figures are in /metrics).
* `Worker`: Faust's worker without its start-up spinner, which leaves the root logger at
  DEBUG for good, so every debug call of Faust and aiokafka builds a log record; and with the
  garbage collector's youngest generation collected every 50,000 allocations rather than 700
  (a worker allocates a few dozen objects per message, nearly all freed by reference
  counting; the default spent ~15 % of a single-event run in collections), and the middle
  generation every 40 of those rather than 10: objects that live a while, such as the
  buckets a queue's latest event counted in (replaced at its next event), are then mostly
  freed before a collection visits them again. Catching up on 10,000 queues, collections
  took about 2.4 µs an event with 10 and 1.5 µs with 40; on 200 queues, 0.55 µs with either.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.consumer.fetcher import OffsetResetStrategy
from faust.sensors.monitor import Monitor
from faust.serializers.schemas import Schema
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service, ServiceT

from ccpulse.streams.bulk_lane import BulkLane, bulk_batches

#: Faust's broker-side fetch wait; the app sets its own (`kafka.fetch_max_wait_ms`).
FAUST_FETCH_MAX_WAIT_MS = 1500


@types.coroutine
def _carry_on(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Generator[Any, None, Any]:
    """Continue `coro`, started by hand and now waiting on `waiting_on`, as `await` would:
    what it waits on goes to the running task, and a cancellation is passed into it."""
    while True:
        try:
            yield waiting_on
        except BaseException as exc:  # forwarded, as `await` forwards it
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                waiting_on = coro.send(None)
            except StopIteration as stop:
                return stop.value


async def _resume(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    return await _carry_on(coro, waiting_on)


class Consumer(BulkLane, faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a task-free message hand-off and the bulk lane (see the
    module doc)."""

    #: While every partition is paused for a full agent buffer, look again this often.
    paused_poll_seconds = 0.05
    #: How long a full agent buffer is given to drain before the next message is handed
    #: over anyway (Faust's way); a safety net: the drain normally signals sooner.
    drain_wait_seconds = 1.0
    #: Set when no partition is paused for a full agent buffer any more (made on first use).
    _drained: asyncio.Event | None = None

    def on_buffer_drop(self, tp: TP) -> None:
        super().on_buffer_drop(tp)
        if self._drained is not None and not self._buffered_partitions:
            self._drained.set()

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        """Faust's commit, refused (and the worker stopped) once the app's `commit_guard`
        reports a failed write: offsets must not run ahead of the state they stand for."""
        guard: Callable[[], BaseException | None] | None = getattr(self.app, "commit_guard", None)
        if guard is not None:
            await self.app.producer.flush()  # every write sent so far has succeeded or failed
            failure = guard()
            if failure is not None:
                self.log.error("not committing offsets: a state write failed (%r)", failure)
                await self.crash(failure)
                return False
        return await super()._commit_offsets(offsets, start_new_transaction)

    async def _deliver(self, callback: Callable[[Any], Awaitable[None]], message: Any) -> None:
        """`await wait_first(callback(message), suspend_flow.wait())`, without its four tasks
        when the callback completes at once (the agent's buffer has room)."""
        if self.suspend_flow.is_set():
            await self.wait_first(callback(message), self.suspend_flow.wait())
            return
        coro = cast(Coroutine[Any, Any, None], callback(message))
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return
        await self.wait_first(_resume(coro, waiting_on), self.suspend_flow.wait())
        # The buffer was full. Faust has paused fetching the partitions that filled it and
        # resumes them once the agent has drained it to 40 %: wait for that once, rather than
        # hand over each message already fetched as soon as one slot frees.
        if self._buffered_partitions and not self.suspend_flow.is_set():
            if self._drained is None:
                self._drained = asyncio.Event()
            self._drained.clear()
            await self.wait_first(
                self._drained.wait(), self.suspend_flow.wait(), timeout=self.drain_wait_seconds
            )

    async def _wait_next_records(self, timeout: float) -> tuple[Any, set[TP] | None]:
        """Faust's, except when every partition is paused for a full agent buffer: Faust then
        sleeps 1 s, and an agent that drains its buffer sooner idles for the rest of it; here
        the consumer looks again every 50 ms."""
        if not self.flow_active:
            await self.wait(self.can_resume_flow)  # type: ignore[arg-type]  # mode's stubs
        try:
            self.not_waiting_next_records.set()
            if self.app.client_only:
                return await self._getmany(active_partitions=None, timeout=timeout), None
            active_partitions = self._get_active_partitions()
            if active_partitions:
                # A copy: the thread reads it while the fetch waits, and recovery and rebalances
                # change the live set meanwhile (the module doc).
                records = await self._getmany(
                    active_partitions=set(active_partitions), timeout=timeout
                )
                return records, active_partitions
            await self.sleep(self.paused_poll_seconds)
            return {}, active_partitions
        finally:
            self.not_waiting_next_records.set()

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover
        """Faust's fetch loop (faust-streaming 0.15), with `_deliver` as the hand-off, and the
        bulk topics' records handed over a fetch at a time (streams/bulk_lane.py)."""
        callback = self.callback
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        deliver = self._deliver
        to_message = self._to_message
        bulk_route = self.bulk_route()
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                records, active = await self._wait_next_records(1.0)
                await self.sleep(0)  # a fetch can return without giving the event loop a turn
                if not records or self.should_stop:
                    unset_flag(CONSUMER_FETCHING)
                    continue
                if not self.flow_active:
                    await self.perform_seek()  # as Faust's getmany: read again from commits
                    unset_flag(CONSUMER_FETCHING)
                    continue
                generation_id = self.app.consumer_generation_id
                bulk, rest = bulk_batches(records, bulk_route, active,
                                          self._buffered_partitions)  # fmt: skip
                for handler, batches in bulk.items():
                    await self.bulk_deliver(handler, batches, generation_id)
                for tp, record in self.scheduler.iterate(rest) if rest else ():
                    if not self.flow_active or generation_id != self.app.consumer_generation_id:
                        break
                    if not (active is None or tp in active or tp in self._buffered_partitions):
                        continue
                    message = to_message(tp, record)
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        await deliver(callback, message)
                        set_read_offset(tp, offset)
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


async def seek_to_committed(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int | None]:
    """Seek every assigned partition to its committed offset, and a partition without one to
    where the reset policy (`auto_offset_reset`) says a new consumer starts.

    aiokafka's own `seek_to_committed` leaves a partition with no committed offset, or with
    offset 0, at its current position; after records were fetched and dropped (a rebalance,
    recovery) that position lies past them, and they would never be read.
    """
    fetcher = consumer._fetcher
    committed: dict[TopicPartition, int | None] = {}
    uncommitted = []
    for tp in consumer.assignment():
        offset = committed[tp] = await consumer.committed(tp)
        if offset is not None and offset >= 0:
            fetcher.seek_to(tp, offset)
        else:
            uncommitted.append(tp)
    if uncommitted and fetcher._default_reset_strategy != OffsetResetStrategy.NONE:
        await fetcher.request_offset_reset(uncommitted, fetcher._default_reset_strategy)
    return committed


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with a configurable broker-side fetch wait (Faust fixes 1.5 s)
    and a seek to the committed offsets that also moves uncommitted partitions (see
    `seek_to_committed`)."""

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(
            "Mapping[TP, int]",
            await self.call_thread(seek_to_committed, self._ensure_consumer()),
        )

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher; not started yet here.
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport with the consumer above."""

    Consumer = Consumer
    fetch_max_wait_ms = FAUST_FETCH_MAX_WAIT_MS


class RawSchema(Schema):  # type: ignore[type-arg]
    """Key and value as the bytes the message carries; the pipeline decodes them itself."""

    def loads_key(self, app: Any, message: Any, **_: Any) -> bytes | None:
        return cast("bytes | None", message.key)

    def loads_value(self, app: Any, message: Any, **_: Any) -> bytes | None:
        return cast("bytes | None", message.value)


class QuietMonitor(Monitor):
    """Faust's monitor with the per-message and per-event statistics left out."""

    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        return None


def _exit_after_timeout(seconds: float) -> None:
    logging.getLogger("ccpulse.worker").error(
        "shutdown still not finished after %.0f s: exiting now", seconds
    )
    os._exit(1)


#: Allocations between two collections of the garbage collector's youngest generation.
GC_GEN0_THRESHOLD = 50_000
#: Collections of the youngest generation between two of the middle one.
GC_GEN1_THRESHOLD = 40


class Worker(faust.Worker):
    """Faust's worker without the start-up spinner (it sets the root logger to DEBUG), with
    fewer garbage collections (see the module doc), and with a bound on its shutdown.

    Faust's shutdown after SIGTERM or Ctrl-C can wait forever on a broker that has gone (its
    last commit and flush retry for good). The state is safe against any stop (a SIGKILL at
    any moment replays exactly, docs/exactly-once.md), so a shutdown that takes longer than
    `shutdown_timeout_seconds` ends the process.
    """

    shutdown_timeout_seconds = 30.0
    _shutdown_deadline: threading.Timer | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        gc.set_threshold(GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD, gc.get_threshold()[2])

    def _schedule_shutdown(self, signal: Any) -> None:
        super()._schedule_shutdown(signal)
        if self._shutdown_deadline is None:
            self._shutdown_deadline = threading.Timer(
                self.shutdown_timeout_seconds, _exit_after_timeout, (self.shutdown_timeout_seconds,)
            )
            self._shutdown_deadline.daemon = True
            self._shutdown_deadline.start()

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)
