"""Faust's parts with less work per message: what a Faust worker spends per message, not the
KPI arithmetic, limits single-event input (docs/performance.md). Same behaviour otherwise.

* `Transport` / `Consumer`: a configurable broker-side fetch wait (Faust fixes 1.5 s). Faust's
  message hand-off (four asyncio tasks per message under `wait_first`) and its 1-s sleep while
  every partition is paused for a full buffer are kept as they are: cheaper versions of both
  doubled a no-op agent's rate, but with them the SIGKILL recovery test failed intermittently
  (docs/performance.md).
* `RawSchema`: the message's key and value bytes as they are (no codec look-ups).
* `QuietMonitor`: Faust's monitor without its per-message statistics, which only Faust's web
  views read (the worker runs without them; ccpulse's own figures are in /metrics).
* `Worker`: Faust's worker without its start-up spinner, which leaves the root logger at
  DEBUG for good, so every debug call of Faust and aiokafka builds a log record; and with the
  garbage collector's youngest generation collected every 50,000 allocations rather than 700
  (a worker allocates a few dozen objects per message, nearly all freed by reference
  counting; the default spent ~15 % of a single-event run in collections).
"""

from __future__ import annotations

import gc
import logging
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer
from faust.sensors.monitor import Monitor
from faust.serializers.schemas import Schema
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

#: Faust's broker-side fetch wait; the app sets its own (`kafka.fetch_max_wait_ms`).
FAUST_FETCH_MAX_WAIT_MS = 1500


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, on the consumer thread below."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with a configurable broker-side fetch wait (Faust fixes 1.5 s)."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher; not started yet here.
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport with the consumer above."""

    Consumer = Consumer
    fetch_max_wait_ms = FAUST_FETCH_MAX_WAIT_MS


class RawSchema(Schema):
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


#: Allocations between two collections of the garbage collector's youngest generation.
GC_GEN0_THRESHOLD = 50_000


class Worker(faust.Worker):
    """Faust's worker without the start-up spinner (it sets the root logger to DEBUG), and
    with fewer garbage collections (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)
