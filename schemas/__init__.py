"""The ccpulse event contract: typed events and the decoder that validates raw messages.

The decoder's fast-lane checks run compiled where setup.py built them (`ccpulse.native`
chooses, before any of them is imported).
"""

from ccpulse import native

native.install()

from ccpulse.schemas.decode import (  # noqa: E402
    DecodeResult,
    Rejection,
    decode_message,
    decode_object,
)
from ccpulse.schemas.events import (  # noqa: E402
    AGENT_STATES,
    AGENT_TYPES,
    BLOCK_REASONS,
    CHANNELS,
    CONTACT_TYPES,
    DEQUEUE_REASONS,
    SURVEY_KINDS,
    TICKET_STATUSES,
    TICKET_TYPES,
    AgentEvent,
    ContactEvent,
    Event,
    SurveyEvent,
    TicketEvent,
    routing_key,
)

__all__ = [
    "AGENT_STATES",
    "AGENT_TYPES",
    "BLOCK_REASONS",
    "CHANNELS",
    "CONTACT_TYPES",
    "DEQUEUE_REASONS",
    "SURVEY_KINDS",
    "TICKET_STATUSES",
    "TICKET_TYPES",
    "AgentEvent",
    "ContactEvent",
    "DecodeResult",
    "Event",
    "Rejection",
    "SurveyEvent",
    "TicketEvent",
    "decode_message",
    "decode_object",
    "routing_key",
]
