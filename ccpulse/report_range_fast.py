"""The range report of a queue_log file, fast: `ccpulse report --queue-log PATH --from --to`.

Gives the report `build_range_report_of_events(queue_log_decoded(path))` gives, field for
field (tests/unit/test_report_range_fast.py), several times faster (docs/performance.md,
"Range report"):

* the log is mapped by `TypedQueueLogMapper` (the decoder's check without a decoder pass);
* the engines run in report mode (streams/kpi/report_mode.py): `RangeEngine` keeps no minute
  buckets and `RangeAgentEngine` tracks no changelog writes (a range report reads neither);
* the engines run in two other processes while this one parses and maps, the queue engine in
  one and the agent engine in the other (they share nothing): the mapped events go to each
  over its own pipe in chunks, pickled as the mapper's dicts (they pickle fast), the worker
  builds the typed events (`typed_event`) and sends back its tables. Parsing and mapping are
  sequential (the mapper keeps each call's visits and each agent's held-back state), so the
  work splits into mapping here, engines there.

The workers are used when the machine has two CPUs or more and a process can be started
(`parallel=None`); `parallel=False`, one CPU, a worker that cannot start or that fails: the
same engines run here once the log is mapped, on the same events (the chunks sent are kept,
pickled, for that).
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any, Final

from ccpulse.opening_hours import OpeningHours
from ccpulse.report import InputStats, Replay, apply_events
from ccpulse.report_range import RangeSpec, range_report
from ccpulse.schemas import Event
from ccpulse.schemas.events import AGENT_TYPES
from ccpulse.sources.queue_log import QueueLogStats, WireEvent, read_lines
from ccpulse.sources.queue_log_parse import LineParser
from ccpulse.sources.queue_log_typed import TypedQueueLogMapper, typed_event
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.kpi.families import new_family_engines
from ccpulse.streams.kpi.report_mode import RangeAgentEngine, RangeEngine

#: Events per message to the workers: large enough that pickling is by the batch.
CHUNK: Final = 5_000
#: The buffer asked for each worker's pipe: about four messages.
PIPE_BYTES: Final = 1 << 20
_AGENT_TYPES: Final = frozenset(AGENT_TYPES)


class _Replayer:
    """`replay_events`, one chunk of events at a time (the worker's side of the pipe)."""

    def __init__(self, book: PolicyBook, at_ms: int) -> None:
        # The report keeps every interval, as `replay_events` does.
        keep_all = replace(book, engine=replace(book.engine, interval_retention_hours=0))
        families = new_family_engines(keep_all)
        families["agents"] = RangeAgentEngine(keep_all)
        self.run = Replay(RangeEngine(keep_all), families, InputStats(), at_ms)

    def apply(self, events: Iterable[Event]) -> None:
        events = list(events)
        self.run.stats.events += len(events)
        apply_events(self.run, events)

    def report(self, spec: RangeSpec, hours: OpeningHours | None) -> dict[str, Any]:
        run = self.run
        run.stats.lines = run.stats.events  # as `replay_events` counts decoded events
        return range_report(run, spec, hours)


def _worker(
    conn: Connection,
    out: Connection,
    book: PolicyBook,
    spec: RangeSpec,
    hours: OpeningHours | None,
) -> None:
    """Apply the chunks as they come on `conn` (None ends them) and send the report on `out`."""
    gc.disable()  # see `_gc_paused`; this process ends with the report
    try:
        replayer = _Replayer(book, spec.to_ms - 1)
        while (chunk := conn.recv()) is not None:
            replayer.apply(map(typed_event, chunk))
        out.send(("ok", replayer.report(spec, hours)))
    except BaseException as exc:  # reported to the parent, which falls back
        out.send(("error", repr(exc)))
    finally:
        conn.close()
        out.close()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a large log is read: the events and the engines' state
    are millions of objects that live to the end, which each full collection would walk again
    (a fifth of the engines' time on 300,000 lines). They hold few cycles; the collector runs
    again afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _widen(conn: Connection) -> None:
    """Give a pipe the largest buffer an unprivileged process may (Linux: 1 MiB, against 64 KiB),
    so that the mapping runs several chunks ahead of a worker instead of waiting for it to read
    each one (meanwhile the other worker would run out of events). Elsewhere: as it is."""
    try:
        import fcntl

        with open("/proc/sys/fs/pipe-max-size", encoding="ascii") as fh:
            size = min(int(fh.read()), PIPE_BYTES)
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, size)
    except (OSError, ValueError, AttributeError, ImportError):
        pass


class _Engines:
    """A worker process that runs the engines over the events sent to it, over a pipe (its
    report comes back over another); inert when it cannot start or has failed (the engines then
    run in this process)."""

    def __init__(self, book: PolicyBook, spec: RangeSpec, hours: OpeningHours | None) -> None:
        self.conn: Connection | None = None
        self.results: Connection | None = None
        self.proc: Any = None
        try:
            ctx = get_context("fork" if "fork" in get_all_start_methods() else None)
            events_in, self.conn = ctx.Pipe(duplex=False)
            self.results, report_out = ctx.Pipe(duplex=False)
            _widen(self.conn)
            self.proc = ctx.Process(target=_worker, daemon=True,
                                    args=(events_in, report_out, book, spec, hours))  # fmt: skip
            self.proc.start()
            events_in.close()
            report_out.close()
        except (OSError, ValueError, ImportError):
            self.proc = None  # not started
            self.close()

    def send(self, pickled: memoryview) -> None:
        """Send pickled events (`Connection.recv` unpickles them)."""
        if self.conn is None:
            return
        try:
            self.conn.send_bytes(pickled)
        except (OSError, EOFError):  # the worker is gone: the engines will run here
            self.close()

    def result(self) -> dict[str, Any] | None:
        """The worker's report, or None when there is no worker or it failed."""
        if self.conn is None or self.results is None:
            return None
        try:
            self.conn.send(None)
            status, body = self.results.recv()
        except (OSError, EOFError):
            status, body = "error", None
        self.close()
        return body if status == "ok" else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.results is not None:
            self.results.close()
            self.results = None
        if self.proc is not None:
            self.proc.join(timeout=5)
            if self.proc.is_alive():
                self.proc.kill()
            self.proc = None


def _route(batch: list[WireEvent], workers: list[_Engines]) -> list[memoryview]:
    """Contact events to the first worker, agent events to the second; returns them pickled
    (what the engines need if they must run here after all)."""
    contacts = ForkingPickler.dumps([e for e in batch if e["type"] not in _AGENT_TYPES])
    agents = ForkingPickler.dumps([e for e in batch if e["type"] in _AGENT_TYPES])
    workers[0].send(contacts)
    workers[1].send(agents)
    return [contacts, agents]


def _merged(queues: dict[str, Any], agents: dict[str, Any]) -> dict[str, Any]:
    """One report of the queue worker's and the agent worker's: the queue tables of one, the
    agent tables of the other, and the input counts of both added up."""
    both = [queues["input"], agents["input"]]
    return {**queues, "input": {key: sum(i[key] for i in both) for key in queues["input"]},
            "errors": queues["errors"] + agents["errors"], "agents": agents["agents"]}  # fmt: skip


def range_report_of_queue_log(
    path_or_lines: str | os.PathLike[str] | Iterable[str | bytes],
    book: PolicyBook,
    spec: RangeSpec,
    opening_hours: OpeningHours | None = None,
    *,
    tenant: str = "default",
    time_zone: str = "UTC",
    agent_aliases: Mapping[str, str] | None = None,
    parallel: bool | None = None,
) -> tuple[dict[str, Any], QueueLogStats]:
    """The range report of a queue_log and the mapper's stats (its dead letters, skipped lines);
    `parallel` None: a worker process when there are two CPUs or more."""
    source = None
    if isinstance(path_or_lines, str | os.PathLike):
        lines: Iterable[str | bytes] = read_lines(path_or_lines)
        source = Path(path_or_lines).name
    else:
        lines = path_or_lines
    if parallel is None:
        parallel = (os.cpu_count() or 1) >= 2
    # One worker for the queue engine, one for the agent engine: they share nothing.
    workers = [_Engines(book, spec, opening_hours) for _ in range(2)] if parallel else []
    mapper = TypedQueueLogMapper(tenant, source or "queue_log", agent_aliases=agent_aliases)
    parse = LineParser(time_zone).parse
    feed = mapper.feed
    events: list[WireEvent] = []  # mapped and not sent (without workers: all of them)
    # What was sent, pickled: kept for the engines to run here if a worker fails, as compact
    # bytes rather than as the events (a sixth of the memory, and the dicts are freed).
    sent: list[memoryview] = []
    chunk = CHUNK if workers else sys.maxsize  # no workers: no chunks
    report = None
    try:
        with _gc_paused():
            for line_no, raw in enumerate(lines, start=1):
                text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
                mapped = feed(parse(text, line_no))
                if mapped:
                    events += mapped
                    if len(events) >= chunk:
                        sent += _route(events, workers)
                        events = []
            events += mapper.flush(until_ms=int(time.time() * 1000))  # as `queue_log_decoded`
            if workers:
                sent += _route(events, workers)
                events = []
                parts = [w.result() for w in workers]
                if parts[0] is not None and parts[1] is not None:
                    report = _merged(parts[0], parts[1])
    finally:
        for w in workers:
            w.close()
    if report is None:  # no workers, or one failed: the same engines run here
        with _gc_paused():
            replayer = _Replayer(book, spec.to_ms - 1)
            # The queue engine and the agent engine share nothing: each gets its events in
            # order whether the contact and agent chunks are interleaved or not.
            for pickled in sent:
                replayer.apply(map(typed_event, pickle.loads(pickled)))
            replayer.apply(map(typed_event, events))
            report = replayer.report(spec, opening_hours)
    return report, mapper.stats
