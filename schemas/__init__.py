"""The ccpulse event contract: typed events and the decoder that validates raw messages."""

from ccpulse.schemas.decode import DecodeResult, Rejection, decode_message, decode_object
from ccpulse.schemas.events import (
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
