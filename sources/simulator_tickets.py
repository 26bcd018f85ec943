"""Simulated ticket desks: seeded, reproducible `ticket.*` lifecycles and their survey responses.

Used by `ccpulse.sources.simulator.simulate` (with `SimConfig.tickets`); pure, no I/O. Each desk
(`SimTicketDesk`) draws from its own random streams, seeded from the run seed and the desk's
tenant/group, so a desk's tickets do not change when queues or other desks are added, nor when
surveys are switched on or off.

Tickets are created by a Poisson process (peak `tickets_per_hour`, following `daily_curve()` by
the desk's local time with `SimConfig.daily_curve`, lower at weekends). Each ticket's whole life
is drawn when it is created; its events have strictly increasing timestamps, at least a second
apart:

1. `ticket.created` (channel, priority and group; `by_agent` for the few an agent opens, which owe
   no first response: they are assigned to their creator and set `pending` at once);
2. otherwise, usually `ticket.assigned` then status `open`, maybe an internal note (`public`
   false), then the first public reply and status `solved` (one touch) or `pending`;
3. rounds: a pending ticket either hears back from the customer (status `open`, customer
   messages are not `ticket.replied`), which the agent answers (maybe after a reassignment, a
   spell `on_hold` or a note), or is solved; after three rounds it is solved;
4. a few solved tickets are reopened (`ticket.reopened`), answered and solved again;
5. solved tickets are closed `close_after_hours` later.

Agent work (replies, solves) takes business time: an exponential delay counted only inside the
desk's business hours (Monday to Friday, local), so a ticket created at night waits for the
morning; urgent tickets are worked around the clock. Customer delays run in elapsed time.

Like contacts, creations stop at the end of the run; with `SimConfig.drain` every created ticket
is played to its end (days later, for the close), without it nothing at or after the end is
emitted.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from heapq import heappop, heappush
from typing import Any, Final
from zoneinfo import ZoneInfo

from ccpulse.sources.simulator import (
    SimConfig,
    SimTicketDesk,
    WireEvent,
    daily_curve,
    survey_responses,
)

#: Agent work time per priority, relative to the desk's mean first reply.
PRIORITY_PACE: Final = {"urgent": 0.2, "high": 0.5, "normal": 1.0, "low": 1.8}
#: Weekend creation rate relative to weekdays.
_WEEKEND_RATE: Final = 0.4
_STEP_MS: Final = 1000
#: Mean customer delays (elapsed): answering a pending ticket, reopening a solved one.
_CUSTOMER_REPLY_MS: Final = 6 * 3_600_000
_REOPEN_MS: Final = 20 * 3_600_000
_ON_HOLD_MS: Final = 24 * 3_600_000
#: Chance that a pending ticket hears back from its customer (else it is solved), per round.
_CUSTOMER_REPLY_PROBABILITY: Final = 0.45
_MAX_ROUNDS: Final = 3
_REASSIGN_PROBABILITY: Final = 0.1
_ON_HOLD_PROBABILITY: Final = 0.05
_SOLVE_AFTER_REPLY_PROBABILITY: Final = 0.5
#: Mean delay of a ticket's survey response after its final solve (elapsed).
_SURVEY_DELAY_MS: Final = 3 * 3_600_000


class BusinessClock:
    """Business time of a desk: `hours` (local opening, closing) Monday to Friday."""

    __slots__ = ("cache", "closing", "opening", "zone")

    def __init__(self, time_zone: str, hours: tuple[int, int]) -> None:
        self.zone = ZoneInfo(time_zone)
        self.opening, self.closing = hours
        self.cache: dict[int, tuple[int, int] | None] = {}

    def window(self, day: int) -> tuple[int, int] | None:
        """(opening, closing) epoch ms of a day given as a date ordinal; None at weekends."""
        try:
            return self.cache[day]
        except KeyError:
            pass
        d = date.fromordinal(day)
        found = None
        if d.weekday() < 5:
            start = datetime.combine(d, time(self.opening), self.zone)
            if self.closing == 24:
                stop = datetime.combine(d + timedelta(days=1), time(0), self.zone)
            else:
                stop = datetime.combine(d, time(self.closing), self.zone)
            found = (round(start.timestamp() * 1000), round(stop.timestamp() * 1000))
        self.cache[day] = found
        return found

    def is_open(self, t: int) -> bool:
        w = self.window(datetime.fromtimestamp(t / 1000, self.zone).toordinal())
        return w is not None and w[0] <= t < w[1]

    def add(self, t: int, business_ms: float) -> int:
        """The instant when `business_ms` of business time have passed since `t`."""
        day = datetime.fromtimestamp(t / 1000, self.zone).toordinal()
        left = business_ms
        now = float(t)
        while True:
            w = self.window(day)
            if w is not None and w[1] > now:
                if now < w[0]:
                    now = w[0]
                room = w[1] - now
                if left <= room:
                    return int(now + left)
                left -= room
                now = w[1]
            day += 1


def _pick(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(w for _, w in pairs)
    for name, w in pairs:
        x -= w
        if x < 0:
            return name
    return pairs[-1][0]


class _Desk:
    """One desk during a run (internal)."""

    def __init__(self, desk: SimTicketDesk, number: int, config: SimConfig, run_id: str) -> None:
        self.d = desk
        self.rng = random.Random(f"ccpulse-sim:{config.seed}:desk:{desk.tenant}/{desk.group}")
        self.srng = random.Random(
            f"ccpulse-sim:{config.seed}:desk:{desk.tenant}/{desk.group}:surveys"
        )
        self.survey_ratio = config.survey_response_ratio if config.surveys else 0.0
        self.curve = config.daily_curve
        self.zone = ZoneInfo(desk.time_zone)
        self.clock = BusinessClock(desk.time_zone, desk.business_hours)
        self.rate = desk.tickets_per_hour / 3_600_000
        self.prefix = f"{run_id}-t{number}-"
        self.agent_ids = [f"agent-{desk.group}-{n}" for n in range(1, desk.agents + 1)]
        self.mean_reply_ms = desk.mean_first_reply_minutes * 60_000

    def next_arrival(self, t: float, end: int) -> float:
        """The next creation after `t` (thinning under the daily curve), or `end`."""
        rng = self.rng
        if self.rate <= 0.0:  # no desk traffic (a tiny rate underflows to 0 per millisecond)
            return end
        while True:
            t -= math.log(1.0 - rng.random()) / self.rate
            if t >= end:
                return end
            if not self.curve:
                return t
            local = datetime.fromtimestamp(t / 1000, self.zone)
            f = daily_curve(local.hour + local.minute / 60 + local.second / 3600)
            if local.weekday() >= 5:
                f *= _WEEKEND_RATE
            if rng.random() < f:
                return t

    def ticket(self, n: int, t0: int) -> list[WireEvent]:
        """Every event of ticket number `n`, created at `t0`, in time order; then its surveys."""
        d, rng, clock = self.d, self.rng, self.clock
        tid = f"{self.prefix}{n}"
        tenant, group = d.tenant, d.group
        out: list[WireEvent] = []
        last = t0 - _STEP_MS

        def emit(ts: float, etype: str, **fields: Any) -> int:
            nonlocal last
            at = max(int(ts), last + _STEP_MS)
            last = at
            out.append({"event_id": f"{tid}-{len(out)}", "type": etype, "ts": at,
                        "tenant": tenant, "ticket_id": tid, **fields})  # fmt: skip
            return at

        priority = _pick(rng, d.priorities)
        channel = _pick(rng, d.channels)
        around_the_clock = priority == "urgent"
        pace = self.mean_reply_ms * PRIORITY_PACE[priority]

        def work(after: int, mean_ms: float) -> int:
            span = -math.log(1.0 - rng.random()) * mean_ms
            return int(after + span) if around_the_clock else clock.add(after, span)

        def customer(after: int, mean_ms: float) -> int:
            return after + int(-math.log(1.0 - rng.random()) * mean_ms)

        agents = self.agent_ids
        owner = agents[rng.randrange(len(agents))]
        by_agent = rng.random() < d.by_agent_ratio
        emit(t0, "ticket.created", channel=channel, priority=priority, group=group,
             by_agent=by_agent)  # fmt: skip

        def note(before: int) -> None:
            if rng.random() < d.note_ratio:
                emit(last + (before - last) * rng.random(), "ticket.replied", agent_id=owner,
                     public=False)  # fmt: skip

        if by_agent:
            emit(last, "ticket.assigned", agent_id=owner, group=group)
            emit(last, "ticket.status_changed", status="pending")
            status = "pending"
        else:
            reply_at = work(t0, pace)
            if rng.random() < d.assign_ratio:
                emit(t0 + (reply_at - t0) * rng.uniform(0.05, 0.5), "ticket.assigned",
                     agent_id=owner, group=group)  # fmt: skip
                emit(last, "ticket.status_changed", status="open")
            note(reply_at)
            emit(reply_at, "ticket.replied", agent_id=owner, public=True)
            status = "solved" if rng.random() < d.one_touch_ratio else "pending"
            emit(last, "ticket.status_changed", status=status)
        rounds = 0
        while status != "solved":
            if status == "pending":
                if rounds < _MAX_ROUNDS and rng.random() < _CUSTOMER_REPLY_PROBABILITY:
                    rounds += 1
                    status = "open"
                    emit(customer(last, _CUSTOMER_REPLY_MS), "ticket.status_changed", status=status)
                else:
                    status = "solved"
                    emit(work(last, pace), "ticket.status_changed", status=status)
                continue
            if rng.random() < _REASSIGN_PROBABILITY and len(agents) > 1:
                owner = rng.choice([a for a in agents if a != owner])
                emit(work(last, pace * 0.3), "ticket.assigned", agent_id=owner, group=group)
            if rng.random() < _ON_HOLD_PROBABILITY:
                emit(work(last, pace * 0.5), "ticket.status_changed", status="on_hold")
                emit(customer(last, _ON_HOLD_MS), "ticket.status_changed", status="open")
            reply_at = work(last, pace * 0.8)
            note(reply_at)
            emit(reply_at, "ticket.replied", agent_id=owner, public=True)
            status = "solved" if rng.random() < _SOLVE_AFTER_REPLY_PROBABILITY else "pending"
            emit(last, "ticket.status_changed", status=status)
        reopened = rng.random() < d.reopen_ratio
        if reopened:
            emit(customer(last, _REOPEN_MS), "ticket.reopened")
            emit(work(last, pace), "ticket.replied", agent_id=owner, public=True)
            emit(last, "ticket.status_changed", status="solved")
        solved_at = last
        if d.close_after_hours is not None:
            emit(last + d.close_after_hours * 3_600_000, "ticket.status_changed", status="closed")
        if self.survey_ratio and self.srng.random() < self.survey_ratio:
            srng = self.srng
            hours = (solved_at - t0) / 3_600_000
            mood = (0.8 - 0.3 * (1.0 - math.exp(-hours / 24))
                    - (0.25 if reopened else 0.0) - 0.04 * rounds)  # fmt: skip
            ts = solved_at + int(-math.log(1.0 - srng.random()) * _SURVEY_DELAY_MS)
            fields = {"tenant": tenant, "channel": channel, "agent_id": owner, "ticket_id": tid}
            out += survey_responses(srng, ts, mood, tid, fields)
        return out


def desk_events(
    desk: SimTicketDesk, number: int, config: SimConfig, run_id: str, end_ms: int
) -> Iterator[WireEvent]:
    """One desk's ticket and survey events in non-decreasing `ts` order."""
    sim = _Desk(desk, number, config, run_id)
    pending: list[tuple[int, int, int, WireEvent]] = []
    t = float(config.start_ms)
    n = 0
    while True:
        t = sim.next_arrival(t, end_ms)
        if t >= end_ms:
            break
        a = int(t)
        while pending and pending[0][0] <= a:
            yield heappop(pending)[3]
        n += 1
        for k, ev in enumerate(sim.ticket(n, a)):
            heappush(pending, (ev["ts"], n, k, ev))
    drain = config.drain
    while pending:
        if not drain and pending[0][0] >= end_ms:
            return
        yield heappop(pending)[3]
