"""The decoder's fast lane (schemas/decode_fast.py) changes what a message costs, never what it
decodes to: for any message, `decode_message` gives the same result with the lane as the
general decoder gives alone, events, refusals and counts alike. And the plain shapes that
producers send do take the lane."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from ccpulse.schemas import decode as decoder
from ccpulse.schemas import decode_message
from ccpulse.schemas.decode_fast import fast_events
from ccpulse.schemas.decode_fields import MAX_DURATION_S, MAX_FUTURE_MS, MAX_ID_LEN, MIN_TS_MS
from ccpulse.schemas.events import AGENT_STATES, AGENT_TYPES, CONTACT_TYPES
from ccpulse.sources.produce import group_by_queue
from ccpulse.sources.queue_log import queue_log_events
from tests.helpers.queue_log import DATA as QUEUE_LOGS
from tests.helpers.sim import FAR_FUTURE_MS, queue, run

#: 2026-03-30T12:00:00Z, the clock of every decode here.
NOW = 1_774_872_000_000
TS = NOW - 3_600_000

FIELDS = (
    "type", "event_id", "ts", "tenant", "queue", "channel", "contact_id", "agent_id",
    "wait_seconds", "reason", "to_queue", "talk_seconds", "hold_seconds", "wrap_seconds",
    "resolved", "state", "ring_seconds",
)  # fmt: skip
TYPES = (*CONTACT_TYPES, *AGENT_TYPES)
#: Keys outside the contact fields: unknown ones, and those of other shapes (CloudEvents, ids).
OTHER_KEYS = ("specversion", "id", "data", "time", "note", "priority", "Type")

HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1, 1.5, -0.0, 0.0005, 0.0015, 2.675,
    MAX_DURATION_S, MAX_DURATION_S + 0.0001, MAX_DURATION_S + 1, 2**63 - 1, -(2**63), 1e300,
    -1e-300,
    MIN_TS_MS - 1, MIN_TS_MS, NOW + MAX_FUTURE_MS, NOW + MAX_FUTURE_MS + 1, TS, float(TS),
    "", " ", "x", " lead", "a" * MAX_ID_LEN, "a" * (MAX_ID_LEN + 1), "tab\there", "nl\n",
    "zero\u200bwidth", "é", "\U0001f600", "naïve-q", "q/1", "_q", "-q", "a" * 128, "a" * 129,
    "voice", "chat", "VOICE", "full", "no_agents", "timeout", "overflow", "transfer",
    "2026-03-30T11:00:00Z", "2026-03-30T11:00:00", "1774868400000",
    *TYPES, "contact.Offered", "ticket.created", "survey.response", *AGENT_STATES, "Paused",
    "a" * 64, "a" * 65, "lunch\x00",
    [], {}, ["voice"], {"a": 1},
]  # fmt: skip


def plain(etype: str, n: int = 0) -> dict[str, Any]:
    """A valid event of `etype` in the plain shape, as the simulator sends it."""
    if etype in AGENT_TYPES:
        return plain_agent(etype, n)
    doc: dict[str, Any] = {
        "event_id": f"e-{n}", "type": etype, "ts": TS + n, "tenant": "acme", "queue": "support",
        "channel": "chat", "contact_id": f"c-{n % 3}",
    }  # fmt: skip
    if etype in ("contact.answered", "contact.completed"):
        doc["agent_id"] = "agent-7"
    if etype in ("contact.answered", "contact.abandoned", "contact.dequeued"):
        doc["wait_seconds"] = 12.5
    if etype == "contact.blocked":
        doc["reason"] = "full"
    if etype == "contact.dequeued":
        doc["reason"] = "overflow"
        doc["to_queue"] = "sales"
    if etype == "contact.completed":
        doc.update(talk_seconds=300, hold_seconds=12.25, wrap_seconds=30.0, resolved=True)
    return doc


def plain_agent(etype: str, n: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": f"e-{n}", "type": etype, "ts": TS + n, "tenant": "acme", "agent_id": "a-7",
    }  # fmt: skip
    if etype in ("agent.login", "agent.logout"):
        doc["queue"] = "support"
    if etype == "agent.state":
        doc.update(
            [
                {"state": "paused", "reason": "lunch"},
                {"state": "on_contact", "queue": "support", "wait_seconds": 4.5},
                {"state": "available"},
            ][n % 3]
        )
    if etype == "agent.ring_no_answer":
        doc.update(contact_id=f"c-{n}", ring_seconds=15, queue="support")
    return doc


@st.composite
def element(draw: st.DrawFn) -> Any:
    """A plain event with a few fields deleted, replaced by hostile values, or added."""
    doc = plain(draw(st.sampled_from(TYPES)), draw(st.integers(0, 5)))
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(FIELDS + OTHER_KEYS))
        if draw(st.booleans()) and key in doc:
            del doc[key]
        else:
            doc[key] = draw(
                st.one_of(
                    st.sampled_from(HOSTILE),
                    st.floats(0, MAX_DURATION_S),
                    st.text(max_size=6),
                    st.integers(MIN_TS_MS - 10, NOW + MAX_FUTURE_MS + 10),
                )
            )
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([[doc], "text", 7, None]))
    return doc


def both(raw: bytes | str, **limits: Any) -> tuple[Any, Any]:
    """`decode_message(raw)` with the fast lane, then with the general decoder alone."""
    fast = decode_message(raw, now_ms=NOW, **limits)
    lane = decoder.fast_events
    decoder.fast_events = lambda _raw, _now, _limit=None: None  # type: ignore[assignment]
    try:
        general = decode_message(raw, now_ms=NOW, **limits)
    finally:
        decoder.fast_events = lane
    return fast, general


def assert_same(raw: bytes | str, **limits: Any) -> None:
    fast, general = both(raw, **limits)
    assert fast == general, raw


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    elements=st.lists(element(), min_size=0, max_size=5),
    single=st.booleans(),
    limit=st.sampled_from([None, None, 1, 3]),
)
def test_the_fast_lane_decodes_any_message_as_the_general_decoder_does(
    elements: list[Any], single: bool, limit: int | None
) -> None:
    doc = elements[0] if single and elements else elements
    assert_same(orjson.dumps(doc), max_elements=limit, max_rejections=2)


@settings(max_examples=300, deadline=None)
@given(
    etype=st.sampled_from(TYPES),
    key=st.sampled_from(FIELDS),
    text=st.sampled_from([
        '"x"', '"\\u0078"', '"\\ud800"', '"\\u0000"', '"tab\\tx"', "1e400", "-0", "01",
        "0.1000000000000000055511151231257827", "604800.00000000001", "12.5e0", "1E2",
        "true", "null", "[]", '"a\\"b"', '"\\/"', "123456789012345678901234567890",
    ]),
    duplicate=st.booleans(),
)
def test_the_same_for_json_text_that_an_encoder_would_not_write(
    etype: str, key: str, text: str, duplicate: bool
) -> None:
    """Escapes, number spellings and repeated keys: msgspec and orjson read them alike, or
    the lane leaves the message to the general decoder."""
    body = orjson.dumps(plain(etype)).decode()[1:-1]
    pair = f'"{key}":{text}'
    raw = "{" + (f"{pair},{body}" if duplicate else f"{body},{pair}") + "}"
    assert_same(raw.encode("utf-8", "surrogatepass"))
    assert_same(f" [ {raw} ,{raw}]\n".encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "raw",
    [
        b"", b"[]", b"{}", b"[{}]", b"\xef\xbb\xbf[]", b'{"type":"contact.offered"}x',
        b'[{"type":"contact.offered","event_id":"e","ts":1774868400000,"queue":"q",'
        b'"contact_id":"\xff"}]',
    ],
)  # fmt: skip
def test_the_same_for_malformed_and_empty_messages(raw: bytes) -> None:
    assert_same(raw)


def test_the_plain_shapes_take_the_fast_lane() -> None:
    """Every contact and agent type in the shape producers send, alone or in an array, is
    decoded by the lane (this fails if the lane stops taking them and the pipeline silently
    slows)."""
    for n in range(3):
        agents = [plain(etype, n) for etype in AGENT_TYPES]
        assert fast_events(orjson.dumps(agents), NOW) == decode_message(
            orjson.dumps(agents), now_ms=NOW
        ).events
    docs = [plain(etype, n) for n, etype in enumerate(CONTACT_TYPES)]
    for doc in docs:
        assert fast_events(orjson.dumps(doc), NOW) is not None, doc["type"]
    events = fast_events(orjson.dumps(docs), NOW)
    assert events is not None
    assert events == decode_message(orjson.dumps(docs), now_ms=NOW).events
    assert [e.type for e in events] == list(CONTACT_TYPES)
    completed = events[-1]
    assert (completed.talk_ms, completed.hold_ms, completed.wrap_ms) == (300_000, 12_250, 30_000)
    assert events[2].wait_ms == 12_500 and events[2].agent_id == "agent-7"


def test_the_simulators_events_take_the_fast_lane() -> None:
    """Two hours of a simulated queue with every outcome (blocks, abandons, timeouts) and its
    agents, in the 100-event messages the producer sends: each message takes the lane."""
    events = run([queue(capacity=1, max_wait_seconds=60, mean_patience_seconds=90,
                       arrivals_per_hour=150)], 2, tickets=False, surveys=False)  # fmt: skip
    types = {e["type"] for e in events}
    assert types >= {*CONTACT_TYPES, "agent.login", "agent.state"}
    for _key, batch in group_by_queue(events, 100):
        assert fast_events(orjson.dumps(batch), FAR_FUTURE_MS) is not None
        assert_same(orjson.dumps(batch))


@pytest.mark.parametrize("etype", TYPES)
@pytest.mark.parametrize(
    ("key", "values"),
    [
        ("ts", [MIN_TS_MS - 1, MIN_TS_MS, NOW + MAX_FUTURE_MS, NOW + MAX_FUTURE_MS + 1]),
        *(
            (key, [-1e-9, -0.0, 0, MAX_DURATION_S, MAX_DURATION_S + 1e-9, 0.0005, 1.0015])
            for key in (
                "wait_seconds", "talk_seconds", "hold_seconds", "wrap_seconds", "ring_seconds"
            )
        ),
        ("event_id", ["a" * MAX_ID_LEN, "a" * (MAX_ID_LEN + 1), "\u00ad", "e\u2028"]),
        ("contact_id", ["a" * MAX_ID_LEN, "a" * (MAX_ID_LEN + 1), "\x7f", "c d"]),
        ("agent_id", ["a" * MAX_ID_LEN, "a" * (MAX_ID_LEN + 1), "\x1b[1m", None]),
        ("queue", ["a" * 128, "a" * 129, "q\u00e9", "q\n", None]),
        ("reason", ["a" * 64, "a" * 65, "", "lunch\t", None, "full", "timeout"]),
        ("state", ["on_contact", "wrap_up", "Paused", None]),
    ],
)  # fmt: skip
def test_the_same_at_the_edges_of_every_checked_value(
    etype: str, key: str, values: list[Any]
) -> None:
    for value in values:
        assert_same(orjson.dumps(plain(etype) | {key: value}))


def test_the_queue_log_followers_events_take_the_fast_lane() -> None:
    """What `ccpulse queue-log` sends from each sample log, in its messages, takes the lane
    (Asterisk's own output is the main real source)."""
    for path in sorted(QUEUE_LOGS.iterdir()):
        events, _ = queue_log_events(path, time_zone="Europe/Paris")
        now = max(e["ts"] for e in events)
        for _key, batch in group_by_queue(events, 100):
            assert fast_events(orjson.dumps(batch), now) is not None, path.name
            assert_same(orjson.dumps(batch))


def test_a_message_over_the_element_limit_is_left_to_the_general_decoder() -> None:
    """The general decoder counts the elements past `max_elements` (`excess`)."""
    docs = [plain("contact.offered", n) for n in range(5)]
    assert fast_events(orjson.dumps(docs), NOW, max_elements=4) is None
    assert fast_events(orjson.dumps(docs), NOW, max_elements=5) is not None
    result = decode_message(orjson.dumps(docs), now_ms=NOW, max_elements=4)
    assert (len(result.events), result.excess, result.elements) == (4, 1, 5)
    assert_same(orjson.dumps(docs), max_elements=4)
