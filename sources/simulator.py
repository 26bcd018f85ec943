"""A seeded, reproducible contact-centre simulator that emits contract events (pure, no I/O).

Each queue is a FIFO multi-agent queue with impatient callers (an M/G/c+M queue):

* arrivals are Poisson; with `SimConfig.daily_curve` the rate follows `daily_curve()` by the
  queue's local time (quiet at night, peaks mid-morning and early afternoon), drawn by thinning;
  `SimQueue.arrivals_per_hour` is the *peak* rate (the curve tops out at 1.0);
* a contact arriving outside `open_hours` is blocked 'closed', on a queue without agents blocked
  'no_agents', and when no agent is free and `capacity` contacts already wait, blocked 'full'
  (so `capacity=0` makes a pure loss system); a blocked contact gets `contact.blocked` only;
* otherwise it is offered and waits in FIFO order for the agent idle longest. It abandons when
  its (exponential) patience runs out first, is dequeued 'timeout' at `max_wait_seconds`, or is
  answered by `agent-<queue>-<n>`; the agent talks (lognormal), maybe holds (voice only) and
  wraps up, and stays busy until the wrap ends, when `contact.completed` is emitted;
* every wait is capped at the contract's 7-day maximum (then dequeued 'timeout').

Arrivals stop at `start_ms + duration_seconds`. With `SimConfig.drain` (the default) contacts
already in progress are finished, so every offered contact has its outcome (and every answered
one its completion) even if that falls after the end; with `drain=False` nothing at or after the
end is emitted. Each queue draws from its own `random.Random` seeded from the run seed and the
queue's key, so a queue's traffic does not change when other queues are added or removed.

The service start of each contact follows from the agents' next-free instants when it arrives
(the Kiefer-Wolfowitz recursion: FIFO means no later arrival can overtake it), so one heap of
pending events per run is all the bookkeeping: no per-event objects beyond the dicts yielded.

Three more event families are on by default and each has its own `SimConfig` flag:

* `agents`: each queue's agents log in (`agent.login` with the queue) at the start, or at opening
  with `open_hours`, and log out at the end or at closing, once their last contact is finished.
  Each answered contact puts its agent `on_contact` (with the contact's queue) at the answer,
  `wrap_up` at the end of talk and hold, and `available` when the wrap ends (its
  `contact.completed`). Agents take pauses ('break', 'lunch', 'training') every 75-150 minutes:
  a pause is part of the agent's timeline in the queue simulation, so it starts when the agent is
  idle, or as soon as its current contact is wrapped up, and the agent takes no contact until it
  ends. A few contacts offered to an idle agent first ring without answer (`agent.ring_no_answer`
  with `contact_id` and `ring_seconds`) and are answered after the ring (callers do not hang up
  while it rings) by the agent free first then, so a later arrival may be answered before them.
  Pauses and rings change when agents are free, so the contact events of a run depend on this
  flag (and on nothing else added here).
* `tickets`: ticket desks (`SimConfig.desks`, default one per tenant) create email/social/chat
  tickets and work them: first public reply after a delay counted in business hours, internal
  notes, pending/open rounds with the customer, solves, a few reopens, assignments and auto-close
  (see `ccpulse.sources.simulator_tickets`).
* `surveys`: about a quarter of completed contacts and finally solved tickets get a CSAT
  response, some also NPS and CES, scored lower after long waits, unresolved contacts and slow or
  reopened tickets.

Each family draws from its own random streams, so turning one on or off leaves the others' events
as they were (except agents, as said). All streams are merged in `ts` order.

The parts: `simulator_model` (queues, desks, runs, the daily curve, the demo centre),
`simulator_arrivals` (a queue's arrivals, opening hours and handle times), `simulator_agents`
(agent timelines), `simulator_surveys` (responses) and `simulator_tickets` (ticket desks); this
module runs the contact simulation and merges the families.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterable, Iterator
from heapq import heappop, heappush, heapreplace
from operator import itemgetter
from typing import Final

from ccpulse.schemas.events import AGENTS_KEY, SURVEYS_KEY, TICKETS_KEY
from ccpulse.sources.simulator_agents import _RNA_PROBABILITY, _Staff
from ccpulse.sources.simulator_arrivals import (
    _HOLD_PROBABILITY,
    _MIN_TALK_MS,
    _TALK_SIGMA,
    _Pending,
    _Run,
)
from ccpulse.sources.simulator_model import (
    _BLOCK_MS,
    DAILY_CURVE,
    MAX_DURATION_MS,
    MIN_START_MS,
    SimConfig,
    SimQueue,
    SimTicketDesk,
    WireEvent,
    daily_curve,
    default_desks,
    default_queues,
)
from ccpulse.sources.simulator_surveys import _contact_surveys, contact_mood, survey_responses

__all__ = [
    "DAILY_CURVE", "MAX_DURATION_MS", "MIN_START_MS", "SimConfig", "SimQueue", "SimTicketDesk",
    "WireEvent", "batch_key", "batched", "contact_mood", "daily_curve", "default_desks",
    "default_queues", "simulate", "survey_responses",
]  # fmt: skip

#: Batch keys of the event families that belong to no queue (see `routing_key`).
_FAMILY_KEYS: Final = {"agent": AGENTS_KEY, "ticket": TICKETS_KEY, "survey": SURVEYS_KEY}



def simulate(config: SimConfig) -> Iterator[WireEvent]:
    """Yield contract event dicts (wire shape, `ts` in epoch ms) in non-decreasing `ts` order.

    Event, contact and ticket ids are unique within a run and a pure function of the seed.
    """
    end_ms = config.start_ms + round(config.duration_seconds * 1000)
    run_id = f"{random.Random(f'ccpulse-sim:{config.seed}').getrandbits(48):012x}"
    streams = [_contacts(config, run_id, end_ms)]
    if config.tickets:
        from ccpulse.sources.simulator_tickets import desk_events

        desks = default_desks(config.queues) if config.desks is None else config.desks
        streams += [
            desk_events(desk, number, config, run_id, end_ms)
            for number, desk in enumerate(desks)
            if desk.tickets_per_hour > 0
        ]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=itemgetter("ts"))


def _contacts(config: SimConfig, run_id: str, end_ms: int) -> Iterator[WireEvent]:
    """Contacts, with agents and their survey responses: one discrete-event simulation."""
    drain = config.drain
    resolved_ratio = config.resolved_ratio
    staffed = config.agents
    survey_ratio = config.survey_response_ratio if config.surveys else 0.0
    runs = [_Run(q, config) for q in config.queues
            if q.arrivals_per_hour > 0 or (staffed and q.agents > 0)]  # fmt: skip
    #: Arrivals (float instant, run number) and, from `len(runs)` on, agent timers (int instant,
    #: timer number): the shift changes of a staffed queue, then its agents' pauses.
    arrivals: list[tuple[float, int]] = []
    for i, r in enumerate(runs):
        if r.q.arrivals_per_hour > 0:
            first = r.next_arrival(float(config.start_ms), end_ms)
            if first < end_ms:
                arrivals.append((first, i))
    pending: _Pending = []
    n_runs = len(runs)
    staffs: list[_Staff] = []
    timer_owner: list[_Staff] = []
    if staffed:
        tick = itertools.count(8)
        for i, r in enumerate(runs):
            if r.q.agents:
                base = n_runs + len(timer_owner)
                st = r.staff = _Staff(r, config, run_id, i, pending, tick, base, end_ms)
                staffs.append(st)
                timer_owner.extend([st] * (r.q.agents + 1))
                st.start(config.start_ms, arrivals)
    arrivals.sort()
    seq = 0
    log = math.log
    while arrivals:
        t, i = arrivals[0]
        a = int(t)
        while pending and pending[0][0] <= a:
            yield heappop(pending)[3]
        if i >= n_runs:  # an agent timer
            heappop(arrivals)
            st = timer_owner[i - n_runs]
            n = i - st.timer_base
            if n:
                st.pause(n, a, seq, arrivals)
            else:
                st.shift(a, seq, arrivals)
            continue
        r = runs[i]
        q = r.q
        rng = r.rng
        seq += 1
        cid = f"{run_id}-{seq}"
        tenant, queue, channel = q.tenant, q.name, q.channel
        reason = None
        if not r.block(a - a % _BLOCK_MS)[3]:
            reason = "closed"
        elif not r.agents:
            reason = "no_agents"
        else:
            free, agent = r.agents[0]
            start = free if free > a else a
            waits = start > a
            if waits:
                waiting = r.waiting
                while waiting and waiting[0] <= a:
                    heappop(waiting)
                if len(waiting) >= q.capacity:
                    reason = "full"
        if reason is not None:
            yield {"event_id": cid + "-b", "type": "contact.blocked", "ts": a, "tenant": tenant,
                   "queue": queue, "channel": channel, "contact_id": cid,
                   "reason": reason}  # fmt: skip
        else:
            yield {"event_id": cid + "-o", "type": "contact.offered", "ts": a, "tenant": tenant,
                   "queue": queue, "channel": channel, "contact_id": cid}  # fmt: skip
            gave_up = False
            if waits:
                prate = r.patience_rate
                patience = int(-log(1.0 - rng.random()) / prate) if prate else MAX_DURATION_MS
                limit = patience if patience < r.timeout_ms else r.timeout_ms
                if start - a > limit:
                    gave_up = True
                    out = a + limit
                    heappush(r.waiting, out)
                    if patience < r.timeout_ms:
                        ev = {"event_id": cid + "-x", "type": "contact.abandoned", "ts": out,
                              "tenant": tenant, "queue": queue, "channel": channel,
                              "contact_id": cid, "wait_seconds": limit / 1000}  # fmt: skip
                    else:
                        ev = {"event_id": cid + "-d", "type": "contact.dequeued", "ts": out,
                              "tenant": tenant, "queue": queue, "channel": channel,
                              "contact_id": cid, "reason": "timeout",
                              "wait_seconds": limit / 1000}  # fmt: skip
                    heappush(pending, (out, seq, 1, ev))
                else:
                    heappush(r.waiting, start)
            if not gave_up:
                staff = r.staff
                deferred = waits
                if staff is not None and not waits and staff.rng.random() < _RNA_PROBABILITY:
                    waiting = r.waiting
                    while waiting and waiting[0] <= a:
                        heappop(waiting)
                    if len(waiting) < q.capacity:  # the ringing contact waits in the queue
                        start, agent = staff.ring(a, cid, seq)
                        heappush(waiting, start)
                        deferred = True
                talk = int(rng.lognormvariate(r.mu, _TALK_SIGMA))
                talk = _MIN_TALK_MS if talk < _MIN_TALK_MS else min(talk, MAX_DURATION_MS)
                hold = 0
                if r.hold_mean and rng.random() < _HOLD_PROBABILITY:
                    hold = min(int(-log(1.0 - rng.random()) * r.hold_mean), MAX_DURATION_MS)
                wrap = min(int(-log(1.0 - rng.random()) / r.wrap_rate), MAX_DURATION_MS)
                done = start + talk + hold + wrap
                heapreplace(r.agents, (done, agent))
                agent_id = r.agent_ids[agent]
                answered = {"event_id": cid + "-a", "type": "contact.answered", "ts": start,
                            "tenant": tenant, "queue": queue, "channel": channel,
                            "contact_id": cid, "agent_id": agent_id,
                            "wait_seconds": (start - a) / 1000}  # fmt: skip
                if deferred:
                    heappush(pending, (start, seq, 1, answered))
                else:
                    yield answered
                resolved = rng.random() < resolved_ratio
                heappush(pending, (done, seq, 2, {
                    "event_id": cid + "-c", "type": "contact.completed", "ts": done,
                    "tenant": tenant, "queue": queue, "channel": channel, "contact_id": cid,
                    "agent_id": agent_id, "talk_seconds": talk / 1000,
                    "hold_seconds": hold / 1000, "wrap_seconds": wrap / 1000,
                    "resolved": resolved,
                }))  # fmt: skip
                if staff is not None:
                    staff.handle(agent, start, start + talk + hold, done, seq)
                if survey_ratio and r.srng.random() < survey_ratio:
                    _contact_surveys(r, cid, done, start - a, resolved, agent_id, seq, pending)
        nxt = r.next_arrival(t, end_ms)
        if nxt < end_ms:
            heapreplace(arrivals, (nxt, i))
        else:
            heappop(arrivals)
    for st in staffs:
        st.finish(seq)
    while pending:
        if not drain and pending[0][0] >= end_ms:
            return
        yield heappop(pending)[3]


def batch_key(event: WireEvent) -> str:
    """The batch (and message) key of a wire event: "tenant/queue" for contacts, and for the
    families without a queue "tenant/#agents", "tenant/#tickets" or "tenant/#surveys"."""
    tail = _FAMILY_KEYS.get(str(event.get("type", "")).partition(".")[0])
    return f"{event.get('tenant', 'default')}/{tail or event['queue']}"


def batched(
    events: Iterable[WireEvent], size: int, *, max_span_ms: int | None = None
) -> Iterator[tuple[str, list[WireEvent]]]:
    """Group events into per-queue batches keyed "tenant/queue", for producers of JSON arrays.

    Agent, ticket and survey events are batched per tenant and family under their routing key
    (see `batch_key`). Each batch holds at most `size` events of one key, in their original
    order; a key's batches come out in order, so per-queue (and per-family) order survives
    (order across keys does not). A
    batch is flushed when full, at the end, and, with `max_span_ms`, as soon as an event arrives
    more than `max_span_ms` after the batch's first event (so quiet queues are not held back).
    """
    if size < 1:
        raise ValueError("size must be >= 1")
    buffers: dict[str, list[WireEvent]] = {}
    for ev in events:
        if max_span_ms is not None and buffers:
            ts = ev.get("ts")
            if isinstance(ts, int):
                # Buffers are created in event order, so the oldest is the first in the dict.
                while buffers:
                    oldest = next(iter(buffers))
                    first_ts = buffers[oldest][0].get("ts")
                    if not isinstance(first_ts, int) or ts - first_ts <= max_span_ms:
                        break
                    yield oldest, buffers.pop(oldest)
        key = batch_key(ev)
        buf = buffers.get(key)
        if buf is None:
            buf = buffers[key] = []
        buf.append(ev)
        if len(buf) >= size:
            del buffers[key]
            yield key, buf
    yield from buffers.items()
