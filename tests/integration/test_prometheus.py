"""The shipped rules in a real Prometheus (Debian's `prometheus`, started here) scraping a real
worker fed through the broker: the recorded service level and ASA equal `ccpulse report`'s
figures for the same events, and a breach made on purpose shows as an alert."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ccpulse.embedded import Service, start_prometheus
from ccpulse.monitoring.generate import rule_files
from tests.integration.conftest import Deployment
from tests.integration.helpers import QUEUES, history, local_noon_zone, report_for

pytestmark = pytest.mark.integration

#: Scrape and rule evaluation every second, so the test needs seconds, not minutes.
INTERVAL = "1s"


def config(path: Path) -> Path:
    path.write_text(
        f"""
[defaults]
time_zone = "{local_noon_zone()}"
sl_threshold_seconds = 20
sl_target = 0.8
contacts_waiting_limit = 10
longest_wait_limit_seconds = 120
"""
    )
    return path


def contact(n: str, entry_ms: int, wait_s: float | None, outcome: str) -> list[dict[str, Any]]:
    """One voice contact of acme/sales: offered, then answered, abandoned, or still waiting."""
    base = {"tenant": "acme", "queue": "sales", "channel": "voice", "contact_id": n}
    out = [{**base, "event_id": f"{n}-o", "type": "contact.offered", "ts": entry_ms}]
    if outcome == "answered":
        assert wait_s is not None
        out.append({**base, "event_id": f"{n}-a", "type": "contact.answered",
                    "ts": entry_ms + int(wait_s * 1000), "agent_id": "ana"})  # fmt: skip
    elif outcome == "abandoned":
        assert wait_s is not None
        out.append({**base, "event_id": f"{n}-x", "type": "contact.abandoned",
                    "ts": entry_ms + int(wait_s * 1000)})  # fmt: skip
    return out


def good_traffic(now: int) -> list[dict[str, Any]]:
    """40 contacts in the last half hour, three in four answered within 20 s."""
    events: list[dict[str, Any]] = []
    for i in range(40):
        wait = (4, 11, 19, 35)[i % 4]
        events += contact(f"a{i}", now - 1_800_000 + i * 30_000, wait, "answered")
    return events


def breach(now: int) -> list[dict[str, Any]]:
    """A collapse: 30 answered after long waits (3 within 20 s), 6 abandoned after 40 s, 2
    short abandons, and 12 contacts still waiting, the oldest for 4 minutes."""
    events: list[dict[str, Any]] = []
    for i in range(30):
        wait = 12 if i < 3 else 45 + i
        events += contact(f"b{i}", now - 600_000 + i * 5_000, wait, "answered")
    for i in range(6):
        events += contact(f"x{i}", now - 500_000 + i * 10_000, 40, "abandoned")
    for i in range(2):
        events += contact(f"s{i}", now - 400_000 + i * 10_000, 2, "abandoned")
    for i in range(12):
        events += contact(f"w{i}", now - 240_000 + i * 10_000, None, "waiting")
    return events


class Prometheus:
    """The HTTP API of a running Prometheus."""

    def __init__(self, service: Service) -> None:
        self.url = f"http://127.0.0.1:{service.port}"

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as resp:
            body = orjson.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        return list(self.get("/api/v1/query", **params)["result"])

    def value(self, expr: str, at: float | None = None) -> float:
        result = self.query(expr, at)
        assert len(result) == 1, f"{expr}: {result}"
        return float(result[0]["value"][1])


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def scraped(dep: Deployment, name: str, labels: dict[str, str]) -> float | None:
    """A sample of the worker's own /metrics, as Prometheus would read it (None until the
    worker serves it)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{dep.metrics_ports[0]}/metrics") as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None


def counted(dep: Deployment) -> int:
    """Events the worker has read so far, valid or not, by its own /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{dep.metrics_ports[0]}/metrics") as resp:
            text = resp.read().decode()
    except OSError:
        return -1
    names = {"ccpulse_events_total", "ccpulse_events_dead_lettered_total"}
    return round(sum(sample.value for family in text_string_to_metric_families(text)
                     for sample in family.samples if sample.name in names))  # fmt: skip


@pytest.fixture
def prometheus_for(deployment: Deployment) -> Iterator[Callable[[], Prometheus]]:
    """Start Prometheus with the shipped rules, scraping the deployment's first worker."""
    started: list[Service] = []

    def start() -> Prometheus:
        target = f"127.0.0.1:{deployment.metrics_ports[0]}"
        service = start_prometheus([target], rule_files(), interval=INTERVAL)
        started.append(service)
        return Prometheus(service)

    yield start
    for service in started:
        service.stop()


def test_recorded_service_level_and_asa_equal_the_report_and_a_breach_alerts(
    deployment: Deployment, prometheus_for: Callable[[], Prometheus], tmp_path: Path
) -> None:
    deployment.config = config(tmp_path / "ccpulse.toml")
    deployment.start_worker()
    now = int(time.time() * 1000)
    first, second = good_traffic(now), breach(now)
    sales = {"tenant": "acme", "queue": "sales", "channel": "voice"}

    # The first events are counted before Prometheus starts, so its first sample holds them
    # all and every increase it computes afterwards is the second batch's.
    deployment.produce(first)
    wait_for("the first batch on /metrics", lambda: scraped(
        deployment, "ccpulse_contacts_offered_total", sales) == 40)  # fmt: skip
    prom = prometheus_for()
    wait_for("three scrapes of the first batch", lambda: bool(prom.query(
        'count_over_time(ccpulse_contacts_offered_total{queue="sales"}[1m]) >= 3')))  # fmt: skip

    deployment.produce(second)
    offered = 40 + 30 + 6 + 2 + 12
    wait_for("the breach on /metrics", lambda: scraped(
        deployment, "ccpulse_contacts_offered_total", sales) == offered)  # fmt: skip
    wait_for("Prometheus to record the breach", lambda: bool(prom.query(
        f'min_over_time(sum(ccpulse_contacts_offered_total{{queue="sales"}})[3s:1s]) == {offered}'
    )))  # fmt: skip
    time.sleep(2)  # two more rule evaluations over the complete series
    at = time.time()

    # Recorded over the last 5 minutes: exactly the second batch, by the queue's formula.
    only_breach = _today(report_for(second, now, deployment.config))
    assert only_breach["service_level"] == 3 / 36  # 3 met of 30 answered + 6 long abandons
    recorded_sl = prom.value('tenant_queue:ccpulse_service_level:ratio_rate5m{queue="sales"}', at)
    assert recorded_sl == pytest.approx(only_breach["service_level"], rel=1e-9)
    recorded_asa = prom.value('tenant_queue:ccpulse_asa_seconds:mean5m{queue="sales"}', at)
    assert recorded_asa == pytest.approx(only_breach["asa_seconds"], rel=1e-9)

    # The wallboard's gauges for today equal the report at the instant they were computed for.
    as_of = prom.value('ccpulse_queue_as_of_timestamp_seconds{queue="sales"}', at)
    everything = _today(report_for(first + second, round(as_of * 1000), deployment.config))
    today = 'ccpulse_queue_{}{{queue="sales", channel="all", window="today"}}'
    assert prom.value(today.format("service_level_ratio"), at) == pytest.approx(
        everything["service_level"], abs=1e-9
    )
    assert prom.value(today.format("asa_seconds"), at) == pytest.approx(
        everything["asa_seconds"], abs=1e-9
    )

    # The breach pages (pending for its 2 minutes first) and the waits are over the limits.
    def alerts() -> dict[str, str]:
        found = prom.get("/api/v1/alerts")["alerts"]
        return {a["labels"]["alertname"]: a["state"] for a in found
                if a["labels"].get("queue") == "sales"}  # fmt: skip

    wanted = {"QueueServiceLevelBudgetBurnFast", "QueueContactsWaitingHigh", "QueueLongestWaitHigh"}
    wait_for("the breach's alerts", lambda: wanted <= alerts().keys(), timeout=20)
    assert set(alerts().values()) <= {"pending", "firing"}


def _today(report: dict[str, Any]) -> dict[str, Any]:
    (queue,) = [q for q in report["queues"] if (q["tenant"], q["queue"]) == ("acme", "sales")]
    return queue["channels"]["all"]["today"]["figures"]  # type: ignore[no-any-return]


def clear_of_interval_edges(interval_ms: int = 15 * 60_000) -> int:
    """The time now (ms), after waiting if needed so that the last 65 s and the next 90 s
    (events written a minute ago, queried within a minute and a half) are one 15-minute
    interval: the current interval's series then hold the fresh contacts. The zones used here
    are whole hours from UTC, so the intervals start at multiples of 15 minutes of epoch time."""
    now = int(time.time() * 1000)
    into = now % interval_ms
    if into < 65_000:
        time.sleep((65_000 - into) / 1000)
    elif interval_ms - into < 90_000:
        time.sleep((interval_ms - into + 65_000) / 1000)
    return int(time.time() * 1000)


def test_every_dashboard_query_returns_series(
    deployment: Deployment, prometheus_for: Callable[[], Prometheus], tmp_path: Path
) -> None:
    """Every panel's and every variable's query, as Grafana would send it (macros substituted),
    runs against the real Prometheus and its recorded series, and returns data for a load of
    contacts, agents, tickets and surveys."""
    from ccpulse.monitoring.dashboards import (
        dashboard_queries,
        label_values_selector,
        substitute,
    )

    deployment.config = config(tmp_path / "ccpulse.toml")
    deployment.start_worker()
    now = clear_of_interval_edges()
    events = history(seed=3, contacts=600, end_ms=now - 120_000, span_ms=3 * 3_600_000)
    for tenant, queue in QUEUES:  # the current interval has an answer and a waiting contact
        fresh = {"tenant": tenant, "queue": queue, "channel": "voice"}
        events += [
            {**fresh, "contact_id": f"{queue}-f1", "event_id": f"{queue}-f1o",
             "type": "contact.offered", "ts": now - 60_000},
            {**fresh, "contact_id": f"{queue}-f1", "event_id": f"{queue}-f1a",
             "type": "contact.answered", "ts": now - 55_000, "agent_id": "agent-1"},
            {**fresh, "contact_id": f"{queue}-f2", "event_id": f"{queue}-f2o",
             "type": "contact.offered", "ts": now - 30_000},
        ]  # fmt: skip

    # An agent's time today counts its open state up to the wall clock, so an agent event read
    # after Prometheus has scraped that open state makes the series drop, and the occupancy
    # rules' deltas over such a catch-up are arbitrary. The agents' events and the older
    # contacts are read before Prometheus starts; the last 90 minutes of contacts, tickets and
    # surveys arrive in rounds while it scrapes every second, so the rates have counters that
    # move, and the agents' time grows with the clock only.
    def later(e: dict[str, Any]) -> bool:
        return not e["type"].startswith("agent.") and e["ts"] >= now - 90 * 60_000

    earlier = [e for e in events if not later(e)]
    events = [e for e in events if later(e)]
    deployment.produce(earlier)
    wait_for("the earlier events on /metrics", lambda: counted(deployment) == len(earlier))
    prom = prometheus_for()
    rounds = 6
    for i in range(rounds):
        deployment.produce(events[i * len(events) // rounds : (i + 1) * len(events) // rounds])
        time.sleep(3)
    wait_for("the load on /metrics", lambda: counted(deployment) == len(earlier) + len(events))
    wait_for("the load in Prometheus", lambda: bool(prom.query("ccpulse_tickets_open")))
    time.sleep(3)

    def without_data() -> list[str]:
        empty = []
        for uid, title, query in dashboard_queries():
            expr = substitute(label_values_selector(query) or query)
            if not prom.query(expr):
                empty.append(f"{uid} / {title}: {expr}")
        return empty

    # A loaded worker catching up publishes less often, and the agents' state seconds of a
    # quiet tenant are published once a minute: the rules' deltas may need another round.
    deadline = time.monotonic() + 90
    while (empty := without_data()) and time.monotonic() < deadline:
        time.sleep(2)
    assert not empty, "queries without data:\n" + "\n".join(empty)
