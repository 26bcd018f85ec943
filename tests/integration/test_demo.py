"""The README's first command: `ccpulse demo` brings up broker, Redis, worker and simulator,
publishes live figures, and shuts everything down by itself, on Ctrl-C or on SIGTERM.

The simulated contact centre follows a daily curve in London and New York, so at night an hour
of history can leave a queue without a single contact: the tests backfill a day, and look for
contacts "today" across both time zones (their midnights never coincide)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import redis

pytestmark = pytest.mark.integration

#: The wallboard port of each demo started, by process id.
WALLBOARD_PORTS: dict[int, int] = {}
QUEUES = ["acme/chat", "acme/sales", "acme/support", "globex/billing", "globex/email",
          "globex/helpdesk"]  # fmt: skip


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str], int, int]:
    """The demo, once it has printed where its Redis, metrics and wallboard are."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccpulse.cli", "demo", "--backfill-hours", "24", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output: list[str] = []
    redis_port = metrics_port = wallboard_port = None
    for line in proc.stdout:
        output.append(line)
        found = re.search(r"metrics\s+http://127\.0\.0\.1:(\d+)/metrics", line)
        if found:
            metrics_port = int(found.group(1))
        found = re.search(r"redis\s+redis://127\.0\.0\.1:(\d+)/0", line)
        if found:
            redis_port = int(found.group(1))
        found = re.search(r"wallboard\s+http://127\.0\.0\.1:(\d+)/", line)
        if found:
            wallboard_port = int(found.group(1))
        if redis_port and metrics_port and wallboard_port:
            break
    assert redis_port and metrics_port and wallboard_port, "".join(output)
    WALLBOARD_PORTS[proc.pid] = wallboard_port
    return proc, output, redis_port, metrics_port


def _published(client: redis.Redis, timeout: float) -> tuple[list[str], int]:
    """The queue index and the contacts offered today over all queues, once both are in."""
    deadline = time.monotonic() + timeout
    queues: list[str] = []
    offered_today = 0
    while time.monotonic() < deadline:
        queues = sorted(q.decode() for q in client.zrange("ccpulse:queues", 0, -1))  # type: ignore[union-attr]
        if len(queues) == len(QUEUES):
            offered_today = sum(
                int(client.hget(f"ccpulse:queue:{q.replace('/', ':')}",
                                "today.all.offered") or 0)  # type: ignore[arg-type]
                for q in queues
            )  # fmt: skip
            if offered_today > 0:
                break
        time.sleep(1)
    return queues, offered_today


def _wallboard_queues(url: str, timeout: float) -> list[str]:
    """The queues the demo's wallboard API lists, once it lists them all."""
    deadline = time.monotonic() + timeout
    shown: list[str] = []
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/queues", timeout=5) as response:
                body = json.loads(response.read())
            shown = sorted(f"{q['tenant']}/{q['queue']}" for q in body["queues"])
        except OSError:
            shown = []
        if shown == QUEUES:
            break
        time.sleep(0.5)
    return shown


def _assert_stopped_cleanly(
    proc: subprocess.Popen[str], output: list[str], client: redis.Redis, metrics_port: int
) -> None:
    """Exit status 0, the goodbye line, and nothing the demo started still answering."""
    assert proc.returncode == 0, "".join(output)
    assert "stopping worker, broker and redis" in "".join(output)
    with pytest.raises(redis.ConnectionError):
        client.ping()  # the demo's Redis is gone
    with pytest.raises(OSError):  # and the worker's metrics endpoint with the worker
        urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)


def test_demo_publishes_figures_and_stops_cleanly() -> None:
    proc, output, redis_port, metrics_port = _start("--duration", "40")
    client = redis.Redis(port=redis_port)
    try:
        queues, offered_today = _published(client, timeout=35)
        wallboard = f"http://127.0.0.1:{WALLBOARD_PORTS[proc.pid]}"
        shown = _wallboard_queues(wallboard, timeout=20)
        output.append(proc.communicate(timeout=90)[0])
    finally:
        if proc.poll() is None:
            proc.kill()
    assert queues == QUEUES, "".join(output)
    assert offered_today > 0
    assert shown == QUEUES  # the demo's wallboard serves the same queues
    _assert_stopped_cleanly(proc, output, client, metrics_port)
    with pytest.raises(OSError):  # the wallboard went with the rest
        urllib.request.urlopen(f"{wallboard}/api/status", timeout=5)


def test_sigterm_stops_the_demo_and_everything_it_started() -> None:
    proc, output, redis_port, metrics_port = _start()
    client = redis.Redis(port=redis_port)
    try:
        queues, _ = _published(client, timeout=35)
        assert queues == QUEUES, "".join(output)
        proc.send_signal(signal.SIGTERM)
        output.append(proc.communicate(timeout=60)[0])
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_stopped_cleanly(proc, output, client, metrics_port)
