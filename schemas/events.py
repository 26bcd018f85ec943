"""Typed contract events: what the rest of ccpulse sees once a message has been validated.

Durations are integer milliseconds and instants are integer epoch milliseconds (UTC), so that
sums and differences are exact; the wire format uses seconds and RFC 3339 (see
`docs/event-contract.md`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

CHANNELS: Final = ("voice", "chat", "email", "sms", "social", "video", "other")
BLOCK_REASONS: Final = ("full", "no_agents", "closed", "other")
DEQUEUE_REASONS: Final = ("timeout", "overflow", "transfer", "empty", "key", "other")

OFFERED: Final = "contact.offered"
BLOCKED: Final = "contact.blocked"
ANSWERED: Final = "contact.answered"
ABANDONED: Final = "contact.abandoned"
DEQUEUED: Final = "contact.dequeued"
COMPLETED: Final = "contact.completed"
CONTACT_TYPES: Final = (OFFERED, BLOCKED, ANSWERED, ABANDONED, DEQUEUED, COMPLETED)
#: Types that end a contact's wait in the queue.
OUTCOME_TYPES: Final = frozenset((ANSWERED, ABANDONED, DEQUEUED))


@dataclass(frozen=True, slots=True)
class ContactEvent:
    """One validated `contact.*` event.

    `wait_ms` is the source's own wait figure when it sent one (it wins over timestamp
    arithmetic); `talk_ms`/`hold_ms`/`wrap_ms` and `resolved` only occur on completions.
    """

    event_id: str
    type: str
    ts_ms: int
    tenant: str
    queue: str
    channel: str
    contact_id: str
    agent_id: str | None = None
    wait_ms: int | None = None
    reason: str | None = None
    to_queue: str | None = None
    talk_ms: int = 0
    hold_ms: int = 0
    wrap_ms: int = 0
    resolved: bool | None = None

    @property
    def queue_key(self) -> tuple[str, str]:
        """The (tenant, queue) pair that partitions all state of this event."""
        return (self.tenant, self.queue)


#: Every event family the engine accepts; more families join this union as they are added.
Event = ContactEvent
