"""The repartition stage's re-keying: any input message becomes one message per contract key,
elements in their order; what names no queue goes on unkeyed, for the engines to dead-letter."""

from __future__ import annotations

import orjson

from ccpulse.config import load_settings
from ccpulse.streams.repartition import element_key, regroup, repartition_topic


def event(queue: str, n: int, tenant: str = "acme") -> dict[str, object]:
    return {"event_id": f"e{n}", "type": "contact.offered", "ts": 1_764_493_200_000 + n,
            "tenant": tenant, "queue": queue, "channel": "voice", "contact_id": f"c{n}"}


def test_a_mixed_batch_becomes_one_message_per_queue_in_order() -> None:
    batch = [event("sales", 1), event("support", 2), event("sales", 3), event("sales", 4, "globex")]
    out = regroup(orjson.dumps(batch))
    assert [(key, [e["event_id"] for e in orjson.loads(value)]) for key, value in out] == [
        (b"acme/sales", ["e1", "e3"]), (b"acme/support", ["e2"]), (b"globex/sales", ["e4"]),
    ]  # fmt: skip


def test_a_single_event_keeps_its_bytes() -> None:
    raw = orjson.dumps(event("sales", 1))
    assert regroup(raw) == [(b"acme/sales", raw)]


def test_families_without_a_queue_go_to_their_tenant_key() -> None:
    agent = {"event_id": "a1", "type": "agent.login", "tenant": "acme", "agent_id": "x"}
    ticket = {"event_id": "t1", "type": "ticket.created", "tenant": "acme", "ticket_id": "T"}
    survey = {"event_id": "s1", "type": "survey.response", "queue": "sales"}
    assert [element_key(e) for e in (agent, ticket, survey)] == [
        b"acme/#agents", b"acme/#tickets", b"default/#surveys",
    ]  # fmt: skip


def test_cloudevents_are_keyed_by_their_data() -> None:
    ce = {"specversion": "1.0", "id": "e1", "source": "pbx", "type": "com.example.contact.offered",
          "time": "2026-12-05T10:00:00Z", "data": {"tenant": "acme", "queue": "sales"}}  # fmt: skip
    assert element_key(ce) == b"acme/sales"
    agent_ce = {**ce, "type": "com.example.agent.login", "data": {"tenant": "acme"}}
    assert element_key(agent_ce) == b"acme/#agents"


def test_what_names_no_queue_goes_on_unkeyed_and_unchanged() -> None:
    assert regroup(b"not json {") == [(None, b"not json {")]
    assert regroup(b'{"type": "contact.offered"}') == [(None, b'{"type": "contact.offered"}')]
    out = regroup(orjson.dumps([event("sales", 1), 42, {"queue": ""}]))
    assert [(key, orjson.loads(value)) for key, value in out] == [
        (b"acme/sales", [event("sales", 1)]), (None, [42, {"queue": ""}]),
    ]  # fmt: skip


def test_one_setting_switches_it_on_and_names_the_internal_topic() -> None:
    assert load_settings(env={}).kafka.repartition is False
    settings = load_settings(env={"CCPULSE_KAFKA_REPARTITION": "true",
                                  "CCPULSE_KAFKA_APP_ID": "cc"})  # fmt: skip
    assert settings.kafka.repartition is True
    assert repartition_topic(settings.kafka.app_id) == "cc-contacts-repartition"
