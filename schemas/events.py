"""Typed contract events: what the rest of ccpulse sees once a message has been validated.

Durations are integer milliseconds and instants are integer epoch milliseconds (UTC), so that
sums and differences are exact; the wire format uses seconds and RFC 3339 (see
`docs/event-contract.md`).

Events are values: nothing changes one after decoding. They are not frozen dataclasses all the
same, because building a frozen one takes about eight times as long (a `object.__setattr__` call
per field) and the pipeline builds one per event. Contact and agent events, nearly all a worker
reads, are named tuples: the compiled KPI core (ccpulse/native.py) reads their fields by
position, where it reads any other object's attributes by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

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


class ContactEvent(NamedTuple):
    """One validated `contact.*` event.

    `wait_ms` is the source's own wait figure when it sent one (it wins over timestamp
    arithmetic); `talk_ms`/`hold_ms`/`wrap_ms` and `resolved` only occur on completions.

    A named tuple: the compiled core reads a field as an item of the tuple, several times per
    event, where it would look a class's attribute up by name (docs/performance.md, change 29).
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


AGENT_LOGIN: Final = "agent.login"
AGENT_LOGOUT: Final = "agent.logout"
AGENT_STATE: Final = "agent.state"
AGENT_RING_NO_ANSWER: Final = "agent.ring_no_answer"
AGENT_TYPES: Final = (AGENT_LOGIN, AGENT_LOGOUT, AGENT_STATE, AGENT_RING_NO_ANSWER)
#: States an agent.state event may set (login/logout set "available"/"offline" themselves).
AGENT_STATES: Final = ("available", "on_contact", "wrap_up", "paused", "offline")


class AgentEvent(NamedTuple):
    """One validated `agent.*` event. `queue` None means all the agent's queues (or none yet).

    A named tuple, unlike the other events: it is its own changelog record (the state writes
    encode it as the JSON array of its fields, read back by `AgentEvent(*record)`), built faster
    than a class with slots. The garbage collector still visits those that timelines hold:
    CPython stops tracking exact tuples of plain values only, not instances of a tuple's
    subclass.
    """

    event_id: str
    type: str
    ts_ms: int
    tenant: str
    agent_id: str
    queue: str | None = None
    state: str | None = None
    reason: str | None = None
    contact_id: str | None = None
    ring_ms: int | None = None
    #: `on_contact` only: how long the contact waited in queue before this agent took it.
    wait_ms: int | None = None


TICKET_CREATED: Final = "ticket.created"
TICKET_REPLIED: Final = "ticket.replied"
TICKET_STATUS_CHANGED: Final = "ticket.status_changed"
TICKET_REOPENED: Final = "ticket.reopened"
TICKET_ASSIGNED: Final = "ticket.assigned"
TICKET_TYPES: Final = (
    TICKET_CREATED, TICKET_REPLIED, TICKET_STATUS_CHANGED, TICKET_REOPENED, TICKET_ASSIGNED,
)  # fmt: skip
TICKET_STATUSES: Final = ("new", "open", "pending", "on_hold", "solved", "closed")
TICKET_PRIORITIES: Final = ("low", "normal", "high", "urgent")


@dataclass(slots=True)
class TicketEvent:
    """One validated `ticket.*` event.

    `channel`, `priority` and `group` are required on `ticket.created` and optional elsewhere
    (None: unchanged). `public` marks a customer-visible reply (internal notes are not responses);
    `by_agent` on creation marks an agent-created ticket (no first response is owed).
    """

    event_id: str
    type: str
    ts_ms: int
    tenant: str
    ticket_id: str
    channel: str | None = None
    priority: str | None = None
    group: str | None = None
    agent_id: str | None = None
    status: str | None = None
    public: bool = True
    by_agent: bool = False


SURVEY_RESPONSE: Final = "survey.response"
SURVEY_KINDS: Final = ("csat", "nps", "ces")


@dataclass(slots=True)
class SurveyEvent:
    """One validated `survey.response`: a score on the survey's scale (see kpi definitions)."""

    event_id: str
    type: str
    ts_ms: int
    tenant: str
    survey: str
    score: float
    channel: str = "voice"
    queue: str | None = None
    agent_id: str | None = None
    contact_id: str | None = None
    ticket_id: str | None = None


#: Every event family the engine accepts.
Event = ContactEvent | AgentEvent | TicketEvent | SurveyEvent

#: Partition keys of the families without a queue: all of a tenant's agents (tickets, surveys)
#: live with one input partition. '#' cannot occur in a queue name, so no key collides.
AGENTS_KEY: Final = "#agents"
TICKETS_KEY: Final = "#tickets"
SURVEYS_KEY: Final = "#surveys"


def routing_key(event: Event) -> str:
    """The Kafka message key an event must travel under (docs/partitioning.md)."""
    if isinstance(event, ContactEvent):
        return f"{event.tenant}/{event.queue}"
    if isinstance(event, AgentEvent):
        return f"{event.tenant}/{AGENTS_KEY}"
    if isinstance(event, TicketEvent):
        return f"{event.tenant}/{TICKETS_KEY}"
    return f"{event.tenant}/{SURVEYS_KEY}"
