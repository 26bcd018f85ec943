"""`ccpulse report --redis URL --from T1 --to T2`: the range report read from the interval
history a real worker keeps in Redis equals the range report of the same events from a file
(hourly, daily and weekday rows, every queue and channel, totals recomputed from counts)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from ccpulse.config import load_settings
from ccpulse.report_range import RangeSpec, build_range_report
from ccpulse.report_redis import NO_AGENTS, redis_range_report
from tests.integration.conftest import Deployment
from tests.integration.helpers import QUEUES, history

pytestmark = pytest.mark.integration

CONFIG = """
[defaults]
interval_minutes = 60

[queues."acme/billing"]
time_zone = "Europe/Paris"
attribution = "arrival"
sl_formula = "answered"
sl_threshold_seconds = 30
"""


def test_range_report_from_redis_equals_the_report_from_the_events(
    deployment: Deployment, tmp_path: Path
) -> None:
    config = tmp_path / "ccpulse.toml"
    config.write_text(CONFIG)
    settings = load_settings(config, env={"CCPULSE_REDIS_KEY_PREFIX": deployment.name})
    now = int(time.time() * 1000)
    events = history(seed=11, contacts=600, end_ms=now - 60_000, span_ms=3 * 3_600_000)
    deployment.config = config
    deployment.start_worker()
    deployment.produce(events, batch_size=50)
    url = f"redis://127.0.0.1:{deployment.redis.port}/0"
    lines = [orjson.dumps(e) for e in events]
    specs = [RangeSpec(now - 5 * 3_600_000, now + 3_600_000, by) for by in
             ("interval", "day", "weekday")]  # fmt: skip
    expected = [build_range_report(lines, settings.policies, s)["queues"] for s in specs]
    assert {(q["tenant"], q["queue"]) for q in expected[0]} == set(QUEUES)
    deadline = time.monotonic() + 120
    got: list[Any] = []
    while time.monotonic() < deadline:
        if all(w.poll() is not None for w in deployment.workers):
            raise AssertionError("the worker exited:\n" + deployment.tail_logs())
        reports = [redis_range_report(url, settings, settings.policies, s) for s in specs]
        got = [r["queues"] for r in reports]
        if got == expected:
            assert reports[0]["errors"] == [NO_AGENTS] and reports[0]["agents"] == []
            return
        time.sleep(1.0)
    raise AssertionError(f"Redis range report never matched: {str(got)[:2000]}\n"
                         + deployment.tail_logs())  # fmt: skip
