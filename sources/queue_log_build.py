"""Contract events of a parsed queue_log line, as `QueueLogMapper` (sources/queue_log.py) builds
them: event ids, the checks of every field the mapper writes, each call's contact id per visit.

`EventBuilder` is the mapper's base: which events a line means is the mapper's; how each event is
made and checked is here. Every field written is validated as the decoder would (queue names
against `NAME_RE`, agents and call ids as printable ids of bounded length, durations as whole
seconds of at most a week); a line that fails is a `BadLine`, which the mapper dead-letters.
Event ids are `ql:<source>:<line number>:<first 12 hex digits of the line's sha1>:<suffix>`
(docs/asterisk-queue-log.md).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

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
from ccpulse.sources.queue_log_parse import DeadLetter, QueueLogLine
from ccpulse.sources.queue_log_state import WRAP_UP_END, Visits, WireEvent

NO_QUEUE: Final = ("", "NONE")
SUFFIX: Final = {
    OFFERED: "o", BLOCKED: "b", ANSWERED: "a", ABANDONED: "x", DEQUEUED: "d", COMPLETED: "c",
    AGENT_LOGIN: "li", AGENT_LOGOUT: "lo", AGENT_STATE: "st", AGENT_RING_NO_ANSWER: "rna",
    WRAP_UP_END: "we",
}  # fmt: skip
#: How many valid queue names, and agent names, a mapper remembers (a log names a few hundred).
_KNOWN_NAMES: Final = 10_000


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


class BadLine(Exception):
    """A line that cannot be mapped; becomes a dead letter."""


def label(text: str) -> str | None:
    """A pause reason as the contract's label (1-64 printable characters), or None."""
    text = text.strip()[:64]
    return text if text and text.isprintable() else None


class EventBuilder:
    """Builds and checks the events of one line; keeps the visits that number contact ids.

    `source` names the input in event ids (hashed when longer than 64 characters);
    `agent_aliases` renames agent fields (e.g. a member name to its interface).
    """

    def __init__(
        self, tenant: str, source: str, agent_aliases: Mapping[str, str] | None = None
    ) -> None:
        if not NAME_RE.match(tenant):
            raise ValueError(f"tenant {tenant!r} is not a valid ccpulse name")
        self.tenant = tenant
        self.source = source if len(source) <= 64 else hashlib.sha1(source.encode()).hexdigest()
        self.agent_aliases = dict(agent_aliases or {})
        #: event id -> the decoded event, kept by the check when set (see `queue_log_decoded`).
        self.decoded: dict[str, Event] | None = None
        self.stats = QueueLogStats()
        self._visits = Visits()
        #: The last line whose events were named, and their ids' common prefix (a CONNECT or a
        #: WRAPUPSTART makes two events of one line, with one digest).
        self._id_of: tuple[QueueLogLine | None, str] = (None, "")
        #: Queue and agent names already found valid, each as the one string object the events
        #: share (the workers' pickles and the engines' lookups are the lighter for it).
        self._queue_ok: dict[str, str] = {}
        self._agent_ok: dict[str, str] = {}

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
        return prefix + SUFFIX[etype]

    def _queue(self, line: QueueLogLine) -> str:
        queue: str = line.queue
        known = self._queue_ok.get(queue)
        if known is not None:
            return known
        if queue in NO_QUEUE:
            raise BadLine(f"{line.event} without a queue")
        if not NAME_RE.match(queue):
            raise BadLine(f"queue name {queue!r} is not a valid ccpulse name "
                          "(letters, digits, spaces, _ . @ + ~ -)")  # fmt: skip
        if len(self._queue_ok) < _KNOWN_NAMES:
            self._queue_ok[queue] = queue
        return queue

    def _agent(self, line: QueueLogLine) -> str:
        agent: str = self.agent_aliases.get(line.agent, line.agent)
        known = self._agent_ok.get(agent)
        if known is not None:
            return known
        if agent in NO_QUEUE:
            raise BadLine(f"{line.event} without an agent")
        if len(agent) > MAX_ID_LEN or not agent.isprintable():
            raise BadLine(f"agent {agent[:40]!r} is not 1-{MAX_ID_LEN} printable characters")
        if len(self._agent_ok) < _KNOWN_NAMES:
            self._agent_ok[agent] = agent
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
                raise BadLine(f"{line.event} has no data{n}")
            return None
        if not text.isdigit():
            raise BadLine(f"{line.event} data{n} {text!r} is not a whole number")
        value = int(text)
        if value > MAX_DURATION_S * unit:
            raise BadLine(f"{line.event} data{n} {text!r} is longer than 7 days")
        return value

    @staticmethod
    def _contact_id(callid: str, n: int) -> str:
        return callid if n == 1 else f"{callid}#{n}"

    def _claim(self, line: QueueLogLine, role: str) -> str:
        """The contact id of the visit this line belongs to (a new visit when its role is
        taken), keyed by call and queue."""
        callid = line.callid
        if callid in NO_QUEUE or len(callid) > MAX_ID_LEN - 8:
            raise BadLine(f"{line.event} without a usable call id")
        if not callid.isprintable():
            raise BadLine("call id holds non-printable characters")
        n = self._visits.claim(line.queue, callid, role, line.ts_ms)
        return callid if n == 1 else f"{callid}#{n}"  # `_contact_id`

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

    def _checked(self, line: QueueLogLine, events: list[WireEvent], held: list[WireEvent]) -> bool:
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
