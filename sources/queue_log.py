"""Asterisk queue_log to ccpulse contract events (wire-shape dicts).

`queue_log_events(path_or_lines)` maps a whole file for `ccpulse report --queue-log`;
`QueueLogMapper` maps line by line (the follower in `sources/tail.py` uses it) and keeps the
little state the mapping needs (sources/queue_log_state.py): each call's visit number per queue
and the "available" of an agent held back until we know whether a WRAPUPSTART follows. Which
events a line means is decided here; each event is built and checked by `EventBuilder`
(sources/queue_log_build.py). The mapping table, the quirks and the event-id scheme are in
docs/asterisk-queue-log.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from ccpulse.schemas import Event
from ccpulse.schemas.decode import MAX_DURATION_S
from ccpulse.schemas.events import (
    ABANDONED,
    AGENT_LOGIN,
    AGENT_LOGOUT,
    AGENT_RING_NO_ANSWER,
    AGENT_STATE,
    ANSWERED,
    BLOCKED,
    COMPLETED,
    DEQUEUED,
    OFFERED,
)
from ccpulse.sources.queue_log_build import NO_QUEUE, BadLine, EventBuilder, label
from ccpulse.sources.queue_log_build import QueueLogStats as QueueLogStats
from ccpulse.sources.queue_log_parse import DeadLetter, LineParser, QueueLogLine
from ccpulse.sources.queue_log_state import AFTER_CALL as AFTER_CALL
from ccpulse.sources.queue_log_state import PRUNE_EVERY_MS as PRUNE_EVERY_MS
from ccpulse.sources.queue_log_state import WRAP_UP_END, HeldBack
from ccpulse.sources.queue_log_state import WireEvent as WireEvent

if TYPE_CHECKING:
    from ccpulse.sources.produce import EventProducer

#: Lines with no call or agent meaning: skipped and counted.
HOUSEKEEPING: Final = frozenset(
    ("QUEUESTART", "CONFIGRELOAD", "INFO", "PENALTY", "RINGINUSE", "DID", "UPDATEFIELD")
)
#: Call events deliberately not mapped (docs: "Not mapped"): skipped and counted.
NOT_MAPPED: Final = frozenset(("RINGCANCELED", "AGENTDUMP", "SYSCOMPAT"))
#: Member lines with agent NONE (housekeeping of a member that is not named): skipped and
#: counted under "<EVENT> without agent", never dead letters.
MEMBER_EVENTS: Final = frozenset((
    "ADDMEMBER", "REMOVEMEMBER", "AGENTLOGIN", "AGENTCALLBACKLOGIN", "AGENTLOGOFF",
    "AGENTCALLBACKLOGOFF", "PAUSE", "PAUSEALL", "UNPAUSE", "UNPAUSEALL", "WRAPUPSTART",
    "RINGNOANSWER",
))  # fmt: skip
#: An agent's lines that do not change its state, so do not end a wrap-up of known length.
_NO_STATE: Final = HOUSEKEEPING | NOT_MAPPED | {"RINGNOANSWER"}
_SKIPPED: Final = HOUSEKEEPING | NOT_MAPPED
BLOCK_EVENTS: Final = {
    "FULL": "full",
    "DIVERT_CA_RATIO": "full",
    "DIVERT_HOLDTIME": "full",
    "JOINEMPTY": "no_agents",
    "JOINUNAVAIL": "no_agents",
    "CLOSED": "closed",
}
#: Unanswered exits: (dequeue reason, dataN holding the wait in seconds).
EXIT_EVENTS: Final = {
    "EXITWITHTIMEOUT": ("timeout", 3),
    "EXITWITHKEY": ("key", 4),
    "EXITEMPTY": ("empty", 3),
    "LEAVEEMPTY": ("empty", 3),
    "WITHDRAW": ("other", 3),
}
#: Ends of an answered call: dataN holding the talk time ("calltime") in seconds.
END_EVENTS: Final = {"COMPLETEAGENT": 2, "COMPLETECALLER": 2, "TRANSFER": 4, "BLINDTRANSFER": 4}
#: ATTENDEDTRANSFER(method|method-data...|holdtime|calltime|origposition): LINK logs two
#: method-data fields, BRIDGE and APP one (apps/app_queue.c, log_attended_transfer).
ATTENDED_CALLTIME: Final = {"BRIDGE": 4, "APP": 4, "LINK": 5}


class QueueLogMapper(EventBuilder):
    """Maps parsed queue_log lines to contract events, one line at a time, in file order.

    `source` names the file in event ids (default "queue_log"); `agent_aliases` renames agent
    fields (e.g. a member name to its interface); pending "available" events are released by the
    agent's next line, by any line `wrapup_grace_seconds` later, or by `flush()`.
    """

    def __init__(
        self,
        tenant: str = "default",
        source: str = "queue_log",
        *,
        agent_aliases: Mapping[str, str] | None = None,
        wrapup_grace_seconds: float = 5.0,
        visit_retention_seconds: int = 86_400,
        validate: bool = True,
    ) -> None:
        super().__init__(tenant, source, agent_aliases)
        self.grace_ms = round(wrapup_grace_seconds * 1000)
        self.retention_ms = visit_retention_seconds * 1000
        self.validate = validate
        self._held = HeldBack(self.grace_ms, _NO_STATE)
        self._latest_ms = 0
        self._since_prune = 0
        self._pruned_at_ms = 0
        #: The "available" a line holds back (agent, event, kind), set by `_map` for `feed`.
        self._hold: tuple[str, WireEvent, str] | None = None

    # -- feeding ------------------------------------------------------------------------------

    def feed(self, item: QueueLogLine | DeadLetter | None) -> list[WireEvent]:
        """Events for one parsed line (plus any held-back events it releases)."""
        if item is None:
            return []
        stats = self.stats
        stats.lines += 1
        if isinstance(item, DeadLetter):
            stats.dead_letters.append(item)
            return []
        if item.ts_ms > self._latest_ms:
            self._latest_ms = item.ts_ms
        out = self._release(item) if self._held.events else []
        self._hold = None
        try:
            events = self._map(item)
        except BadLine as exc:
            stats.dead_letters.append(DeadLetter(item.line_no, str(exc), item.raw))
            events = []
        hold = self._hold
        if hold is None:
            if events and self.validate and not self._checked(item, events, []):
                events = []
        elif events and self.validate and not self._checked(item, events, [hold[1]]):
            events = []  # the line is refused, with what it would have held back
        else:
            self._held.hold(*hold)
        out += events
        self._since_prune += 1
        if self._since_prune >= 1000 and self._latest_ms - self._pruned_at_ms >= PRUNE_EVERY_MS:
            self._prune()
        stats.events += len(out)
        return out

    @property
    def pending(self) -> int:
        """How many events are held back (see `flush`)."""
        return len(self._held)

    def flush(self, until_ms: int | None = None) -> list[WireEvent]:
        """Release the held-back events (end of input, or the follower idle); with `until_ms`,
        only those stamped at or before it (a wrap-up end still to come stays held)."""
        out = self._held.flush(until_ms)
        self.stats.events += len(out)
        return out

    # -- state kept across restarts -----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-able state: visit numbers and held-back events."""
        self._prune()
        return {"visits": self._visits.rows(), "pending": self._held.rows(),
                "latest_ms": self._latest_ms}  # fmt: skip

    def load_state(self, state: Mapping[str, Any]) -> None:
        self._visits.load(state.get("visits", []))
        self._held.load(state.get("pending", []))
        self._latest_ms = int(state.get("latest_ms", 0))

    # -- mapping ------------------------------------------------------------------------------

    def _map(self, line: QueueLogLine) -> list[WireEvent]:
        ev = line.event.upper()
        if ev in _SKIPPED:
            self._skip(ev)
            return []
        agent = self.agent_aliases.get(line.agent, line.agent)
        if agent in NO_QUEUE and ev in MEMBER_EVENTS:
            self._skip(f"{ev} without agent")
            return []
        if ev == "ENTERQUEUE":  # data2 (caller id) and data4 (caller name) are never read
            return [self._contact(line, OFFERED)]
        if ev == "CONNECT":  # agent NONE: the queue's answered call, without agent figures
            agent_id = self._agent_or_none(line)
            wait = self._seconds(line, 1)
            answered = self._contact(line, ANSWERED, agent_id=agent_id, wait_seconds=wait)
            if agent_id is None:
                return [answered]
            return [answered, self._agent_event(line, AGENT_STATE, agent_id, state="on_contact",
                                                wait_seconds=wait)]  # fmt: skip
        if ev == "ABANDON":
            return [self._contact(line, ABANDONED, wait_seconds=self._seconds(line, 3))]
        if ev in EXIT_EVENTS:
            reason, n = EXIT_EVENTS[ev]
            return [
                self._contact(line, DEQUEUED, reason=reason, wait_seconds=self._seconds(line, n))
            ]
        if ev in BLOCK_EVENTS:
            return [self._contact(line, BLOCKED, reason=BLOCK_EVENTS[ev])]
        if ev in END_EVENTS or ev == "ATTENDEDTRANSFER":
            return self._end(line, ev)
        if ev == "RINGNOANSWER":
            agent = self._agent(line)
            ms = self._seconds(line, 1, required=True, unit=1000) or 0
            contact_id = None
            if line.callid not in NO_QUEUE and line.callid.isprintable():
                n = self._visits.number(line.queue, line.callid)
                contact_id = self._contact_id(line.callid, n)
            return [self._agent_event(line, AGENT_RING_NO_ANSWER, agent,
                                      ring_seconds=ms / 1000, contact_id=contact_id)]  # fmt: skip
        return self._agent_line(line, ev)

    def _agent_line(self, line: QueueLogLine, ev: str) -> list[WireEvent]:
        if ev in ("ADDMEMBER", "AGENTLOGIN", "AGENTCALLBACKLOGIN"):
            agent = self._agent(line)
            out = [self._agent_event(line, AGENT_LOGIN, agent)]
            if ev == "ADDMEMBER" and line.d(1).upper() == "PAUSED":
                out.append(self._agent_event(line, AGENT_STATE, agent, state="paused"))
            return out
        if ev in ("REMOVEMEMBER", "AGENTLOGOFF", "AGENTCALLBACKLOGOFF"):
            return [self._agent_event(line, AGENT_LOGOUT, self._agent(line))]
        if ev in ("PAUSE", "PAUSEALL"):
            agent = self._agent(line)
            reason = label(line.d(1))
            paused = self._agent_event(line, AGENT_STATE, agent, ev == "PAUSEALL",
                                       state="paused", reason=reason)  # fmt: skip
            return [paused]
        if ev in ("UNPAUSE", "UNPAUSEALL"):
            agent = self._agent(line)
            return [self._agent_event(line, AGENT_STATE, agent, ev == "UNPAUSEALL",
                                      state="available")]  # fmt: skip
        if ev == "WRAPUPSTART":  # data1, when logged, is the wrap-up's length in seconds
            agent = self._agent(line)
            length = line.d(1).strip()
            if length.isdigit() and 0 < int(length) <= MAX_DURATION_S:
                end = self._agent_event(line, AGENT_STATE, agent, state="available")
                end["ts"] = line.ts_ms + int(length) * 1000
                end["event_id"] = self._event_id(line, WRAP_UP_END)
                self._hold = (agent, end, WRAP_UP_END)
            return [self._agent_event(line, AGENT_STATE, agent, state="wrap_up")]
        raise BadLine(f"unknown queue_log event {line.event!r}")

    def _end(self, line: QueueLogLine, ev: str) -> list[WireEvent]:
        """COMPLETEAGENT/COMPLETECALLER/TRANSFER/BLINDTRANSFER/ATTENDEDTRANSFER: completed (the
        logged holdtime is the queue wait, so hold_seconds is 0), agent available (held back)."""
        if ev == "ATTENDEDTRANSFER":
            n = ATTENDED_CALLTIME.get(line.d(1).upper(), len(line.data) - 1)
        else:
            n = END_EVENTS[ev]
        agent = self._agent_or_none(line)
        talk = self._seconds(line, n, required=True)
        completed = self._contact(line, COMPLETED, agent_id=agent, talk_seconds=talk,
                                  hold_seconds=0)  # fmt: skip
        if agent is not None:
            available = self._agent_event(line, AGENT_STATE, agent, state="available")
            self._hold = (agent, available, AFTER_CALL)
        return [completed]

    def _release(self, line: QueueLogLine) -> list[WireEvent]:
        """Held-back "available" events this line decides (see `HeldBack.release`)."""
        held = self._held
        if not held.events:
            return []
        agent = self.agent_aliases.get(line.agent, line.agent)
        if line.ts_ms < held.due_ms and agent not in held.events:
            return []  # none is due and none is this agent's: the line would keep them all
        return held.release(agent, line.event, line.ts_ms)

    def _prune(self) -> None:
        """Forget visits idle for longer than the retention (the engine forgets them too)."""
        self._since_prune = 0
        self._pruned_at_ms = self._latest_ms
        self._visits.prune(self._latest_ms - self.retention_ms)


# -- batch use ------------------------------------------------------------------------------------


def read_lines(path: str | os.PathLike[str]) -> Iterator[str]:
    """A file's lines (split on "\\n" only, as the follower does) without terminators;
    undecodable bytes kept as surrogates."""
    with open(path, "rb") as fh:
        for raw in fh:
            yield raw.decode("utf-8", "surrogateescape").rstrip("\r\n")  # `strip_eol`


def queue_log_events(
    path_or_lines: str | os.PathLike[str] | Iterable[str | bytes],
    tenant: str = "default",
    source: str | None = None,
    *,
    time_zone: str = "UTC",
    agent_aliases: Mapping[str, str] | None = None,
) -> tuple[list[WireEvent], QueueLogStats]:
    """Map a whole queue_log (file path, or its lines in order) to contract events.

    `source` names the input in event ids (default: the file's basename, or "queue_log" for
    lines); `time_zone` applies to CSV date-times without offset.
    """
    return _map_all(path_or_lines, tenant, source, time_zone, agent_aliases, None)


def queue_log_decoded(
    path_or_lines: str | os.PathLike[str] | Iterable[str | bytes],
    tenant: str = "default",
    source: str | None = None,
    *,
    time_zone: str = "UTC",
    agent_aliases: Mapping[str, str] | None = None,
) -> tuple[list[Event], QueueLogStats]:
    """`queue_log_events` as decoded contract events, ready for the engines: the decoder's
    check of each mapped event is kept rather than done again from JSON."""
    decoded: dict[str, Event] = {}
    events, stats = _map_all(path_or_lines, tenant, source, time_zone, agent_aliases, decoded)
    return [decoded[e["event_id"]] for e in events], stats


def _map_all(
    path_or_lines: str | os.PathLike[str] | Iterable[str | bytes],
    tenant: str,
    source: str | None,
    time_zone: str,
    agent_aliases: Mapping[str, str] | None,
    decoded: dict[str, Event] | None,
) -> tuple[list[WireEvent], QueueLogStats]:
    if isinstance(path_or_lines, str | os.PathLike):
        lines: Iterable[str | bytes] = read_lines(path_or_lines)
        source = source or Path(path_or_lines).name
    else:
        lines = path_or_lines
    mapper = QueueLogMapper(tenant, source or "queue_log", agent_aliases=agent_aliases)
    mapper.decoded = decoded
    parser = LineParser(time_zone)
    events: list[WireEvent] = []
    for line_no, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        events += mapper.feed(parser.parse(text, line_no))
    # The end of a wrap-up still running now (a live log read while an agent wraps up) is not
    # released: the wrap-up stays open, as it is.
    events += mapper.flush(until_ms=int(time.time() * 1000))
    return events, mapper.stats


def json_lines(events: Iterable[WireEvent]) -> Iterator[bytes]:
    """Events as JSON lines, the input of `ccpulse.report.build_report`."""
    for event in events:
        yield orjson.dumps(event)


# -- producing ------------------------------------------------------------------------------------


async def send_events(
    producer: EventProducer, events: list[WireEvent], batch_size: int = 100
) -> int:
    """Send contact and agent events keyed by their routing keys (JSON-array batches); returns
    the number of messages, all acknowledged when this returns."""
    return await producer.send(events, batch_size)
