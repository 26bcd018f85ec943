"""Workers killed with SIGKILL at random moments (during processing and during recovery), and a
second worker sharing the load, still end with exactly the offline report's figures; so do
unkeyed input and kills through the repartition stage (whose re-sends after a kill are
duplicates the engines absorb)."""

from __future__ import annotations

import random
import threading
import time

import pytest

from tests.integration.conftest import Deployment
from tests.integration.helpers import (
    RESENDS_COUNTED,
    history,
    wait_until_published_equals_report,
)

pytestmark = pytest.mark.integration


def _produce_in_chunks(dep: Deployment, events: list[dict[str, object]], chunks: int,
                       pause: float, keyed: bool = True) -> threading.Thread:  # fmt: skip
    def run() -> None:
        size = len(events) // chunks + 1
        for i in range(chunks):
            chunk = events[i * size : (i + 1) * size]
            dep.produce(chunk, batch_size=1 if i % 3 == 0 else 50, keyed=keyed)
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(("repartition", "rounds"), [(False, 20), (True, 6)],
                         ids=["keyed", "unkeyed-repartitioned"])  # fmt: skip
def test_sigkill_at_random_moments_loses_and_repeats_nothing(
    deployment: Deployment, repartition: bool, rounds: int
) -> None:
    rng = random.Random(2026)
    now = int(time.time() * 1000)
    events = history(seed=11, contacts=6000, end_ms=now - 60_000, span_ms=4 * 3_600_000)
    if repartition:
        deployment.settings["CCPULSE_KAFKA_REPARTITION"] = "true"
    producer = _produce_in_chunks(deployment, events, chunks=24, pause=1.0 if rounds > 6 else 0.5,
                                  keyed=not repartition)  # fmt: skip
    kills = 0
    while kills < rounds:
        worker = deployment.start_worker()
        # Short lives kill it while it joins the group and recovers its table; longer ones
        # while it is applying the stream.
        time.sleep(rng.choice((0.5, 2.0, 4.0)) + rng.random() * 6)
        assert worker.poll() is None, deployment.tail_logs()
        deployment.kill(worker)
        kills += 1
    producer.join(120)
    assert not producer.is_alive()
    deployment.start_worker()
    wait_until_published_equals_report(deployment, events, None, timeout=240,
                                       at_least=RESENDS_COUNTED if repartition else frozenset())


def test_two_workers_publish_the_figures_of_one(deployment: Deployment) -> None:
    now = int(time.time() * 1000)
    events = history(seed=5, contacts=3000, end_ms=now - 60_000, span_ms=2 * 3_600_000)
    deployment.start_worker()
    deployment.start_worker()
    deployment.produce(events, batch_size=25)
    wait_until_published_equals_report(deployment, events, None, timeout=180)
    # Both workers own partitions: each queue was published by whichever owns it.
    owners = deployment.redis_client().zcard(f"{deployment.name}:queues")
    assert owners == 4
