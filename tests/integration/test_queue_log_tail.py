"""`ccpulse tail-queue-log` into a real broker and worker: a growing queue_log, rotated by rename
twice (once while the follower is down), the follower killed with SIGKILL mid-way and restarted;
the topic then holds every event of the log under its own id (lines sent before the kill and read
again after it are sent again, with the same ids and content), and Redis holds exactly the
offline report's figures of the whole log, each repeat counted as a duplicate.

The log is tests/data/queue_log/sample.queue_log with its timestamps moved so that its last line
is a minute old. Event ids are `ql:<source>:<line number>:<line hash>:<suffix>`; the follower
names every file it reads after the path it follows (`queue_log`, also for `queue_log.1`) and
numbers lines from 1 in each file, and keeps its mapper's state (visits, held-back events)
across rotations and restarts. The expected events are made the same way here: one
`QueueLogMapper(source="queue_log")` fed the lines of each file in turn, numbered per file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from ccpulse.embedded import free_port
from ccpulse.processes import ccpulse_argv, start_process, stop_process
from ccpulse.sources.produce import bootstrap_servers
from ccpulse.sources.queue_log import QueueLogMapper, WireEvent, queue_log_events
from ccpulse.sources.queue_log_parse import LineParser
from tests.helpers.queue_log import SAMPLE
from tests.integration.conftest import Deployment
from tests.integration.helpers import (
    RESENDS_COUNTED,
    agent_diffs,
    compare_queue,
    report_for,
    wait_until_published_equals_report,
)

pytestmark = pytest.mark.integration

#: The last line of the sample is stamped 1741086000 (2025-03-04T11:00:00Z).
SAMPLE_END_S = 1_741_086_000
TENANT = "default"
QUEUES = ("sales", "support")
#: Which sample lines (1-based, inclusive) go into each file the follower reads, in order:
#: queue_log.2 (the first file, rotated twice), queue_log.1 (rotated once), queue_log (current).
FILES = ((1, 45), (46, 58), (59, 78))


def shifted_sample(now_s: int) -> list[str]:
    """The sample's lines (blank and garbage lines included), the epoch of each moved so that
    the last line is stamped a minute before `now_s`."""
    shift = now_s - 60 - SAMPLE_END_S
    out = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        head, sep, rest = line.partition("|")
        out.append(f"{int(head) + shift}{sep}{rest}" if head.isdigit() else line)
    return out


def expected_events(files: list[list[str]]) -> list[WireEvent]:
    """The events the follower must produce: one mapper across files, lines numbered per file."""
    mapper = QueueLogMapper(TENANT, "queue_log")
    events: list[WireEvent] = []
    for lines in files:
        parser = LineParser("UTC")
        for line_no, text in enumerate(lines, start=1):
            events += mapper.feed(parser.parse(text, line_no))
    events += mapper.flush()
    return events


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


class Tailer:
    """`ccpulse tail-queue-log` as a subprocess with the deployment's Kafka settings."""

    def __init__(self, dep: Deployment, path: Path, store: Path, log_dir: Path) -> None:
        self.dep, self.path, self.store, self.log_dir = dep, path, store, log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self.log_dir / f"tailer-{len(self.procs)}.log"
        argv = ccpulse_argv("tail-queue-log", str(self.path), "--tenant", TENANT,
                            "--offset-store", str(self.store), "--poll-seconds", "0.2")  # fmt: skip
        proc = start_process(argv, log, self.dep.env(free_port()))
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p}\n{p.read_text()[-3000:]}"
                         for p in sorted(self.log_dir.glob("tailer-*.log")))  # fmt: skip

    def stored(self) -> dict[str, Any]:
        return dict(orjson.loads(self.store.read_bytes())) if self.store.exists() else {}

    def wait_caught_up(self, timeout: float = 30.0) -> dict[str, Any]:
        """Until the stored position is the end of the followed path, with nothing held back."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[-1]
            assert proc.poll() is None, "the follower exited:\n" + self.logs()
            state = self.stored()
            st = os.stat(self.path)
            if (state.get("file") == [st.st_dev, st.st_ino] and state["offset"] == st.st_size
                    and not state["mapper"]["pending"]):  # fmt: skip
                return state
            time.sleep(0.1)
        raise AssertionError(f"the follower never caught up: {self.stored()}\n{self.logs()}")

    def stop_all(self) -> None:
        for proc in self.procs:
            stop_process(proc, 10)


@pytest.fixture
def tailer(deployment: Deployment, tmp_path: Path) -> Iterator[Tailer]:
    logs = tmp_path / "logs"
    logs.mkdir()
    follower = Tailer(deployment, tmp_path / "asterisk" / "queue_log", tmp_path / "offsets.json",
                      logs)  # fmt: skip
    follower.path.parent.mkdir()
    yield follower
    follower.stop_all()


def consume_topic(dep: Deployment, want: set[str], timeout: float) -> list[WireEvent]:
    """Every event on the deployment's topic (messages are JSON arrays or single events), read
    from the start until every id of `want` was seen and the topic is quiet."""

    async def go() -> list[WireEvent]:
        consumer = AIOKafkaConsumer(
            dep.topic, bootstrap_servers=bootstrap_servers(dep.broker_url),
            auto_offset_reset="earliest", group_id=None, enable_auto_commit=False,
        )  # fmt: skip
        await consumer.start()
        out: list[WireEvent] = []
        try:
            deadline = time.monotonic() + timeout
            quiet = 0
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                records = [r for rs in batch.values() for r in rs]
                for record in records:
                    value = orjson.loads(record.value)
                    out.extend(value if isinstance(value, list) else [value])
                quiet = 0 if records else quiet + 1
                if want <= {e["event_id"] for e in out} and quiet >= 2:
                    break
        finally:
            await consumer.stop()
        return out

    return asyncio.run(go())


def published_diffs(dep: Deployment, report_at: Callable[[int], dict[str, Any]]) -> list[str]:
    """Queue hashes of the log's queues, then every agent hash of the tenant (read in one
    transaction: one publish), each against the report at the instant it was published; a
    queue's duplicates may be higher in Redis (the follower's repeats)."""
    diffs: list[str] = []
    for queue in QUEUES:
        published = dep.queue_hash(TENANT, queue)
        if not published:
            return [f"no figures of {queue} yet"]
        report = report_at(int(published["as_of_ms"]))
        snap = next(s for s in report["queues"] if (s["tenant"], s["queue"]) == (TENANT, queue))
        diffs += [f"{queue} {d}" for d in compare_queue(published, snap, RESENDS_COUNTED)]
    return diffs or agent_diffs(dep, report_at, {TENANT})


def test_followed_log_through_kill_and_rotations_equals_the_report(
    deployment: Deployment, tailer: Tailer
) -> None:
    lines = shifted_sample(int(time.time()))
    files = [lines[a - 1 : b] for a, b in FILES]
    log = tailer.path
    deployment.start_worker()

    # Lines 1-20 are there before the follower starts; it reads them from the start.
    append(log, lines[:20])
    tailer.start()
    tailer.wait_caught_up()

    # Lines 21-33 arrive one by one; the follower is killed right after the last one is written,
    # before it can have stored their position: the restart must read them (again).
    for line in lines[20:33]:
        time.sleep(0.03)
        append(log, [line])
    deployment.kill(tailer.procs[-1])
    assert tailer.stored()["offset"] < log.stat().st_size

    # While it is down: lines 34-40, then a rotation by rename; Asterisk still writes lines
    # 41-45 to the renamed file, then reopens its log and writes lines 46-52 to a new file.
    append(log, lines[33:40])
    first = log.with_name("queue_log.1")
    os.rename(log, first)
    append(first, lines[40:45])
    append(log, lines[45:52])
    tailer.start()  # finds queue_log.1 by its inode, finishes it, then reads the new file
    tailer.wait_caught_up()

    # A rotation while it runs (logrotate: .1 -> .2, the log -> .1, a new empty log), lines
    # 53-58 still going to the renamed file, then lines 59-78 to the new one, in two writes.
    os.rename(first, log.with_name("queue_log.2"))
    os.rename(log, first)
    log.touch()
    append(first, lines[52:58])
    time.sleep(0.5)  # the follower sees the empty new file and keeps reading the old one
    append(log, lines[58:70])
    time.sleep(0.3)
    append(log, lines[70:])
    state = tailer.wait_caught_up()
    assert state["line_no"] == FILES[2][1] - FILES[2][0] + 1

    expected = expected_events(files)
    by_id = {e["event_id"]: e for e in expected}
    # As many events as a batch read of the sample in one piece (88), all with distinct ids.
    assert len(by_id) == len(expected) == len(queue_log_events(SAMPLE)[0])
    assert {e["type"] for e in expected} >= {"contact.offered", "contact.answered",
                                             "contact.completed", "agent.state",
                                             "agent.login"}  # fmt: skip

    # The topic: every expected event, nothing else, and an id seen twice (lines read again
    # after the kill) always with the same content.
    produced = consume_topic(deployment, set(by_id), timeout=30)
    seen: dict[str, WireEvent] = {}
    conflicts = []
    for event in produced:
        before = seen.setdefault(event["event_id"], event)
        if before != event:
            conflicts.append((before, event))
    assert not conflicts, conflicts[:5]
    missing = sorted(by_id.keys() - seen.keys())
    extra = sorted(seen.keys() - by_id.keys())
    assert not missing and not extra, (missing[:20], extra[:20])
    assert seen == by_id

    # Redis: every queue hash and every agent hash equal the offline report of the whole log at
    # the instant the worker published them. Lines the follower had sent before the kill, but
    # whose position it had not stored yet, reach the topic again under the same ids: the
    # engines count each repeat as a duplicate, which a report of the log cannot know. So a
    # queue's `pipeline.duplicates` is its contact events the topic holds more than once.
    queues = tuple((TENANT, queue) for queue in QUEUES)
    report = wait_until_published_equals_report(deployment, expected, None, 45, queues,
                                                 RESENDS_COUNTED)  # fmt: skip
    sent = Counter(e["event_id"] for e in produced)
    repeats = Counter({queue: 0 for queue in QUEUES})
    for event_id, times in sent.items():
        if by_id[event_id]["type"].startswith("contact."):
            repeats[by_id[event_id]["queue"]] += times - 1
    for queue in QUEUES:
        assert int(deployment.queue_hash(TENANT, queue)["pipeline.duplicates"]) == repeats[queue]
    assert report["input"]["rejected"] == 0 and report["input"]["too_late"] == 0
    # ...and the comparison does see a difference: the same hashes against the report of the log
    # without its last answered call disagree.
    last_answer = max(i for i, e in enumerate(expected) if e["type"] == "contact.answered")
    fewer = expected[:last_answer] + expected[last_answer + 1 :]
    assert published_diffs(deployment, lambda at_ms: report_for(fewer, at_ms, None))
    (agents,) = report["agents"]
    assert sorted(agents["agents"]) == ["Agent/1003", "Agent/1004", "Local/1002@agents/n",
                                        "PJSIP/alice", "PJSIP/bob", "SIP/1001"]  # fmt: skip

    for proc in tailer.procs[1:]:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, tailer.logs()
