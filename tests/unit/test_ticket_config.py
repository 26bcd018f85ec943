"""The `[tickets]` section: SLA targets, business hours and backlog buckets from the configuration
file, checked key by key, and used by the ticket figures of the report and the worker."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ccpulse.config import load_settings
from ccpulse.report import build_report
from ccpulse.streams.kpi.business_hours import BusinessSchedule
from ccpulse.streams.kpi.tickets_hours import DEFAULT_TARGETS, SlaTarget

#: Monday 2026-11-30, 09:00 UTC.
MONDAY_9 = 1_764_493_200_000


def settings_of(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_settings(path, env={})


def test_targets_business_hours_and_buckets_come_from_the_file(tmp_path: Path) -> None:
    tickets = settings_of(tmp_path, """
[tickets]
at_risk_seconds = 1800
backlog_bounds_seconds = [3600, 86400]

[tickets.targets.urgent]
first_response_seconds = 1800

[tickets.business_hours]
weekdays = "08:00-18:00"
closed_dates = ["2026-12-25"]

[tickets.tenants.globex]
business_hours = "always"

[tickets.tenants.initech.business_hours]
daily = "00:00-12:00"
time_zone = "Asia/Tokyo"
""").policies.tickets
    assert tickets is not None
    urgent = SlaTarget(1800, DEFAULT_TARGETS["urgent"].resolution_seconds)
    assert tickets.targets["urgent"] == urgent
    assert tickets.targets["low"] == DEFAULT_TARGETS["low"]  # priorities not listed keep theirs
    assert tickets.at_risk_seconds == 1800
    assert tickets.backlog_labels() == ("under_1h", "1h_to_1d", "over_1d")
    assert tickets.schedule_for("acme") == BusinessSchedule(
        tuple((day, "08:00", "18:00") for day in range(5)), None, ("2026-12-25",)
    )
    assert tickets.schedule_for("globex") is None  # elapsed time, around the clock
    initech = tickets.schedule_for("initech")
    assert initech is not None and initech.time_zone == "Asia/Tokyo"


def test_without_a_tickets_section_the_defaults_apply(tmp_path: Path) -> None:
    assert settings_of(tmp_path, "").policies.tickets is None


@pytest.mark.parametrize(("text", "message"), [
    ("[tickets]\nsla = 1\n", "unknown [tickets] setting(s): sla"),
    ("[tickets.targets.critical]\nfirst_response_seconds = 60\n",
     "[tickets.targets.critical]: priority must be one of low, normal, high, urgent"),
    ("[tickets.targets.high]\nfirst_reply_seconds = 60\n",
     "unknown [tickets.targets.high] setting(s): first_reply_seconds"),
    ("[tickets.targets.high]\nresolution_seconds = 0\n",
     "[tickets.targets.high] resolution_seconds must be a whole number of seconds > 0, got 0"),
    ("[tickets]\nbacklog_bounds_seconds = [7200, 3600]\n",
     "[tickets] backlog_bounds_seconds must be positive and increasing"),
    ("[tickets]\nat_risk_seconds = -1\n",
     "[tickets] at_risk_seconds must be a whole number >= 0: -1"),
    ("[tickets.business_hours]\nweekdays = \"9-5\"\n",
     "[tickets.business_hours]: not a wall time HH:MM between 00:00 and 24:00: '5'"),
    ("[tickets.tenants.acme]\nbusiness_hours = \"weekdays\"\n",
     "[tickets.tenants.acme] business_hours must be a table of opening windows or 'always'"),
    ("[tickets.tenants.acme]\nhours = 1\n", "unknown [tickets.tenants.acme] setting(s): hours"),
])  # fmt: skip
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        settings_of(tmp_path, text)
    assert str(caught.value) == message


def _urgent_ticket_answered_after(minutes: int) -> list[bytes]:
    base = {"tenant": "acme", "ticket_id": "T1"}
    return [orjson.dumps(e) for e in (
        {**base, "event_id": "e1", "type": "ticket.created", "ts": MONDAY_9, "channel": "email",
         "priority": "urgent", "group": "desk"},
        {**base, "event_id": "e2", "type": "ticket.replied", "ts": MONDAY_9 + minutes * 60_000,
         "agent_id": "a1", "public": True},
    )]  # fmt: skip


@pytest.mark.parametrize(("target_seconds", "breaches"), [(3600, 0), (1800, 1)])
def test_the_report_measures_first_responses_against_the_configured_target(
    tmp_path: Path, target_seconds: int, breaches: int
) -> None:
    book = settings_of(tmp_path, f"""
[tickets.targets.urgent]
first_response_seconds = {target_seconds}
""").policies
    report = build_report(_urgent_ticket_answered_after(45), book, MONDAY_9 + 3_600_000)
    (acme,) = report["tickets"]
    assert acme["today"]["figures"]["frt_breaches"] == breaches
