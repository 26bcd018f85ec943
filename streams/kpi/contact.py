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


class Absorbed(Enum):
    """What `Contact.absorb` did."""

    NEW = "new"
    REPLACED = "replaced"
    DUPLICATE = "duplicate"


class Contact:
    """The events of one (tenant, queue, contact_id), one per role: entry, block, outcome, wrap.

    When two different events claim the same role, the earlier (then the smaller event id) wins,
    so the result does not depend on arrival order. `pos` is the input position last applied
    (see `engine.py`, exactly-once after replay).
    """

    __slots__ = ("pos", "roles")

    def __init__(self) -> None:
        self.roles: list[ContactEvent | None] = [None, None, None, None]
        self.pos = -1

    def absorb(self, event: ContactEvent) -> Absorbed:
        """Take `event` into its role, unless the role holds an earlier (or the same) event.

        Whichever arrives first, one of two events claiming a role is kept and the other is
        reported as a duplicate (REPLACED says the newcomer won), so the count does not depend
        on arrival order.
        """
        role = ROLE_OF[event.type]
        held = self.roles[role]
        if held is None:
            self.roles[role] = event
            return Absorbed.NEW
        if (held.ts_ms, held.event_id) <= (event.ts_ms, event.event_id):
            return Absorbed.DUPLICATE
        self.roles[role] = event
        return Absorbed.REPLACED

    @property
    def offered(self) -> ContactEvent | None:
        return self.roles[0]

    @property
    def outcome(self) -> ContactEvent | None:
        return self.roles[2]

    @property
    def waiting_since_ms(self) -> int | None:
        """Entry instant while the contact still waits in queue, else None."""
        offered = self.roles[0]
        if offered is None or self.roles[1] is not None or self.roles[2] is not None:
            return None
        return offered.ts_ms

    @property
    def channel(self) -> str:
        """The channel of its first event in role order (entry, block, outcome, wrap)."""
        r = self.roles
        first = r[0] or r[1] or r[2] or r[3]
        if first is None:
            raise ValueError("empty contact")
        return first.channel

    @property
    def last_ts_ms(self) -> int:
        latest = -1
        for e in self.roles:
            if e is not None and e.ts_ms > latest:
                latest = e.ts_ms
        return latest

    def to_record(self) -> list[Any]:
        """Compact JSON-able form for the changelog."""
        return [self.pos, [None if e is None else _event_record(e) for e in self.roles]]

    @classmethod
    def from_record(cls, record: list[Any]) -> Contact:
        c = cls()
        c.pos = record[0]
        c.roles = [None if r is None else ContactEvent(*r) for r in record[1]]
        return c


def _event_record(e: ContactEvent) -> list[Any]:
    return [
        e.event_id, e.type, e.ts_ms, e.tenant, e.queue, e.channel, e.contact_id, e.agent_id,
        e.wait_ms, e.reason, e.to_queue, e.talk_ms, e.hold_ms, e.wrap_ms, e.resolved,
    ]  # fmt: skip


def wait_ms(contact: Contact) -> int | None:
    """The wait in queue: the source's own figure when given, else outcome minus entry."""
    outcome = contact.roles[2]
    if outcome is None:
        return None
    if outcome.wait_ms is not None:
        return outcome.wait_ms
    offered = contact.roles[0]
    if offered is None:
        return None
    return max(0, outcome.ts_ms - offered.ts_ms)


def entry_ms(contact: Contact) -> int | None:
    """When the contact entered the queue: its offer, else its outcome minus the logged wait."""
    offered = contact.roles[0]
    if offered is not None:
        return offered.ts_ms
    outcome = contact.roles[2]
    if outcome is not None and outcome.wait_ms is not None:
        return outcome.ts_ms - outcome.wait_ms
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


#: Role indexes in `Contact.roles`: entry, block, outcome, wrap.
ROLES: Final = (0, 1, 2, 3)


def role_item(contact: Contact, role: int, policy: QueuePolicy, channel: str) -> Item | None:
    """What one role of the contact adds (None while the role is empty).

    An entry or a block depends on its own event only. An outcome depends on the entry too (the
    wait, and the instant under arrival attribution), and a wrap-up on the entry under arrival
    attribution; every item carries the contact's channel (`Contact.channel`).
    """
    event = contact.roles[role]
    if event is None:
        return None
    if role == 0:
        return (event.ts_ms, channel, ((k.OFFERED, 1),))
    if role == 1:
        return (event.ts_ms, channel, ((k.BLOCKED_BY_REASON[event.reason or "other"], 1),))
    at = event.ts_ms
    if policy.attribution is Attribution.ARRIVAL:
        entry = entry_ms(contact)
        if entry is not None:
            at = entry
    if role == 2:
        return (at, channel, _outcome_delta(event, wait_ms(contact), policy))
    delta: list[tuple[int, int]] = [
        (k.COMPLETED, 1),
        (k.TALK_SUM, event.talk_ms),
        (k.TALK_MAX, event.talk_ms),
        (k.HOLD_SUM, event.hold_ms),
        (k.HOLD_MAX, event.hold_ms),
        (k.WRAP_SUM, event.wrap_ms),
        (k.WRAP_MAX, event.wrap_ms),
    ]
    if event.resolved is not None:
        delta.append((k.RESOLUTION_REPORTED, 1))
        delta.append((k.RESOLVED, int(event.resolved)))
    return (at, channel, tuple(delta))


def adds_alone(contact: Contact, role: int) -> bool:
    """Whether an event filling this empty role adds its own item and changes no other item:
    the contact is new, or it has its entry and the event is not the entry. (An entry changes
    the outcome's wait and the instants under arrival attribution; a first role in place of an
    entry may change the contact's channel.)"""
    roles = contact.roles
    if roles[role] is not None:
        return False
    return (role != 0 and roles[0] is not None) or roles == _EMPTY


_EMPTY: Final = [None, None, None, None]


def _outcome_delta(outcome: ContactEvent, wait: int | None, policy: QueuePolicy) -> k.Delta:
    if outcome.type == DEQUEUED:
        return ((k.DEQUEUED_BY_REASON[outcome.reason or "other"], 1),)
    if outcome.type == ANSWERED:
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
