"""The streaming pipeline's logic, apart from Faust: decode messages, dead-letter bad input and
feed one engine per input partition. What the engines changed goes out through the methods of
`Publishing` (publishing.py): state-table writes and the sinks' snapshots.

Kept free of Faust so it can be tested directly; `app.py` wires it to topics and tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from ccpulse.config import LimitsSettings
from ccpulse.schemas import AgentEvent, ContactEvent, decode_message
from ccpulse.streams.deadletter import (
    DeadLetter,
    Message,
    invalid,
    misrouted,
    over_limit,
    summary,
    too_late,
)
from ccpulse.streams.kpi import Engine, PolicyBook, Verdict
from ccpulse.streams.kpi.engine import QueueKey
from ccpulse.streams.kpi.families import ROUTES, new_family_engines
from ccpulse.streams.kpi.family import FamilyEngine
from ccpulse.streams.kpi.state_writes import TableWrite
from ccpulse.streams.limits import Admission
from ccpulse.streams.publishing import Publishing

__all__ = ["DeadLetter", "Message", "Pipeline", "TableWrite", "family_runs"]

#: Events per message are numbered within the message's offset: pos = offset * 2**20 + index.
POS_SHIFT = 20
MAX_EVENTS_PER_MESSAGE = 1 << POS_SHIFT
#: Read once: a member read through its enum class goes through the class's look-up each time.
_APPLIED = Verdict.APPLIED
#: A family engine's verdict (a string) as the Verdict it names.
VERDICTS: dict[str, Verdict] = {str(v): v for v in Verdict}


class _Keyed(Protocol):
    @property
    def key(self) -> bytes | None: ...


_R = TypeVar("_R", bound=_Keyed)


def family_runs(records: Sequence[_R]) -> Sequence[_R]:
    """One partition's fetched records, each event family's together, each in offset order.

    A message's events are applied only under their family's key (`routing_key`: "tenant/queue"
    for contacts, "tenant/#agents" and the like for the others), and each family has engines and
    state of its own: what an engine holds depends on the order of its own family's events
    only. Taken a family at a time, each engine's code and data stay in the CPU's caches; the
    same records interleaved cost a quarter more per event (docs/performance.md)."""
    runs: dict[bytes, list[_R]] = {}
    for record in records:
        key = record.key
        kind = key.partition(b"/#")[2] if key else b""
        run = runs.get(kind)
        if run is None:
            runs[kind] = [record]
        else:
            run.append(record)
    if len(runs) == 1:
        return records
    return [record for run in runs.values() for record in run]


@dataclass(slots=True)
class Health:
    """Pipeline counters for /metrics (since the worker started)."""

    messages: int = 0
    #: Elements seen in those messages, valid or not.
    messages_events: int = 0
    verdicts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Verdict, 0))
    invalid: int = 0
    misrouted: int = 0
    #: Dead letters the broker refused or that could not be sent (their input is not skipped).
    dead_letter_failures: int = 0
    last_event_ms: dict[str, int] = field(default_factory=dict)
    #: Per input partition, messages on the broker not yet processed (as of the last flush).
    lag_messages: dict[int, int] = field(default_factory=dict)


class Pipeline(Publishing):
    """Engines for the partitions this worker owns, fed message by message."""

    def __init__(self, book: PolicyBook, limits: LimitsSettings | None = None) -> None:
        super().__init__()
        self.book = book
        self.limits = limits = limits or LimitsSettings()
        self.admission = Admission(limits)
        self._max_bytes = limits.max_message_bytes
        self._max_elements = min(limits.max_elements_per_message, MAX_EVENTS_PER_MESSAGE)
        self._max_rejections = limits.max_dead_letters_per_message
        self.engines: dict[int, Engine] = {}
        #: Per partition, the engines of the other event families (agents, ...).
        self.families: dict[int, dict[str, FamilyEngine]] = {}
        self.health = Health()
        #: Per input partition, the offset after the last message processed.
        self.next_offsets: dict[int, int] = {}

    # -- partitions --------------------------------------------------------------------------

    def engine(self, partition: int) -> Engine:
        found = self.engines.get(partition)
        if found is None:
            found = self.engines[partition] = Engine(self.book)
            if self.clock_ms is not None:
                found.read_clock(self.clock_ms)
        return found

    def family_engines(self, partition: int) -> dict[str, FamilyEngine]:
        found = self.families.get(partition)
        if found is None:
            found = self.families[partition] = new_family_engines(self.book)
        return found

    def suspend(self, partitions: Iterable[int]) -> None:
        """As `Publishing.suspend`; the partitions' read offsets are forgotten too, since their
        next owner (or this worker, given them back) reads on from the committed offsets."""
        held = list(partitions)
        for partition in held:
            self.next_offsets.pop(partition, None)
        super().suspend(held)

    def drop(self, partition: int) -> list[QueueKey]:
        """Forget a partition given up in a rebalance; returns its queues."""
        self.next_offsets.pop(partition, None)
        self.health.lag_messages.pop(partition, None)
        return super().drop(partition)

    def collect_garbage(self) -> None:
        """Drop the state that can no longer change a figure, in the engines of every event
        family (the worker's timer): contacts and buckets past lateness and retention, agent
        events folded into their timelines, tickets and survey periods gone by. Then count the
        names still held against the limits."""
        for engine in self.engines.values():
            engine.collect_garbage()
        for families in self.families.values():
            for family in families.values():
                family.collect_garbage()
        self.recount()

    # -- processing --------------------------------------------------------------------------

    def read_clock(self, now_ms: int) -> None:
        """The worker's wall clock before a fetch: the flushes to come snapshot the queues no
        earlier, so the engines need not keep minute buckets that their rolling windows will
        never read (`Engine.read_clock`). Batch use, which snapshots at any instant, never
        calls it."""
        self.clock_ms = now_ms
        for engine in self.engines.values():
            engine.read_clock(now_ms)

    def process(self, msg: Message, dead_letter: Callable[[DeadLetter], None]) -> None:
        """Apply one message; every refused element goes to `dead_letter` with its reason
        (past the per-message limits, in one summary record)."""
        health = self.health
        health.messages += 1
        partition = msg.partition
        next_offsets = self.next_offsets
        if msg.offset >= next_offsets.get(partition, 0):  # a fetch's family runs: not backwards
            next_offsets[partition] = msg.offset + 1
        result = decode_message(msg.value, max_bytes=self._max_bytes,
                                max_elements=self._max_elements,
                                max_rejections=self._max_rejections)  # fmt: skip
        events = result.events
        health.messages_events += len(events) + len(result.rejections)
        if result.rejections:
            for rejection in result.rejections:
                health.invalid += 1
                dead_letter(invalid(rejection, msg))
            if result.unreported or result.excess:
                health.invalid += result.unreported + result.excess
                health.messages_events += result.unreported + result.excess
                dead_letter(summary(msg, result.unreported, result.unreported_fields,
                                    result.excess))  # fmt: skip
        elif result.excess:
            health.invalid += result.excess
            health.messages_events += result.excess
            dead_letter(summary(msg, 0, {}, result.excess))
        if not events:
            return
        engine = self.engines.get(partition) or self.engine(partition)
        apply = engine.apply
        families: dict[str, FamilyEngine] | None = None
        expected = msg.key.decode("utf-8", "replace") if msg.key else None
        # The key of a contact event is "tenant/queue" (names hold no "/"): compared by parts.
        tenant, _, queue = (expected or "").partition("/")
        admission = self.admission
        tenants = admission.tenants
        agents = admission.agents
        queue_refused: tuple[str, str] | None = ("", "")  # until the queue was looked up
        base = msg.offset << POS_SHIFT
        verdicts = self.health.verdicts
        applied = 0
        latest = 0
        for index, event in enumerate(events):
            if type(event) is ContactEvent:
                if event.tenant != tenant or event.queue != queue or expected is None:
                    health.misrouted += 1
                    dead_letter(misrouted(event, msg, expected))
                    continue
                if queue_refused is not None:
                    if not queue_refused[0]:
                        queue_refused = admission.queue(tenant, queue)
                    if queue_refused is not None:
                        admission.refused[queue_refused[0]] += 1
                        dead_letter(over_limit(event, msg, queue_refused[1]))
                        continue
                verdict = apply(event, base + index)
            else:
                # The key of any other event is "tenant/#family" (routing_key), by parts too.
                family, key = ROUTES[type(event)]
                name = event.tenant
                if name != tenant or queue != key or expected is None:
                    health.misrouted += 1
                    dead_letter(misrouted(event, msg, expected))
                    continue
                if name not in tenants or (
                    type(event) is AgentEvent and event.agent_id not in agents.get(name, ())
                ):
                    refused = (
                        admission.agent(name, event.agent_id)
                        if type(event) is AgentEvent
                        else admission.tenant(name)
                    )
                    if refused is not None:
                        admission.refused[refused[0]] += 1
                        dead_letter(over_limit(event, msg, refused[1]))
                        continue
                families = families or self.family_engines(partition)
                verdict = VERDICTS[families[family].apply(event, base + index)]
            ts_ms = event.ts_ms
            if ts_ms > latest:
                latest = ts_ms
            if verdict is _APPLIED:
                applied += 1
                continue
            verdicts[verdict] += 1
            if verdict is Verdict.TOO_LATE:
                dead_letter(too_late(event, msg, engine.lateness_ms))
        verdicts[Verdict.APPLIED] += applied
        last = health.last_event_ms
        if latest > last.get(msg.topic, 0):
            last[msg.topic] = latest
