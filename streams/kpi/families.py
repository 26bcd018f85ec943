"""The family engines beside the contact-queue engine, and which events each one takes."""

from __future__ import annotations

from collections.abc import Callable

from ccpulse.schemas.events import (
    AGENTS_KEY,
    SURVEYS_KEY,
    TICKETS_KEY,
    AgentEvent,
    Event,
    SurveyEvent,
    TicketEvent,
)
from ccpulse.streams.kpi.agents import AgentEngine
from ccpulse.streams.kpi.family import FamilyEngine
from ccpulse.streams.kpi.policy import PolicyBook
from ccpulse.streams.kpi.surveys import SurveyEngine
from ccpulse.streams.kpi.tickets import TicketEngine

#: Family name -> engine factory, for every event family other than contacts.
FACTORIES: dict[str, Callable[[PolicyBook], FamilyEngine]] = {
    "agents": AgentEngine,
    "surveys": SurveyEngine,
    "tickets": lambda book: TicketEngine(book, book.tickets),
}
FAMILY_OF: dict[type, str] = {
    AgentEvent: "agents",
    SurveyEvent: "surveys",
    TicketEvent: "tickets",
}

#: Event type -> (its family, the queue part of its routing key "tenant/<key>").
ROUTES: dict[type, tuple[str, str]] = {
    AgentEvent: ("agents", AGENTS_KEY),
    SurveyEvent: ("surveys", SURVEYS_KEY),
    TicketEvent: ("tickets", TICKETS_KEY),
}


def family_of(event: Event) -> str | None:
    """The family engine an event belongs to; None for contact events (the queue engine)."""
    return FAMILY_OF.get(type(event))


def new_family_engines(book: PolicyBook) -> dict[str, FamilyEngine]:
    return {name: factory(book) for name, factory in FACTORIES.items()}
