"""Asterisk queue_log to ccpulse contract events (wire-shape dicts).

`queue_log_events(path_or_lines)` maps a whole file for `ccpulse report --queue-log`;
`QueueLogMapper` maps line by line (the follower in `sources/tail.py` uses it) and keeps the
little state the mapping needs: each call's visit number per queue and the "available" of an
agent held back until we know whether a WRAPUPSTART follows. The mapping table, the quirks and
the event-id scheme are in docs/asterisk-queue-log.md.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from ccpulse.schemas import Event
from ccpulse.schemas.decode import MAX_DURATION_S, MAX_ID_LEN, NAME_RE, Rejection, decode_object
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
from ccpulse.sources.queue_log_parse import DeadLetter, LineParser, QueueLogLine

if TYPE_CHECKING:
    from ccpulse.sources.produce import EventProducer

WireEvent = dict[str, Any]

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
#: Kinds of held-back "available" events: after a completion (dropped when the agent's next line
#: is WRAPUPSTART), or at the end of a wrap-up of known length (dropped when the agent's state
#: changes before it).
AFTER_CALL, WRAP_UP_END = "c", "w"
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
NO_QUEUE: Final = ("", "NONE")
#: An ENTERQUEUE stamped before, or at most this long after, an entry-less outcome of the same call
#: and queue is that visit's entry (CONNECT logged before ENTERQUEUE), not a new visit.
ENTRY_AFTER_OUTCOME_MS: Final = 60_000
#: Idle visits are looked for once per hour of log time (a scan of every visit of a day).
PRUNE_EVERY_MS: Final = 3_600_000
_SUFFIX: Final = {
    OFFERED: "o", BLOCKED: "b", ANSWERED: "a", ABANDONED: "x", DEQUEUED: "d", COMPLETED: "c",
    AGENT_LOGIN: "li", AGENT_LOGOUT: "lo", AGENT_STATE: "st", AGENT_RING_NO_ANSWER: "rna",
    WRAP_UP_END: "we",
}  # fmt: skip
_OUTCOMES: Final = (ANSWERED, ABANDONED, DEQUEUED)
#: How many valid queue names a mapper remembers (a log names a few dozen at most).
_KNOWN_QUEUES: Final = 10_000


@dataclass(slots=True)
class QueueLogStats:
    """What a read did: lines seen, events made, lines skipped by event, lines refused."""

    lines: int = 0
    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def errors(self) -> list[str]:
        """One line per dead letter, naming the line number."""
        return [d.describe() for d in self.dead_letters]


@dataclass(slots=True)
class _Visit:
    """Roles of one call's current visit to one queue, mirroring the engine's roles."""

    n: int
    entry: bool = False
    blocked: bool = False
    outcome: str | None = None
    completed: bool = False
    last_ms: int = 0

    def fits(self, role: str, ts_ms: int) -> bool:
        if role == OFFERED:  # the CONNECT-before-ENTERQUEUE quirk
            return (not self.entry and not self.blocked and not self.completed
                    and self.outcome is not None
                    and ts_ms - self.last_ms <= ENTRY_AFTER_OUTCOME_MS)  # fmt: skip
        if role == BLOCKED:
            return False
        if role in _OUTCOMES:
            return self.outcome is None and not self.blocked and not self.completed
        return not self.completed and not self.blocked  # completion

    def take(self, role: str, ts_ms: int) -> None:
        if role == OFFERED:
            self.entry = True
        elif role == BLOCKED:
            self.blocked = True
        elif role in _OUTCOMES:
            self.outcome = role
        else:
            self.completed = True
        self.last_ms = max(self.last_ms, ts_ms)


def _due(ts_ms: int, kind: str, grace_ms: int) -> int:
    """The first instant at which a line releases a held-back event of `kind` stamped `ts_ms`,
    whoever's line it is: after a completion, the grace period; a wrap-up's end, its instant."""
    return ts_ms + grace_ms if kind == AFTER_CALL else ts_ms


class _Bad(Exception):
    """A line that cannot be mapped; becomes a dead letter."""


def _label(text: str) -> str | None:
    """A pause reason as the contract's label (1-64 printable characters), or None."""
    text = text.strip()[:64]
    return text if text and text.isprintable() else None


class QueueLogMapper:
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
        if not NAME_RE.match(tenant):
            raise ValueError(f"tenant {tenant!r} is not a valid ccpulse name")
        self.tenant = tenant
        self.source = source if len(source) <= 64 else hashlib.sha1(source.encode()).hexdigest()
        self.agent_aliases = dict(agent_aliases or {})
        self.grace_ms = round(wrapup_grace_seconds * 1000)
        self.retention_ms = visit_retention_seconds * 1000
        self.validate = validate
        #: event id -> the decoded event, kept by the check when set (see `queue_log_decoded`).
        self.decoded: dict[str, Event] | None = None
        self.stats = QueueLogStats()
        self._visits: dict[tuple[str, str], _Visit] = {}
        #: Hour of log time -> the visits whose last line fell in it then (see `_prune`).
        self._by_hour: dict[int, list[tuple[str, str]]] = {}
        #: agent -> (event ts, the held-back agent.state available event, kind)
        self._pending: dict[str, tuple[int, WireEvent, str]] = {}
        #: No held-back event falls due before this instant (a lower bound, see `_release`).
        self._due_ms = 0
        self._latest_ms = 0
        self._since_prune = 0
        self._pruned_at_ms = 0
        #: The "available" a line holds back (agent, event, kind), set by `_map` for `feed`.
        self._hold: tuple[str, WireEvent, str] | None = None
        #: The last line whose events were named, and their ids' common prefix (a CONNECT or a
        #: WRAPUPSTART makes two events of one line, with one digest).
        self._id_of: tuple[QueueLogLine | None, str] = (None, "")
        #: Queue names already found valid (`_queue`), up to `_KNOWN_QUEUES`.
        self._queue_ok: set[str] = set()

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
        out = self._release(item) if self._pending else []
        self._hold = None
        try:
            events = self._map(item)
        except _Bad as exc:
            stats.dead_letters.append(DeadLetter(item.line_no, str(exc), item.raw))
            events = []
        hold = self._hold
        if hold is None:
            if events and self.validate and not self._checked(item, events, []):
                events = []
        elif events and self.validate and not self._checked(item, events, [hold[1]]):
            events = []  # the line is refused, with what it would have held back
        else:
            who, held, kind = hold
            self._pending[who] = (held["ts"], held, kind)
            self._due_ms = min(self._due_ms, _due(held["ts"], kind, self.grace_ms))
        out += events
        self._since_prune += 1
        if self._since_prune >= 1000 and self._latest_ms - self._pruned_at_ms >= PRUNE_EVERY_MS:
            self._prune()
        stats.events += len(out)
        return out

    @property
    def pending(self) -> int:
        """How many events are held back (see `flush`)."""
        return len(self._pending)

    def flush(self, until_ms: int | None = None) -> list[WireEvent]:
        """Release the held-back events (end of input, or the follower idle); with `until_ms`,
        only those stamped at or before it (a wrap-up end still to come stays held)."""
        out: list[WireEvent] = []
        for agent, (ts, event, _) in list(self._pending.items()):
            if until_ms is None or ts <= until_ms:
                del self._pending[agent]
                out.append(event)
        self.stats.events += len(out)
        return out

    # -- state kept across restarts -----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-able state: visit numbers and held-back events."""
        self._prune()
        return {
            "visits": [
                [q, c, v.n, v.entry, v.blocked, v.outcome, v.completed, v.last_ms]
                for (q, c), v in self._visits.items()
            ],
            "pending": [[agent, ts, ev, kind] for agent, (ts, ev, kind) in self._pending.items()],
            "latest_ms": self._latest_ms,
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        self._visits = {(q, c): _Visit(n, e, b, o, done, last)
                        for q, c, n, e, b, o, done, last in state.get("visits", [])}  # fmt: skip
        self._by_hour = {}
        for key, visit in self._visits.items():
            self._by_hour.setdefault(visit.last_ms // PRUNE_EVERY_MS, []).append(key)
        self._pending = {held[0]: (held[1], held[2], held[3] if len(held) > 3 else AFTER_CALL)
                         for held in state.get("pending", [])}  # fmt: skip
        self._due_ms = 0  # the next line looks at every held-back event
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
                visit = self._visits.get((line.queue, line.callid))
                contact_id = self._contact_id(line.callid, visit.n if visit else 1)
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
            reason = _label(line.d(1))
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
        raise _Bad(f"unknown queue_log event {line.event!r}")

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
        """Held-back "available" events this line decides: the agent's own next line (dropped
        when it is WRAPUPSTART) or any line past the grace period."""
        pending = self._pending
        if not pending:
            return []
        agent = self.agent_aliases.get(line.agent, line.agent)
        if line.ts_ms < self._due_ms and agent not in pending:
            return []  # none is due and none is this agent's: the loop below would keep all
        ev = line.event.upper()
        out: list[WireEvent] = []
        due = sys.maxsize  # of the events kept
        for who, (ts, event, kind) in list(pending.items()):
            if kind == AFTER_CALL:
                if who == agent or line.ts_ms >= ts + self.grace_ms:
                    del self._pending[who]
                    if not (who == agent and ev == "WRAPUPSTART"):
                        out.append(event)
                    continue
            elif who == agent and ev not in _NO_STATE:  # the agent's next state decides
                del self._pending[who]
                if line.ts_ms >= ts:  # the wrap-up ended first; else the line supersedes it
                    out.append(event)
                continue
            elif line.ts_ms >= ts:
                del self._pending[who]
                out.append(event)
                continue
            due = min(due, _due(ts, kind, self.grace_ms))
        self._due_ms = due
        return out

    # -- building events ----------------------------------------------------------------------

    def _skip(self, reason: str) -> None:
        self.stats.skipped[reason] = self.stats.skipped.get(reason, 0) + 1

    def _event_id(self, line: QueueLogLine, etype: str) -> str:
        """`ql:<source>:<line number>:<first 12 hex of the line's sha1>:<type suffix>`."""
        named, prefix = self._id_of
        if named is not line:  # one digest per line, whatever its events
            raw = line.raw.encode("utf-8", "surrogateescape")
            digest = hashlib.sha1(raw).digest()[:6].hex()  # the first 12 hex digits
            prefix = f"ql:{self.source}:{line.line_no}:{digest}:"
            self._id_of = (line, prefix)
        return prefix + _SUFFIX[etype]

    def _queue(self, line: QueueLogLine) -> str:
        queue: str = line.queue
        if queue in self._queue_ok:
            return queue
        if queue in NO_QUEUE:
            raise _Bad(f"{line.event} without a queue")
        if not NAME_RE.match(queue):
            raise _Bad(f"queue name {queue!r} is not a valid ccpulse name "
                       "(letters, digits, spaces, _ . @ + ~ -)")  # fmt: skip
        if len(self._queue_ok) < _KNOWN_QUEUES:
            self._queue_ok.add(queue)
        return queue

    def _agent(self, line: QueueLogLine) -> str:
        agent: str = self.agent_aliases.get(line.agent, line.agent)
        if agent in NO_QUEUE:
            raise _Bad(f"{line.event} without an agent")
        if len(agent) > MAX_ID_LEN or not agent.isprintable():
            raise _Bad(f"agent {agent[:40]!r} is not 1-{MAX_ID_LEN} printable characters")
        return agent

    def _agent_or_none(self, line: QueueLogLine) -> str | None:
        """The agent of a call line, or None for `NONE`/empty (the queue's figures need none)."""
        if self.agent_aliases.get(line.agent, line.agent) in NO_QUEUE:
            return None
        return self._agent(line)

    def _seconds(
        self, line: QueueLogLine, n: int, required: bool = False, unit: int = 1
    ) -> int | None:
        """dataN as a whole number of seconds (`unit` 1000: milliseconds); None when empty."""
        text = line.d(n).strip()
        if not text:
            if required:
                raise _Bad(f"{line.event} has no data{n}")
            return None
        if not text.isdigit():
            raise _Bad(f"{line.event} data{n} {text!r} is not a whole number")
        value = int(text)
        if value > MAX_DURATION_S * unit:
            raise _Bad(f"{line.event} data{n} {text!r} is longer than 7 days")
        return value

    @staticmethod
    def _contact_id(callid: str, n: int) -> str:
        return callid if n == 1 else f"{callid}#{n}"

    def _claim(self, line: QueueLogLine, role: str) -> str:
        """The contact id of the visit this line belongs to (a new visit when its role is
        taken), keyed by call and queue."""
        callid, ts_ms = line.callid, line.ts_ms
        if callid in NO_QUEUE or len(callid) > MAX_ID_LEN - 8:
            raise _Bad(f"{line.event} without a usable call id")
        if not callid.isprintable():
            raise _Bad("call id holds non-printable characters")
        key = (line.queue, callid)
        visit = self._visits.get(key)
        if visit is None:
            visit = self._visits[key] = _Visit(1)
        elif not visit.fits(role, ts_ms):
            visit = self._visits[key] = _Visit(visit.n + 1)
        hour = visit.last_ms // PRUNE_EVERY_MS  # 0 for a new visit
        visit.take(role, ts_ms)
        if visit.last_ms // PRUNE_EVERY_MS != hour:  # listed under the hour of its last line
            by_hour = self._by_hour.get(visit.last_ms // PRUNE_EVERY_MS)
            if by_hour is None:
                self._by_hour[visit.last_ms // PRUNE_EVERY_MS] = [key]
            else:
                by_hour.append(key)
        return callid if visit.n == 1 else f"{callid}#{visit.n}"  # `_contact_id`

    def _contact(
        self,
        line: QueueLogLine,
        etype: str,
        agent_id: str | None = None,
        reason: str | None = None,
        wait_seconds: int | None = None,
        talk_seconds: int | None = None,
        hold_seconds: int | None = None,
    ) -> WireEvent:
        """A contact event of this line; the optional fields that are not None follow the
        common ones, in the order of the parameters."""
        queue = self._queue(line)
        event: WireEvent = {
            "event_id": self._event_id(line, etype), "type": etype, "ts": line.ts_ms,
            "tenant": self.tenant, "queue": queue, "channel": "voice",
            "contact_id": self._claim(line, etype),
        }  # fmt: skip
        if agent_id is not None:
            event["agent_id"] = agent_id
        if reason is not None:
            event["reason"] = reason
        if wait_seconds is not None:
            event["wait_seconds"] = wait_seconds
        if talk_seconds is not None:
            event["talk_seconds"] = talk_seconds
        if hold_seconds is not None:
            event["hold_seconds"] = hold_seconds
        return event

    def _agent_event(
        self,
        line: QueueLogLine,
        etype: str,
        agent: str,
        all_queues: bool = False,
        *,
        state: str | None = None,
        reason: str | None = None,
        wait_seconds: int | None = None,
        ring_seconds: float | None = None,
        contact_id: str | None = None,
    ) -> WireEvent:
        """An agent event of this line (of its queue unless `all_queues`); the optional fields
        that are not None follow, in the order of the parameters."""
        event: WireEvent = {"event_id": self._event_id(line, etype), "type": etype,
                            "ts": line.ts_ms, "tenant": self.tenant, "agent_id": agent}  # fmt: skip
        if not all_queues and line.queue not in NO_QUEUE:
            event["queue"] = self._queue(line)
        if state is not None:
            event["state"] = state
        if reason is not None:
            event["reason"] = reason
        if wait_seconds is not None:
            event["wait_seconds"] = wait_seconds
        if ring_seconds is not None:
            event["ring_seconds"] = ring_seconds
        if contact_id is not None:
            event["contact_id"] = contact_id
        return event

    def _checked(
        self, line: QueueLogLine, events: list[WireEvent], held: list[WireEvent]
    ) -> bool:
        """Safety net: the decoder must accept every event, else the line is dead-lettered. A
        held-back event is checked as of its own instant (the end of a long wrap-up lies ahead of
        the clock when the line is read; it is released only once due)."""
        now = int(time.time() * 1000)
        instants = [now] * len(events) + [max(now, e["ts"]) for e in held]
        for event, as_of in zip(events + held, instants, strict=True):
            result = decode_object(event, as_of)
            if isinstance(result, Rejection):
                reason = f"mapped event refused: {result.describe()}"
                self.stats.dead_letters.append(DeadLetter(line.line_no, reason, line.raw))
                return False
            if self.decoded is not None:
                self.decoded[event["event_id"]] = result
        return True

    def _prune(self) -> None:
        """Forget visits idle for longer than the retention (the engine forgets them too).

        Only the visits listed under the hours before the horizon are looked at, not all: a
        visit is listed under the hour of its last line whenever that hour changes, so one whose
        last line is before the horizon is listed under an hour that starts before it. An hour
        wholly before the horizon is then done with: its visits are gone or listed later."""
        self._since_prune = 0
        self._pruned_at_ms = self._latest_ms
        horizon = self._latest_ms - self.retention_ms
        visits = self._visits
        for hour in [h for h in self._by_hour if h * PRUNE_EVERY_MS < horizon]:
            for key in self._by_hour[hour]:
                visit = visits.get(key)
                if visit is not None and visit.last_ms < horizon:
                    del visits[key]
            if (hour + 1) * PRUNE_EVERY_MS <= horizon:
                del self._by_hour[hour]


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
