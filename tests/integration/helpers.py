"""Shared pieces of the integration tests: deterministic event histories and the comparison of
what a worker published with what the offline report computes for the same events."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ccpulse.config import load_settings
from ccpulse.report import build_report
from ccpulse.sinks.redis_families import agent_hashes, survey_hashes, ticket_hashes
from ccpulse.sinks.redis_sink import flatten

QUEUES = (("default", "sales"), ("default", "support"), ("acme", "billing"), ("acme", "returns"))


def local_noon_zone() -> str:
    """A fixed-offset zone where it is about noon now: "today" then holds the last hours
    whatever the time of the run, and the report's day equals the worker's."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12  # -12 .. 11 hours
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


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
    events.extend(agent_history(events, rng))
    events.extend(survey_history(events, rng))
    events.extend(ticket_history(start, end_ms, rng, count=max(20, contacts // 20)))
    events.sort(key=lambda e: e["ts"])
    for i in range(0, len(events), 37):  # producers retry: the same event again, later
        events.insert(min(len(events), i + rng.randrange(1, 200)), dict(events[i]))
    return events


def agent_history(contacts: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Agent states consistent with the answered contacts: logins first, on contact from the
    answer, wrap-up and available after the completion, with pauses and unanswered rings."""
    out: list[dict[str, Any]] = []
    answers = {e["contact_id"]: e for e in contacts if e["type"] == "contact.answered"}
    completions = {e["contact_id"]: e for e in contacts if e["type"] == "contact.completed"}
    first = min(e["ts"] for e in contacts)
    tenants_agents = sorted({(a["tenant"], a["agent_id"]) for a in answers.values()})
    for tenant, agent in tenants_agents:
        for queue in sorted({a["queue"] for a in answers.values()
                             if (a["tenant"], a["agent_id"]) == (tenant, agent)}):  # fmt: skip
            out.append({"event_id": f"login-{tenant}-{agent}-{queue}", "type": "agent.login",
                        "ts": first - 60_000, "tenant": tenant, "agent_id": agent,
                        "queue": queue})  # fmt: skip
    for cid, answer in answers.items():
        base = {"tenant": answer["tenant"], "agent_id": answer["agent_id"]}
        out.append({**base, "event_id": f"{cid}-oc", "type": "agent.state", "ts": answer["ts"],
                    "state": "on_contact", "queue": answer["queue"]})  # fmt: skip
        done = completions.get(cid)
        if done is not None:
            wrap_start = done["ts"] - int(done["wrap_seconds"] * 1000)
            out.append({**base, "event_id": f"{cid}-wr", "type": "agent.state",
                        "ts": wrap_start, "state": "wrap_up"})  # fmt: skip
            state = "paused" if rng.random() < 0.1 else "available"
            extra = {"reason": rng.choice(("break", "training"))} if state == "paused" else {}
            out.append({**base, "event_id": f"{cid}-av", "type": "agent.state", "ts": done["ts"],
                        "state": state, **extra})  # fmt: skip
        if rng.random() < 0.05:
            out.append({**base, "event_id": f"{cid}-rna", "type": "agent.ring_no_answer",
                        "ts": answer["ts"] - 15_000, "queue": answer["queue"],
                        "ring_seconds": 15})  # fmt: skip
    return out


def survey_history(contacts: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Survey answers after some completed contacts, scores leaning low after long waits."""
    out: list[dict[str, Any]] = []
    for e in contacts:
        if e["type"] != "contact.completed" or rng.random() > 0.3:
            continue
        survey = rng.choice(("csat", "nps", "ces"))
        top = {"csat": 5, "nps": 10, "ces": 7}[survey]
        low = {"csat": 1, "nps": 0, "ces": 1}[survey]
        out.append({"event_id": f"{e['event_id']}-s", "type": "survey.response",
                    "ts": e["ts"] + rng.randrange(1000, 300_000), "tenant": e["tenant"],
                    "survey": survey, "score": rng.randint(low, top), "queue": e["queue"],
                    "agent_id": e["agent_id"], "channel": e["channel"],
                    "contact_id": e["contact_id"]})  # fmt: skip
    return out


def ticket_history(start: int, end: int, rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Ticket lifecycles: created, replied (some internal notes), solved, some reopened."""
    out: list[dict[str, Any]] = []
    for n in range(count):
        tenant = rng.choice(("default", "acme"))
        base = {"tenant": tenant, "ticket_id": f"T{n}"}
        t = rng.randrange(start, end - 3_600_000)
        out.append({**base, "event_id": f"T{n}-c", "type": "ticket.created", "ts": t,
                    "group": rng.choice(("billing", "tech")),
                    "priority": rng.choice(("low", "normal", "high", "urgent")),
                    "channel": rng.choice(("email", "social"))})  # fmt: skip
        if rng.random() < 0.2:
            out.append({**base, "event_id": f"T{n}-n", "type": "ticket.replied",
                        "ts": t + 60_000, "agent_id": "agent-1", "public": False})  # fmt: skip
        if rng.random() < 0.8:
            t += rng.randrange(120_000, 2_400_000)
            out.append({**base, "event_id": f"T{n}-r", "type": "ticket.replied", "ts": t,
                        "agent_id": f"agent-{n % 5}"})  # fmt: skip
            if rng.random() < 0.7:
                t += rng.randrange(60_000, 600_000)
                out.append({**base, "event_id": f"T{n}-s", "type": "ticket.status_changed",
                            "ts": t, "status": "solved"})  # fmt: skip
                if rng.random() < 0.2:
                    out.append({**base, "event_id": f"T{n}-o", "type": "ticket.reopened",
                                "ts": t + 300_000})  # fmt: skip
    return out


def report_for(events: list[dict[str, Any]], at_ms: int, config: Path | None) -> dict[str, Any]:
    book = load_settings(config, env={}).policies
    lines = [orjson.dumps(e) for e in events]
    return build_report(lines, book, at_ms)


#: With the repartition stage, a worker killed after re-keying a message and before committing
#: its input offset sends it again: the engines count the repeat as duplicates, which the
#: report of the input cannot know. No other field may differ.
RESENDS_COUNTED = frozenset({"pipeline.duplicates"})


def compare_queue(
    published: dict[str, str], expected_snapshot: dict[str, Any],
    at_least: frozenset[str] = frozenset(),
) -> list[str]:  # fmt: skip
    """Differences between a queue's Redis hash and the report's snapshot of that queue; fields
    in `at_least` may be higher in Redis."""
    expected = flatten(expected_snapshot)
    diffs = [
        f"{key}: redis={published.get(key)!r} report={value!r}"
        for key, value in expected.items()
        if published.get(key) != value
        and not (key in at_least and int(published.get(key) or -1) >= int(value))
    ]
    diffs += [f"{key}: only in redis" for key in published.keys() - expected.keys()]
    return diffs


def _survey_diffs(
    dep: Any, report_at: Callable[[int], dict[str, Any]], tenants: set[str]
) -> list[str]:
    return _single_hash_diffs(dep, report_at, "surveys", survey_hashes, tenants)


def _single_hash_diffs(
    dep: Any, report_at: Callable[[int], dict[str, Any]], family: str, hashes: Any,
    tenants: set[str],
) -> list[str]:  # fmt: skip
    """A family published as one hash per tenant, against the report at its instant."""
    diffs: list[str] = []
    client = dep.redis_client()
    for tenant in sorted(tenants):
        raw = client.hgetall(f"{dep.name}:{family}:{tenant}")
        published = {k.decode(): v.decode() for k, v in raw.items()}
        if not published:
            return [f"no {family} figures for {tenant} yet"]
        report = report_at(int(published["as_of_ms"]))
        snap = next((s for s in report[family] if s["tenant"] == tenant), None)
        if snap is None:
            return [f"the report has no {family} of {tenant}"]
        ((_, expected),) = hashes(dep.name, snap)
        diffs += [
            f"{family} {tenant} {name}: redis={published.get(name)!r} report={value!r}"
            for name, value in expected.items()
            if published.get(name) != value
        ]
        diffs += [
            f"{family} {tenant} {n}: only in redis" for n in published.keys() - expected.keys()
        ]
    return diffs


def agent_diffs(
    dep: Any, report_at: Callable[[int], dict[str, Any]], tenants: set[str]
) -> list[str]:
    """Per tenant: all agent hashes, read in one transaction (one publish), against the report
    at the instant they were published."""
    diffs: list[str] = []
    client = dep.redis_client()
    for tenant in sorted(tenants):
        keys = sorted(
            k.decode()
            for pattern in (f"{dep.name}:agent:{tenant}:*", f"{dep.name}:agent-summary:{tenant}:*")
            for k in client.scan_iter(match=pattern)
        )
        pipe = client.pipeline(transaction=True)
        for key in keys:
            pipe.hgetall(key)
        published = {
            key: {k.decode(): v.decode() for k, v in raw.items()}
            for key, raw in zip(keys, pipe.execute(), strict=True)
        }
        instants = {h.get("as_of_ms") for h in published.values()}
        if len(instants) != 1 or None in instants:
            return [f"agents of {tenant}: not one publish yet ({len(instants)} instants)"]
        report = report_at(int(instants.pop()))
        snap = next((s for s in report["agents"] if s["tenant"] == tenant), None)
        if snap is None:
            return [f"the report has no agents of {tenant}"]
        expected = dict(agent_hashes(dep.name, snap))
        for key, fields in expected.items():
            got = published.get(key, {})
            diffs += [
                f"{key} {name}: redis={got.get(name)!r} report={value!r}"
                for name, value in fields.items()
                if got.get(name) != value
            ]
        diffs += [f"{key}: only in redis" for key in published.keys() - expected.keys()]
    return diffs


def wait_until_published_equals_report(
    dep: Any, events: list[dict[str, Any]], config: Path | None, timeout: float,
    queues: tuple[tuple[str, str], ...] = QUEUES, at_least: frozenset[str] = frozenset(),
) -> dict[str, Any]:  # fmt: skip
    """Poll Redis until every queue's hash (and the agent, survey and ticket hashes of their
    tenants) equals the report at the hash's own instant."""
    def tenants(family: str) -> set[str]:  # those with events of the family
        return {e.get("tenant", "default") for e in events if e["type"].startswith(family)}

    deadline = time.monotonic() + timeout
    last: list[str] = ["nothing published yet"]
    reports: dict[int, dict[str, Any]] = {}

    def report_at(at_ms: int) -> dict[str, Any]:
        if at_ms not in reports:
            reports.clear()  # keep one: the next poll asks about a later instant
            reports[at_ms] = report_for(events, at_ms, config)
        return reports[at_ms]

    while time.monotonic() < deadline:
        if dep.workers and all(w.poll() is not None for w in dep.workers):
            raise AssertionError("every worker has exited:\n" + dep.tail_logs())
        hashes = {q: dep.queue_hash(*q) for q in queues}
        if all(hashes.values()):
            last = []
            for (tenant, queue), published in hashes.items():
                report = report_at(int(published["as_of_ms"]))
                snap = next(
                    s for s in report["queues"] if (s["tenant"], s["queue"]) == (tenant, queue)
                )
                last += [f"{tenant}/{queue} {d}"
                         for d in compare_queue(published, snap, at_least)]  # fmt: skip
            if not last:
                last = agent_diffs(dep, report_at, tenants("agent."))
            if not last:
                last = _survey_diffs(dep, report_at, tenants("survey."))
            if not last:
                last = _single_hash_diffs(
                    dep, report_at, "tickets", ticket_hashes, tenants("ticket.")
                )
            if not last:
                return report
        time.sleep(1.0)
    raise AssertionError("published figures never matched the report:\n" + "\n".join(last[:40])
                         + "\n" + dep.tail_logs())  # fmt: skip


def history_diffs(dep: Any, events: list[dict[str, Any]]) -> list[str]:
    """Differences between the interval hashes in Redis (and their index) and the report's
    interval history, every queue, every interval."""
    from ccpulse.sinks.redis_fields import put_figures as _put_figures

    report = report_for(events, max(e["ts"] for e in events), None)
    client = dep.redis_client()
    diffs: list[str] = []
    for snap in report["queues"]:
        tenant, queue = snap["tenant"], snap["queue"]
        expected: dict[str, dict[str, str]] = {}
        for channel, view in snap["channels"].items():
            for interval in view["intervals"]:
                fields = expected.setdefault(interval["start"], {})
                _put_figures(fields, "", channel, interval["figures"])
        starts = client.zrange(f"{dep.name}:intervals:{tenant}:{queue}", 0, -1)
        published = {}
        for start in starts:
            raw = client.hgetall(f"{dep.name}:interval:{tenant}:{queue}:{start.decode()}")
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            published[fields.get("start", start.decode())] = fields
        for label, fields in expected.items():
            got = published.get(label)
            if got is None:
                diffs.append(f"{tenant}/{queue} interval {label}: missing in redis")
                continue
            diffs += [f"{tenant}/{queue} {label} {k}: redis={got.get(k)!r} report={v!r}"
                      for k, v in fields.items() if got.get(k) != v]  # fmt: skip
    return diffs


def wait_until_history_equals_report(dep: Any, events: list[dict[str, Any]], timeout: float
                                     ) -> None:  # fmt: skip
    """Poll Redis until every interval hash the report has equals it."""
    deadline = time.monotonic() + timeout
    diffs = ["not compared yet"]
    while time.monotonic() < deadline:
        diffs = history_diffs(dep, events)
        if not diffs:
            return
        time.sleep(1.0)
    raise AssertionError("interval history never matched the report:\n" + "\n".join(diffs[:40])
                         + "\n" + dep.tail_logs())  # fmt: skip
