"""A queue's contact store: idle contacts frozen to bytes, thawed equal when touched."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccpulse import native
from ccpulse.config import LimitsSettings
from ccpulse.schemas.events import ContactEvent
from ccpulse.streams.kpi import Engine, PolicyBook, queue_snapshot
from ccpulse.streams.kpi.contact import Contact
from ccpulse.streams.kpi.contact_store import ContactStore, freeze, frozen_last_ts_ms, thaw
from ccpulse.streams.kpi.state_writes import drain_writes
from ccpulse.streams.pipeline import Message, Pipeline
from tests.helpers.clock import MIN, ms_of

T0 = ms_of("2026-03-02T09:00:00+00:00")
QKEY = ("acme", "support")


def event(cid: str, kind: str, at_ms: int, **extra: Any) -> ContactEvent:
    fields: dict[str, Any] = {
        "event_id": f"{cid}-{kind}", "type": f"contact.{kind}", "ts_ms": at_ms,
        "tenant": "acme", "queue": "support", "channel": "voice", "contact_id": cid,
    }  # fmt: skip
    return ContactEvent(**{**fields, **extra})


optional_int = st.none() | st.integers(0, 2**40)
packed = st.one_of(
    st.none(),
    st.tuples(st.text(min_size=1), st.sampled_from(["contact.offered", "contact.answered"]),
              st.integers(0, 2**45), st.sampled_from(["voice", "chat"])),
    st.tuples(st.text(min_size=1), st.just("contact.completed"), st.integers(0, 2**45),
              st.just("email"), st.none() | st.text(), optional_int, st.none(), st.none(),
              st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7),
              st.none() | st.booleans()),
)  # fmt: skip


@given(pos=st.integers(-1, 2**62), roles=st.tuples(packed, packed, packed, packed))
def test_a_frozen_contact_thaws_equal_to_what_was_frozen(pos: int, roles: tuple[Any, ...]) -> None:
    contact = Contact(QKEY, "c1")
    contact.pos = pos
    contact.r0, contact.r1, contact.r2, contact.r3 = roles
    blob = freeze(contact)
    back = thaw(blob, QKEY, "c1")
    assert (back.pos, back.roles, back.contact_id) == (pos, roles, "c1")
    assert back.qkey == QKEY
    if native.in_use == "python":  # compiled, the key's two names are held in the contact
        assert back.qkey is QKEY  # the queue's own key, shared
    assert frozen_last_ts_ms(blob) == contact.last_ts_ms
    for got, want in zip(back.roles, roles, strict=True):  # bools stay bools, ints ints
        assert [type(v) for v in got or ()] == [type(v) for v in want or ()]


def test_the_store_reads_as_one_mapping_whichever_side_a_contact_is_on() -> None:
    store = ContactStore(QKEY)
    for cid in ("a", "b", "c"):
        store[cid] = Contact(QKEY, cid)
        store[cid].r0 = (f"{cid}-o", "contact.offered", T0, "voice")
    store.freeze("b")
    assert set(store.cold) == {"b"} and set(store.hot) == {"a", "c"}
    assert len(store) == 3 and "b" in store and "z" not in store
    assert sorted(store) == ["a", "b", "c"]
    assert dict(store.last_ts_ms()) == {"a": T0, "b": T0, "c": T0}
    assert [c.contact_id for c in store.values()] == ["a", "c", "b"]
    assert "b" in store.cold  # reading every contact thaws for the caller only
    assert store.get("b") is store["b"] and "b" in store.hot and not store.cold  # touched
    store.freeze("b")
    del store["b"]
    assert "b" not in store and store.get("b") is None
    with pytest.raises(KeyError):
        store["b"]


def test_idle_contacts_are_frozen_and_a_late_event_thaws_them_with_the_same_figures() -> None:
    """Contacts idle for half an hour of the queue's event time are frozen by the garbage
    collection; the figures are those of an engine that never freezes, before and after a
    late completion and a repeated answer touch a frozen contact."""
    events = []
    for i in range(20):
        cid, at = f"c{i}", T0 + i * 3 * MIN
        events += [event(cid, "offered", at),
                   event(cid, "answered", at + 40_000, agent_id="ana", wait_ms=40_000)]  # fmt: skip
    freezing, plain = Engine(), Engine()
    for engine in (freezing, plain):
        for e in events:
            engine.apply(e)
        engine.drain_changes()
    freezing.collect_garbage()
    qs = freezing.queue("acme", "support")
    idle = {f"c{i}" for i in range(20) if T0 + i * 3 * MIN + 40_000 < qs.watermark_ms - 30 * MIN}
    assert idle and set(qs.contacts.cold) == idle
    late = [event("c0", "completed", T0 + 9 * MIN, agent_id="ana", talk_ms=400_000),
            event("c1", "answered", T0 + 3 * MIN + 40_000, agent_id="bob", wait_ms=40_000,
                  event_id="c1-answered-again")]  # fmt: skip
    for engine in (freezing, plain):
        for e in late:
            engine.apply(e)
    assert "c0" in qs.contacts.hot and "c1" in qs.contacts.hot  # touched: thawed
    now = T0 + 2 * 3_600_000

    def snapshot(engine: Engine) -> dict[str, Any]:
        return queue_snapshot(engine.queue("acme", "support"), now, (15, 60), 3_600_000)

    assert snapshot(freezing) == snapshot(plain)
    assert freezing.queue("acme", "support").duplicates == 1


def test_settled_contacts_are_frozen_as_their_records_are_written() -> None:
    """A contact whose visit is over (blocked, wrapped up, abandoned or dequeued) is frozen
    when the state writes take its record, and is held as exactly that record; one still
    waiting, or answered and not yet wrapped up, stays an object. A later event thaws a frozen
    contact, and the figures are those of an engine whose contacts stay objects."""
    events = [
        event("done", "offered", T0),
        event("done", "answered", T0 + 20_000, agent_id="ana", wait_ms=20_000),
        event("done", "completed", T0 + 90_000, agent_id="ana", talk_ms=70_000),
        event("left", "offered", T0 + 1_000),
        event("left", "abandoned", T0 + 31_000, wait_ms=30_000),
        event("full", "blocked", T0 + 2_000, reason="full"),
        event("talking", "offered", T0 + 3_000),
        event("talking", "answered", T0 + 9_000, agent_id="bob", wait_ms=6_000),
        event("waiting", "offered", T0 + 4_000),
        # its answer not seen yet: still waiting in queue, so not frozen
        event("unanswered", "offered", T0 + 5_000),
        event("unanswered", "completed", T0 + 60_000, agent_id="cy", talk_ms=20_000),
    ]
    freezing, plain = Engine(), Engine()
    for engine in (freezing, plain):
        for pos, e in enumerate(events):
            engine.apply(e, pos)
    writes: list[Any] = []
    drain_writes(freezing, 0, writes, {}, set())
    plain.drain_changes()
    qs = freezing.queue("acme", "support")
    assert set(qs.contacts.cold) == {"done", "left", "full"}
    assert set(qs.contacts.hot) == {"talking", "waiting", "unanswered"}
    records = {key.rsplit(b"\x1f", 1)[1].decode(): value for _, key, value in writes
               if b"\x1fc\x1f" in key}  # fmt: skip
    for cid in ("done", "left", "full"):
        assert qs.contacts.cold[cid][8:] == records[cid]
        assert frozen_last_ts_ms(qs.contacts.cold[cid]) == qs.contacts.peek(cid).last_ts_ms
    later = event("done", "completed", T0 + 80_000, agent_id="ana", talk_ms=60_000,
                  event_id="done-completed-earlier")  # fmt: skip
    for engine in (freezing, plain):
        engine.apply(later, len(events))
    assert "done" in qs.contacts.hot  # touched: thawed
    now = T0 + 3_600_000

    def snapshot(engine: Engine) -> dict[str, Any]:
        return queue_snapshot(engine.queue("acme", "support"), now, (15, 60), 3_600_000)

    assert snapshot(freezing) == snapshot(plain)
    assert qs.duplicates == 1


def test_a_restore_holds_settled_contacts_frozen_as_the_live_engine_does() -> None:
    """Restored from the records the live pipeline wrote, the settled contacts are frozen and
    the others are objects, as in the live engine, and the figures are the same."""
    rows = [
        {"event_id": "o1", "type": "contact.offered", "ts": T0, "contact_id": "done"},
        {"event_id": "x1", "type": "contact.abandoned", "ts": T0 + 30_000, "contact_id": "done",
         "wait_seconds": 30},
        {"event_id": "o2", "type": "contact.offered", "ts": T0 + 1_000, "contact_id": "talking"},
        {"event_id": "a2", "type": "contact.answered", "ts": T0 + 9_000, "contact_id": "talking",
         "agent_id": "bob", "wait_seconds": 8},
        {"event_id": "o3", "type": "contact.offered", "ts": T0 + 2_000, "contact_id": "waiting"},
    ]  # fmt: skip
    base = {"tenant": "acme", "queue": "support", "channel": "voice"}
    live = Pipeline(PolicyBook(), LimitsSettings())
    live.read_clock(T0 + 60_000)
    value = orjson.dumps([{**base, **row} for row in rows])
    live.process(Message("contacts", 0, 0, b"acme/support", value), lambda _: None)
    writes = live.table_writes()
    restored = Pipeline(PolicyBook(), LimitsSettings())
    restored.read_clock(T0 + 60_000)
    engine = restored.restore(0, [(key, v) for _, key, v in writes if v is not None])
    for pipeline in (live, restored):
        contacts = pipeline.engines[0].queue("acme", "support").contacts
        assert (set(contacts.cold), set(contacts.hot)) == ({"done"}, {"talking", "waiting"})
    assert queue_snapshot(engine.queue("acme", "support"), T0 + 60_000, (15, 60), 3_600_000) \
        == queue_snapshot(live.engines[0].queue("acme", "support"), T0 + 60_000, (15, 60),
                          3_600_000)  # fmt: skip
