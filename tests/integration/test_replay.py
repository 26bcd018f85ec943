"""The README's replay loop with the installed commands: `ccpulse simulate --out` writes a
history, `ccpulse produce` sends it to Kafka, a worker publishes it, and every queue's Redis hash
(and the agent, ticket and survey hashes) equals `ccpulse report --at` of the same file: keyed
as the contract says, and unkeyed through the repartition stage (`kafka.repartition`)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from ccpulse.sources.simulator import default_queues

from .conftest import ROOT, Deployment
from .helpers import compare_queue, wait_until_published_equals_report

pytestmark = pytest.mark.integration

CCPULSE = str(Path(sys.executable).with_name("ccpulse"))
DEMO_CONFIG = ROOT / "ccpulse" / "demo.toml"
DEMO_QUEUES = tuple((q.tenant, q.name) for q in default_queues())


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([CCPULSE, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "unkeyed-repartitioned"])
def test_simulate_produce_and_a_worker_give_the_report_of_the_file(
    deployment: Deployment, tmp_path: Path, keyed: bool
) -> None:
    events_file = tmp_path / "events.jsonl"
    start_ms = int(time.time() * 1000) - 3 * 3_600_000  # the hour and its drain lie in the past
    _run("simulate", "--out", str(events_file), "--hours", "1", "--start", str(start_ms))
    # `--out` writes up to 5 minutes ahead (what a worker accepts): keep what is already past, so
    # that the report at a hash's own instant holds every event the worker applied.
    cutoff = int(time.time() * 1000) - 1000
    lines = events_file.read_bytes().splitlines()
    events_file.write_bytes(b"".join(
        line + b"\n" for line in lines if orjson.loads(line)["ts"] <= cutoff))  # fmt: skip
    deployment.config = DEMO_CONFIG
    if not keyed:
        deployment.settings["CCPULSE_KAFKA_REPARTITION"] = "true"
    produced = _run("produce", str(events_file), *([] if keyed else ["--no-key"]),
                    env=deployment.env(0))  # fmt: skip
    events = [orjson.loads(line) for line in events_file.read_bytes().splitlines()]
    assert f"ccpulse produce: {len(events)} events in" in produced.stderr

    # The demo's queues with contacts in this hour: the simulator follows a daily curve, and at
    # night a queue may have none (it then has no hash).
    queues = tuple(q for q in DEMO_QUEUES if any(
        (e.get("tenant", "default"), e.get("queue")) == q and e["type"].startswith("contact.")
        for e in events))  # fmt: skip
    assert len(queues) >= 3, queues
    deployment.start_worker()
    wait_until_published_equals_report(
        deployment, events, DEMO_CONFIG, timeout=180, queues=queues
    )
    # ... and so does the command a user runs, at the instant of each queue's hash.
    for tenant, queue in queues:
        published = deployment.queue_hash(tenant, queue)
        report = orjson.loads(_run(
            "report", str(events_file), "--config", str(DEMO_CONFIG),
            "--at", published["as_of_ms"], "--format", "json",
        ).stdout)  # fmt: skip
        (snap,) = [s for s in report["queues"] if (s["tenant"], s["queue"]) == (tenant, queue)]
        assert compare_queue(published, snap) == []
