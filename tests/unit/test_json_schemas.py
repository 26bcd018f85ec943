"""The published JSON Schemas agree with the decoder and with `ccpulse report --format json`.

Expected figures of the sample file are worked out by hand from tests/data/sample-events.jsonl
and tests/data/sample-config.toml; each assertion names the contacts that make it up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from ccpulse.schemas import (
    BLOCK_REASONS,
    CHANNELS,
    DEQUEUE_REASONS,
    ContactEvent,
    Rejection,
    decode_message,
    decode_object,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
DATA = ROOT / "tests" / "data"
#: 2030-03-17: after every example instant, so the decoder's "future" rule never fires by accident.
NOW_MS = 1_900_000_000_000
FORMATS = Draft202012Validator.FORMAT_CHECKER


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


def _validator(name: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s))
        for s in (_schema("contact-event.v1.json"), _schema("contact-batch.v1.json"))
    )
    return Draft202012Validator(_schema(name), registry=registry, format_checker=FORMATS)


EVENT = _validator("contact-event.v1.json")
BATCH = _validator("contact-batch.v1.json")
REPORT = _validator("report.v1.json")

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
    ("answered without agent", ev("contact.answered", agent_id=_DROP), "agent_id"),
    ("answered agent null", ev("contact.answered", agent_id=None), "agent_id"),
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
    ("completed without agent", ev("contact.completed", agent_id=_DROP), "agent_id"),
    ("completed negative hold", ev("contact.completed", hold_seconds=-1), "hold_seconds"),
    ("completed wrap over a week", ev("contact.completed", wrap_seconds=1e6), "wrap_seconds"),
    ("completed resolved as text", ev("contact.completed", resolved="yes"), "resolved"),
    ("completed resolved as 1", ev("contact.completed", resolved=1), "resolved"),
]


def _schema_errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(instance)]


def test_schemas_are_valid_draft_2020_12() -> None:
    for name in ("contact-event.v1.json", "contact-batch.v1.json", "report.v1.json"):
        Draft202012Validator.check_schema(_schema(name))


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

    mixed = [good[0], ev("contact.answered", agent_id=_DROP), good[1]]
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


def _ccpulse() -> list[str]:
    script = Path(sys.executable).with_name("ccpulse")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ccpulse.cli"]


def run_report(events: Path, *args: str, **settings: str) -> tuple[Any, str]:
    """`ccpulse report EVENTS --format json ARGS`: the parsed report and the stderr text.

    `settings` become `CCPULSE_*` variables; any the caller's environment has are dropped.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCPULSE_")}
    env.update({f"CCPULSE_{name.upper()}": value for name, value in settings.items()})
    done = subprocess.run(
        [*_ccpulse(), "report", str(events), "--format", "json", *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    return json.loads(done.stdout), done.stderr


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
    published = set(_schema("report.v1.json")["$defs"]["figures"]["properties"])
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
        "required non-empty string missing"
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
