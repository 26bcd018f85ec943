"""Pieces of the wallboard's integration tests: the `ccpulse wallboard` server as a process, a
Kafka producer kept open on its own thread (Playwright's sync API owns the test thread's event
loop), and the page's number formats (docs/wallboard.md#formats) to compare tiles with the
report."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ccpulse.embedded import free_port
from ccpulse.processes import ccpulse_argv, start_process, stop_process
from ccpulse.sources.produce import EventProducer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
NO_VALUE = "–"


@contextlib.contextmanager
def wallboard_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """`ccpulse wallboard` on a free port; its base URL once it has read Redis."""
    port = free_port()
    proc = start_process(ccpulse_argv("wallboard", "--port", str(port)), log, env, tied=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"wallboard exited: {log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, httpx.HTTPError):
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                if httpx.get(f"{url}/api/status", timeout=2).json()["loaded"]:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"wallboard never read Redis: {log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        stop_process(proc, 10)


class ThreadedProducer:
    """An EventProducer started once and used from synchronous code."""

    def __init__(self, broker: str, topic: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> EventProducer:  # made on its loop: aiokafka binds to it
            return await EventProducer(broker, topic).__aenter__()

        self.producer: EventProducer = self._run(start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def send(self, events: list[dict[str, Any]]) -> None:
        """Returns once the broker has acknowledged every event."""
        self._run(self.producer.send(events, batch_size=1))

    def close(self) -> None:
        self._run(self.producer.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def js_round(value: float) -> int:
    """JavaScript's Math.round (halves up), which the page uses."""
    return math.floor(value + 0.5)


def fmt_count(value: float | None) -> str:
    return NO_VALUE if value is None else str(js_round(value))


def fmt_percent(value: float | None) -> str:
    return NO_VALUE if value is None else f"{js_round(value * 100)}%"


def fmt_duration(value: float | None) -> str:
    if value is None:
        return NO_VALUE
    total = max(0, math.floor(value))
    if total < 60:
        return f"{total}s"
    h, m, s = total // 3600, total % 3600 // 60, total % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def expected_tiles(snapshot: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """(figure text, line under it) of each queue tile, from a report snapshot of the queue."""
    interval = snapshot["channels"]["all"]["current_interval"]["figures"]
    today = snapshot["channels"]["all"]["today"]["figures"]
    live = snapshot["live"]["all"]
    out = {"in_queue": (fmt_count(live["in_queue"]), "now")}
    for name, window in (("service_level_interval", interval), ("service_level_today", today)):
        out[name] = (fmt_percent(window["service_level"]),
                     f"target {fmt_percent(window['service_level_target'])}")  # fmt: skip
    for name in ("offered", "answered"):
        out[name] = (fmt_count(interval[name]), f"today {fmt_count(today[name])}")
    out["abandoned"] = (fmt_count(interval["abandoned"]),
                        f"{fmt_percent(interval['abandonment_rate'])} · "
                        f"today {fmt_count(today['abandoned'])}")  # fmt: skip
    out["asa"] = (fmt_duration(interval["asa_seconds"]),
                  f"today {fmt_duration(today['asa_seconds'])}")  # fmt: skip
    return out
