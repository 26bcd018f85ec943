"""One contact's visit to one queue, and what it contributes to the tallies.

A contact's contribution is a pure function of the events it has absorbed, never of their order:
the engine subtracts the old contribution and adds the new one whenever a contact changes. That is
what makes out-of-order events (an answer logged before the entry) give in-order figures, and a
duplicate (same event id) change nothing.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Final

from ccpulse.schemas.events import (
    ABANDONED,
    ANSWERED,
    BLOCKED,
    COMPLETED,
    DEQUEUED,
    OFFERED,
    ContactEvent,
)
from ccpulse.streams.kpi import counters as k
from ccpulse.streams.kpi.policy import Attribution, QueuePolicy

#: A contribution item: (instant it counts at, channel, sparse delta). Hashable, so that the
#: engine can diff an old and a new contribution with set operations.
Item = tuple[int, str, k.Delta]

ROLE_OF: Final = {
    OFFERED: 0,
    BLOCKED: 1,
    ANSWERED: 2,
    ABANDONED: 2,
    DEQUEUED: 2,
    COMPLETED: 3,
}

#: A role's event as a contact keeps it: the `ContactEvent` fields other than the contact's
#: key (tenant, queue, contact_id, the same for all its events), in this order, with trailing
#: fields at their defaults left out. A day of contacts is the engine's largest state: a
#: tuple of 4-12 items takes 72-136 bytes where the 15-field event object takes 160.
Packed = tuple[Any, ...]
#: Positions in a `Packed` event.
# Final, so that the compiled build reads each as the number it is, not from the module.
EVENT_ID: Final = 0
TYPE: Final = 1
TS: Final = 2
CHANNEL: Final = 3
AGENT_ID: Final = 4
WAIT: Final = 5
REASON: Final = 6
TO_QUEUE: Final = 7
TALK: Final = 8
HOLD: Final = 9
WRAP: Final = 10
RESOLVED: Final = 11
#: Defaults of the fields that may be left out (positions 4-11), as in `ContactEvent`.
_DEFAULTS: Final[Packed] = (None, None, None, None, 0, 0, 0, None)
#: Held here: compiled, a member read through the enum class is a look-up by name each time.
_ARRIVAL: Final = Attribution.ARRIVAL


def pack(e: ContactEvent) -> Packed:
    """The event without its contact's key, trailing defaults left out (see `Packed`)."""
    if (
        e.resolved is None
        and type(e.wrap_ms) is int
        and not e.wrap_ms
        and type(e.hold_ms) is int
        and not e.hold_ms
        and type(e.talk_ms) is int
        and not e.talk_ms
    ):
        if e.to_queue is None:
            if e.reason is None:
                if e.wait_ms is None:
                    if e.agent_id is None:
                        return (e.event_id, e.type, e.ts_ms, e.channel)
                    return (e.event_id, e.type, e.ts_ms, e.channel, e.agent_id)
                return (e.event_id, e.type, e.ts_ms, e.channel, e.agent_id, e.wait_ms)
            return (e.event_id, e.type, e.ts_ms, e.channel, e.agent_id, e.wait_ms, e.reason)
        return (e.event_id, e.type, e.ts_ms, e.channel, e.agent_id, e.wait_ms, e.reason,
                e.to_queue)  # fmt: skip
    return _trimmed((e.event_id, e.type, e.ts_ms, e.channel, e.agent_id, e.wait_ms, e.reason,
                     e.to_queue, e.talk_ms, e.hold_ms, e.wrap_ms, e.resolved))  # fmt: skip


def _trimmed(fields: Packed) -> Packed:
    """`fields` without the trailing ones that hold their default (an int 0, or None)."""
    n = len(fields)
    while n > CHANNEL + 1:
        value, default = fields[n - 1], _DEFAULTS[n - 1 - AGENT_ID]
        if value is not default and not (type(value) is int and value == default):
            break
        n -= 1
    return fields if n == len(fields) else fields[:n]


def field(p: Packed, idx: int) -> Any:
    """One field of a packed event, its default when left out."""
    return p[idx] if idx < len(p) else _DEFAULTS[idx - AGENT_ID]


class Absorbed(Enum):
    """What `Contact.absorb` did."""

    NEW = "new"
    REPLACED = "replaced"
    DUPLICATE = "duplicate"


class Contact:
    """The events of one (tenant, queue, contact_id), one per role: entry, block, outcome, wrap.

    When two different events claim the same role, the earlier (then the smaller event id) wins,
    so the result does not depend on arrival order. `pos` is the input position last applied
    (see `engine.py`, exactly-once after replay). The roles' events are kept packed (`Packed`)
    in one slot each, `r0` to `r3`; `qkey` (tenant, queue) and `contact_id` are the key they
    share (references to the engine's own copies), which only the changelog record repeats
    per event.
    """

    __slots__ = ("contact_id", "mark", "pos", "qkey", "r0", "r1", "r2", "r3")

    def __init__(self, qkey: tuple[str, str] = ("", ""), contact_id: str = "") -> None:
        self.r0: Packed | None = None
        self.r1: Packed | None = None
        self.r2: Packed | None = None
        self.r3: Packed | None = None
        self.pos = -1
        #: The engine's `generation` of changes in which it was last recorded as changed.
        self.mark = -1
        self.qkey = qkey
        self.contact_id = contact_id

    @property
    def roles(self) -> tuple[Packed | None, Packed | None, Packed | None, Packed | None]:
        """The packed events of entry, block, outcome and wrap-up (None: role empty)."""
        return (self.r0, self.r1, self.r2, self.r3)

    def role(self, role: int) -> Packed | None:
        """The packed event holding a role (None while it is empty)."""
        # Branches, not getattr by the slot's name: compiled, each is a field read.
        if role == 0:
            return self.r0
        if role == 1:
            return self.r1
        if role == 2:
            return self.r2
        return self.r3

    def set_role(self, role: int, packed: Packed) -> None:
        """Have `packed` hold a role."""
        if role == 0:
            self.r0 = packed
        elif role == 1:
            self.r1 = packed
        elif role == 2:
            self.r2 = packed
        else:
            self.r3 = packed

    def absorb(self, event: ContactEvent) -> Absorbed:
        """Take `event` into its role, unless the role holds an earlier (or the same) event.

        Whichever arrives first, one of two events claiming a role is kept and the other is
        reported as a duplicate (REPLACED says the newcomer won), so the count does not depend
        on arrival order.
        """
        role = ROLE_OF[event.type]
        held = self.role(role)
        if held is not None and (held[TS], held[EVENT_ID]) <= (event.ts_ms, event.event_id):
            return Absorbed.DUPLICATE
        self.set_role(role, pack(event))
        return Absorbed.NEW if held is None else Absorbed.REPLACED

    def event(self, role: int) -> ContactEvent | None:
        """The event holding a role, as a `ContactEvent` (None while the role is empty)."""
        p = self.role(role)
        return None if p is None else self._unpacked(p)

    def _unpacked(self, p: Packed) -> ContactEvent:
        tenant, queue = self.qkey
        return ContactEvent(p[EVENT_ID], p[TYPE], p[TS], tenant, queue, p[CHANNEL],
                            self.contact_id, *p[AGENT_ID:],
                            *_DEFAULTS[len(p) - AGENT_ID:])  # fmt: skip

    @property
    def offered(self) -> ContactEvent | None:
        return self.event(0)

    @property
    def outcome(self) -> ContactEvent | None:
        return self.event(2)

    @property
    def waiting_since_ms(self) -> int | None:
        """Entry instant while the contact still waits in queue, else None."""
        offered = self.r0
        if offered is None or self.r1 is not None or self.r2 is not None:
            return None
        ts: int = offered[TS]
        return ts

    @property
    def channel(self) -> str:
        """The channel of its first event in role order (entry, block, outcome, wrap)."""
        first = self.r0 or self.r1 or self.r2 or self.r3
        if first is None:
            raise ValueError("empty contact")
        channel: str = first[CHANNEL]
        return channel

    @property
    def last_ts_ms(self) -> int:
        """The instant of the contact's latest event (-1 with none). Read for every event of
        a known contact and by every scan for idle ones: written out role by role, so that the
        compiled build compares machine integers without building a tuple of the roles."""
        latest = -1
        p = self.r0
        if p is not None:
            latest = p[TS]
        p = self.r1
        if p is not None:
            ts: int = p[TS]
            if ts > latest:
                latest = ts
        p = self.r2
        if p is not None:
            ts = p[TS]
            if ts > latest:
                latest = ts
        p = self.r3
        if p is not None:
            ts = p[TS]
            if ts > latest:
                latest = ts
        return latest

    def to_record(self) -> list[Any]:
        """Compact JSON-able form for the changelog: [pos, r0, r1, r2, r3], each role None or
        its packed event (`Packed`: the record's key names the contact, so its events leave
        it out). About 60 % of the size of the former form, at a third less of the worker's
        time to write (docs/performance.md, change 30)."""
        return [self.pos, self.r0, self.r1, self.r2, self.r3]

    @classmethod
    def from_record(
        cls, record: list[Any], key: tuple[tuple[str, str], str] | None = None
    ) -> Contact:
        """The contact a `to_record()` record holds. `key` is its ((tenant, queue),
        contact_id), shared with the engine; required but for records of the former form,
        [pos, [per role None or the event's 15 fields in `ContactEvent` order]], which name
        it in every event and are still read."""
        if len(record) == 2:
            return cls._from_former_record(record, key)
        if key is None:
            raise ValueError("a contact record does not name its contact: give its key")
        c = cls(*key)
        pos, r0, r1, r2, r3 = record
        c.pos = pos
        c.r0 = None if r0 is None else tuple(r0)
        c.r1 = None if r1 is None else tuple(r1)
        c.r2 = None if r2 is None else tuple(r2)
        c.r3 = None if r3 is None else tuple(r3)
        return c

    @classmethod
    def _from_former_record(
        cls, record: list[Any], key: tuple[tuple[str, str], str] | None
    ) -> Contact:
        events = [None if r is None else ContactEvent(*r) for r in record[1]]
        if key is None:
            first = next(e for e in events if e is not None)
            key = ((first.tenant, first.queue), first.contact_id)
        c = cls(*key)
        c.pos = record[0]
        c.r0, c.r1, c.r2, c.r3 = (None if e is None else pack(e) for e in events)
        return c


def settled(contact: Contact) -> bool:
    """Whether no further event is expected for the contact: it was blocked, wrapped up, or
    left the queue unanswered (abandoned or dequeued). One may still come (late, repeated or
    out of order) and is taken as any other; it is just not expected."""
    if contact.r1 is not None or contact.r3 is not None:
        return True
    outcome = contact.r2
    return outcome is not None and outcome[TYPE] != ANSWERED


def wait_ms(contact: Contact) -> int | None:
    """The wait in queue: the source's own figure when given, else outcome minus entry."""
    outcome = contact.r2
    if outcome is None:
        return None
    if len(outcome) > WAIT and outcome[WAIT] is not None:
        wait: int = outcome[WAIT]
        return wait
    offered = contact.r0
    if offered is None:
        return None
    wait = max(0, outcome[TS] - offered[TS])
    return wait


def entry_ms(contact: Contact) -> int | None:
    """When the contact entered the queue: its offer, else its outcome minus the logged wait."""
    offered = contact.r0
    if offered is not None:
        ts: int = offered[TS]
        return ts
    outcome = contact.r2
    if outcome is not None and len(outcome) > WAIT and outcome[WAIT] is not None:
        entry: int = outcome[TS] - outcome[WAIT]
        return entry
    return None


def contribution(contact: Contact, policy: QueuePolicy) -> list[Item]:
    """Everything this contact adds to the tallies, with the instant each part counts at."""
    channel = contact.channel
    items: list[Item] = []
    for role in ROLES:
        item = role_item(contact, role, policy, channel)
        if item is not None:
            items.append(item)
    return items


#: Role indexes, each the slot `r<index>` of a `Contact`: entry, block, outcome, wrap.
ROLES: Final = (0, 1, 2, 3)


def role_item(contact: Contact, role: int, policy: QueuePolicy, channel: str) -> Item | None:
    """What one role of the contact adds (None while the role is empty).

    An entry or a block depends on its own event only. An outcome depends on the entry too (the
    wait, and the instant under arrival attribution), and a wrap-up on the entry under arrival
    attribution; every item carries the contact's channel (`Contact.channel`).
    """
    event = contact.role(role)
    if event is None:
        return None
    if role == 0:
        return (event[TS], channel, ((k.OFFERED, 1),))
    if role == 1:
        reason = event[REASON] if len(event) > REASON else None
        return (event[TS], channel, ((k.BLOCKED_BY_REASON[reason or "other"], 1),))
    at: int = event[TS]
    if policy.attribution is _ARRIVAL:
        entry = entry_ms(contact)
        if entry is not None:
            at = entry
    if role == 2:
        return (at, channel, _outcome_delta(event, wait_ms(contact), policy))
    talk, hold, wrap, resolved = event[TALK:] if len(event) == 12 else _wrap_fields(event)
    delta: list[tuple[int, int]] = [
        (k.COMPLETED, 1),
        (k.TALK_SUM, talk),
        (k.TALK_MAX, talk),
        (k.HOLD_SUM, hold),
        (k.HOLD_MAX, hold),
        (k.WRAP_SUM, wrap),
        (k.WRAP_MAX, wrap),
    ]
    if resolved is not None:
        delta.append((k.RESOLUTION_REPORTED, 1))
        delta.append((k.RESOLVED, int(resolved)))
    return (at, channel, tuple(delta))


def adds_alone(contact: Contact, role: int) -> bool:
    """Whether an event filling this empty role adds its own item and changes no other item:
    the contact is new, or it has its entry and the event is not the entry. (An entry changes
    the outcome's wait and the instants under arrival attribution; a first role in place of an
    entry may change the contact's channel.)"""
    if contact.role(role) is not None:
        return False
    if role != 0 and contact.r0 is not None:
        return True
    return contact.r0 is None and contact.r1 is None and contact.r2 is None and contact.r3 is None


def _wrap_fields(event: Packed) -> tuple[Any, ...]:
    """talk, hold, wrap and resolved of a packed event, defaults for those left out."""
    return (*event[TALK:], *_DEFAULTS[max(len(event), TALK) - AGENT_ID:])


def _outcome_delta(outcome: Packed, wait: int | None, policy: QueuePolicy) -> k.Delta:
    etype = outcome[TYPE]
    if etype == DEQUEUED:
        reason = outcome[REASON] if len(outcome) > REASON else None
        return ((k.DEQUEUED_BY_REASON[reason or "other"], 1),)
    if etype == ANSWERED:
        if wait is None:
            return ((k.ANSWERED, 1),)
        return (
            (k.ANSWERED, 1),
            (k.ANSWERED_TIMED, 1),
            (k.ANSWERED_WITHIN, int(wait <= policy.sl_threshold_ms)),
            (k.ANSWERED_WAIT_SUM, wait),
            (k.ANSWERED_WAIT_MAX, wait),
            (k.ANSWERED_WAIT_SLOTS + k.wait_slot(wait), 1),
        )
    if wait is None:
        return ((k.ABANDONED, 1),)
    return (
        (k.ABANDONED, 1),
        (k.ABANDONED_TIMED, 1),
        (k.SHORT_ABANDONED, int(wait < policy.short_abandon_ms)),
        (k.ABANDONED_WITHIN, int(wait <= policy.sl_threshold_ms)),
        (k.ABANDONED_WAIT_SUM, wait),
        (k.ABANDONED_WAIT_MAX, wait),
        (k.ABANDONED_WAIT_SLOTS + k.wait_slot(wait), 1),
    )
