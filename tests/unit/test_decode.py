"""The event contract decoder: what it accepts, what it turns it into, and how it refuses.

Epoch values below are worked out by hand: 2026-01-01T00:00:00Z is 20 454 days after the epoch
(56 years, 14 of them leap years), i.e. 1 767 225 600 s; 2026-03-29 is 87 days later.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ccpulse.schemas import ContactEvent, DecodeResult, Rejection, decode_message, decode_object

#: 2026-03-29T00:00:00Z in epoch ms: 1 767 225 600 000 + 87 * 86 400 000.
MIDNIGHT_0329_UTC = 1_774_742_400_000
#: 2026-03-29T08:15:30Z = midnight + 8 h 15 min 30 s (29 730 s).
TS_0815 = MIDNIGHT_0329_UTC + 29_730_000
#: "now" for every decode in this file: 2026-03-30T12:00:00Z (1 day 12 h after midnight).
NOW = MIDNIGHT_0329_UTC + 36 * 3_600_000


def decode(doc: Any, now_ms: int = NOW) -> DecodeResult:
    return decode_message(orjson.dumps(doc), now_ms=now_ms)


def one_event(doc: Any, now_ms: int = NOW) -> ContactEvent:
    result = decode(doc, now_ms)
    assert result.rejections == [], [r.describe() for r in result.rejections]
    assert len(result.events) == 1
    return result.events[0]


def one_rejection(doc: Any, now_ms: int = NOW) -> Rejection:
    result = decode(doc, now_ms)
    assert result.events == []
    assert len(result.rejections) == 1
    return result.rejections[0]


def base(etype: str = "contact.offered", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": "e-1",
        "type": etype,
        "ts": "2026-03-29T10:15:30+02:00",
        "tenant": "acme",
        "queue": "support",
        "channel": "chat",
        "contact_id": "c-1",
    }
    doc.update(extra)
    return doc


# -- accepted events -------------------------------------------------------------------------


def test_offered_with_rfc3339_offset_is_converted_to_utc_epoch_ms() -> None:
    event = one_event(base())
    assert event == ContactEvent(
        event_id="e-1",
        type="contact.offered",
        ts_ms=TS_0815,  # 10:15:30 at +02:00 is 08:15:30Z
        tenant="acme",
        queue="support",
        channel="chat",
        contact_id="c-1",
    )
    assert event.queue_key == ("acme", "support")


@pytest.mark.parametrize(
    ("ts", "expected_ms"),
    [
        ("2026-03-29T08:15:30Z", TS_0815),
        ("2026-03-29T08:15:30+00:00", TS_0815),
        ("2026-03-29T03:45:30-04:30", TS_0815),
        ("2026-03-29T08:15:30.250Z", TS_0815 + 250),
        ("2026-03-29T11:15:30.001+03:00", TS_0815 + 1),
        (TS_0815, TS_0815),
        (TS_0815 + 7, TS_0815 + 7),
    ],
)
def test_timestamp_forms(ts: str | int, expected_ms: int) -> None:
    assert one_event(base(ts=ts)).ts_ms == expected_ms


def test_tenant_and_channel_default_to_default_and_voice() -> None:
    doc = base()
    del doc["tenant"], doc["channel"]
    event = one_event(doc)
    assert (event.tenant, event.channel) == ("default", "voice")


def test_blocked_carries_its_reason() -> None:
    event = one_event(base("contact.blocked", reason="no_agents"))
    assert (event.type, event.reason, event.wait_ms) == ("contact.blocked", "no_agents", None)


def test_answered_with_agent_and_fractional_wait() -> None:
    event = one_event(base("contact.answered", agent_id="a-7", wait_seconds=12.5))
    assert (event.type, event.agent_id, event.wait_ms) == ("contact.answered", "a-7", 12_500)


def test_answered_without_wait_has_no_wait() -> None:
    event = one_event(base("contact.answered", agent_id="a-7"))
    assert event.wait_ms is None


def test_abandoned_with_integer_wait() -> None:
    event = one_event(base("contact.abandoned", wait_seconds=4))
    assert (event.type, event.wait_ms, event.agent_id) == ("contact.abandoned", 4_000, None)


def test_abandoned_with_zero_wait() -> None:
    assert one_event(base("contact.abandoned", wait_seconds=0)).wait_ms == 0


def test_dequeued_with_reason_and_target_queue() -> None:
    event = one_event(
        base("contact.dequeued", reason="overflow", to_queue="support-l2", wait_seconds=90)
    )
    assert (event.type, event.reason, event.to_queue, event.wait_ms) == (
        "contact.dequeued",
        "overflow",
        "support-l2",
        90_000,
    )


def test_dequeued_without_target_queue() -> None:
    event = one_event(base("contact.dequeued", reason="timeout"))
    assert (event.reason, event.to_queue, event.wait_ms) == ("timeout", None, None)


def test_completed_with_all_durations_and_resolution() -> None:
    event = one_event(
        base(
            "contact.completed",
            agent_id="a-7",
            talk_seconds=185.25,
            hold_seconds=30,
            wrap_seconds=45.5,
            resolved=True,
        )
    )
    assert (event.talk_ms, event.hold_ms, event.wrap_ms, event.resolved) == (
        185_250,
        30_000,
        45_500,
        True,
    )


def test_completed_optional_fields_default_to_zero_and_unknown() -> None:
    event = one_event(base("contact.completed", agent_id="a-7", talk_seconds=60))
    assert (event.talk_ms, event.hold_ms, event.wrap_ms, event.resolved) == (60_000, 0, 0, None)


def test_completed_resolved_false_is_kept_as_false() -> None:
    event = one_event(base("contact.completed", agent_id="a", talk_seconds=1, resolved=False))
    assert event.resolved is False


def test_fields_of_other_types_are_ignored() -> None:
    # wait_seconds means nothing on an offer and reason nothing on an answer.
    offered = one_event(base(wait_seconds=30, reason="full", agent_id="a-1"))
    assert (offered.wait_ms, offered.reason, offered.agent_id) == (None, None, None)


def test_str_and_bytes_input_decode_alike() -> None:
    text = orjson.dumps(base()).decode()
    assert decode_message(text, now_ms=NOW).events == decode_message(text.encode(), NOW).events


def test_decode_object_takes_a_parsed_object() -> None:
    assert decode_object(base(), now_ms=NOW) == one_event(base())
    rejection = decode_object(base(queue=""), now_ms=NOW)
    assert isinstance(rejection, Rejection)
    assert rejection.field == "queue"


# -- batches ---------------------------------------------------------------------------------


def test_batch_elements_are_validated_one_by_one() -> None:
    good_1 = base(event_id="b-1", contact_id="c-1")
    bad = base("contact.answered", event_id="b-2", contact_id="c-2", agent_id="")  # empty id
    good_2 = base("contact.abandoned", event_id="b-3", contact_id="c-3", wait_seconds=3)
    result = decode([good_1, bad, good_2])
    assert [e.event_id for e in result.events] == ["b-1", "b-3"]
    assert len(result.rejections) == 1
    rejection = result.rejections[0]
    assert (rejection.event_id, rejection.field, rejection.index) == ("b-2", "agent_id", 1)
    assert orjson.loads(rejection.raw) == bad
    assert rejection.describe().startswith("event 'b-2' (#1 in batch): field 'agent_id':")


def test_batch_element_that_is_not_an_object() -> None:
    result = decode([base(), 17, "x"])
    assert len(result.events) == 1
    assert [(r.index, r.field, r.event_id) for r in result.rejections] == [
        (1, None, None),
        (2, None, None),
    ]
    assert "must be a JSON object" in result.rejections[0].reason


def test_empty_batch_gives_nothing() -> None:
    result = decode([])
    assert (result.events, result.rejections) == ([], [])


def test_single_object_rejection_has_no_index() -> None:
    rejection = one_rejection(base(channel="fax"))
    assert rejection.index is None
    assert "#" not in rejection.describe()


# -- CloudEvents 1.0 structured mode -----------------------------------------------------------


def cloudevent(ce_type: str, **data: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"tenant": "acme", "queue": "support", "contact_id": "c-9"}
    payload.update(data)
    return {
        "specversion": "1.0",
        "id": "ce-42",
        "source": "/pbx/eu-1",
        "type": ce_type,
        "time": "2026-03-29T08:15:30Z",
        "datacontenttype": "application/json",
        "data": payload,
    }


def test_cloudevent_with_reverse_dns_type() -> None:
    event = one_event(cloudevent("com.example.contact.offered", channel="email"))
    assert event == ContactEvent(
        event_id="ce-42",
        type="contact.offered",
        ts_ms=TS_0815,
        tenant="acme",
        queue="support",
        channel="email",
        contact_id="c-9",
    )


def test_cloudevent_with_deep_reverse_dns_type_and_data_fields() -> None:
    event = one_event(
        cloudevent("io.github.org.pbx.contact.answered", agent_id="a-1", wait_seconds=7)
    )
    assert (event.type, event.agent_id, event.wait_ms, event.channel) == (
        "contact.answered",
        "a-1",
        7_000,
        "voice",
    )


def test_cloudevent_with_bare_contract_type() -> None:
    event = one_event(cloudevent("contact.blocked", reason="closed"))
    assert (event.type, event.reason, event.event_id) == ("contact.blocked", "closed", "ce-42")


def test_cloudevents_batch() -> None:
    first = cloudevent("com.example.contact.offered")
    second = cloudevent("com.example.contact.abandoned", wait_seconds=2.5)
    second["id"] = "ce-43"
    result = decode([first, second])
    assert [(e.event_id, e.type, e.wait_ms) for e in result.events] == [
        ("ce-42", "contact.offered", None),
        ("ce-43", "contact.abandoned", 2_500),
    ]


def test_cloudevent_with_unknown_type_is_rejected_under_its_id() -> None:
    rejection = one_rejection(cloudevent("com.example.contact.transferred"))
    assert (rejection.event_id, rejection.field) == ("ce-42", "type")
    assert "event 'ce-42'" in rejection.describe()


def test_cloudevent_data_must_be_an_object() -> None:
    doc = cloudevent("com.example.contact.offered")
    doc["data"] = "c-9 entered support"
    rejection = one_rejection(doc)
    assert (rejection.event_id, rejection.field) == ("ce-42", "data")


def test_cloudevent_without_time_is_rejected_on_ts() -> None:
    doc = cloudevent("com.example.contact.offered")
    del doc["time"]
    assert one_rejection(doc).field == "ts"


def test_cloudevent_naive_time_is_rejected() -> None:
    doc = cloudevent("com.example.contact.offered")
    doc["time"] = "2026-03-29T08:15:30"
    assert one_rejection(doc).field == "ts"


# -- rejections ------------------------------------------------------------------------------


def test_unknown_type_is_named() -> None:
    rejection = one_rejection(base("contact.transferred"))
    assert (rejection.event_id, rejection.field) == ("e-1", "type")
    assert "contact.transferred" in rejection.reason
    assert rejection.describe() == f"event 'e-1': field 'type': {rejection.reason}"


@pytest.mark.parametrize(
    ("etype", "missing"),
    [
        ("contact.offered", "type"),
        ("contact.offered", "ts"),
        ("contact.offered", "queue"),
        ("contact.offered", "contact_id"),
        ("contact.blocked", "reason"),
        ("contact.dequeued", "reason"),
        ("contact.completed", "talk_seconds"),
    ],
)
def test_missing_required_field(etype: str, missing: str) -> None:
    doc = base(etype, agent_id="a-1", reason="full", talk_seconds=10)
    if etype == "contact.dequeued":
        doc["reason"] = "timeout"
    del doc[missing]
    rejection = one_rejection(doc)
    assert (rejection.event_id, rejection.field) == ("e-1", missing)
    assert f"event 'e-1': field '{missing}':" in rejection.describe()


def test_missing_event_id_is_rejected_without_a_name() -> None:
    doc = base()
    del doc["event_id"]
    rejection = one_rejection(doc)
    assert (rejection.event_id, rejection.field) == (None, "event_id")
    assert rejection.describe().startswith("event: field 'event_id':")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", 17),
        ("event_id", ""),
        ("contact_id", 42),
        ("contact_id", "c\n1"),
        ("agent_id", ["a-1"]),
        ("queue", 7),
        ("queue", "-support"),
        ("queue", "support/l2"),
        ("queue", "q" * 129),
        ("tenant", ""),
        ("ts", 1.774772130e12),
        ("ts", True),
        ("ts", "yesterday"),
        ("ts", "2026-03-29"),
        ("wait_seconds", "12"),
        ("wait_seconds", True),
        ("type", 3),
    ],
)
def test_mistyped_or_malformed_field(field: str, value: Any) -> None:
    doc = base("contact.answered", agent_id="a-1")
    doc[field] = value
    rejection = one_rejection(doc)
    assert rejection.field == field
    if field != "event_id":
        assert rejection.event_id == "e-1"
        assert f"field '{field}'" in rejection.describe()


def test_queue_name_with_trailing_newline_is_rejected() -> None:
    # A name is letters, digits and a few punctuation marks: nothing may follow it.
    assert one_rejection(base(queue="support\n")).field == "queue"
    assert one_rejection(base(tenant="acme\n")).field == "tenant"


def test_longest_queue_name_is_accepted() -> None:
    assert one_event(base(queue="q" * 128)).queue == "q" * 128


@pytest.mark.parametrize(
    ("etype", "field"),
    [
        ("contact.answered", "wait_seconds"),
        ("contact.abandoned", "wait_seconds"),
        ("contact.dequeued", "wait_seconds"),
        ("contact.completed", "talk_seconds"),
        ("contact.completed", "hold_seconds"),
        ("contact.completed", "wrap_seconds"),
    ],
)
def test_negative_duration_is_rejected(etype: str, field: str) -> None:
    doc = base(etype, agent_id="a-1", reason="timeout", talk_seconds=10)
    doc[field] = -0.5
    rejection = one_rejection(doc)
    assert (rejection.event_id, rejection.field) == ("e-1", field)
    assert "non-negative" in rejection.reason


def test_duration_longer_than_a_week_is_rejected() -> None:
    week = 7 * 86_400
    assert one_event(base("contact.abandoned", wait_seconds=week)).wait_ms == week * 1000
    rejection = one_rejection(base("contact.abandoned", wait_seconds=week + 1))
    assert rejection.field == "wait_seconds"


def test_resolved_must_be_boolean() -> None:
    rejection = one_rejection(
        base("contact.completed", agent_id="a-1", talk_seconds=5, resolved="yes")
    )
    assert (rejection.event_id, rejection.field) == ("e-1", "resolved")


def test_naive_timestamp_is_rejected() -> None:
    rejection = one_rejection(base(ts="2026-03-29T10:15:30"))
    assert (rejection.event_id, rejection.field) == ("e-1", "ts")
    assert "offset" in rejection.reason


def test_epoch_seconds_instead_of_milliseconds_is_rejected() -> None:
    rejection = one_rejection(base(ts=TS_0815 // 1000))
    assert (rejection.event_id, rejection.field) == ("e-1", "ts")
    assert "epoch seconds" in rejection.reason


def test_timestamp_far_in_the_future_is_rejected() -> None:
    rejection = one_rejection(base(ts=TS_0815), now_ms=TS_0815 - 3_600_000)
    assert (rejection.event_id, rejection.field) == ("e-1", "ts")
    assert "future" in rejection.reason


def test_five_minutes_of_clock_skew_are_tolerated() -> None:
    five_minutes = 300_000
    assert one_event(base(ts=TS_0815), now_ms=TS_0815 - five_minutes).ts_ms == TS_0815
    assert one_rejection(base(ts=TS_0815), now_ms=TS_0815 - five_minutes - 1).field == "ts"


@pytest.mark.parametrize(
    ("etype", "field", "value"),
    [
        ("contact.offered", "channel", "fax"),
        ("contact.offered", "channel", None),
        ("contact.blocked", "reason", "busy"),
        ("contact.dequeued", "reason", "full"),  # a block reason, not a dequeue reason
        ("contact.dequeued", "to_queue", "bad/queue"),
    ],
)
def test_bad_channel_or_reason(etype: str, field: str, value: Any) -> None:
    doc = base(etype, reason="timeout" if etype == "contact.dequeued" else "full")
    doc[field] = value
    rejection = one_rejection(doc)
    assert (rejection.event_id, rejection.field) == ("e-1", field)
    assert rejection.describe().startswith(f"event 'e-1': field '{field}':")


def test_every_channel_and_reason_of_the_contract_is_accepted() -> None:
    for channel in ("voice", "chat", "email", "sms", "social", "video", "other"):
        assert one_event(base(channel=channel)).channel == channel
    for reason in ("full", "no_agents", "closed", "other"):
        assert one_event(base("contact.blocked", reason=reason)).reason == reason
    for reason in ("timeout", "overflow", "transfer", "empty", "key", "other"):
        assert one_event(base("contact.dequeued", reason=reason)).reason == reason


def test_invalid_json_is_one_rejection() -> None:
    result = decode_message(b'{"event_id": "e-1", ', now_ms=NOW)
    assert result.events == []
    assert len(result.rejections) == 1
    rejection = result.rejections[0]
    assert (rejection.event_id, rejection.field, rejection.raw) == (
        None,
        None,
        b'{"event_id": "e-1", ',
    )
    assert "not valid JSON" in rejection.describe()


def test_top_level_scalar_is_rejected() -> None:
    rejection = one_rejection(42)
    assert "must be a JSON object" in rejection.reason


def test_an_agent_id_seen_before_never_passes_as_a_queue_name() -> None:
    """Names repeat and are checked once; ids follow a looser rule and must not share that."""
    answered = {"event_id": "e1", "type": "contact.answered", "ts": 1_773_133_200_000,
                "queue": "sales", "contact_id": "c2", "agent_id": "a:b/c"}  # fmt: skip
    assert decode_message(orjson.dumps(answered)).events[0].agent_id == "a:b/c"
    offered = {"event_id": "e0", "type": "contact.offered", "ts": 1_773_133_200_000,
               "queue": "a:b/c", "contact_id": "c1"}  # fmt: skip
    result = decode_message(orjson.dumps(offered))
    assert not result.events
    assert "queue" in result.rejections[0].describe()


def test_agent_on_contact_carries_the_contact_wait() -> None:
    from ccpulse.schemas import AgentEvent

    agent = {"event_id": "a1", "type": "agent.state", "ts": NOW - 1000, "agent_id": "alice",
             "queue": "sales", "state": "on_contact", "wait_seconds": 25.5}  # fmt: skip
    event = decode_object(agent, NOW)
    assert isinstance(event, AgentEvent) and event.wait_ms == 25_500
    paused = decode_object({**agent, "state": "paused"}, NOW)
    assert isinstance(paused, AgentEvent) and paused.wait_ms is None  # checked, then ignored
    bad = decode_object({**agent, "wait_seconds": -1}, NOW)
    assert isinstance(bad, Rejection) and bad.field == "wait_seconds"


def test_contact_answered_and_completed_may_leave_the_agent_out() -> None:
    answered = one_event(base("contact.answered", wait_seconds=3))
    assert answered.agent_id is None and answered.wait_ms == 3000
    completed = one_event(base("contact.completed", talk_seconds=60))
    assert completed.agent_id is None and completed.talk_ms == 60_000
