"""The ccpulse event contract: typed events and the decoder that validates raw messages."""

from ccpulse.schemas.decode import DecodeResult, Rejection, decode_message, decode_object
from ccpulse.schemas.events import (
    BLOCK_REASONS,
    CHANNELS,
    CONTACT_TYPES,
    DEQUEUE_REASONS,
    ContactEvent,
    Event,
)

__all__ = [
    "BLOCK_REASONS",
    "CHANNELS",
    "CONTACT_TYPES",
    "DEQUEUE_REASONS",
    "ContactEvent",
    "DecodeResult",
    "Event",
    "Rejection",
    "decode_message",
    "decode_object",
]
