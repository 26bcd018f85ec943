"""The README's first command: `ccpulse demo` brings up broker, Redis, worker, simulator,
wallboard and Prometheus, publishes live figures, and shuts everything down by itself, on
Ctrl-C or on SIGTERM.

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
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis

from ccpulse.demo import DEMO_CONFIG

pytestmark = pytest.mark.integration

QUEUES = ["acme/chat", "acme/sales", "acme/support", "globex/billing", "globex/email",
          "globex/helpdesk"]  # fmt: skip
#: What the banner names, with the pattern of the line that gives its port.
BANNER = {
    "redis": r"redis\s+redis://127\.0\.0\.1:(\d+)/0",
    "metrics": r"metrics\s+http://127\.0\.0\.1:(\d+)/metrics",
    "wallboard": r"wallboard\s+http://127\.0\.0\.1:(\d+)/",
    "prometheus": r"prometheus\s+http://127\.0\.0\.1:(\d+)",
}


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str], dict[str, int]]:
    """The demo, once it has printed where its Redis, metrics, wallboard and Prometheus are."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccpulse.cli", "demo", "--backfill-hours", "24", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output: list[str] = []
    ports: dict[str, int] = {}
    for line in proc.stdout:
        output.append(line)
        for name, pattern in BANNER.items():
            found = re.search(pattern, line)
            if found:
                ports[name] = int(found.group(1))
        if len(ports) == len(BANNER) and line.lstrip().startswith("updates"):  # its last line
            break
    assert len(ports) == len(BANNER), "".join(output)
    return proc, output, ports


def _published(
    client: redis.Redis, timeout: float, prefix: str = "ccpulse"
) -> tuple[list[str], int]:
    """The queue index and the contacts offered today over all queues, once both are in."""
    deadline = time.monotonic() + timeout
    queues: list[str] = []
    offered_today = 0
    while time.monotonic() < deadline:
        queues = sorted(q.decode() for q in client.zrange(f"{prefix}:queues", 0, -1))  # type: ignore[union-attr]
        if len(queues) == len(QUEUES):
            offered_today = sum(
                int(client.hget(f"{prefix}:queue:{q.replace('/', ':')}",
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


def _prometheus_scrapes_with_rules(port: int, timeout: float) -> bool:
    """The demo's Prometheus has loaded the shipped rules and scrapes the worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            base = f"http://127.0.0.1:{port}/api/v1"
            with urllib.request.urlopen(f"{base}/rules", timeout=5) as resp:
                groups = {g["name"] for g in json.loads(resp.read())["data"]["groups"]}
            query = urllib.parse.quote('up{job="ccpulse"} == 1')
            with urllib.request.urlopen(f"{base}/query?query={query}", timeout=5) as resp:
                up = json.loads(resp.read())["data"]["result"]
            if "ccpulse-service-level.alerts" in groups and up:
                return True
        except OSError:
            pass
        time.sleep(1)
    return False


def _banner_page(output: list[str], name: str) -> str:
    """The page at the first URL of the banner line `name`."""
    line = next(line for line in output if line.strip().startswith(name))
    url = re.search(r"http://\S+", line)
    assert url, line
    with urllib.request.urlopen(url.group(0), timeout=10) as resp:
        return str(resp.read().decode())


def _assert_stopped_cleanly(
    proc: subprocess.Popen[str], output: list[str], client: redis.Redis, ports: dict[str, int]
) -> None:
    """Exit status 0, the goodbye line, and nothing the demo started still answering."""
    assert proc.returncode == 0, "".join(output)
    assert "stopping worker, broker and redis" in "".join(output)
    with pytest.raises(redis.ConnectionError):
        client.ping()  # the demo's Redis is gone
    for url in (
        f"http://127.0.0.1:{ports['metrics']}/metrics",  # the worker
        f"http://127.0.0.1:{ports['wallboard']}/api/status",
        f"http://127.0.0.1:{ports['prometheus']}/-/ready",
    ):
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=5)


def _time_zones(client: redis.Redis, prefix: str) -> dict[str, str]:
    return {
        q: client.hget(f"{prefix}:queue:{q.replace('/', ':')}", "time_zone").decode()  # type: ignore[union-attr]
        for q in QUEUES
    }


def test_demo_publishes_figures_with_its_config_and_stops_cleanly(tmp_path: Path) -> None:
    """A configuration given to the demo is the worker's too: its key prefix, its zones."""
    config = tmp_path / "cfg.toml"
    config.write_text(DEMO_CONFIG.read_text() + '\n[redis]\nkey_prefix = "mydemo"\n')
    proc, output, ports = _start("--duration", "40", "--config", str(config))
    assert any("zrange mydemo:queues" in line for line in output)
    client = redis.Redis(port=ports["redis"])
    try:
        queues, offered_today = _published(client, timeout=35, prefix="mydemo")
        zones = _time_zones(client, "mydemo")
        shown = _wallboard_queues(f"http://127.0.0.1:{ports['wallboard']}", timeout=20)
        prometheus_ok = _prometheus_scrapes_with_rules(ports["prometheus"], timeout=20)
        alerts_page = _banner_page(output, "prometheus")
        output.append(proc.communicate(timeout=90)[0])
    finally:
        if proc.poll() is None:
            proc.kill()
    assert queues == QUEUES, "".join(output)
    assert offered_today > 0
    assert zones == {q: "Europe/London" if q.startswith("acme/") else "America/New_York"
                     for q in QUEUES}  # fmt: skip
    assert shown == QUEUES  # the demo's wallboard serves the same queues (and prefix)
    assert prometheus_ok, "".join(output)  # its Prometheus runs the shipped rules
    assert "QueueServiceLevelBudgetBurnFast" in alerts_page  # and the banner's page shows them
    _assert_stopped_cleanly(proc, output, client, ports)


def test_sigterm_stops_the_demo_and_everything_it_started() -> None:
    """Without --config, the demo runs on its own file, which matches the simulator."""
    proc, output, ports = _start()
    client = redis.Redis(port=ports["redis"])
    try:
        queues, _ = _published(client, timeout=35)
        assert queues == QUEUES, "".join(output)
        assert _time_zones(client, "ccpulse")["globex/billing"] == "America/New_York"
        proc.send_signal(signal.SIGTERM)
        output.append(proc.communicate(timeout=60)[0])
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_stopped_cleanly(proc, output, client, ports)
