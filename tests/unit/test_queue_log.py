"""Asterisk queue_log adapter: parsing, the mapping of every event, the quirks, event ids, the
per-queue hourly figures of the sample log (worked out by hand below), and the file follower.

Epochs are worked out by hand in tests/helpers/queue_log.py: T0 = 1 741 078 800 is
2025-03-04T09:00:00Z, and `ql` writes a line stamped at a time of that day.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ccpulse.report import build_report
from ccpulse.schemas import AgentEvent, ContactEvent, decode_object
from ccpulse.sources.produce import EventProducer, group_by_queue, queue_key
from ccpulse.sources.queue_log import (
    BLOCK_EVENTS,
    END_EVENTS,
    EXIT_EVENTS,
    NOT_MAPPED,
    QueueLogMapper,
    json_lines,
    queue_log_events,
    send_events,
)
from ccpulse.sources.queue_log_parse import (
    DeadLetter,
    LineParser,
    QueueLogLine,
    parse_lines,
    parse_pipe_line,
)
from ccpulse.sources.tail import QueueLogTailer
from ccpulse.streams.kpi import Attribution, PolicyBook, QueuePolicy
from tests.helpers.queue_log import DATA, SAMPLE, at, ms, ql


def mapped(*lines: str, **kw: Any) -> list[dict[str, Any]]:
    events, stats = queue_log_events(list(lines), **kw)
    assert stats.dead_letters == [], stats.errors()
    return events


def only(events: list[dict[str, Any]], etype: str) -> dict[str, Any]:
    found = [e for e in events if e["type"] == etype]
    assert len(found) == 1, found
    return found[0]


def report(events: list[dict[str, Any]], book: PolicyBook) -> dict[str, Any]:
    """The offline report of the contact events (agent events feed the agent engine, whose
    figures are checked where it is wired in)."""
    return build_report(json_lines(e for e in events if e["type"].startswith("contact.")), book)


def strip_id(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "event_id"}


# -- parsing --------------------------------------------------------------------------------------


def test_pipe_line_fields() -> None:
    line = parse_pipe_line("1741078835|1741078805.10|sales|PJSIP/alice|CONNECT|30|17.11|15", 7)
    assert line == QueueLogLine(7, "1741078835|1741078805.10|sales|PJSIP/alice|CONNECT|30|17.11|15",
                                1_741_078_835_000, "1741078805.10", "sales", "PJSIP/alice",
                                "CONNECT", ("30", "17.11", "15"))  # fmt: skip
    assert line.d(1) == "30" and line.d(3) == "15" and line.d(4) == "" and line.d(0) == ""


def test_data_is_everything_after_the_event_split_on_pipes() -> None:
    # The old single `data` field and data1..data5 are the same bytes in a file.
    line = parse_pipe_line("1741078805|c1|q|NONE|ENTERQUEUE||+15551230001|1|Jane Roe\r\n", 1)
    assert isinstance(line, QueueLogLine)
    assert line.data == ("", "+15551230001", "1", "Jane Roe")


def test_five_fields_and_trailing_empty_data() -> None:
    a = parse_pipe_line("1741078805|MANAGER|sales|SIP/1|ADDMEMBER", 1)
    b = parse_pipe_line("1741078805|MANAGER|sales|SIP/1|ADDMEMBER|", 1)
    c = parse_pipe_line("1741078805|MANAGER|sales|SIP/1|ADDMEMBER|||", 1)
    assert isinstance(a, QueueLogLine) and a.data == ()
    assert isinstance(b, QueueLogLine) and b.data == ()
    assert isinstance(c, QueueLogLine) and c.data == ()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not a queue_log line", "expected at least 5"),
        ("1741078805|c1|sales|NONE", "got 4"),
        ("yesterday|c1|sales|NONE|ENTERQUEUE|", "not epoch seconds"),
        ("946684799|c1|sales|NONE|ENTERQUEUE|", "before 2000"),
        ("1741078805|c1|sales|NONE||x", "empty event"),
    ],
)
def test_malformed_lines_are_dead_letters_with_their_line_number(raw: str, reason: str) -> None:
    events, stats = queue_log_events(["", raw, ql("09:00:00", "c", "q", "NONE", "ENTERQUEUE")])
    assert [e["type"] for e in events] == ["contact.offered"]
    assert len(stats.dead_letters) == 1
    dead = stats.dead_letters[0]
    assert dead.line_no == 2 and reason in dead.reason and dead.raw == raw
    assert dead.describe().startswith("line 2: ")


def test_garbage_never_raises() -> None:
    rng = random.Random(7)
    alphabet = '|0123456789.,;"\t NONE sales ENTERQUEUE CONNECT\x00\x1b\udcff'
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
             for _ in range(2000)]  # fmt: skip
    lines += [ql("09:00:00", "c", "q", "A", ev, *["x"] * 5) for ev in ("CONNECT", "PAUSE")]
    events, stats = queue_log_events(lines)
    assert stats.lines == sum(1 for x in lines if x.strip())
    assert all(not isinstance(decode_object(e), Exception) for e in events)


def test_csv_header_with_data1_to_data5_and_local_times() -> None:
    parser = LineParser("Europe/Paris")
    assert (
        parser.parse("time,callid,queuename,agent,event,data1,data2,data3,data4,data5", 1) is None
    )
    row = parser.parse("2025-03-04 10:00:35.250000,c1,sales,SIP/1,CONNECT,30,c1.2,15,,", 2)
    assert isinstance(row, QueueLogLine)
    # Paris is UTC+1 in March before the DST change: 10:00:35.25 local is 09:00:35.25Z.
    assert row.ts_ms == ms("09:00:35") + 250
    assert (row.callid, row.queue, row.agent, row.event) == ("c1", "sales", "SIP/1", "CONNECT")
    assert row.data == ("30", "c1.2", "15")


def test_csv_local_times_in_the_hour_repeated_when_clocks_go_back_follow_the_file() -> None:
    """Paris, 2025-10-26: 02:00-03:00 occurs twice (summer time, then winter time). The file
    is in time order, give or take a few minutes: a row's local time is its first occurrence
    unless that lies more than 5 minutes before the row above."""
    parser = LineParser("Europe/Paris")
    parser.parse("time,callid,queuename,agent,event,data1,data2,data3,data4,data5", 1)
    times = ["01:59:00", "02:10:00", "02:50:00", "02:47:00", "02:05:00", "02:40:00", "03:00:00"]
    rows = [
        parser.parse(f"2025-10-26 {t},c1,sales,NONE,ENTERQUEUE,,1000,1,,", n)
        for n, t in enumerate(times, start=2)
    ]
    assert all(isinstance(r, QueueLogLine) for r in rows)
    stamps = [_utc_hm(r.ts_ms) for r in rows if isinstance(r, QueueLogLine)]
    # 01:59 to 02:47 summer time (UTC+2, 02:47 a little out of order); then winter time (UTC+1)
    assert stamps == ["23:59", "00:10", "00:50", "00:47", "01:05", "01:40", "02:00"]
    first = LineParser("Europe/Paris")  # no row before: the first occurrence
    first.parse("time,callid,queuename,agent,event,data1,data2,data3,data4,data5", 1)
    row = first.parse("2025-10-26 02:05:00,c1,sales,NONE,ENTERQUEUE,,1000,1,,", 2)
    assert isinstance(row, QueueLogLine)
    assert _utc_hm(row.ts_ms) == "00:05"


def _utc_hm(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%H:%M")


def test_csv_single_data_column_epoch_and_offsets() -> None:
    lines = [
        "time;callid;queuename;agent;event;data",
        f"{at('09:00:05')};c1;sales;NONE;ENTERQUEUE;|+15551230001|1",
        "2025-03-04 09:00:40+00;c1;sales;NONE;ABANDON;1|1|35",
        "2025-03-04T10:00:41+01:00;c1;sales;NONE;ABANDON;1|1|36",
    ]
    rows = list(parse_lines(lines))
    assert all(isinstance(r, QueueLogLine) for r in rows)
    assert [r.ts_ms for r in rows] == [ms("09:00:05"), ms("09:00:40"), ms("09:00:41")]  # type: ignore[union-attr]
    assert rows[0].data == ("", "+15551230001", "1")  # type: ignore[union-attr]
    assert rows[2].line_no == 4


def test_csv_aliases_nulls_repeated_header_and_bad_rows() -> None:
    header = (
        '"id","time_id","call_id","queue","agent","verb","data1","data2","data3","data4","data5"'
    )
    lines = [
        header,
        f"1,{at('09:00:00')},c1,sales,NONE,ABANDON,1,1,20,NULL,\\N",
        header,
        f"2,{at('09:00:00')},c1,sales,NONE,ABANDON,1,1,20,,,extra",
        '3,"unterminated,c1',
        "4,soon,c1,sales,NONE,ABANDON,1,1,20,,",
    ]
    rows = list(parse_lines(lines))
    assert isinstance(rows[0], QueueLogLine) and rows[0].data == ("1", "1", "20")
    assert [type(r) for r in rows[1:]] == [DeadLetter, DeadLetter, DeadLetter]
    assert [r.line_no for r in rows] == [2, 4, 5, 6]
    assert "11" in rows[1].reason  # type: ignore[union-attr]
    assert "date-time" in rows[3].reason  # type: ignore[union-attr]


# -- mapping: one test per event ----------------------------------------------------------------


def test_enterqueue_is_offered_and_the_caller_id_goes_nowhere() -> None:
    events = mapped(ql("09:00:05", "1741078805.10", "sales", "NONE", "ENTERQUEUE", "",
                       "+15551230001", "1", "Jane Roe"))  # fmt: skip
    assert [strip_id(e) for e in events] == [
        {"type": "contact.offered", "ts": ms("09:00:05"), "tenant": "default", "queue": "sales",
         "channel": "voice", "contact_id": "1741078805.10"},
    ]  # fmt: skip
    text = orjson.dumps(events).decode()
    assert "5551230001" not in text and "Jane" not in text


def test_connect_is_answered_with_the_logged_wait_and_puts_the_agent_on_contact() -> None:
    events = mapped(ql("09:00:35", "c1", "sales", "PJSIP/alice", "CONNECT", "30", "c1.11", "15"))
    answered = only(events, "contact.answered")
    assert (answered["agent_id"], answered["wait_seconds"]) == ("PJSIP/alice", 30)
    assert answered["contact_id"] == "c1" and answered["ts"] == ms("09:00:35")
    state = only(events, "agent.state")
    assert strip_id(state) == {
        "type": "agent.state", "ts": ms("09:00:35"), "tenant": "default",
        "agent_id": "PJSIP/alice", "queue": "sales", "state": "on_contact",
        "wait_seconds": 30,  # the contact's entry, for attribution by arrival
    }  # fmt: skip


def test_abandon_wait_is_data3() -> None:
    (e,) = mapped(ql("09:10:45", "c2", "sales", "NONE", "ABANDON", "2", "3", "45"))
    assert (e["type"], e["wait_seconds"], e["contact_id"]) == ("contact.abandoned", 45, "c2")


@pytest.mark.parametrize(
    ("event", "data", "reason", "wait"),
    [
        ("EXITWITHTIMEOUT", ("1", "2", "300"), "timeout", 300),
        ("EXITWITHKEY", ("5", "1", "2", "30"), "key", 30),
        ("EXITEMPTY", ("1", "2", "60"), "empty", 60),
        ("LEAVEEMPTY", (), "empty", None),
        ("WITHDRAW", ("1", "1", "42", "moved by supervisor"), "other", 42),
    ],
)
def test_exits_are_dequeued(
    event: str, data: tuple[str, ...], reason: str, wait: int | None
) -> None:
    (e,) = mapped(ql("09:45:00", "c7", "sales", "NONE", event, *data))
    assert (e["type"], e["reason"], e.get("wait_seconds")) == ("contact.dequeued", reason, wait)
    assert ("wait_seconds" in e) == (wait is not None)


@pytest.mark.parametrize(
    ("event", "reason"),
    [("FULL", "full"), ("DIVERT_CA_RATIO", "full"), ("DIVERT_HOLDTIME", "full"),
     ("JOINEMPTY", "no_agents"), ("JOINUNAVAIL", "no_agents"), ("CLOSED", "closed")],
)  # fmt: skip
def test_refused_entries_are_blocked(event: str, reason: str) -> None:
    (e,) = mapped(ql("09:30:00", "c4", "sales", "NONE", event))
    assert strip_id(e) == {"type": "contact.blocked", "ts": ms("09:30:00"), "tenant": "default",
                           "queue": "sales", "channel": "voice", "contact_id": "c4",
                           "reason": reason}  # fmt: skip


@pytest.mark.parametrize(
    ("event", "data", "talk"),
    [
        ("COMPLETEAGENT", ("30", "240", "1"), 240),
        ("COMPLETECALLER", ("10", "300", "1"), 300),
        ("TRANSFER", ("200", "from-internal", "5", "120", "1"), 120),
        ("BLINDTRANSFER", ("2000", "from-internal", "40", "125", "1"), 125),
        ("ATTENDEDTRANSFER", ("BRIDGE", "5c1f0a2e", "12", "180", "1"), 180),
        ("ATTENDEDTRANSFER", ("APP", "Voicemail", "12", "181", "2"), 181),
        ("ATTENDEDTRANSFER", ("LINK", "Local/1@x;1", "Local/1@x;2", "18", "300", "1"), 300),
    ],
)
def test_call_ends_are_completed_with_talk_time_and_no_hold(
    event: str, data: tuple[str, ...], talk: int
) -> None:
    events = mapped(ql("09:04:35", "c1", "sales", "PJSIP/alice", event, *data))
    completed = only(events, "contact.completed")
    # data1 (holdtime) is the wait in queue, not time on hold.
    assert (completed["talk_seconds"], completed["hold_seconds"]) == (talk, 0)
    assert completed["agent_id"] == "PJSIP/alice" and completed["contact_id"] == "c1"
    available = only(events, "agent.state")  # released at the end of the input
    assert (available["state"], available["ts"], available["queue"]) == (
        "available", ms("09:04:35"), "sales")  # fmt: skip


def test_wrapupstart_after_a_completion_replaces_the_available() -> None:
    events = mapped(
        ql("09:04:35", "c1", "sales", "PJSIP/alice", "COMPLETEAGENT", "30", "240", "1"),
        ql("09:04:35", "NONE", "sales", "PJSIP/alice", "WRAPUPSTART"),
    )
    states = [(e["state"], e["ts"]) for e in events if e["type"] == "agent.state"]
    assert states == [("wrap_up", ms("09:04:35"))]


def test_the_available_is_released_by_the_agents_next_line_or_after_the_grace() -> None:
    events = mapped(
        ql("09:04:35", "c1", "sales", "PJSIP/alice", "COMPLETEAGENT", "30", "240", "1"),
        ql("09:04:36", "c9", "sales", "SIP/1001", "COMPLETEAGENT", "1", "2", "1"),
        ql("09:04:38", "c2", "sales", "NONE", "ENTERQUEUE"),  # 3 s < 5 s grace: both held
        ql("09:04:40", "NONE", "sales", "PJSIP/alice", "PAUSE", "Lunch"),  # releases alice
        ql("09:04:41", "c3", "sales", "NONE", "ENTERQUEUE"),  # 5 s after SIP/1001's completion
    )
    order = [(e["type"], e.get("agent_id"), e.get("state")) for e in events]
    assert order == [
        ("contact.completed", "PJSIP/alice", None),
        ("contact.completed", "SIP/1001", None),
        ("contact.offered", None, None),
        ("agent.state", "PJSIP/alice", "available"),
        ("agent.state", "PJSIP/alice", "paused"),
        ("agent.state", "SIP/1001", "available"),
        ("contact.offered", None, None),
    ]
    assert events[3]["ts"] == ms("09:04:35") and events[5]["ts"] == ms("09:04:36")
    assert events[4]["reason"] == "Lunch"


def test_ringnoanswer_ring_time_is_milliseconds() -> None:
    events = mapped(
        ql("09:00:05", "c1", "sales", "NONE", "ENTERQUEUE"),
        ql("09:00:20", "c1", "sales", "SIP/1001", "RINGNOANSWER", "15250"),
    )
    rna = only(events, "agent.ring_no_answer")
    assert strip_id(rna) == {"type": "agent.ring_no_answer", "ts": ms("09:00:20"),
                             "tenant": "default", "agent_id": "SIP/1001", "queue": "sales",
                             "ring_seconds": 15.25, "contact_id": "c1"}  # fmt: skip


def test_ringcanceled_is_skipped_and_counted() -> None:
    events, stats = queue_log_events([
        ql("09:12:08", "c14", "support", "PJSIP/bob", "RINGCANCELED", "8000"),
        ql("09:12:08", "c14", "support", "NONE", "ABANDON", "1", "1", "8"),
    ])  # fmt: skip
    assert [e["type"] for e in events] == ["contact.abandoned"]
    assert stats.skipped == {"RINGCANCELED": 1} and stats.dead_letters == []


def test_member_and_agent_logins_and_logouts() -> None:
    events = mapped(
        ql("08:57:01", "MANAGER", "sales", "PJSIP/alice", "ADDMEMBER", ""),
        ql("08:57:02", "CLI", "sales", "SIP/1001", "ADDMEMBER", "PAUSED"),
        ql("08:57:03", "1741078623.2", "NONE", "Agent/1003", "AGENTLOGIN", "SIP/1003"),
        ql("08:57:04", "NONE", "NONE", "Agent/1004", "AGENTCALLBACKLOGIN", "1004@agents"),
        ql("10:55:00", "MANAGER", "sales", "PJSIP/alice", "REMOVEMEMBER", ""),
        ql("10:58:00", "1741078623.2", "NONE", "Agent/1003", "AGENTLOGOFF", "SIP/1003", "7257"),
        ql("10:59:00", "NONE", "NONE", "Agent/1004", "AGENTCALLBACKLOGOFF", "1004@agents", "3540",
           "CommandLogoff"),
    )  # fmt: skip
    got = [(e["type"], e["agent_id"], e.get("queue"), e.get("state")) for e in events]
    assert got == [
        ("agent.login", "PJSIP/alice", "sales", None),
        ("agent.login", "SIP/1001", "sales", None),
        ("agent.state", "SIP/1001", "sales", "paused"),
        ("agent.login", "Agent/1003", None, None),
        ("agent.login", "Agent/1004", None, None),
        ("agent.logout", "PJSIP/alice", "sales", None),
        ("agent.logout", "Agent/1003", None, None),
        ("agent.logout", "Agent/1004", None, None),
    ]
    assert all("queue" not in e for e in events if e["agent_id"] in ("Agent/1003", "Agent/1004"))


def test_pause_unpause_and_their_all_queue_forms() -> None:
    events = mapped(
        ql("09:26:00", "NONE", "sales", "SIP/1001", "PAUSE", "Lunch"),
        ql("09:27:00", "NONE", "NONE", "SIP/1001", "PAUSE", ""),
        ql("09:58:00", "NONE", "sales", "SIP/1001", "UNPAUSE", "Auto-Unpause"),
        ql("10:40:30", "NONE", "NONE", "Agent/1003", "PAUSEALL", "Break"),
        ql("10:40:30", "NONE", "support", "Agent/1003", "PAUSE", "Break"),
        ql("10:50:00", "NONE", "sales", "Agent/1003", "UNPAUSEALL", ""),
        ql("10:51:00", "NONE", "sales", "SIP/1001", "WRAPUPSTART"),
    )
    got = [(e["agent_id"], e.get("queue"), e["state"], e.get("reason")) for e in events]
    assert got == [
        ("SIP/1001", "sales", "paused", "Lunch"),
        ("SIP/1001", None, "paused", None),
        ("SIP/1001", "sales", "available", None),
        ("Agent/1003", None, "paused", "Break"),
        ("Agent/1003", "support", "paused", "Break"),
        ("Agent/1003", None, "available", None),  # an *ALL line is for all queues, whatever
        ("SIP/1001", "sales", "wrap_up", None),
    ]
    assert all(e["type"] == "agent.state" for e in events)


def test_long_or_unprintable_pause_reasons_are_cut_or_dropped() -> None:
    long_reason, bad_reason = "x" * 80, "bad\x07reason"
    events = mapped(ql("09:26:00", "NONE", "sales", "SIP/1", "PAUSE", long_reason),
                    ql("09:27:00", "NONE", "sales", "SIP/1", "PAUSE", bad_reason))  # fmt: skip
    assert events[0]["reason"] == "x" * 64 and "reason" not in events[1]


def test_housekeeping_is_skipped_and_counted_unknown_events_are_dead_letters() -> None:
    lines = [
        ql("08:57:00", "NONE", "NONE", "NONE", "QUEUESTART", ""),
        ql("08:57:04", "NONE", "NONE", "NONE", "CONFIGRELOAD", ""),
        ql("09:55:00", "NONE", "NONE", "NONE", "INFO", "x"),
        ql("09:55:01", "c1", "sales", "SIP/1", "AGENTDUMP", ""),
        ql("09:55:02", "c1", "sales", "SIP/1", "SYSCOMPAT", ""),
        ql("11:00:00", "c9", "sales", "NONE", "HOLDMUSICSTART", ""),
    ]
    events, stats = queue_log_events(lines)
    assert events == []
    assert stats.skipped == {"QUEUESTART": 1, "CONFIGRELOAD": 1, "INFO": 1, "AGENTDUMP": 1,
                             "SYSCOMPAT": 1}  # fmt: skip
    assert stats.skipped_total == 5 and stats.lines == 6 and stats.events == 0
    (dead,) = stats.dead_letters
    assert (dead.line_no, dead.raw) == (6, lines[5]) and "HOLDMUSICSTART" in dead.reason


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (ql("09:00:35", "c1", "sales", "SIP/1", "CONNECT", "3O", "x", "1"), "not a whole number"),
        (ql("09:00:35", "c1", "sales", "SIP/1", "COMPLETEAGENT", "30"), "has no data2"),
        (ql("09:00:35", "c1", "sales", "SIP/1", "COMPLETEAGENT", "3", "999999"), "7 days"),
        (ql("09:00:35", "c1", "sales/emea", "NONE", "ENTERQUEUE"), "not a valid ccpulse name"),
        (ql("09:00:35", "NONE", "sales", "NONE", "ENTERQUEUE"), "call id"),
        (ql("09:00:35", "c1", "NONE", "NONE", "ABANDON", "1", "1", "3"), "without a queue"),
        (ql("09:00:35", "c1", "sales", "SIP/\x01", "RINGNOANSWER", "1"), "printable"),
    ],
)
def test_lines_that_cannot_be_mapped_are_dead_letters(line: str, reason: str) -> None:
    events, stats = queue_log_events([line])
    assert events == []
    assert len(stats.dead_letters) == 1 and reason in stats.dead_letters[0].reason


def test_events_the_decoder_would_refuse_make_the_line_a_dead_letter() -> None:
    future = "4102444800"  # 2100-01-01: more than 5 minutes ahead of any clock running this
    events, stats = queue_log_events(
        [f"{future}|c1|sales|SIP/1|COMPLETEAGENT|3|200|1"]
    )  # the held-back "available" of the refused line is dropped too
    assert events == []
    assert "refused" in stats.dead_letters[0].reason and "ts" in stats.dead_letters[0].reason


def test_agent_interface_names_are_kept_whole_and_pass_the_decoder() -> None:
    names = ["SIP/1001", "PJSIP/alice", "Local/1001@agents/n", "Agent/1001", "Alice Smith"]
    events = mapped(*(ql("09:00:35", f"c{i}", "sales", a, "CONNECT", "3", "x", "1")
                      for i, a in enumerate(names)))  # fmt: skip
    assert [e["agent_id"] for e in events if e["type"] == "contact.answered"] == names
    for event in events:
        decoded = decode_object(event)
        assert isinstance(decoded, ContactEvent | AgentEvent), decoded


def test_agent_aliases_rename_agents() -> None:
    events = mapped(ql("09:00:35", "c1", "sales", "Alice", "CONNECT", "3", "x", "1"),
                    agent_aliases={"Alice": "PJSIP/alice"})  # fmt: skip
    assert {e["agent_id"] for e in events} == {"PJSIP/alice"}


def test_tenant_and_channel() -> None:
    (e,) = mapped(ql("09:00:05", "c1", "sales", "NONE", "ENTERQUEUE"), tenant="acme")
    assert (e["tenant"], e["channel"]) == ("acme", "voice")
    with pytest.raises(ValueError):
        QueueLogMapper("acme/emea")


# -- event ids ----------------------------------------------------------------------------------


def test_event_ids_are_deterministic_and_name_source_line_and_content() -> None:
    lines = [ql("09:00:35", "c1", "sales", "SIP/1", "CONNECT", "3", "x", "1")] * 2
    first, _ = queue_log_events(lines, source="pbx1")
    again, _ = queue_log_events(lines, source="pbx1")
    other, _ = queue_log_events(lines, source="pbx2")
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again]
    ids = [e["event_id"] for e in first]
    assert len(set(ids)) == 4  # two events per line, two lines with the same text
    assert ids[0].startswith("ql:pbx1:1:") and ids[2].startswith("ql:pbx1:2:")
    assert ids[0].rsplit(":", 1)[0] == ids[1].rsplit(":", 1)[0]  # same line, other suffix
    assert not set(ids) & {e["event_id"] for e in other}
    changed, _ = queue_log_events([lines[0].replace("|3|", "|4|")], source="pbx1")
    assert changed[0]["event_id"] != ids[0]


def test_the_default_source_is_the_files_basename(tmp_path: Path) -> None:
    path = tmp_path / "queue_log.1"
    path.write_text(ql("09:00:05", "c1", "sales", "NONE", "ENTERQUEUE") + "\n")
    events, _ = queue_log_events(path)
    assert events[0]["event_id"].startswith("ql:queue_log.1:1:")
    events, _ = queue_log_events(str(path), source="pbx1")
    assert events[0]["event_id"].startswith("ql:pbx1:1:")


# -- quirks -------------------------------------------------------------------------------------


def test_one_call_through_two_queues_is_one_contact_per_queue() -> None:
    events = mapped(
        ql("10:05:00", "X", "support", "NONE", "ENTERQUEUE"),
        ql("10:06:00", "X", "support", "NONE", "EXITWITHTIMEOUT", "1", "1", "60"),
        ql("10:06:01", "X", "sales", "NONE", "ENTERQUEUE"),
        ql("10:06:11", "X", "sales", "SIP/1", "CONNECT", "10", "x", "4"),
    )
    contacts = [(e["type"], e["queue"], e["contact_id"]) for e in events if "contact_id" in e
                and e["type"].startswith("contact.")]  # fmt: skip
    assert contacts == [
        ("contact.offered", "support", "X"),
        ("contact.dequeued", "support", "X"),
        ("contact.offered", "sales", "X"),
        ("contact.answered", "sales", "X"),
    ]


def test_connect_logged_before_enterqueue_is_the_same_visit() -> None:
    events = mapped(
        ql("09:15:02", "Y", "sales", "SIP/1", "CONNECT", "4", "x", "2"),
        ql("09:15:03", "Y", "sales", "NONE", "ENTERQUEUE"),
        ql("09:18:02", "Y", "sales", "SIP/1", "COMPLETECALLER", "4", "180", "1"),
    )
    assert {e["contact_id"] for e in events if e["type"].startswith("contact.")} == {"Y"}
    book = PolicyBook(default=QueuePolicy(interval_minutes=60))
    figs = report(events, book)["queues"][0]["channels"]["all"]["today"]["figures"]
    # The logged wait (4 s) wins over the timestamps (which would say 0 s).
    assert (figs["offered"], figs["answered"], figs["asa_seconds"]) == (1, 1, 4.0)


def test_a_call_back_in_the_same_queue_is_a_new_contact() -> None:
    events = mapped(
        ql("10:20:00", "Z", "support", "NONE", "ENTERQUEUE"),
        ql("10:20:20", "Z", "support", "NONE", "EXITWITHKEY", "2", "1", "1", "20"),
        ql("10:21:00", "Z", "support", "NONE", "ENTERQUEUE"),
        ql("10:21:05", "Z", "support", "Agent/1003", "CONNECT", "5", "x", "5"),
        ql("10:21:06", "Z", "support", "SIP/9", "RINGNOANSWER", "1000"),
        ql("10:23:05", "Z", "support", "Agent/1003", "TRANSFER", "200", "ctx", "5", "120", "1"),
        ql("10:40:00", "Z", "support", "NONE", "ENTERQUEUE"),
    )
    ids = [(e["type"], e.get("contact_id")) for e in events if e["type"] != "agent.state"]
    assert ids == [
        ("contact.offered", "Z"),
        ("contact.dequeued", "Z"),
        ("contact.offered", "Z#2"),
        ("contact.answered", "Z#2"),
        ("agent.ring_no_answer", "Z#2"),
        ("contact.completed", "Z#2"),
        ("contact.offered", "Z#3"),
    ]


def test_connect_logged_before_the_enterqueue_of_a_call_back_is_the_new_visit() -> None:
    events = mapped(
        ql("10:20:00", "Z", "support", "NONE", "ENTERQUEUE"),
        ql("10:20:20", "Z", "support", "NONE", "EXITWITHKEY", "2", "1", "1", "20"),
        ql("10:21:05", "Z", "support", "Agent/1003", "CONNECT", "5", "x", "5"),
        ql("10:21:06", "Z", "support", "NONE", "ENTERQUEUE"),
    )
    ids = [(e["type"], e["contact_id"]) for e in events if e["type"].startswith("contact.")]
    assert ids == [
        ("contact.offered", "Z"),
        ("contact.dequeued", "Z"),
        ("contact.answered", "Z#2"),
        ("contact.offered", "Z#2"),
    ]


def test_a_log_starting_mid_call_counts_no_offer() -> None:
    events = mapped(
        ql("08:56:00", "W", "support", "PJSIP/bob", "COMPLETEAGENT", "12", "400", "2"),
        ql("08:56:30", "V", "support", "PJSIP/carol", "CONNECT", "7", "x", "2"),
    )
    assert [(e["type"], e.get("agent_id")) for e in events] == [
        ("contact.completed", "PJSIP/bob"),
        ("agent.state", "PJSIP/bob"),  # "available", released 30 s later by the next line
        ("contact.answered", "PJSIP/carol"),
        ("agent.state", "PJSIP/carol"),
    ]
    book = PolicyBook(default=QueuePolicy(interval_minutes=60, attribution=Attribution.ARRIVAL))
    figs = report(events, book)["queues"][0]["channels"]["all"]["today"]
    assert (figs["figures"]["offered"], figs["figures"]["completed"]) == (0, 1)


def test_agents_logged_in_before_the_log_or_never_logged_out_get_no_made_up_events() -> None:
    events = mapped(
        ql("09:00:35", "c1", "sales", "PJSIP/dave", "CONNECT", "3", "x", "1"),
        ql("09:02:00", "NONE", "sales", "PJSIP/erin", "PAUSE", "Meeting"),
        ql("09:03:00", "c1", "sales", "PJSIP/dave", "COMPLETEAGENT", "3", "85", "1"),
    )
    agent_events = [(e["type"], e["agent_id"], e["state"]) for e in events
                    if e["type"].startswith("agent.")]  # fmt: skip
    assert agent_events == [
        ("agent.state", "PJSIP/dave", "on_contact"),
        ("agent.state", "PJSIP/erin", "paused"),
        ("agent.state", "PJSIP/dave", "available"),
    ]


# -- the sample log: hourly figures by hand -----------------------------------------------------

#: Per queue and hour (attribution by arrival, SL threshold 20 s): offered, answered, answered
#: within 20 s, abandoned, blocked full / no_agents / closed, dequeued timeout / key / empty,
#: ASA, answer rate, completed. Calls (entry time, wait, outcome):
#: sales 09: 09:00:05 30 s ans, 09:10:00 abandoned 45 s, 09:15:03 4 s ans (CONNECT logged first),
#:   09:20:00 10 s ans, 09:40:00 timeout, 09:50:00 key, 09:59:50 25 s ans at 10:00:15 (arrival
#:   hour 09); FULL, JOINEMPTY, CLOSED. ASA (30+4+10+25)/4 = 17.25; 2 within; 4/7 answered.
#: sales 10: 10:06:01 10 s ans (second queue of call .100). ASA 10.
#: support 08: only a completion (log starts mid-call): no offer.
#: support 09: 09:05:00 40 s ans (blind transfer), 09:12:00 abandoned 8 s, 09:30:00 12 s ans
#:   (attended transfer), 09:40:00 EXITEMPTY, 09:50:00 LEAVEEMPTY; JOINUNAVAIL, DIVERT_CA_RATIO,
#:   DIVERT_HOLDTIME. ASA (40+12)/2 = 26; 1 within; 2/5 answered.
#: support 10: 10:05:00 timeout (then to sales), 10:20:00 key, 10:21:00 5 s ans (same call again,
#:   "#2"), 10:30:00 18 s ans, 10:40:00 abandoned 5 s. ASA (5+18)/2 = 11.5; 2 within; 2/5.
EXPECTED = {
    ("sales", "09"): (7, 4, 2, 1, 1, 1, 1, 1, 1, 0, 17.25, 4 / 7, 4),
    ("sales", "10"): (1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 10.0, 1.0, 1),
    ("support", "08"): (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, 1),
    ("support", "09"): (5, 2, 1, 1, 2, 1, 0, 0, 0, 2, 26.0, 0.4, 2),
    ("support", "10"): (5, 2, 2, 1, 0, 0, 0, 1, 1, 0, 11.5, 0.4, 2),
}
FIGURES = ("offered", "answered", "answered_within_threshold", "abandoned", "blocked_full",
           "blocked_no_agents", "blocked_closed", "dequeued_timeout", "dequeued_key",
           "dequeued_empty", "asa_seconds", "answer_rate", "completed")  # fmt: skip


def hourly(events: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, ...]]:
    book = PolicyBook(default=QueuePolicy(interval_minutes=60, attribution=Attribution.ARRIVAL))
    result = report(events, book)
    assert result["errors"] == [] and result["input"]["rejected"] == 0
    assert result["input"]["duplicates"] == 0
    out = {}
    for q in result["queues"]:
        for interval in q["channels"]["all"]["intervals"]:
            assert interval["start"].startswith("2025-03-04T")
            f = interval["figures"]
            out[(q["queue"], interval["start"][11:13])] = tuple(
                pytest.approx(f[k]) if isinstance(f[k], float) else f[k] for k in FIGURES
            )
    return out


def test_sample_hourly_figures_match_the_hand_computation() -> None:
    events, _ = queue_log_events(SAMPLE)
    assert hourly(events) == EXPECTED


def test_sample_stats() -> None:
    _, stats = queue_log_events(SAMPLE)
    # 78 lines, one blank; 5 skipped; 3 dead letters (lines 76-78 by construction of the file).
    assert stats.lines == 77
    assert stats.skipped == {"QUEUESTART": 1, "CONFIGRELOAD": 1, "RINGCANCELED": 1, "INFO": 1,
                             "SYSCOMPAT": 1}  # fmt: skip
    assert [d.line_no for d in stats.dead_letters] == [76, 77, 78]


def test_sample_covers_every_mapped_event() -> None:
    seen = {line.split("|")[4] for line in SAMPLE.read_text().splitlines() if line.count("|") >= 4}
    wanted = {"ENTERQUEUE", "CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY",
              "LEAVEEMPTY", "FULL", "DIVERT_CA_RATIO", "DIVERT_HOLDTIME", "JOINEMPTY",
              "JOINUNAVAIL", "CLOSED", "COMPLETEAGENT", "COMPLETECALLER", "TRANSFER",
              "BLINDTRANSFER", "ATTENDEDTRANSFER", "RINGNOANSWER", "RINGCANCELED", "ADDMEMBER",
              "REMOVEMEMBER", "AGENTLOGIN", "AGENTCALLBACKLOGIN", "AGENTLOGOFF",
              "AGENTCALLBACKLOGOFF", "PAUSE", "UNPAUSE", "PAUSEALL", "UNPAUSEALL", "WRAPUPSTART",
              "QUEUESTART", "CONFIGRELOAD", "INFO"}  # fmt: skip
    assert wanted <= seen


#: Agent events of the sample, by hand: (agent, type, time, queue, state).
SAMPLE_AGENTS = [
    ("PJSIP/bob", "state", "08:56:00", "support", "available"),  # first seen finishing a call
    ("PJSIP/alice", "login", "08:57:01", "sales", None),
    ("PJSIP/alice", "login", "08:57:01", "support", None),
    ("SIP/1001", "login", "08:57:02", "sales", None),
    ("SIP/1001", "state", "08:57:02", "sales", "paused"),
    ("Agent/1003", "login", "08:57:03", None, None),
    ("SIP/1001", "state", "08:58:00", None, "available"),
    ("SIP/1001", "state", "08:58:00", "sales", "available"),
    ("SIP/1001", "ring_no_answer", "09:00:20", "sales", None),
    ("PJSIP/alice", "state", "09:00:35", "sales", "on_contact"),
    ("PJSIP/alice", "state", "09:04:35", "sales", "wrap_up"),  # WRAPUPSTART: no "available"
    ("PJSIP/bob", "ring_no_answer", "09:05:20", "support", None),
    ("PJSIP/alice", "state", "09:05:40", "support", "on_contact"),
    ("PJSIP/alice", "state", "09:07:40", "support", "available"),
    ("Local/1002@agents/n", "state", "09:15:02", "sales", "on_contact"),
    ("Local/1002@agents/n", "state", "09:18:02", "sales", "available"),
    ("SIP/1001", "state", "09:20:10", "sales", "on_contact"),
    ("SIP/1001", "state", "09:25:10", "sales", "available"),
    ("SIP/1001", "state", "09:26:00", "sales", "paused"),
    ("Agent/1003", "state", "09:30:12", "support", "on_contact"),
    ("Agent/1003", "state", "09:33:12", "support", "available"),
    ("SIP/1001", "state", "09:58:00", "sales", "available"),
    ("Agent/1004", "login", "10:00:00", None, None),
    ("PJSIP/alice", "state", "10:00:15", "sales", "on_contact"),
    ("PJSIP/alice", "state", "10:03:15", "sales", "available"),
    ("PJSIP/alice", "state", "10:06:11", "sales", "on_contact"),
    ("PJSIP/alice", "state", "10:10:11", "sales", "available"),
    ("Agent/1003", "state", "10:21:05", "support", "on_contact"),
    ("Agent/1003", "state", "10:23:05", "support", "available"),
    ("SIP/1001", "state", "10:30:18", "support", "on_contact"),
    ("SIP/1001", "state", "10:35:18", "support", "available"),
    ("Agent/1003", "state", "10:40:30", None, "paused"),
    ("Agent/1003", "state", "10:50:00", None, "available"),
    ("SIP/1001", "logout", "10:55:00", "sales", None),
    ("Agent/1003", "logout", "10:58:00", None, None),
    ("Agent/1004", "logout", "10:59:00", None, None),
]


def test_sample_agent_events() -> None:
    events, _ = queue_log_events(SAMPLE)
    got = [(e["agent_id"], e["type"].split(".", 1)[1], e["ts"], e.get("queue"), e.get("state"))
           for e in events if e["type"].startswith("agent.")]  # fmt: skip
    want = [(a, t, ms(hms), q, s) for a, t, hms, q, s in SAMPLE_AGENTS]
    assert sorted(got, key=str) == sorted(want, key=str)
    paused = [e for e in events if e.get("state") == "paused" and e["agent_id"] == "Agent/1003"]
    assert paused[0]["reason"] == "Break"
    rna = [e for e in events if e["type"] == "agent.ring_no_answer"]
    assert [(e["ring_seconds"], e["contact_id"]) for e in rna] == [
        (15.0, "1741078805.10"), (20.0, "1741079100.20")]  # fmt: skip


def test_sample_events_all_pass_the_decoder() -> None:
    events, _ = queue_log_events(SAMPLE)
    for event in events:
        assert isinstance(decode_object(event), ContactEvent | AgentEvent), event
    assert len({e["event_id"] for e in events}) == len(events)


def test_every_example_line_in_the_docs_maps_to_the_documented_event() -> None:
    doc = (Path(__file__).parent.parent.parent / "docs" / "asterisk-queue-log.md").read_text()
    shown = set()
    for row in doc.splitlines():
        cells = re.split(r"(?<!\\)\|", row)
        examples = [c.strip().strip("`").replace("\\|", "|") for c in cells if "`17410" in c]
        if not examples:
            continue
        (example,) = examples
        event = example.split("|")[4]
        shown.add(event)
        documented = re.findall(r"`((?:contact|agent)\.[a-z_]+)`", row)
        events, stats = queue_log_events([example])
        if documented:
            assert stats.dead_letters == [], (example, stats.errors())
            assert [e["type"] for e in events][:1] == documented[:1], (example, events)
        elif "unknown" in row:
            assert events == [] and len(stats.dead_letters) == 1
        else:
            assert events == [] and stats.skipped == {event: 1}, example
    mapped_events = {"ENTERQUEUE", "CONNECT", "ABANDON", "RINGNOANSWER", "ATTENDEDTRANSFER",
                     "ADDMEMBER", "REMOVEMEMBER", "AGENTLOGIN", "AGENTCALLBACKLOGIN",
                     "AGENTLOGOFF", "AGENTCALLBACKLOGOFF", "PAUSE", "UNPAUSE", "PAUSEALL",
                     "UNPAUSEALL", "WRAPUPSTART", *BLOCK_EVENTS, *EXIT_EVENTS, *END_EVENTS,
                     *NOT_MAPPED, "QUEUESTART", "CONFIGRELOAD", "INFO"}  # fmt: skip
    assert mapped_events <= shown, mapped_events - shown


# -- other layouts ------------------------------------------------------------------------------


def sample_lines(first: int, last: int) -> list[str]:
    """Lines first..last (1-based, inclusive) of the sample."""
    return SAMPLE.read_text().splitlines()[first - 1 : last]


def comparable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events without ids, instants to the second (the table keeps microseconds)."""
    return [{**strip_id(e), "ts": e["ts"] // 1000 * 1000} for e in events]


def test_table_export_csv_gives_the_same_events_as_the_file() -> None:
    # Lines 55-67 of the sample as an Asterisk realtime table (data1..data5, Paris local time).
    csv_events, stats = queue_log_events(DATA / "table-export.csv", time_zone="Europe/Paris")
    assert stats.dead_letters == [] and stats.lines == 13
    file_events, _ = queue_log_events(sample_lines(55, 67))
    assert comparable(csv_events) == comparable(file_events)
    link = only(csv_events, "contact.completed") if False else [
        e for e in csv_events if e["type"] == "contact.completed"][-1]  # fmt: skip
    assert link["talk_seconds"] == 300  # data5 held "300|1"


def test_table_with_one_data_column_gives_the_same_events_as_the_file() -> None:
    # Lines 10-20 of the sample as the older table layout (one `data` column, epoch seconds).
    csv_events, stats = queue_log_events(DATA / "table-data-column.csv")
    assert stats.dead_letters == [] and stats.lines == 11
    file_events, _ = queue_log_events(sample_lines(10, 20))
    assert [strip_id(e) for e in csv_events] == [strip_id(e) for e in file_events]


def test_asterisk_1_4_lines_with_fewer_parameters() -> None:
    events, stats = queue_log_events(DATA / "asterisk-1.4.queue_log")
    assert stats.dead_letters == []
    got = [(e["type"], e["contact_id"], e.get("wait_seconds"), e.get("talk_seconds"))
           for e in events if e["type"].startswith("contact.")]  # fmt: skip
    assert got == [
        ("contact.offered", "1741086000.1", None, None),
        ("contact.answered", "1741086000.1", 12, None),
        ("contact.completed", "1741086000.1", None, 120),
        ("contact.offered", "1741086200.3", None, None),
        ("contact.dequeued", "1741086200.3", None, None),  # EXITWITHKEY(key|position): no wait
    ]


def test_bytes_lines_are_accepted() -> None:
    events, _ = queue_log_events([ql("09:00:05", "c1", "sales", "NONE", "ENTERQUEUE").encode()])
    assert events[0]["type"] == "contact.offered"


# -- producing ----------------------------------------------------------------------------------


def test_routing_keys_and_grouping() -> None:
    events, _ = queue_log_events(SAMPLE, tenant="acme")
    assert queue_key(events[0]) == "acme/support"  # the completion on line 1
    assert queue_key(events[1]) == "acme/#agents"  # its agent's "available"
    groups = group_by_queue(events, size=10)
    assert {key for key, _ in groups} == {"acme/#agents", "acme/sales", "acme/support"}
    for key, batch in groups:
        assert 0 < len(batch) <= 10
        for event in batch:
            decoded = decode_object(event)
            assert key == f"acme/{decoded.queue}" if isinstance(decoded, ContactEvent) else (
                key == "acme/#agents")  # fmt: skip
    flat = [e for _, batch in groups for e in batch]
    assert sorted(e["event_id"] for e in flat) == sorted(e["event_id"] for e in events)
    for key in ("acme/#agents", "acme/sales"):  # order kept within a key
        mine = [e["event_id"] for e in events if queue_key(e) == key]
        assert [e["event_id"] for k, b in groups if k == key for e in b] == mine


def test_send_events_keys_messages_by_routing_key() -> None:
    sent: list[tuple[str, bytes, bytes]] = []

    class FakeKafka:
        async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
            sent.append((topic, key, value))
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future

    producer = EventProducer.__new__(EventProducer)  # its Kafka client replaced by a recorder
    producer.topic = "cc.contacts"
    producer.producer = FakeKafka()  # type: ignore[assignment]

    events = mapped(ql("09:00:35", "c1", "sales", "SIP/1", "CONNECT", "3", "x", "1"))
    count = asyncio.run(send_events(producer, events))
    assert count == 2
    assert {(t, k) for t, k, _ in sent} == {("cc.contacts", b"default/sales"),
                                            ("cc.contacts", b"default/#agents")}  # fmt: skip
    assert sorted(e["type"] for _, _, v in sent for e in orjson.loads(v)) == [
        "agent.state", "contact.answered"]  # fmt: skip


# -- the follower -------------------------------------------------------------------------------


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def calls(*callids: str, hms: str = "09:00:05") -> str:
    return "".join(ql(hms, c, "sales", "NONE", "ENTERQUEUE") + "\n" for c in callids)


def contact_ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["contact_id"] for e in events]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "queue_log"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "offsets.json"


def test_tail_reads_new_complete_lines_only(log: Path, store: Path) -> None:
    tailer = QueueLogTailer(log, store)
    assert tailer.poll() == []  # no file yet
    log.write_text(calls("a", "b"))
    assert contact_ids(tailer.poll()) == ["a", "b"]
    assert tailer.poll() == []
    append(log, calls("c") + ql("09:00:06", "d", "sales", "NONE", "ENTERQUEUE"))  # no newline yet
    assert contact_ids(tailer.poll()) == ["c"]
    assert tailer.poll() == []
    append(log, "|\n")
    events = tailer.poll()
    assert contact_ids(events) == ["d"]
    # Same ids as a batch read of the whole file: line numbers and content agree.
    batch, _ = queue_log_events(log)
    assert events[0]["event_id"] == batch[-1]["event_id"]


def test_tail_resumes_after_a_restart_without_loss_or_repeat(log: Path, store: Path) -> None:
    log.write_text(calls("a", "b"))
    first = QueueLogTailer(log, store)
    assert contact_ids(first.poll()) == ["a", "b"]
    first.commit()
    first.close()
    append(log, calls("c", "d"))
    second = QueueLogTailer(log, store)
    events = second.poll()
    assert contact_ids(events) == ["c", "d"]
    batch, _ = queue_log_events(log)
    assert [e["event_id"] for e in events] == [e["event_id"] for e in batch[2:]]
    stored = orjson.loads(store.read_bytes())
    assert stored["offset"] == len(calls("a", "b").encode())  # "c", "d" not stored yet
    second.commit()
    assert orjson.loads(store.read_bytes())["offset"] == log.stat().st_size


def test_tail_without_commit_reads_the_same_events_again(log: Path, store: Path) -> None:
    log.write_text(calls("a"))
    first = QueueLogTailer(log, store)
    first.poll()
    first.commit()
    append(log, calls("b", "c"))
    handed_off = first.poll()  # crash before commit
    first.close()
    again = QueueLogTailer(log, store).poll()
    assert again == handed_off


def test_tail_follows_rotation_by_rename_finishing_the_old_file(log: Path, store: Path) -> None:
    log.write_text(calls("a"))
    tailer = QueueLogTailer(log, store)
    assert contact_ids(tailer.poll()) == ["a"]
    rotated = log.with_name("queue_log.1")
    os.rename(log, rotated)
    append(rotated, calls("b"))  # Asterisk still writes to the old file
    assert contact_ids(tailer.poll()) == ["b"]
    log.write_text("")  # logrotate "create": empty new file, Asterisk not reopened yet
    append(rotated, calls("c"))
    assert contact_ids(tailer.poll()) == ["c"]
    append(rotated, calls("d"))
    append(log, calls("e"))  # Asterisk reopened: the old file is finished first
    assert contact_ids(tailer.poll()) == ["d", "e"]
    assert tailer.rotations == 1
    append(log, calls("f"))
    events = tailer.poll()
    assert contact_ids(events) == ["f"]
    assert events[0]["event_id"].startswith("ql:queue_log:2:")  # line 2 of the new file
    tailer.commit()
    assert orjson.loads(store.read_bytes())["file"][1] == log.stat().st_ino


def test_tail_follows_truncation(log: Path, store: Path) -> None:
    log.write_text(calls("a", "b", "c"))
    tailer = QueueLogTailer(log, store)
    assert contact_ids(tailer.poll()) == ["a", "b", "c"]
    with open(log, "r+") as fh:  # copytruncate
        fh.truncate(0)
    append(log, calls("d"))
    assert contact_ids(tailer.poll()) == ["d"]
    assert tailer.truncations == 1
    append(log, calls("e"))
    assert contact_ids(tailer.poll()) == ["e"]
    with open(log, "r+") as fh:  # again, and the new first line happens to be the old one
        fh.truncate(0)
    append(log, calls("d"))  # shorter than the offset: read from the start
    assert contact_ids(tailer.poll()) == ["d#2"]  # same call id, a second visit
    append(log, calls("f"))
    assert contact_ids(tailer.poll()) == ["f"]
    assert tailer.truncations == 2


def test_tail_notices_truncation_even_when_the_file_regrew_past_the_offset(
    log: Path, store: Path
) -> None:
    log.write_text(calls("a"))
    tailer = QueueLogTailer(log, store)
    assert contact_ids(tailer.poll()) == ["a"]
    tailer.commit()
    with open(log, "r+") as fh:
        fh.truncate(0)
    append(log, calls("b", "c", "d", hms="09:30:00"))  # longer than before: size alone can't tell
    assert contact_ids(tailer.poll()) == ["b", "c", "d"]


def test_tail_restart_after_a_rotation_while_down_drains_the_old_file(
    log: Path, store: Path
) -> None:
    log.write_text(calls("a", "b"))
    first = QueueLogTailer(log, store)
    first.poll()
    first.commit()
    first.close()
    append(log, calls("c"))  # written while the follower was down...
    os.rename(log, log.with_name("queue_log.1"))  # ...then rotated
    log.write_text(calls("d"))
    second = QueueLogTailer(log, store)
    assert contact_ids(second.poll()) == ["c", "d"]


def test_tail_restart_on_a_truncated_file_starts_over(log: Path, store: Path) -> None:
    log.write_text(calls("a", "b"))
    first = QueueLogTailer(log, store)
    first.poll()
    first.commit()
    first.close()
    with open(log, "r+") as fh:
        fh.truncate(0)
    append(log, calls("c"))
    assert contact_ids(QueueLogTailer(log, store).poll()) == ["c"]


def test_tail_start_at_end_skips_existing_lines(log: Path, store: Path) -> None:
    log.write_text(calls("a", "b") + ql("09:00:06", "c", "sales", "NONE", "ENTERQUEUE"))
    tailer = QueueLogTailer(log, store, start_at_end=True)
    assert tailer.poll() == []
    append(log, "|\n" + calls("d"))  # the partial line was not skipped: it is read once complete
    events = tailer.poll()
    assert contact_ids(events) == ["c", "d"]
    assert events[0]["event_id"].startswith("ql:queue_log:3:")


def test_tail_takes_an_unterminated_last_line_of_a_rotated_file(log: Path, store: Path) -> None:
    log.write_text(calls("a") + ql("09:00:06", "b", "sales", "NONE", "ENTERQUEUE"))
    tailer = QueueLogTailer(log, store)
    assert contact_ids(tailer.poll()) == ["a"]
    os.rename(log, log.with_name("queue_log.1"))
    log.write_text(calls("c"))
    assert contact_ids(tailer.poll()) == ["b", "c"]


def test_tail_keeps_visit_numbers_and_held_events_across_restarts(log: Path, store: Path) -> None:
    log.write_text(
        ql("09:00:05", "X", "sales", "NONE", "ENTERQUEUE") + "\n"
        + ql("09:00:30", "X", "sales", "NONE", "EXITWITHKEY", "1", "1", "1", "25") + "\n"
        + ql("09:04:35", "c1", "sales", "SIP/1", "COMPLETEAGENT", "3", "200", "1") + "\n"
    )  # fmt: skip
    first = QueueLogTailer(log, store, idle_flush_seconds=3600)
    assert [e["type"] for e in first.poll()] == [
        "contact.offered", "contact.dequeued", "contact.completed"]  # fmt: skip
    first.commit()
    first.close()
    append(log, ql("09:04:35", "NONE", "sales", "SIP/1", "WRAPUPSTART") + "\n"
           + ql("09:06:00", "X", "sales", "NONE", "ENTERQUEUE") + "\n")  # fmt: skip
    events = QueueLogTailer(log, store).poll()
    assert [(e["type"], e.get("state"), e.get("contact_id")) for e in events] == [
        ("agent.state", "wrap_up", None),
        ("contact.offered", None, "X#2"),
    ]


def test_tail_releases_held_events_when_idle(log: Path, store: Path) -> None:
    log.write_text(ql("09:04:35", "c1", "sales", "SIP/1", "COMPLETEAGENT", "3", "200", "1") + "\n")
    tailer = QueueLogTailer(log, store, idle_flush_seconds=0)
    assert [e["type"] for e in tailer.poll()] == ["contact.completed"]
    assert [(e["type"], e["state"]) for e in tailer.poll()] == [("agent.state", "available")]
    assert tailer.poll() == []


def test_tail_counts_dead_letters_by_line_number(log: Path, store: Path) -> None:
    log.write_text(calls("a") + "garbage\n" + calls("b"))
    tailer = QueueLogTailer(log, store)
    assert contact_ids(tailer.poll()) == ["a", "b"]
    assert [d.line_no for d in tailer.mapper.stats.dead_letters] == [2]


def test_tail_csv_export_keeps_its_header_across_restarts(log: Path, store: Path) -> None:
    log.write_text("time,callid,queuename,agent,event,data\n"
                   f"{at('09:00:05')},a,sales,NONE,ENTERQUEUE,|+1555|1\n")  # fmt: skip
    first = QueueLogTailer(log, store)
    assert contact_ids(first.poll()) == ["a"]
    first.commit()
    first.close()
    append(log, f"{at('09:00:09')},a,sales,NONE,ABANDON,1|1|4\n")
    (event,) = QueueLogTailer(log, store).poll()
    assert (event["type"], event["wait_seconds"]) == ("contact.abandoned", 4)


def test_tail_refuses_a_damaged_position_store(log: Path, store: Path) -> None:
    log.write_text(calls("a"))
    store.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        QueueLogTailer(log, store).poll()


def test_batch_and_follower_number_lines_alike(log: Path, store: Path) -> None:
    # A stray carriage return inside a line does not end it, for either reader.
    log.write_bytes(calls("a").encode() + b"junk\rmore\n" + calls("b").encode())
    batch, _ = queue_log_events(log)
    assert [e["event_id"] for e in QueueLogTailer(log, store).poll()] == [
        e["event_id"] for e in batch]  # fmt: skip
    assert batch[1]["event_id"].startswith("ql:queue_log:3:")


def test_run_hands_events_off_before_storing_the_offset(log: Path, store: Path) -> None:
    log.write_text(calls("a", "b"))
    tailer = QueueLogTailer(log, store)
    batches: list[list[str]] = []
    stop = asyncio.Event()

    async def sink(events: list[dict[str, Any]]) -> None:
        # Nothing of this batch is stored while the sink holds it.
        assert not store.exists() or orjson.loads(store.read_bytes())["offset"] == 0
        batches.append(contact_ids(events))
        stop.set()

    asyncio.run(tailer.run(sink, poll_interval=0.01, stop=stop))
    assert batches == [["a", "b"]]
    assert orjson.loads(store.read_bytes())["offset"] == log.stat().st_size


def test_run_keeps_following_until_stopped(log: Path, store: Path) -> None:
    log.write_text(calls("a"))
    tailer = QueueLogTailer(log, store)
    seen: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()

        def sink(events: list[dict[str, Any]]) -> None:  # a plain function works too
            seen.extend(contact_ids(events))
            if len(seen) == 3:
                stop.set()

        task = asyncio.create_task(tailer.run(sink, poll_interval=0.01, stop=stop))
        await asyncio.sleep(0.05)
        append(log, calls("b"))
        await asyncio.sleep(0.05)
        append(log, calls("c"))
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert seen == ["a", "b", "c"]


def test_run_stores_nothing_when_the_sink_fails_and_delivers_again(log: Path, store: Path) -> None:
    log.write_text(calls("a"))
    tailer = QueueLogTailer(log, store)
    tailer.poll()
    tailer.commit()
    append(log, calls("b", "c"))

    async def failing(events: list[dict[str, Any]]) -> None:
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        asyncio.run(asyncio.wait_for(tailer.run(failing, poll_interval=0.01), 5))
    assert orjson.loads(store.read_bytes())["offset"] == len(calls("a").encode())
    got: list[str] = []
    stop = asyncio.Event()

    async def sink(events: list[dict[str, Any]]) -> None:
        got.extend(contact_ids(events))
        stop.set()

    # The same object, rolled back to the stored position.
    asyncio.run(asyncio.wait_for(tailer.run(sink, poll_interval=0.01, stop=stop), 5))
    assert got == ["b", "c"]
