"""A contact keeps its events packed, without the key they share. Its changelog record holds the
packed events as they are (the record's key names the contact), whatever fields the events
carry; a record reads back into the same contact, and records of the former form (15 fields per
event) are still read."""

from __future__ import annotations

import orjson
import pytest

from ccpulse.schemas.events import ContactEvent
from ccpulse.streams.kpi.contact import Absorbed, Contact, pack

BASE = ContactEvent("e1", "contact.offered", 1_000, "acme", "sales", "chat", "c1")
EVENTS = [
    BASE,
    BASE._replace(event_id="b1", type="contact.blocked", reason="queue_full"),
    BASE._replace(event_id="a1", type="contact.answered", agent_id="ag", wait_ms=0),
    BASE._replace(event_id="x1", type="contact.abandoned", wait_ms=12_000),
    BASE._replace(event_id="d1", type="contact.dequeued", reason="transferred", to_queue="vip"),
    BASE._replace(event_id="w1", type="contact.completed", agent_id="ag", talk_ms=5, wrap_ms=7),
    BASE._replace(event_id="w2", type="contact.completed", talk_ms=0, wrap_ms=0, resolved=False),
    # Fields another type carries, on an entry: kept as they are.
    BASE._replace(event_id="o2", agent_id="ag", to_queue="vip"),
]


def _old_record(pos: int, roles: list[ContactEvent | None]) -> list[object]:
    """The record as contacts wrote it when they kept `ContactEvent` objects."""
    return [pos, [None if e is None else list(e) for e in roles]]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.event_id)
def test_a_packed_event_reads_back_whole(event: ContactEvent) -> None:
    contact = Contact(("acme", "sales"), "c1")
    assert contact.absorb(event) is Absorbed.NEW
    role = {"contact.offered": 0, "contact.blocked": 1, "contact.completed": 3}.get(event.type, 2)
    assert contact.event(role) == event
    assert len(pack(event)) <= 12


def test_trailing_defaults_are_left_out() -> None:
    assert pack(BASE) == ("e1", "contact.offered", 1_000, "chat")
    assert len(pack(EVENTS[2])) == 6  # up to the wait
    assert len(pack(EVENTS[5])) == 11  # resolved is None
    assert len(pack(EVENTS[6])) == 12  # resolved False is not the default


def _contact() -> Contact:
    contact = Contact(("acme", "sales"), "c1")
    for event in (EVENTS[0], EVENTS[3], EVENTS[5]):
        contact.absorb(event)
    contact.pos = 42
    return contact


def test_record_holds_the_packed_events_and_reads_back() -> None:
    contact = _contact()
    record = contact.to_record()
    assert record == [42, pack(EVENTS[0]), None, pack(EVENTS[3]), pack(EVENTS[5])]
    stored = orjson.loads(orjson.dumps(record))  # as the changelog holds it
    assert stored == [42, ["e1", "contact.offered", 1_000, "chat"], None,
                      ["x1", "contact.abandoned", 1_000, "chat", None, 12_000],
                      ["w1", "contact.completed", 1_000, "chat", "ag", None, None, None, 5, 0,
                       7]]  # fmt: skip
    again = Contact.from_record(stored, (("acme", "sales"), "c1"))
    assert again.to_record() == record
    assert (again.roles, again.pos, again.qkey, again.contact_id) == (
        contact.roles, 42, ("acme", "sales"), "c1")  # fmt: skip
    assert all(type(p) is tuple for p in again.roles if p is not None)


def test_a_record_needs_its_key() -> None:
    stored = orjson.loads(orjson.dumps(_contact().to_record()))
    with pytest.raises(ValueError, match="give its key"):
        Contact.from_record(stored)


def test_a_record_of_the_former_form_reads_back() -> None:
    contact = _contact()
    former = orjson.loads(orjson.dumps(_old_record(42, [EVENTS[0], None, EVENTS[3], EVENTS[5]])))
    for key in (None, (("acme", "sales"), "c1")):
        again = Contact.from_record(former, key)
        assert again.to_record() == contact.to_record()
        assert (again.roles, again.pos, again.qkey, again.contact_id) == (
            contact.roles, 42, ("acme", "sales"), "c1")  # fmt: skip


def test_every_packed_shape_survives_the_record() -> None:
    for event in EVENTS:
        contact = Contact(("acme", "sales"), "c1")
        contact.absorb(event)
        stored = orjson.loads(orjson.dumps(contact.to_record()))
        again = Contact.from_record(stored, (("acme", "sales"), "c1"))
        assert again.roles == contact.roles
        assert [again.event(r) for r in range(4)] == [contact.event(r) for r in range(4)]


def test_a_role_keeps_the_earlier_event() -> None:
    contact = Contact(("acme", "sales"), "c1")
    late = BASE._replace(event_id="e2", ts_ms=2_000)
    assert contact.absorb(late) is Absorbed.NEW
    assert contact.absorb(BASE) is Absorbed.REPLACED
    assert contact.absorb(late) is Absorbed.DUPLICATE
    assert contact.absorb(BASE) is Absorbed.DUPLICATE
    assert contact.offered == BASE
