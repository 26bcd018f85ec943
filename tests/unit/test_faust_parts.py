"""The cheaper Faust parts: raw schemas give the message's bytes, the monitor keeps no
per-event statistics, and the worker keeps the requested log level."""

from __future__ import annotations

import gc
import logging
from types import SimpleNamespace

import faust

from ccpulse.streams.faust_parts import GC_GEN0_THRESHOLD, QuietMonitor, RawSchema, Worker


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
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
    finally:
        root.setLevel(saved_level)
        root.handlers[:] = saved_handlers
        gc.set_threshold(*saved_threshold)
