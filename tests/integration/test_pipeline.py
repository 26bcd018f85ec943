"""The pipeline through a real broker and Redis gives exactly the offline report's figures."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Deployment
from tests.integration.helpers import (
    QUEUES,
    history,
    report_for,
    wait_until_published_equals_report,
)

pytestmark = pytest.mark.integration

CONFIG = """
[queues."acme/billing"]
time_zone = "Europe/Paris"
interval_minutes = 30
attribution = "arrival"
sl_formula = "answered"
sl_threshold_seconds = 30

[queues.support]
sl_formula = "abandons_within_threshold_met"
[queues.support.channels.email]
sl_threshold_seconds = 3600
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "ccpulse.toml"
    path.write_text(CONFIG)
    return path


def test_redis_and_metrics_equal_the_report(deployment: Deployment, tmp_path: Path) -> None:
    config = _config(tmp_path)
    now = int(time.time() * 1000)
    events = history(seed=7, contacts=1500, end_ms=now - 60_000, span_ms=3 * 3_600_000)
    late = {**events[0], "event_id": "late-1", "ts": now - 30 * 3_600_000,
            "contact_id": "late-contact"}  # fmt: skip
    events.append(late)
    deployment.config = config
    deployment.start_worker()
    deployment.produce(events[:800], batch_size=1)  # one event per message
    deployment.produce(events[800:], batch_size=100)  # batched messages
    invalid = [
        (b"default/sales", b"{not json"),
        (
            b"default/sales",
            orjson.dumps(
                {"event_id": "bad-1", "type": "contact.offered", "ts": now, "queue": "sales"}
            ),
        ),
        (
            b"default/support",
            orjson.dumps(
                {
                    "event_id": "mis-1",
                    "type": "contact.offered",
                    "ts": now - 1000,
                    "queue": "sales",
                    "contact_id": "m",
                }
            ),
        ),
    ]
    deployment.produce_raw(invalid)

    report = wait_until_published_equals_report(deployment, events, config, timeout=120)

    letters = deployment.dead_letters(expected=4)
    reasons = sorted(d["reason"] for d in letters)
    assert reasons == ["invalid", "invalid", "misrouted", "too_late"]
    missing = next(d for d in letters if "bad-1" in d["error"])
    assert "contact_id" in missing["error"]
    assert report["input"]["too_late"] == 1 and report["input"]["duplicates"] > 0

    scrape = (
        urllib.request.urlopen(
            f"http://127.0.0.1:{deployment.metrics_ports[0]}/metrics", timeout=10
        )
        .read()
        .decode()
    )
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
    }
    # The gauges are the worker's latest snapshot of each queue, taken after the Redis hashes
    # compared above: each is compared with the report at its own instant (a midnight may have
    # passed since, and "today" started again).
    as_of = {(dict(labels)["tenant"], dict(labels)["queue"]): value
             for (name, labels), value in samples.items()
             if name == "ccpulse_queue_as_of_timestamp_seconds"}  # fmt: skip
    reports = {report["as_of_ms"]: report}
    for queue in report["queues"]:
        at_ms = round(as_of[(queue["tenant"], queue["queue"])] * 1000)
        if at_ms not in reports:
            reports[at_ms] = report_for(events, at_ms, config)
        (snap,) = [s for s in reports[at_ms]["queues"]
                   if (s["tenant"], s["queue"]) == (queue["tenant"], queue["queue"])]  # fmt: skip
        for channel, view in snap["channels"].items():
            labels = {"tenant": snap["tenant"], "queue": snap["queue"], "channel": channel}
            today = view["today"]["figures"]
            key = ("ccpulse_queue_offered_contacts",
                   tuple(sorted({**labels, "window": "today"}.items())))  # fmt: skip
            assert samples[key] == today["offered"], (labels, "today offered")
            if channel == "all":
                continue
            total = sum(i["figures"]["answered"] for i in view["intervals"])
            key = ("ccpulse_contacts_answered_total", tuple(sorted(labels.items())))
            assert samples[key] == total, (labels, "answered total")
    assert {(s["tenant"], s["queue"]) for s in report["queues"]} == set(QUEUES)
    # Caught up: every owned input partition reports its lag, and it is nothing.
    lag = {dict(labels)["partition"]: value for (name, labels), value in samples.items()
           if name == "ccpulse_consumer_lag_messages"}  # fmt: skip
    assert set(lag) == {"0", "1", "2", "3"} and set(lag.values()) == {0}, lag
