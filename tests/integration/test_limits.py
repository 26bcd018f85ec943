"""Cardinality caps on a running worker: a queue or agent past its cap is dead-lettered
`over_limit`, counted in /metrics and never written to Redis; the queues within the cap stay
exact."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Deployment
from tests.integration.helpers import local_noon_zone

pytestmark = pytest.mark.integration


def offered(queue: str, n: int, now: int) -> dict[str, Any]:
    return {
        "event_id": f"{queue}-{n}", "type": "contact.offered", "ts": now - 60_000 + n,
        "tenant": "acme", "queue": queue, "channel": "voice", "contact_id": f"{queue}-c{n}",
    }  # fmt: skip


def login(agent: str, now: int) -> dict[str, Any]:
    return {"event_id": f"login-{agent}", "type": "agent.state", "ts": now - 30_000,
            "tenant": "acme", "agent_id": agent, "state": "available"}  # fmt: skip


def wait_for_metric(dep: Deployment, name: str, value: float, timeout: float = 30.0) -> None:
    """Poll /metrics (refreshed at each flush) until the sample `name` reads `value`."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        url = f"http://127.0.0.1:{dep.metrics_ports[0]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith(name + " "):
                    seen = float(line.split()[-1])
        if seen == value:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} is {seen}, not {value}")


def test_queues_and_agents_past_the_caps_are_dead_lettered_and_counted(
    deployment: Deployment, tmp_path: Path
) -> None:
    config = tmp_path / "ccpulse.toml"
    # The contacts are a minute old and counted "today": in a zone where it is about noon, no
    # midnight falls between them and the worker's figures, whatever the time of the run.
    config.write_text(
        f'[defaults]\ntime_zone = "{local_noon_zone()}"\n\n'
        "[limits]\nmax_queues_per_tenant = 1\nmax_agents_per_tenant = 2\n"
    )
    deployment.config = config
    now = int(time.time() * 1000)
    deployment.start_worker()
    deployment.produce([offered("sales", n, now) for n in range(5)], batch_size=5)
    deadline = time.monotonic() + 60
    while not deployment.queue_hash("acme", "sales") and time.monotonic() < deadline:
        time.sleep(0.5)
    deployment.produce([offered("support", n, now) for n in range(4)], batch_size=2)
    deployment.produce([login(f"a{i}", now) for i in range(3)], batch_size=1)
    deployment.produce([offered("sales", 9, now)], batch_size=1)  # a flush refreshes /metrics
    letters = deployment.dead_letters(5)
    assert sorted(d["reason"] for d in letters) == ["over_limit"] * 5
    assert sum("max_queues_per_tenant = 1" in d["error"] for d in letters) == 4
    assert sum("max_agents_per_tenant = 2" in d["error"] for d in letters) == 1
    wait_for_metric(deployment, 'ccpulse_over_limit_events_total{limit="queues"}', 4)
    wait_for_metric(deployment, 'ccpulse_over_limit_events_total{limit="agents"}', 1)
    wait_for_metric(deployment, 'ccpulse_events_dead_lettered_total{reason="over_limit"}', 5)
    assert deployment.queue_hash("acme", "support") == {}
    deadline = time.monotonic() + 30
    while deployment.queue_hash("acme", "sales").get("today.all.offered") != "6":
        assert time.monotonic() < deadline, deployment.queue_hash("acme", "sales")
        time.sleep(0.5)
    log = deployment.logs[0].read_text()
    assert log.count("over limit: queue 'acme'/'support'") == 1
