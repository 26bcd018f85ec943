"""The published JSON Schemas agree with the decoder and with `ccpulse report --format json`.

Expected figures of the sample file are worked out by hand from tests/data/sample-events.jsonl
and tests/data/sample-config.toml; each assertion names the contacts that make it up.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ccpulse.schemas import (
    AGENT_STATES,
    AGENT_TYPES,
    BLOCK_REASONS,
    CHANNELS,
    DEQUEUE_REASONS,
    SURVEY_KINDS,
    TICKET_STATUSES,
    TICKET_TYPES,
    AgentEvent,
    ContactEvent,
    Rejection,
    SurveyEvent,
    TicketEvent,
    decode_message,
    decode_object,
)
from ccpulse.schemas.decode import SURVEY_SCORE_RANGE
from ccpulse.schemas.events import TICKET_PRIORITIES
from tests.helpers.docs import run_report, schema, schema_validator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
#: 2030-03-17: after every example instant, so the decoder's "future" rule never fires by accident.
NOW_MS = 1_900_000_000_000
EVENT = schema_validator("contact-event.v1.json")
BATCH = schema_validator("contact-batch.v1.json")
REPORT = schema_validator("report.v1.json")

_BASE: dict[str, Any] = {
    "event_id": "evt-1",
    "ts": "2024-03-05T13:00:00Z",
    "tenant": "acme",
    "queue": "sales",
    "channel": "voice",
    "contact_id": "c-1",
}
_REQUIRED_BY_TYPE: dict[str, dict[str, Any]] = {
    "contact.offered": {},
    "contact.blocked": {"reason": "full"},
    "contact.answered": {"agent_id": "ana"},
    "contact.abandoned": {},
    "contact.dequeued": {"reason": "timeout"},
    "contact.completed": {"agent_id": "ana", "talk_seconds": 180},
}
_DROP = object()


def ev(etype: str, **fields: Any) -> dict[str, Any]:
    """A minimal valid event of `etype`, with `fields` overlaid (`_DROP` removes a field)."""
    out = {**_BASE, "type": etype, **_REQUIRED_BY_TYPE[etype], **fields}
    return {k: v for k, v in out.items() if v is not _DROP}


VALID: list[tuple[str, Any]] = [
    *((f"minimal {t}", ev(t)) for t in _REQUIRED_BY_TYPE),
    ("tenant and channel omitted", ev("contact.offered", tenant=_DROP, channel=_DROP)),
    *((f"channel {c}", ev("contact.offered", channel=c)) for c in CHANNELS if c != "voice"),
    ("ts epoch milliseconds", ev("contact.offered", ts=1_709_643_600_000)),
    ("ts with offset and fraction", ev("contact.offered", ts="2024-03-05T08:00:00.250-05:00")),
    ("ts on 2000-01-01", ev("contact.offered", ts=946_684_800_000)),
    ("other types' fields are not checked", ev("contact.offered", agent_id=5, wait_seconds="n/a")),
    ("extra properties", ev("contact.offered", ivr_path=["menu", "1"], priority=3)),
    *((f"blocked {r}", ev("contact.blocked", reason=r)) for r in BLOCK_REASONS),
    ("answered with zero wait", ev("contact.answered", wait_seconds=0)),
    ("answered with fractional wait", ev("contact.answered", wait_seconds=12.5)),
    ("answered with null wait", ev("contact.answered", wait_seconds=None)),
    ("answered waiting a week", ev("contact.answered", wait_seconds=604_800)),
    ("abandoned with wait", ev("contact.abandoned", wait_seconds=3)),
    *((f"dequeued {r}", ev("contact.dequeued", reason=r)) for r in DEQUEUE_REASONS),
    ("dequeued to a queue", ev("contact.dequeued", reason="overflow", to_queue="sales-overflow")),
    ("dequeued to null", ev("contact.dequeued", to_queue=None, wait_seconds=300)),
    (
        "completed with everything",
        ev("contact.completed", hold_seconds=20.5, wrap_seconds=40, resolved=True),
    ),
    ("completed unresolved", ev("contact.completed", resolved=False, hold_seconds=None)),
    ("completed resolution unknown", ev("contact.completed", resolved=None, wrap_seconds=None)),
    (
        "names with . @ + ~ - _ and spaces",
        ev("contact.offered", tenant="acme.eu", queue="VIP @ Sales+2~b_x-y"),
    ),
    ("name of 128 characters", ev("contact.offered", queue="q" * 128)),
    ("name starting with _", ev("contact.offered", queue="_internal")),
    ("id of 256 characters", ev("contact.offered", contact_id="c" * 256)),
    ("ids with spaces and accents", ev("contact.answered", agent_id="Zoë Müller / EMEA")),
    # A source that does not name the agent (queue_log agent NONE): the queue's figures need none.
    ("answered without agent", ev("contact.answered", agent_id=_DROP)),
    ("answered agent null", ev("contact.answered", agent_id=None)),
    ("completed without agent", ev("contact.completed", agent_id=_DROP)),
]

#: (label, element, field the decoder names in its rejection).
INVALID: list[tuple[str, Any, str | None]] = [
    ("not an object: string", "contact.offered", None),
    ("not an object: number", 42, None),
    ("not an object: array", [ev("contact.offered")], None),
    ("not an object: null", None, None),
    ("type missing", ev("contact.offered", type=_DROP), "type"),
    ("type unknown", ev("contact.offered", type="contact.transferred"), "type"),
    ("type not a string", ev("contact.offered", type=7), "type"),
    ("event_id missing", ev("contact.offered", event_id=_DROP), "event_id"),
    ("event_id empty", ev("contact.offered", event_id=""), "event_id"),
    ("event_id a number", ev("contact.offered", event_id=42), "event_id"),
    ("event_id too long", ev("contact.offered", event_id="e" * 257), "event_id"),
    ("event_id with a control character", ev("contact.offered", event_id="e\u00071"), "event_id"),
    ("ts missing", ev("contact.offered", ts=_DROP), "ts"),
    ("ts without offset", ev("contact.offered", ts="2024-03-05T13:00:00"), "ts"),
    ("ts lower-case t and z", ev("contact.offered", ts="2024-03-05t13:00:00z"), "ts"),
    ("ts not a date", ev("contact.offered", ts="yesterday"), "ts"),
    ("ts month 13", ev("contact.offered", ts="2024-13-05T13:00:00Z"), "ts"),
    ("ts leap second", ev("contact.offered", ts="2024-03-05T23:59:60Z"), "ts"),
    ("ts epoch seconds", ev("contact.offered", ts=1_709_643_600), "ts"),
    ("ts fractional milliseconds", ev("contact.offered", ts=1_709_643_600_000.5), "ts"),
    ("ts boolean", ev("contact.offered", ts=True), "ts"),
    ("tenant empty", ev("contact.offered", tenant=""), "tenant"),
    ("tenant null", ev("contact.offered", tenant=None), "tenant"),
    ("tenant starting with -", ev("contact.offered", tenant="-acme"), "tenant"),
    ("queue missing", ev("contact.offered", queue=_DROP), "queue"),
    ("queue with /", ev("contact.offered", queue="sales/emea"), "queue"),
    ("queue of 129 characters", ev("contact.offered", queue="q" * 129), "queue"),
    ("queue a number", ev("contact.offered", queue=12), "queue"),
    ("channel unknown", ev("contact.offered", channel="fax"), "channel"),
    ("channel upper-case", ev("contact.offered", channel="Voice"), "channel"),
    ("channel null", ev("contact.offered", channel=None), "channel"),
    ("contact_id missing", ev("contact.offered", contact_id=_DROP), "contact_id"),
    ("contact_id empty", ev("contact.offered", contact_id=""), "contact_id"),
    ("answered agent empty", ev("contact.answered", agent_id=""), "agent_id"),
    ("answered negative wait", ev("contact.answered", wait_seconds=-1), "wait_seconds"),
    ("answered wait as text", ev("contact.answered", wait_seconds="12"), "wait_seconds"),
    ("answered wait boolean", ev("contact.answered", wait_seconds=True), "wait_seconds"),
    ("answered wait over a week", ev("contact.answered", wait_seconds=604_801), "wait_seconds"),
    ("abandoned negative wait", ev("contact.abandoned", wait_seconds=-0.5), "wait_seconds"),
    ("blocked without reason", ev("contact.blocked", reason=_DROP), "reason"),
    ("blocked reason unknown", ev("contact.blocked", reason="busy"), "reason"),
    ("blocked reason null", ev("contact.blocked", reason=None), "reason"),
    ("dequeued without reason", ev("contact.dequeued", reason=_DROP), "reason"),
    ("dequeued reason of blocks", ev("contact.dequeued", reason="full"), "reason"),
    ("dequeued to a bad queue", ev("contact.dequeued", to_queue="over/flow"), "to_queue"),
    ("dequeued negative wait", ev("contact.dequeued", wait_seconds=-3), "wait_seconds"),
    ("completed without talk", ev("contact.completed", talk_seconds=_DROP), "talk_seconds"),
    ("completed talk null", ev("contact.completed", talk_seconds=None), "talk_seconds"),
    ("completed talk as text", ev("contact.completed", talk_seconds="300"), "talk_seconds"),
    ("completed negative hold", ev("contact.completed", hold_seconds=-1), "hold_seconds"),
    ("completed wrap over a week", ev("contact.completed", wrap_seconds=1e6), "wrap_seconds"),
    ("completed resolved as text", ev("contact.completed", resolved="yes"), "resolved"),
    ("completed resolved as 1", ev("contact.completed", resolved=1), "resolved"),
]


def _schema_errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(instance)]


def test_schemas_are_valid_draft_2020_12() -> None:
    for name in ("contact-event.v1.json", "contact-batch.v1.json", "report.v1.json"):
        Draft202012Validator.check_schema(schema(name))


@pytest.mark.parametrize(("label", "obj"), VALID, ids=[label for label, _ in VALID])
def test_decoder_and_schema_accept(label: str, obj: Any) -> None:
    decoded = decode_object(obj, NOW_MS)
    assert isinstance(decoded, ContactEvent), decoded
    assert _schema_errors(EVENT, obj) == []


@pytest.mark.parametrize(("label", "obj", "field"), INVALID, ids=[label for label, _, _ in INVALID])
def test_decoder_and_schema_refuse(label: str, obj: Any, field: str | None) -> None:
    decoded = decode_object(obj, NOW_MS)
    assert isinstance(decoded, Rejection), decoded
    assert decoded.field == field
    assert _schema_errors(EVENT, obj) != []


def test_batch_schema_and_decoder_agree() -> None:
    good = [obj for _, obj in VALID]
    assert _schema_errors(BATCH, good) == []
    result = decode_message(json.dumps(good), NOW_MS)
    assert (len(result.events), len(result.rejections)) == (len(good), 0)

    mixed = [good[0], ev("contact.answered", agent_id=""), good[1]]
    assert _schema_errors(BATCH, mixed) != []
    result = decode_message(json.dumps(mixed), NOW_MS)
    assert len(result.events) == 2
    assert [(r.index, r.field) for r in result.rejections] == [(1, "agent_id")]

    assert _schema_errors(BATCH, []) == []
    empty = decode_message("[]", NOW_MS)
    assert (empty.events, empty.rejections) == ([], [])


def test_cloudevent_decodes_like_its_flat_form() -> None:
    """The mapping documented in docs/event-contract.md: id, time, data, extension attributes."""
    flat = ev("contact.answered", event_id="ce-9", ts="2024-03-05T14:50:10+01:00", wait_seconds=10)
    cloudevent = {
        "specversion": "1.0",
        "id": "ce-9",
        "source": "/pbx/paris-1",
        "type": "dev.ccpulse.contact.answered",
        "time": "2024-03-05T14:50:10+01:00",
        "datacontenttype": "application/json",
        "tenant": "acme",
        "data": {
            "queue": "sales",
            "channel": "voice",
            "contact_id": "c-1",
            "agent_id": "ana",
            "wait_seconds": 10,
        },
    }
    assert _schema_errors(EVENT, flat) == []
    assert decode_object(cloudevent, NOW_MS) == decode_object(flat, NOW_MS)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@pytest.mark.parametrize(
    ("label", "obj", "field"),
    [
        ("more than 5 minutes ahead", ev("contact.offered", ts=_iso(NOW_MS + 600_000)), "ts"),
        ("RFC 3339 before 2000", ev("contact.offered", ts="1999-12-31T23:59:59Z"), "ts"),
        ("integral float ts", ev("contact.offered", ts=1_709_643_600_000.0), "ts"),
        ("no-break space in an id", ev("contact.offered", contact_id="c\u00a01"), "contact_id"),
        ("zero-width space in an id", ev("contact.offered", event_id="e\u200b1"), "event_id"),
    ],
)
def test_rules_only_the_decoder_checks(label: str, obj: Any, field: str) -> None:
    """Listed in docs/event-contract.md under "What the schema cannot check"."""
    decoded = decode_object(obj, NOW_MS)
    assert isinstance(decoded, Rejection) and decoded.field == field
    assert _schema_errors(EVENT, obj) == []


# -- the report ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> tuple[Any, str]:
    return run_report(DATA / "sample-events.jsonl", "--config", str(DATA / "sample-config.toml"))


def _queue(report: Any, tenant: str, queue: str) -> Any:
    found = [q for q in report["queues"] if (q["tenant"], q["queue"]) == (tenant, queue)]
    assert len(found) == 1
    return found[0]


def _interval(view: Any, start: str) -> Any:
    found = [i for i in view["intervals"] if i["start"] == start]
    assert len(found) == 1, [i["start"] for i in view["intervals"]]
    return found[0]


def test_sample_report_matches_schema(sample: tuple[Any, str]) -> None:
    report, _ = sample
    assert _schema_errors(REPORT, report) == []
    assert all("intervals" in view for q in report["queues"] for view in q["channels"].values())


def test_schema_lists_every_figure(sample: tuple[Any, str]) -> None:
    """docs/kpi-definitions.md and the schema describe exactly the figures the report prints."""
    report, _ = sample
    published = set(schema("report.v1.json")["$defs"]["figures"]["properties"])
    printed = set(report["queues"][0]["channels"]["all"]["today"]["figures"])
    assert printed == published


def test_report_schema_refuses_drift(sample: tuple[Any, str]) -> None:
    report, _ = sample
    today = report["queues"][0]["channels"]["all"]["today"]["figures"]
    for key, bad in (("offered", -1), ("service_level", 1.5), ("asa_seconds", "27.5")):
        broken = json.loads(json.dumps(report))
        broken["queues"][0]["channels"]["all"]["today"]["figures"] = {**today, key: bad}
        assert _schema_errors(REPORT, broken) != [], key
    broken = json.loads(json.dumps(report))
    del broken["queues"][0]["live"]["all"]
    assert _schema_errors(REPORT, broken) != []


def test_sample_rejects_malformed_lines_and_reports_the_rest(sample: tuple[Any, str]) -> None:
    report, stderr = sample
    lines = stderr.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("ccpulse report: line 17: event: not valid JSON")
    assert lines[1] == (
        "ccpulse report: line 34: event 'acme-s99-a': field 'agent_id': "
        "must be a non-empty string, got ''"
    )
    assert lines[2].startswith("ccpulse report: line 43: event 'hd-h99-o': field 'ts': ")
    assert "needs an offset" in lines[2]
    assert [e.split(":")[0] for e in report["errors"]] == ["line 17", "line 34", "line 43"]
    # 54 lines, 3 refused; three batch lines hold 2 + 2 + 2 events: 51 - 3 + 6 = 54 events.
    assert report["input"] == {
        "lines": 54,
        "events": 54,
        "rejected": 3,
        "ignored_after_at": 0,
        "duplicates": 1,  # line 31 repeats line 2
        "too_late": 1,  # line 52: 13:30Z, 88 minutes behind acme/sales' 14:58Z, lateness 3600 s
    }
    assert [(q["tenant"], q["queue"]) for q in report["queues"]] == [
        ("acme", "sales"),
        ("acme", "support"),
        ("default", "helpdesk"),
    ]
    # as of the latest event, helpdesk h7 at 15:10Z, shown in each queue's own zone.
    assert report["as_of_ms"] == 1_709_651_400_000
    assert _queue(report, "acme", "sales")["as_of"] == "2024-03-05T16:10:00+01:00"
    assert _queue(report, "default", "helpdesk")["as_of"] == "2024-03-05T10:10:00-05:00"


def test_sample_sales_today(sample: tuple[Any, str]) -> None:
    sales = _queue(sample[0], "acme", "sales")
    assert (sales["time_zone"], sales["interval_minutes"]) == ("Europe/Paris", 15)
    assert sales["pipeline"]["duplicates"] == 1 and sales["pipeline"]["too_late"] == 1
    today = sales["channels"]["all"]["today"]
    assert today["start"] == "2024-03-05T00:00:00+01:00"
    f = today["figures"]
    # offered s1-s6, s8, s9, s10 (CloudEvent), s12; s7 was blocked, s11 came too late.
    assert f["offered"] == 10
    assert (f["blocked"], f["blocked_no_agents"]) == (1, 1)
    # answered s1 15 s, s2 45 s, s5 (chat) 50 s, s6 15 s, s8 30 s, s10 10 s.
    assert f["answered"] == 6
    # within 20 s: s1, s6, s10; within the chat channel's 60 s: s5.
    assert f["answered_within_threshold"] == 4
    # abandoned s3 after 3 s (short, within 20 s), s4 after 60 s (the late line 41).
    assert (f["abandoned"], f["short_abandoned"], f["abandoned_within_threshold"]) == (2, 1, 1)
    assert (f["dequeued"], f["dequeued_timeout"]) == (1, 1)
    assert f["completed"] == 4
    # answered_and_abandoned: 4 / (6 + 2).
    assert f["service_level"] == pytest.approx(0.5)
    assert f["asa_seconds"] == pytest.approx((15 + 45 + 50 + 15 + 30 + 10) / 6)
    assert f["longest_answered_wait_seconds"] == 50
    assert f["abandonment_rate"] == pytest.approx(2 / 10)
    assert f["blockage_rate"] == pytest.approx(1 / 11)
    # (talk + hold + wrap): s1 240, s2 280, s5 960, s10 360.
    assert f["aht_seconds"] == pytest.approx((240 + 280 + 960 + 360) / 4)
    assert f["first_contact_resolution_rate"] == pytest.approx(1 / 2)  # s1 yes, s2 no
    voice = sales["channels"]["voice"]["today"]["figures"]
    assert voice["service_level"] == pytest.approx(3 / (5 + 2))  # s1, s6, s10 of 5 + 2
    # s12 waits from 14:58Z to 15:10Z.
    assert sales["live"]["all"] == {"in_queue": 1, "longest_wait_seconds": 720.0}


def test_sample_sales_first_quarter_hour(sample: tuple[Any, str]) -> None:
    sales = _queue(sample[0], "acme", "sales")
    window = _interval(sales["channels"]["all"], "2024-03-05T14:00:00+01:00")
    assert window["end"] == "2024-03-05T14:15:00+01:00"
    f = window["figures"]
    # 13:00-13:15Z: offered s1-s6; answered s1, s2, s5 (s6 at 13:15:05 counts next).
    assert (f["offered"], f["answered"], f["abandoned"], f["completed"]) == (6, 3, 2, 2)
    assert f["answered_within_threshold"] == 2  # s1, s5 (chat)
    assert f["service_level"] == pytest.approx(2 / 5)
    assert f["asa_seconds"] == pytest.approx((15 + 45 + 50) / 3)
    assert f["average_abandon_seconds"] == pytest.approx((3 + 60) / 2)
    nxt = _interval(sales["channels"]["all"], "2024-03-05T14:15:00+01:00")["figures"]
    # s6 and s8 answered, only s8 offered here: outcome attribution lets answer_rate pass 1.
    assert (nxt["offered"], nxt["answered"], nxt["blocked"]) == (1, 2, 1)
    assert nxt["answer_rate"] == pytest.approx(2.0)


def test_sample_support_counts_by_arrival(sample: tuple[Any, str]) -> None:
    support = _queue(sample[0], "acme", "support")
    assert (support["attribution"], support["interval_minutes"]) == ("arrival", 30)
    f = _interval(support["channels"]["all"], "2024-03-05T13:00:00+00:00")["figures"]
    # p4 (email, entered 13:05, answered 14:00), p1 and p2 (entered 13:29:40, answered 13:30:20).
    assert (f["offered"], f["answered"], f["completed"]) == (3, 3, 2)
    assert f["answered_within_threshold"] == 2  # p1 25 s <= 30 s; p4 3300 s <= email's 3600 s
    assert f["service_level"] == pytest.approx(2 / 3)
    assert f["aht_seconds"] == pytest.approx((860 + 630) / 2)
    # p3 abandoned after 20 s, within 30 s: exclude_abandons_within_threshold leaves nothing.
    late = _interval(support["channels"]["all"], "2024-03-05T13:30:00+00:00")["figures"]
    assert (late["offered"], late["abandoned"], late["service_level"]) == (1, 1, None)
    starts = [i["start"][11:16] for i in support["channels"]["all"]["intervals"]]
    assert starts == ["13:00", "13:30", "14:30"]
    today = support["channels"]["all"]["today"]["figures"]
    assert today["service_level"] == pytest.approx(3 / (4 + 2 - 1))
    # p6 sent wait_seconds 4: it wins over the 5 s between its timestamps.
    assert today["asa_seconds"] == pytest.approx((25 + 40 + 3300 + 4) / 4)


def test_sample_helpdesk_counts_overflows_and_drops_short_abandons(
    sample: tuple[Any, str],
) -> None:
    helpdesk = _queue(sample[0], "default", "helpdesk")
    assert helpdesk["time_zone"] == "America/New_York"
    first = _interval(helpdesk["channels"]["all"], "2024-03-05T08:00:00-05:00")["figures"]
    # h1 answered in 40 s, h2 (sms) in 120 s, h3 abandoned after 8 s (short), h4 overflowed.
    assert (first["offered"], first["answered"], first["dequeued_overflow"]) == (4, 2, 1)
    assert first["service_level"] == pytest.approx(1 / (2 + 1))  # answered + dequeued
    assert first["abandonment_rate"] == pytest.approx(0.0)  # (1 - 1) / (4 - 1)
    today = helpdesk["channels"]["all"]["today"]["figures"]
    assert today["service_level"] == pytest.approx(2 / (3 + 1))
    assert today["abandonment_rate"] == pytest.approx((2 - 1) / (7 - 1))
    current = helpdesk["channels"]["all"]["current_interval"]
    assert (current["start"], current["end"]) == (
        "2024-03-05T10:00:00-05:00",
        "2024-03-05T11:00:00-05:00",
    )
    assert (current["figures"]["offered"], current["figures"]["abandoned"]) == (1, 1)
    # rolling 15m at 15:10:00Z: minutes 14:56 to 15:10 inclusive: h6 abandoned, h7 offered.
    last15 = helpdesk["channels"]["all"]["rolling"]["15m"]
    assert (last15["offered"], last15["abandoned"], last15["answered"]) == (1, 1, 0)
    assert helpdesk["live"]["all"] == {"in_queue": 1, "longest_wait_seconds": 0.0}


# -- the other event families: agent.*, ticket.*, survey.* ------------------------------------

FAMILY_SCHEMAS = {
    "agent": schema_validator("agent-event.v1.json"),
    "ticket": schema_validator("ticket-event.v1.json"),
    "survey": schema_validator("survey-event.v1.json"),
}
FAMILY_TYPES = {"agent": AgentEvent, "ticket": TicketEvent, "survey": SurveyEvent}
_FAMILY_BASE: dict[str, dict[str, Any]] = {
    "agent": {"event_id": "a-1", "ts": "2026-03-10T09:00:00Z", "tenant": "acme",
              "agent_id": "ana"},
    "ticket": {"event_id": "t-1", "ts": "2026-03-10T09:00:00Z", "tenant": "acme",
               "ticket_id": "T-100"},
    "survey": {"event_id": "s-1", "ts": "2026-03-10T09:00:00Z", "tenant": "acme"},
}  # fmt: skip
_FAMILY_REQUIRED: dict[str, dict[str, Any]] = {
    "agent.login": {},
    "agent.logout": {},
    "agent.state": {"state": "available"},
    "agent.ring_no_answer": {},
    "ticket.created": {},
    "ticket.replied": {"agent_id": "ana"},
    "ticket.status_changed": {"status": "solved"},
    "ticket.reopened": {},
    "ticket.assigned": {},
    "survey.response": {"survey": "csat", "score": 5},
}


def fev(etype: str, **fields: Any) -> dict[str, Any]:
    """A minimal valid event of another family, with `fields` overlaid (`_DROP` removes one)."""
    family = etype.partition(".")[0]
    out = {**_FAMILY_BASE[family], "type": etype, **_FAMILY_REQUIRED[etype], **fields}
    return {k: v for k, v in out.items() if v is not _DROP}


FAMILY_VALID: list[tuple[str, Any]] = [
    *((f"minimal {t}", fev(t)) for t in _FAMILY_REQUIRED),
    # agent.*
    ("agent login to a queue", fev("agent.login", queue="sales")),
    ("agent logout of all queues, queue null", fev("agent.logout", queue=None)),
    ("agent tenant omitted", fev("agent.login", tenant=_DROP)),
    ("agent ts epoch milliseconds", fev("agent.login", ts=1_773_133_200_000)),
    *((f"agent state {s}", fev("agent.state", state=s)) for s in AGENT_STATES),
    ("agent paused with a reason", fev("agent.state", state="paused", reason="lunch break")),
    ("agent pause reason of 64 characters", fev("agent.state", state="paused", reason="r" * 64)),
    ("agent pause reason null", fev("agent.state", state="paused", reason=None)),
    ("agent on contact of a queue", fev("agent.state", state="on_contact", queue="sales")),
    (
        "agent ring with everything",
        fev("agent.ring_no_answer", queue="sales", contact_id="c-9", ring_seconds=15.5),
    ),
    (
        "agent ring, null contact and ring",
        fev("agent.ring_no_answer", contact_id=None, ring_seconds=None),
    ),
    ("agent login: state fields not checked", fev("agent.login", state="busy", reason="")),
    ("agent state: ring fields not checked", fev("agent.state", ring_seconds=-1, contact_id=3)),
    ("agent extra properties", fev("agent.login", station="desk 12")),
    # ticket.*
    *((f"ticket created by {c}", fev("ticket.created", channel=c)) for c in CHANNELS),
    *((f"ticket priority {p}", fev("ticket.created", priority=p)) for p in TICKET_PRIORITIES),
    (
        "ticket created with everything",
        fev("ticket.created", channel="chat", priority="urgent", group="billing", by_agent=True),
    ),
    *((f"ticket status {s}", fev("ticket.status_changed", status=s)) for s in TICKET_STATUSES),
    ("ticket internal note", fev("ticket.replied", public=False)),
    ("ticket reply moving the group", fev("ticket.replied", group="tier 2", priority=None)),
    ("ticket assigned to an agent", fev("ticket.assigned", group="billing", agent_id="ben")),
    ("ticket assigned to the group only", fev("ticket.assigned", agent_id=None)),
    ("ticket reopened, nulls unchanged", fev("ticket.reopened", channel=None, group=None)),
    ("ticket status change: agent not checked", fev("ticket.status_changed", agent_id="")),
    # survey.response
    ("csat 0", fev("survey.response", score=0)),
    ("csat 10", fev("survey.response", score=10)),
    ("csat fractional", fev("survey.response", score=4.5)),
    ("nps 0", fev("survey.response", survey="nps", score=0)),
    ("nps 10 written 10.0", fev("survey.response", survey="nps", score=10.0)),
    ("ces 1", fev("survey.response", survey="ces", score=1)),
    ("ces 6.5", fev("survey.response", survey="ces", score=6.5)),
    (
        "survey with every link",
        fev(
            "survey.response",
            queue="sales",
            agent_id="ana",
            contact_id="c-1",
            ticket_id="T-1",
            channel="chat",
        ),
    ),
    ("survey links null", fev("survey.response", queue=None, agent_id=None, ticket_id=None)),
]

FAMILY_INVALID: list[tuple[str, Any, str | None]] = [
    # agent.*
    ("agent type unknown", fev("agent.login", type="agent.break"), "type"),
    ("agent without agent_id", fev("agent.login", agent_id=_DROP), "agent_id"),
    ("agent agent_id empty", fev("agent.login", agent_id=""), "agent_id"),
    ("agent without ts", fev("agent.state", ts=_DROP), "ts"),
    ("agent ts without offset", fev("agent.login", ts="2026-03-10T09:00:00"), "ts"),
    ("agent tenant null", fev("agent.login", tenant=None), "tenant"),
    ("agent queue with /", fev("agent.login", queue="sales/emea"), "queue"),
    ("agent queue with #", fev("agent.logout", queue="#agents"), "queue"),
    ("agent queue empty", fev("agent.ring_no_answer", queue=""), "queue"),
    ("agent state missing", fev("agent.state", state=_DROP), "state"),
    ("agent state unknown", fev("agent.state", state="busy"), "state"),
    ("agent state null", fev("agent.state", state=None), "state"),
    ("agent pause reason empty", fev("agent.state", state="paused", reason=""), "reason"),
    ("agent pause reason too long", fev("agent.state", state="paused", reason="r" * 65), "reason"),
    ("agent pause reason a number", fev("agent.state", state="paused", reason=3), "reason"),
    (
        "agent pause reason with a newline",
        fev("agent.state", state="paused", reason="a\nb"),
        "reason",
    ),
    ("agent ring contact_id empty", fev("agent.ring_no_answer", contact_id=""), "contact_id"),
    ("agent ring negative", fev("agent.ring_no_answer", ring_seconds=-1), "ring_seconds"),
    ("agent ring as text", fev("agent.ring_no_answer", ring_seconds="15"), "ring_seconds"),
    ("agent ring over a week", fev("agent.ring_no_answer", ring_seconds=604_801), "ring_seconds"),
    # ticket.*
    ("ticket without ticket_id", fev("ticket.created", ticket_id=_DROP), "ticket_id"),
    ("ticket type unknown", fev("ticket.created", type="ticket.merged"), "type"),
    ("ticket created channel null", fev("ticket.created", channel=None), "channel"),
    ("ticket channel unknown", fev("ticket.replied", channel="fax"), "channel"),
    ("ticket created priority null", fev("ticket.created", priority=None), "priority"),
    ("ticket priority unknown", fev("ticket.reopened", priority="p1"), "priority"),
    ("ticket created group null", fev("ticket.created", group=None), "group"),
    ("ticket assigned group null", fev("ticket.assigned", group=None), "group"),
    ("ticket group with /", fev("ticket.reopened", group="a/b"), "group"),
    ("ticket reply without agent", fev("ticket.replied", agent_id=_DROP), "agent_id"),
    ("ticket reply agent null", fev("ticket.replied", agent_id=None), "agent_id"),
    ("ticket assigned agent empty", fev("ticket.assigned", agent_id=""), "agent_id"),
    ("ticket status missing", fev("ticket.status_changed", status=_DROP), "status"),
    ("ticket status unknown", fev("ticket.status_changed", status="resolved"), "status"),
    ("ticket public null", fev("ticket.replied", public=None), "public"),
    ("ticket public as text", fev("ticket.replied", public="yes"), "public"),
    ("ticket by_agent as 1", fev("ticket.created", by_agent=1), "by_agent"),
    # survey.response
    ("survey kind missing", fev("survey.response", survey=_DROP), "survey"),
    ("survey kind unknown", fev("survey.response", survey="ces2"), "survey"),
    ("survey score missing", fev("survey.response", score=_DROP), "score"),
    ("survey score null", fev("survey.response", score=None), "score"),
    ("survey score as text", fev("survey.response", score="5"), "score"),
    ("survey score boolean", fev("survey.response", score=True), "score"),
    ("csat below 0", fev("survey.response", score=-1), "score"),
    ("csat above 10", fev("survey.response", score=10.5), "score"),
    ("nps fractional", fev("survey.response", survey="nps", score=8.5), "score"),
    ("nps above 10", fev("survey.response", survey="nps", score=11), "score"),
    ("ces 0", fev("survey.response", survey="ces", score=0), "score"),
    ("ces 8", fev("survey.response", survey="ces", score=8), "score"),
    ("survey channel null", fev("survey.response", channel=None), "channel"),
    ("survey channel unknown", fev("survey.response", channel="paper"), "channel"),
    ("survey queue with /", fev("survey.response", queue="a/b"), "queue"),
    ("survey agent empty", fev("survey.response", agent_id=""), "agent_id"),
    ("survey ticket a number", fev("survey.response", ticket_id=7), "ticket_id"),
]


def _family(obj: dict[str, Any]) -> str:
    return str(obj["type"]).partition(".")[0]


@pytest.mark.parametrize(("label", "obj"), FAMILY_VALID, ids=[label for label, _ in FAMILY_VALID])
def test_family_decoder_and_schema_accept(label: str, obj: Any) -> None:
    decoded = decode_object(obj, NOW_MS)
    assert isinstance(decoded, FAMILY_TYPES[_family(obj)]), decoded
    assert _schema_errors(FAMILY_SCHEMAS[_family(obj)], obj) == []


@pytest.mark.parametrize(
    ("label", "obj", "field"), FAMILY_INVALID, ids=[label for label, _, _ in FAMILY_INVALID]
)
def test_family_decoder_and_schema_refuse(label: str, obj: Any, field: str | None) -> None:
    decoded = decode_object(obj, NOW_MS)
    assert isinstance(decoded, Rejection), decoded
    assert decoded.field == field
    assert _schema_errors(FAMILY_SCHEMAS[_family(obj)], obj) != []


def test_family_schemas_are_valid_and_list_the_decoder_s_values() -> None:
    for name in ("agent-event.v1.json", "ticket-event.v1.json", "survey-event.v1.json"):
        Draft202012Validator.check_schema(schema(name))
    agent = schema("agent-event.v1.json")
    assert agent["properties"]["type"]["enum"] == list(AGENT_TYPES)
    assert agent["allOf"][0]["then"]["properties"]["state"]["enum"] == list(AGENT_STATES)
    ticket = schema("ticket-event.v1.json")
    assert ticket["properties"]["type"]["enum"] == list(TICKET_TYPES)
    statuses = next(c["then"]["properties"]["status"]["enum"] for c in ticket["allOf"]
                    if "status" in c["then"].get("properties", {}))  # fmt: skip
    assert statuses == list(TICKET_STATUSES)
    survey = schema("survey-event.v1.json")
    assert survey["properties"]["survey"]["enum"] == list(SURVEY_KINDS)
    ranges = {
        c["if"]["properties"]["survey"]["const"]: (
            c["then"]["properties"]["score"]["minimum"],
            c["then"]["properties"]["score"]["maximum"],
        )
        for c in survey["allOf"]
    }
    assert ranges == SURVEY_SCORE_RANGE


def test_family_events_are_not_contact_events() -> None:
    """Each family's schema refuses the others' events: a producer cannot mix them up."""
    samples = {"contact": ev("contact.offered"), "agent": fev("agent.login"),
               "ticket": fev("ticket.created"), "survey": fev("survey.response")}  # fmt: skip
    validators = {"contact": EVENT, **FAMILY_SCHEMAS}
    for family, validator in validators.items():
        for other, obj in samples.items():
            assert (_schema_errors(validator, obj) == []) == (family == other), (family, other)


@pytest.mark.parametrize(
    ("label", "obj", "field"),
    [
        ("agent ts ahead", fev("agent.login", ts=_iso(NOW_MS + 600_000)), "ts"),
        ("agent reason with a line separator",
         fev("agent.state", state="paused", reason="a\u2028b"), "reason"),
        ("ticket ts before 2000", fev("ticket.created", ts="1999-12-31T23:59:59Z"), "ts"),
        ("survey integral float ts", fev("survey.response", ts=1_773_133_200_000.0), "ts"),
    ],
)  # fmt: skip
def test_family_rules_only_the_decoder_checks(label: str, obj: Any, field: str) -> None:
    """The same limits of JSON Schema as for contact events (docs/event-contract.md)."""
    decoded = decode_object(obj, NOW_MS)
    assert isinstance(decoded, Rejection) and decoded.field == field
    assert _schema_errors(FAMILY_SCHEMAS[_family(obj)], obj) == []


def _agent_and_survey_report(tmp_path: Path) -> Any:
    lines = (DATA / "examples" / "agents-shift.jsonl").read_text(encoding="utf-8").splitlines()
    lines += [
        json.dumps(fev("survey.response", event_id="v1", ts="2026-03-10T09:30:00Z",
                       tenant="demo", queue="sales", agent_id="ana")),
        json.dumps(fev("survey.response", event_id="v2", ts="2026-03-10T09:31:00Z",
                       tenant="demo", survey="nps", score=6, channel="chat")),
        json.dumps(fev("survey.response", event_id="v3", ts="2026-03-10T09:32:00Z",
                       tenant="demo", survey="ces", score=2.5)),
    ]  # fmt: skip
    lines += [
        json.dumps(fev("ticket.created", event_id="t1", ts="2026-03-10T09:05:00Z", tenant="demo")),
        json.dumps(fev("ticket.replied", event_id="t2", ts="2026-03-10T09:25:00Z", tenant="demo")),
    ]
    events = tmp_path / "agents-and-surveys.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report, _ = run_report(events, "--at", "2026-03-10T09:55:00Z")
    return report


def test_report_with_agents_and_surveys_matches_schema(tmp_path: Path) -> None:
    report = _agent_and_survey_report(tmp_path)
    assert [s["tenant"] for s in report["agents"]] == ["demo"]
    assert [s["tenant"] for s in report["surveys"]] == ["demo"]
    assert _schema_errors(REPORT, report) == []
    published = set(schema("report.v1.json")["$defs"]["agent_figures"]["properties"])
    assert set(report["agents"][0]["all"]["today"]) == published
    published = set(schema("report.v1.json")["$defs"]["survey_figures"]["properties"])
    assert set(report["surveys"][0]["today"]["all"]) == published
    assert [s["tenant"] for s in report.get("tickets", [{"tenant": "demo"}])] == ["demo"]
    # A tickets array is described loosely: the tenant fields and the pipeline counts.
    loose = {
        "tenant": "demo",
        "as_of": report["agents"][0]["as_of"],
        "as_of_ms": 1,
        "pipeline": {"too_late": 0, "duplicates": 0},
        "anything": {"else": [1]},
    }
    assert _schema_errors(REPORT, {**report, "tickets": [loose]}) == []
    assert _schema_errors(REPORT, {**report, "tickets": [{"tenant": "demo"}]}) != []


def test_report_schema_refuses_agent_and_survey_drift(tmp_path: Path) -> None:
    report = _agent_and_survey_report(tmp_path)
    for path, bad in (
        (("agents", 0, "all", "today", "handled"), -1),
        (("agents", 0, "all", "today", "occupancy"), "0.5"),
        (("agents", 0, "agents", "bob", "live", "state"), "offline"),
        (("agents", 0, "queues", "sales", "live", "by_state"), {"busy": 1}),
        (("surveys", 0, "today", "all", "csat"), 1.2),
        (("surveys", 0, "today", "all", "nps"), -101),
        (("surveys", 0, "today", "by_channel"), {"fax": report["surveys"][0]["today"]["all"]}),
    ):
        broken = json.loads(json.dumps(report))
        target = broken
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = bad
        assert _schema_errors(REPORT, broken) != [], path
    broken = json.loads(json.dumps(report))
    del broken["agents"][0]["all"]["today"]["utilisation"]
    assert _schema_errors(REPORT, broken) != []
