"""What a queue_log mapper remembers between lines (`QueueLogMapper` in sources/queue_log.py):
each call's visits to each queue, and the agents' "available" events held back.

A call that leaves a queue and joins it again is a new visit, with its own contact id; a visit is
forgotten once idle for longer than the retention (the engine forgets its contacts too). After a
completion the agent's "available" waits for the agent's next line (a WRAPUPSTART drops it) or
for any line past a grace period; the end of a wrap-up of known length waits for its instant or
for the agent's next change of state. Both are kept across the follower's restarts (`rows`,
`load`); docs/asterisk-queue-log.md has the rules.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import Any, Final

from ccpulse.schemas.events import ABANDONED, ANSWERED, BLOCKED, DEQUEUED, OFFERED

WireEvent = dict[str, Any]
#: Kinds of held-back "available" events: after a completion (dropped when the agent's next line
#: is WRAPUPSTART), or at the end of a wrap-up of known length (dropped when the agent's state
#: changes before it).
AFTER_CALL, WRAP_UP_END = "c", "w"
#: An ENTERQUEUE stamped before, or at most this long after, an entry-less outcome of the same call
#: and queue is that visit's entry (CONNECT logged before ENTERQUEUE), not a new visit.
ENTRY_AFTER_OUTCOME_MS: Final = 60_000
#: Idle visits are looked for once per hour of log time, and listed by that hour.
PRUNE_EVERY_MS: Final = 3_600_000
_OUTCOMES: Final = (ANSWERED, ABANDONED, DEQUEUED)
VisitKey = tuple[str, str]  # (queue, call id)


@dataclass(slots=True)
class Visit:
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


class Visits:
    """Each (queue, call id)'s current visit.

    A prune looks only at the visits listed under the hours before its horizon, not at all of
    them: a visit is listed under the hour of its last line whenever that hour changes, so one
    whose last line is before the horizon is listed under an hour that starts before it. An hour
    wholly before the horizon is then done with: its visits are gone or listed under a later one.
    """

    __slots__ = ("_by_hour", "by_key")

    def __init__(self) -> None:
        self.by_key: dict[VisitKey, Visit] = {}
        #: Hour of log time -> the visits whose last line fell in it then.
        self._by_hour: dict[int, list[VisitKey]] = {}

    def __len__(self) -> int:
        return len(self.by_key)

    def claim(self, queue: str, callid: str, role: str, ts_ms: int) -> int:
        """The number of the visit a line of `role` belongs to: the current one, or a new one
        when the current one has that role already."""
        key = (queue, callid)
        visit = self.by_key.get(key)
        if visit is None:
            visit = self.by_key[key] = Visit(1)
        elif not visit.fits(role, ts_ms):
            visit = self.by_key[key] = Visit(visit.n + 1)
        hour = visit.last_ms // PRUNE_EVERY_MS  # 0 for a new visit
        visit.take(role, ts_ms)
        if visit.last_ms // PRUNE_EVERY_MS != hour:
            listed = self._by_hour.get(visit.last_ms // PRUNE_EVERY_MS)
            if listed is None:
                self._by_hour[visit.last_ms // PRUNE_EVERY_MS] = [key]
            else:
                listed.append(key)
        return visit.n

    def number(self, queue: str, callid: str) -> int:
        """The current visit's number, without claiming it (1 when the call has none)."""
        visit = self.by_key.get((queue, callid))
        return visit.n if visit else 1

    def prune(self, horizon_ms: int) -> None:
        """Forget the visits whose last line is before `horizon_ms`."""
        by_key = self.by_key
        for hour in [h for h in self._by_hour if h * PRUNE_EVERY_MS < horizon_ms]:
            for key in self._by_hour[hour]:
                visit = by_key.get(key)
                if visit is not None and visit.last_ms < horizon_ms:
                    del by_key[key]
            if (hour + 1) * PRUNE_EVERY_MS <= horizon_ms:
                del self._by_hour[hour]

    def rows(self) -> list[list[Any]]:
        """JSON-able, in the order the visits began."""
        return [[q, c, v.n, v.entry, v.blocked, v.outcome, v.completed, v.last_ms]
                for (q, c), v in self.by_key.items()]  # fmt: skip

    def load(self, rows: Iterable[list[Any]]) -> None:
        """The visits of `rows` (see `rows`), instead of these."""
        self.by_key = {(q, c): Visit(n, e, b, o, done, last)
                       for q, c, n, e, b, o, done, last in rows}  # fmt: skip
        self._by_hour = {}
        for key, visit in self.by_key.items():
            self._by_hour.setdefault(visit.last_ms // PRUNE_EVERY_MS, []).append(key)


class HeldBack:
    """The "available" events held back, one per agent at most, and a lower bound of the instant
    the next one falls due, whoever's line it is: a line before it, of an agent with nothing
    held, releases nothing (`QueueLogMapper._release` passes it by)."""

    __slots__ = ("due_ms", "events", "grace_ms", "no_state")

    def __init__(self, grace_ms: int, no_state: Set[str]) -> None:
        self.grace_ms = grace_ms
        #: Events of agents' lines that do not change the agent's state.
        self.no_state = no_state
        #: agent -> (event ts, the held-back agent.state available event, kind)
        self.events: dict[str, tuple[int, WireEvent, str]] = {}
        self.due_ms = 0

    def __len__(self) -> int:
        return len(self.events)

    def due(self, ts_ms: int, kind: str) -> int:
        """When a line of any agent releases an event of `kind` stamped `ts_ms`: after a
        completion, once the grace period is over; a wrap-up's end, at its instant."""
        return ts_ms + self.grace_ms if kind == AFTER_CALL else ts_ms

    def hold(self, agent: str, event: WireEvent, kind: str) -> None:
        """Hold back `event`, instead of the agent's event held back so far, if any."""
        self.events[agent] = (event["ts"], event, kind)
        self.due_ms = min(self.due_ms, self.due(event["ts"], kind))

    def release(self, agent: str, event_name: str, ts_ms: int) -> list[WireEvent]:
        """The held-back events a line of `agent`, `event_name`, at `ts_ms` decides: the agent's
        own next line (dropped when it is WRAPUPSTART) or any line past the grace period."""
        ev = event_name.upper()
        held = self.events
        out: list[WireEvent] = []
        due = sys.maxsize  # of the events kept
        for who, (ts, event, kind) in list(held.items()):
            if kind == AFTER_CALL:
                if who == agent or ts_ms >= ts + self.grace_ms:
                    del held[who]
                    if not (who == agent and ev == "WRAPUPSTART"):
                        out.append(event)
                    continue
            elif who == agent and ev not in self.no_state:  # the agent's next state decides
                del held[who]
                if ts_ms >= ts:  # the wrap-up ended first; else the line supersedes it
                    out.append(event)
                continue
            elif ts_ms >= ts:
                del held[who]
                out.append(event)
                continue
            due = min(due, self.due(ts, kind))
        self.due_ms = due
        return out

    def flush(self, until_ms: int | None = None) -> list[WireEvent]:
        """Release the events stamped at or before `until_ms` (None: all)."""
        out: list[WireEvent] = []
        for agent, (ts, event, _) in list(self.events.items()):
            if until_ms is None or ts <= until_ms:
                del self.events[agent]
                out.append(event)
        return out  # the bound stays a bound: none of the events left is due sooner

    def rows(self) -> list[list[Any]]:
        """JSON-able, in the order they are kept."""
        return [[agent, ts, ev, kind] for agent, (ts, ev, kind) in self.events.items()]

    def load(self, rows: Iterable[list[Any]]) -> None:
        """The events of `rows` (see `rows`; a row without a kind is an after-call one)."""
        self.events = {held[0]: (held[1], held[2], held[3] if len(held) > 3 else AFTER_CALL)
                       for held in rows}  # fmt: skip
        self.due_ms = 0  # the next line looks at every one
