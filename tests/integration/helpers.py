"""Shared pieces of the integration tests: deterministic event histories and the comparison of
what a worker published with what the offline report computes for the same events."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import orjson

from ccpulse.config import load_settings
from ccpulse.report import build_report
from ccpulse.sinks.redis_sink import flatten

QUEUES = (("default", "sales"), ("default", "support"), ("acme", "billing"), ("acme", "returns"))


def history(seed: int, contacts: int, end_ms: int, span_ms: int) -> list[dict[str, Any]]:
    """Contacts over several queues and channels ending before `end_ms`, in rough time order,
    with re-sent duplicates and some answers logged before the entry."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    start = end_ms - span_ms
    for n in range(contacts):
        tenant, queue = rng.choice(QUEUES)
        channel = rng.choice(("voice", "voice", "chat", "email"))
        entry = start + rng.randrange(0, span_ms - 600_000)
        base = {"tenant": tenant, "queue": queue, "channel": channel, "contact_id": f"c{n}"}
        if rng.random() < 0.04:
            reason = rng.choice(("full", "no_agents", "closed"))
            events.append({**base, "event_id": f"{n}-b", "type": "contact.blocked", "ts": entry,
                           "reason": reason})  # fmt: skip
            continue
        offered = {**base, "event_id": f"{n}-o", "type": "contact.offered", "ts": entry}
        wait = rng.randrange(0, 90_000)
        fate = rng.random()
        if fate < 0.65:
            answered = {**base, "event_id": f"{n}-a", "type": "contact.answered",
                        "ts": entry + wait, "agent_id": f"agent-{n % 7}"}  # fmt: skip
            if rng.random() < 0.5:
                answered["wait_seconds"] = wait / 1000
            pair = [answered, offered] if rng.random() < 0.05 else [offered, answered]
            events.extend(pair)
            events.append({**base, "event_id": f"{n}-c", "type": "contact.completed",
                           "ts": entry + wait + rng.randrange(60_000, 400_000),
                           "agent_id": f"agent-{n % 7}", "talk_seconds": rng.randrange(30, 300),
                           "hold_seconds": rng.choice((0, 0, 20)),
                           "wrap_seconds": rng.randrange(5, 60),
                           "resolved": rng.random() < 0.7})  # fmt: skip
        elif fate < 0.85:
            events.extend([offered, {**base, "event_id": f"{n}-x", "type": "contact.abandoned",
                                     "ts": entry + wait}])  # fmt: skip
        elif fate < 0.9:
            events.extend([offered, {**base, "event_id": f"{n}-q", "type": "contact.dequeued",
                                     "ts": entry + wait, "reason": "timeout"}])  # fmt: skip
        else:
            events.append(offered)  # still waiting, or never resolved
    events.sort(key=lambda e: e["ts"])
    for i in range(0, len(events), 37):  # producers retry: the same event again, later
        events.insert(min(len(events), i + rng.randrange(1, 200)), dict(events[i]))
    return events


def report_for(events: list[dict[str, Any]], at_ms: int, config: Path | None) -> dict[str, Any]:
    book = load_settings(config, env={}).policies
    lines = [orjson.dumps(e) for e in events]
    return build_report(lines, book, at_ms)


def compare_queue(published: dict[str, str], expected_snapshot: dict[str, Any]) -> list[str]:
    """Differences between a queue's Redis hash and the report's snapshot of that queue."""
    expected = flatten(expected_snapshot)
    diffs = [
        f"{key}: redis={published.get(key)!r} report={value!r}"
        for key, value in expected.items()
        if published.get(key) != value
    ]
    diffs += [f"{key}: only in redis" for key in published.keys() - expected.keys()]
    return diffs


def wait_until_published_equals_report(
    dep: Any, events: list[dict[str, Any]], config: Path | None, timeout: float
) -> dict[str, Any]:
    """Poll Redis until every queue's hash equals the report at the hash's own instant."""
    deadline = time.monotonic() + timeout
    last: list[str] = ["nothing published yet"]
    while time.monotonic() < deadline:
        if dep.workers and all(w.poll() is not None for w in dep.workers):
            raise AssertionError("every worker has exited:\n" + dep.tail_logs())
        hashes = {q: dep.queue_hash(*q) for q in QUEUES}
        if all(hashes.values()):
            last = []
            for (tenant, queue), published in hashes.items():
                at_ms = int(published["as_of_ms"])
                report = report_for(events, at_ms, config)
                snap = next(
                    s for s in report["queues"] if (s["tenant"], s["queue"]) == (tenant, queue)
                )
                last += [f"{tenant}/{queue} {d}" for d in compare_queue(published, snap)]
            if not last:
                return report
        time.sleep(1.0)
    raise AssertionError("published figures never matched the report:\n" + "\n".join(last[:40])
                         + "\n" + dep.tail_logs())  # fmt: skip
