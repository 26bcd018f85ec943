"""The range report (`ccpulse report --queue-log PATH --from T1 --to T2 --interval 60
--attribution arrival [--by day|weekday] [--format json|csv]`) of
tests/data/queue_log/full-day.queue_log, against figures worked out by hand from its lines.

The log: Tuesday 2025-03-04, UTC (M = 1 741 046 400 is 00:00:00 that day), from Monday 23:00 to
Wednesday 10:20; two queues (sales, support) and four agents. Line by line (l.N is line N):

  l.1  Mon 23:00 QUEUESTART (skipped).
  SIP/night: l.2 AGENTLOGIN Mon 23:30 (no queue); l.3-5 call n1 in support: enters 00:10:00,
       CONNECT 00:10:30 (wait 30), COMPLETECALLER 00:15:30 (talk 300); l.6 AGENTLOGOFF 01:30.
  PJSIP/alice: l.7/8 ADDMEMBER sales, support 08:00; call s1 (sales) enters 08:59:50 (l.9),
       CONNECT 09:00:10 (wait 20), COMPLETEAGENT 09:04:10 (talk 240), WRAPUPSTART 30 (l.12):
       wrap-up 09:04:10-09:04:40; RINGNOANSWER on s3 10:15:15 (l.15); lunch 12:00-12:45
       (PAUSEALL + one PAUSE per queue, then UNPAUSEALL + UNPAUSEs, l.21-26); call s2 (support)
       enters 14:00:00, CONNECT 14:00:05 (wait 5), BLINDTRANSFER 14:02:05 (talk 120, l.29-31);
       REMOVEMEMBER of both queues 17:00 (l.40/41): logged out; the UNPAUSEALL after it (l.42)
       changes nothing.
  Agent/1003: AGENTCALLBACKLOGIN 09:30 (l.13, no queue); call s3 (sales) enters 10:15:00,
       CONNECT 10:15:40 (wait 40), ATTENDEDTRANSFER BRIDGE 10:20:40 (talk 300, l.14-17);
       PAUSEALL Break 15:00-15:10 (l.32/35); AGENTCALLBACKLOGOFF 16:00 (l.36: logintime 23400 s
       = 09:30-16:00); the UNPAUSEALL and PAUSEALL after the logoff (l.37/38) change nothing.
  Calls without an agent: s4 (support) enters 11:00:00, CONNECT NONE 11:00:12 (wait 12),
       COMPLETECALLER NONE 11:02:12 (talk 120, l.18-20); s5 (sales) enters 13:30:00, ABANDON
       13:30:45 (wait 45); s6 (support) enters 15:00:00, EXITWITHTIMEOUT 15:05:00; s8 (sales)
       enters 16:59:59.999999 (l.39: hour 16, the fraction is cut), ABANDON 17:00:09 (wait 10).
  SIP/late: AGENTLOGIN 22:00 (l.44), never logged out.
  Wednesday: call w3 (sales) enters 10:15:00, SIP/late CONNECT 10:15:40 (wait 40),
       COMPLETECALLER 10:20:40 (talk 300, l.45-47).

Attribution by arrival: a call's answer, abandon, exit and completion count in the hour it
entered the queue, and so does the agent's `handled` (s1 entered 08:59:50: hour 08 for sales and
for alice, although she talked from 09:00:10). Agent time counts where it was spent.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from ccpulse.cli import main
from ccpulse.opening_hours import parse_opening_hours
from ccpulse.report_csv import csv_rows
from ccpulse.report_range import RangeSpec, build_range_report_of_events
from ccpulse.schemas.events import AgentEvent
from ccpulse.sources.queue_log import queue_log_decoded
from ccpulse.streams.kpi import Attribution, PolicyBook, QueuePolicy

ROOT = Path(__file__).parent.parent.parent
LOG = ROOT / "tests" / "data" / "queue_log" / "full-day.queue_log"
M = 1_741_046_400_000  # 2025-03-04T00:00:00Z, ms
DAY = 86_400_000
BOOK = PolicyBook(default=QueuePolicy(interval_minutes=60, attribution=Attribution.ARRIVAL))


def range_report(from_ms: int, to_ms: int, by: str = "interval", **kw: Any) -> dict[str, Any]:
    events, stats = queue_log_decoded(LOG)
    assert stats.dead_letters == [] and stats.skipped == {"QUEUESTART": 1}
    return build_range_report_of_events(events, kw.pop("book", BOOK),
                                        RangeSpec(from_ms, to_ms, by, **kw.pop("spec", {})),
                                        **kw)  # fmt: skip


@pytest.fixture(scope="module")
def day() -> dict[str, Any]:
    return range_report(M, M + DAY)


def hourly(table: dict[str, Any], *names: str) -> dict[int, tuple[Any, ...]]:
    """The hours (0-23) of a table whose figures are not all zero, as tuples of `names`."""
    out = {}
    for row in table["rows"]:
        figs = tuple(row["figures"][n] for n in names)
        if any(figs):
            out[int(row["start"][11:13])] = figs
    return out


def queue(report: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [q for q in report["queues"] if q["queue"] == name]
    return found


QUEUE_FIELDS = ("offered", "answered", "answered_within_threshold", "abandoned", "dequeued",
                "completed")  # fmt: skip
AGENT_FIELDS = ("logged_in_seconds", "available_seconds", "on_contact_seconds", "wrap_up_seconds",
                "paused_seconds", "handled", "ring_no_answer")  # fmt: skip

# -- queues, by hand ---------------------------------------------------------------------------
# (offered, answered, answered within 20 s, abandoned, dequeued, completed) per hour with data.
SALES = {
    8: (1, 1, 1, 0, 0, 1),  # s1: entered 08:59:50, waited 20 s (within 20 s), talked 240 s
    10: (1, 1, 0, 0, 0, 1),  # s3: waited 40 s, talked 300 s
    13: (1, 0, 0, 1, 0, 0),  # s5: abandoned after 45 s
    16: (1, 0, 0, 1, 0, 0),  # s8: entered 16:59:59.999, abandoned after 10 s
}
SUPPORT = {
    0: (1, 1, 0, 0, 0, 1),  # n1: waited 30 s, talked 300 s
    11: (1, 1, 1, 0, 0, 1),  # s4 (agent NONE): waited 12 s, talked 120 s
    14: (1, 1, 1, 0, 0, 1),  # s2: waited 5 s, talked 120 s (blind transfer)
    15: (1, 0, 0, 0, 1, 0),  # s6: timed out after 300 s
}


def test_hourly_queue_table_for_a_day(day: dict[str, Any]) -> None:
    assert [q["queue"] for q in day["queues"]] == ["sales", "support"]
    for name, want in (("sales", SALES), ("support", SUPPORT)):
        q = queue(day, name)
        assert list(q["channels"]) == ["all", "voice"]
        table = q["channels"]["all"]
        assert len(table["rows"]) == 24  # every hour of the day, empty ones too
        assert [r["start"] for r in table["rows"][:2]] == ["2025-03-04T00:00:00+00:00",
                                                           "2025-03-04T01:00:00+00:00"]  # fmt: skip
        assert hourly(table, *QUEUE_FIELDS) == want
        assert q["channels"]["voice"] == table  # one channel: the same figures


def test_queue_totals_are_recomputed_from_summed_counts(day: dict[str, Any]) -> None:
    sales = queue(day, "sales")["channels"]["all"]["total"]["figures"]
    # offered 4, answered 2 (20 + 40 s: ASA 30), abandoned 2, completed 2 (240 + 300: AHT 270).
    assert tuple(sales[n] for n in QUEUE_FIELDS) == (4, 2, 1, 2, 0, 2)
    assert (sales["asa_seconds"], sales["aht_seconds"]) == (30, 270)
    support = queue(day, "support")["channels"]["all"]["total"]["figures"]
    # answered 3 (30 + 12 + 5 = 47 s: ASA 47/3), completed 3 (300 + 120 + 120: AHT 180).
    assert tuple(support[n] for n in QUEUE_FIELDS) == (4, 3, 2, 0, 1, 3)
    assert support["asa_seconds"] == pytest.approx(47 / 3)
    assert support["aht_seconds"] == 180


# -- agents, by hand ---------------------------------------------------------------------------
# (logged in, available, on contact, wrap-up, paused, handled, RNA) per hour with data.
AGENTS = {
    "SIP/night": {
        0: (3600, 3300, 300, 0, 0, 1, 0),  # n1 00:10:30-00:15:30
        1: (1800, 1800, 0, 0, 0, 0, 0),  # logged off 01:30
    },
    "PJSIP/alice": {
        8: (3600, 3600, 0, 0, 0, 1, 0),  # s1 handled by arrival (entered 08:59:50)
        9: (3600, 3330, 240, 30, 0, 0, 0),  # talk 09:00:10-09:04:10, wrap-up 30 s
        10: (3600, 3600, 0, 0, 0, 0, 1),  # s3 rang her and was not answered
        11: (3600, 3600, 0, 0, 0, 0, 0),
        12: (3600, 900, 0, 0, 2700, 0, 0),  # lunch 12:00-12:45
        13: (3600, 3600, 0, 0, 0, 0, 0),
        14: (3600, 3480, 120, 0, 0, 1, 0),  # s2 14:00:05-14:02:05
        15: (3600, 3600, 0, 0, 0, 0, 0),
        16: (3600, 3600, 0, 0, 0, 0, 0),  # logged out at 17:00, and stays so
    },
    "Agent/1003": {
        9: (1800, 1800, 0, 0, 0, 0, 0),  # from 09:30
        10: (3600, 3300, 300, 0, 0, 1, 0),  # s3 10:15:40-10:20:40
        11: (3600, 3600, 0, 0, 0, 0, 0),
        12: (3600, 3600, 0, 0, 0, 0, 0),
        13: (3600, 3600, 0, 0, 0, 0, 0),
        14: (3600, 3600, 0, 0, 0, 0, 0),
        15: (3600, 3000, 0, 0, 600, 0, 0),  # break 15:00-15:10; logged off 16:00, stays so
    },
    "SIP/late": {22: (3600, 3600, 0, 0, 0, 0, 0), 23: (3600, 3600, 0, 0, 0, 0, 0)},
}


def test_hourly_agent_tables_for_a_day(day: dict[str, Any]) -> None:
    (agents,) = day["agents"]
    assert sorted(agents["agents"]) == sorted(AGENTS)
    for name, want in AGENTS.items():
        assert hourly(agents["agents"][name], *AGENT_FIELDS) == want, name
    # Agent/1003's logged-in time is the logintime its AGENTCALLBACKLOGOFF line logs, 23400 s.
    total = agents["agents"]["Agent/1003"]["total"]["figures"]
    assert total["logged_in_seconds"] == 23400
    assert total["paused_seconds_by_reason"] == {"Break": 600}


def test_all_agents_rows_are_the_sum_of_the_agents(day: dict[str, Any]) -> None:
    (agents,) = day["agents"]
    want: dict[int, list[int]] = {}
    for rows in AGENTS.values():
        for hour, figs in rows.items():
            want[hour] = [a + b for a, b in zip(want.get(hour, [0] * 7), figs, strict=True)]
    assert hourly(agents["all"], *AGENT_FIELDS) == {h: tuple(v) for h, v in want.items()}
    total = agents["all"]["total"]["figures"]
    # 5400 (night) + 32400 (alice, 08-17) + 23400 (Agent/1003) + 7200 (late) = 68400 s logged in;
    # busy 300 + 240 + 30 + 120 + 300 = 990 s; paused 2700 + 600 = 3300 s.
    assert total["logged_in_seconds"] == 68400
    assert total["occupancy"] == pytest.approx(990 / (68400 - 3300))
    assert total["handled"] == 4



def test_a_repeated_agent_event_counts_in_the_input_and_nowhere_else(day: dict[str, Any]) -> None:
    events, _ = queue_log_decoded(LOG)
    i = next(i for i, e in enumerate(events) if isinstance(e, AgentEvent))
    spec = RangeSpec(M, M + DAY, "interval")
    twice = build_range_report_of_events([*events[: i + 1], events[i], *events[i + 1 :]], BOOK,
                                         spec)  # fmt: skip
    assert twice["input"]["duplicates"] == day["input"]["duplicates"] + 1
    assert twice["agents"] == day["agents"] and twice["queues"] == day["queues"]

def test_days_and_weekdays_of_a_week() -> None:
    week = range_report(M - DAY, M + 6 * DAY, by="weekday")  # Monday 03-03 to Monday 03-10
    sales = queue(week, "sales")["channels"]["all"]
    rows = {r["weekday"]: (r["days"], r["figures"]["offered"]) for r in sales["rows"]}
    assert rows == {"Monday": (1, 0), "Tuesday": (1, 4), "Wednesday": (1, 1), "Thursday": (1, 0),
                    "Friday": (1, 0), "Saturday": (1, 0), "Sunday": (1, 0)}  # fmt: skip
    # The week's ASA is (20 + 40 + 40) / 3 answered, not the mean of Tuesday's 30 and
    # Wednesday's 40; its AHT (240 + 300 + 300) / 3.
    total = sales["total"]["figures"]
    assert total["asa_seconds"] == pytest.approx(100 / 3)
    assert total["aht_seconds"] == 280
    # SIP/late, logged in from Tuesday 22:00 and never logged out: 7200 s on Tuesday, whole days
    # after, the Wednesday call counted as handled on Wednesday.
    (agents,) = week["agents"]
    late = {r["weekday"]: (r["figures"]["logged_in_seconds"], r["figures"]["handled"])
            for r in agents["agents"]["SIP/late"]["rows"]}  # fmt: skip
    assert late == {"Monday": (0, 0), "Tuesday": (7200, 0), "Wednesday": (86400, 1),
                    "Thursday": (86400, 0), "Friday": (86400, 0), "Saturday": (86400, 0),
                    "Sunday": (86400, 0)}  # fmt: skip
    days = range_report(M, M + 2 * DAY, by="day")
    support = queue(days, "support")["channels"]["all"]["rows"]
    assert [(r["date"], r["figures"]["offered"]) for r in support] == [
        ("2025-03-04", 4), ("2025-03-05", 0)]  # fmt: skip


def test_opening_hours_leave_out_closed_intervals() -> None:
    hours = parse_opening_hours({"default/support": {"weekdays": "08:00-18:00"}})
    report = range_report(M, M + DAY, spec={"open_hours_only": True}, opening_hours=hours)
    support = queue(report, "support")
    assert support["opening_hours"] is True
    table = support["channels"]["all"]
    assert [r["start"][11:13] for r in table["rows"]] == [f"{h:02d}" for h in range(8, 18)]
    assert table["total"]["figures"]["offered"] == 3  # n1 at 00:10 is outside
    assert len(queue(report, "sales")["channels"]["all"]["rows"]) == 24  # no hours: all day


def test_json_output_matches_the_schema(day: dict[str, Any]) -> None:
    schemas = {name: json.loads((ROOT / "schemas" / name).read_text())
               for name in ("report-range.v1.json", "report.v1.json")}  # fmt: skip
    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    schema = schemas["report-range.v1.json"]
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, registry=registry)
    for by, span in (("interval", 1), ("day", 7), ("weekday", 7)):
        report = day if by == "interval" else range_report(M, M + span * DAY, by=by)
        assert list(validator.iter_errors(json.loads(json.dumps(report)))) == [], by
    assert list(validator.iter_errors({**day, "by": "month"})) != []


def test_csv_has_a_header_and_iso_starts_in_the_queue_time_zone() -> None:
    paris = PolicyBook(default=QueuePolicy(interval_minutes=60, attribution=Attribution.ARRIVAL,
                                           time_zone="Europe/Paris"))  # fmt: skip
    report = range_report(M - 3_600_000, M + DAY - 3_600_000, book=paris)  # Paris' Tuesday
    header, rows = csv_rows(report, "queues")
    assert header[:7] == ["tenant", "queue", "channel", "period", "days", "start", "end"]
    first = rows[0]
    assert (first["queue"], first["channel"], first["start"]) == (
        "sales", "all", "2025-03-04T00:00:00+01:00")  # fmt: skip
    # s1 entered 09:59:50 Paris time.
    s1 = next(r for r in rows if r["channel"] == "all" and r["start"].startswith("2025-03-04T09"))
    assert (s1["offered"], s1["answered"]) == (1, 1)
    assert rows[24]["period"] == "total" and rows[24]["offered"] == 4
    _, agent_rows = csv_rows(report, "agents")
    assert agent_rows[0]["scope"] == "all"
    assert any("paused_seconds_by_reason.Lunch" in r for r in agent_rows)


def test_the_command_prints_table_json_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["report", "--queue-log", str(LOG), "--from", "2025-03-04", "--to", "2025-03-05",
            "--interval", "60", "--attribution", "arrival"]  # fmt: skip
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "== default/sales  by interval" in table and "agent PJSIP/alice" in table
    assert main([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["queues"][0]["queue"] == "sales"
    assert main([*args, "--format", "csv", "--csv-table", "agents"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["scope"] == "all" and rows[0]["period"] == "2025-03-04T00:00:00+00:00"
    assert main([*args[:-4], "--by", "weekday", "--to", "2025-03-10", "--format", "json"]) == 0
