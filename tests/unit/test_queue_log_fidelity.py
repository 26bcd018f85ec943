"""Defects found comparing ccpulse with the stats tools of Asterisk-based platforms (Wazo,
FreePBX, Issabel) on the same queue_log (issue 16), each from a hand-written log excerpt with the
figures worked out by hand in the comments.

Clock: T0 = 1 741 078 800 = 2025-03-04T09:00:00Z (the arithmetic is in
tests/helpers/queue_log.py).
"""

from __future__ import annotations

from typing import Any

from ccpulse.report import build_report, parse_instant
from ccpulse.schemas import decode_object
from ccpulse.sources.queue_log import QueueLogMapper, json_lines, queue_log_events
from ccpulse.sources.queue_log_parse import LineParser, epoch_ms
from ccpulse.streams.kpi import PolicyBook, QueuePolicy
from tests.helpers.queue_log import at, ql

BOOK = PolicyBook(default=QueuePolicy(interval_minutes=60))


def run(lines: list[str], until: str) -> tuple[dict[str, Any], Any]:
    """The offline report of the lines as of `until`, and the mapper's stats."""
    events, stats = queue_log_events(lines)
    return build_report(json_lines(events), BOOK, at(until) * 1000), stats


def agent_today(report: dict[str, Any], agent: str) -> dict[str, Any]:
    return report["agents"][0]["agents"][agent]["today"]


def times(figs: dict[str, Any]) -> tuple[float, ...]:
    names = ("logged_in", "available", "on_contact", "wrap_up", "paused")
    return tuple(figs[f"{n}_seconds"] for n in names)


# -- 1. no implicit login after a logoff ------------------------------------------------------

WAZO_LOGOFF = [
    # Agent/1001 logs in at 09:00, pauses for lunch 09:10-09:40 (Wazo logs PAUSEALL then one
    # PAUSE per queue), and logs off at 10:00; Wazo then logs UNPAUSEALL and UNPAUSE (its
    # queue_log documentation shows this sequence), and a PAUSEALL at 10:30 from a stale phone
    # key. The agent stays logged out from 10:00.
    ql("09:00:00", "NONE", "NONE", "Agent/1001", "AGENTCALLBACKLOGIN", "1001@default"),
    ql("09:10:00", "NONE", "NONE", "Agent/1001", "PAUSEALL", "Lunch"),
    ql("09:10:00", "NONE", "sales", "Agent/1001", "PAUSE", "Lunch"),
    ql("09:40:00", "NONE", "NONE", "Agent/1001", "UNPAUSEALL"),
    ql("09:40:00", "NONE", "sales", "Agent/1001", "UNPAUSE"),
    ql("10:00:00", "NONE", "NONE", "Agent/1001", "AGENTCALLBACKLOGOFF", "1001@default", "3600"),
    ql("10:00:00", "NONE", "NONE", "Agent/1001", "UNPAUSEALL"),
    ql("10:00:00", "NONE", "sales", "Agent/1001", "UNPAUSE"),
    ql("10:30:00", "NONE", "NONE", "Agent/1001", "PAUSEALL", "Break"),
    # Agent/1002 logs in at 10:00, answers c2 at 10:05:10, logs off mid-call at 10:06:00; the
    # call ends at 10:08:10 (COMPLETECALLER): its "available" must not log the agent back in.
    # At 11:00 a CONNECT names the logged-out agent (a static member rung after the logoff):
    # the queue counts the call, the agent stays logged out.
    ql("10:00:00", "NONE", "NONE", "Agent/1002", "AGENTLOGIN", "SIP/1002"),
    ql("10:05:00", "c2", "sales", "NONE", "ENTERQUEUE", "", "+15550002", "1"),
    ql("10:05:10", "c2", "sales", "Agent/1002", "CONNECT", "10", "c2.1", "5"),
    ql("10:06:00", "NONE", "NONE", "Agent/1002", "AGENTLOGOFF", "SIP/1002", "360"),
    ql("10:08:10", "c2", "sales", "Agent/1002", "COMPLETECALLER", "10", "130", "1"),
    ql("11:00:00", "c3", "sales", "NONE", "ENTERQUEUE", "", "+15550003", "1"),
    ql("11:00:20", "c3", "sales", "Agent/1002", "CONNECT", "20", "c3.1", "4"),
    ql("11:02:20", "c3", "sales", "Agent/1002", "COMPLETEAGENT", "20", "120", "1"),
]


def test_a_pause_or_unpause_after_a_logoff_does_not_log_the_agent_back_in() -> None:
    report, _ = run(WAZO_LOGOFF, "12:00:00")
    # Agent/1001: logged in 09:00-10:00 = 3600 s; paused (Lunch) 09:10-09:40 = 1800 s;
    # available 3600 - 1800 = 1800 s; nothing after 10:00 (before the fix: 2 h more available).
    figs = agent_today(report, "Agent/1001")
    assert times(figs) == (3600, 1800, 0, 0, 1800)
    assert figs["paused_seconds_by_reason"] == {"Lunch": 1800}
    assert report["agents"][0]["agents"]["Agent/1001"]["live"] is None  # no ghost agent


def test_a_completion_or_connect_after_a_logoff_does_not_log_the_agent_back_in() -> None:
    report, _ = run(WAZO_LOGOFF, "12:00:00")
    # Agent/1002: logged in 10:00:00-10:06:00 = 360 s: available 10:00:00-10:05:10 = 310 s, on
    # contact 10:05:10-10:06:00 = 50 s, 1 handled. The 10:08:10 completion and the 11:00:20
    # CONNECT change nothing for the agent (handled stays 1, no on-contact time at 11:00).
    figs = agent_today(report, "Agent/1002")
    assert times(figs) == (360, 310, 50, 0, 0)
    assert figs["handled"] == 1
    assert report["agents"][0]["agents"]["Agent/1002"]["live"] is None
    # The queue counts both calls, whoever answered them.
    today = report["queues"][0]["channels"]["all"]["today"]["figures"]
    assert (today["offered"], today["answered"], today["completed"]) == (2, 2, 2)


# -- 2. WRAPUPSTART's length --------------------------------------------------------------------

WRAP_UP = [
    # SIP/1001 (sales): call c1 09:10:20-09:14:20 (240 s), then WRAPUPSTART with data1 = 30:
    # wrap-up 09:14:20-09:14:50, available again from 09:14:50 without any line saying so.
    ql("09:00:00", "NONE", "sales", "SIP/1001", "ADDMEMBER", ""),
    ql("09:10:00", "c1", "sales", "NONE", "ENTERQUEUE", "", "+15550001", "1"),
    ql("09:10:20", "c1", "sales", "SIP/1001", "CONNECT", "20", "c1.1", "3"),
    ql("09:14:20", "c1", "sales", "SIP/1001", "COMPLETEAGENT", "20", "240", "1"),
    ql("09:14:20", "NONE", "sales", "SIP/1001", "WRAPUPSTART", "30"),
    # PJSIP/bob (support): call c2 09:20:05-09:25:05 (300 s), WRAPUPSTART 60, but bob pauses
    # (Break) at 09:25:25, 20 s into the wrap-up, until 09:35:25: the pause ends the wrap-up,
    # and the wrap-up's end at 09:26:05 must not make him available while paused.
    ql("09:00:00", "NONE", "support", "PJSIP/bob", "ADDMEMBER", ""),
    ql("09:20:00", "c2", "support", "NONE", "ENTERQUEUE", "", "+15550002", "1"),
    ql("09:20:05", "c2", "support", "PJSIP/bob", "CONNECT", "5", "c2.1", "2"),
    ql("09:25:05", "c2", "support", "PJSIP/bob", "COMPLETECALLER", "5", "300", "1"),
    ql("09:25:05", "NONE", "support", "PJSIP/bob", "WRAPUPSTART", "60"),
    ql("09:25:25", "NONE", "support", "PJSIP/bob", "PAUSE", "Break"),
    ql("09:35:25", "NONE", "support", "PJSIP/bob", "UNPAUSE", ""),
]


def test_wrap_up_ends_after_the_length_wrapupstart_logs() -> None:
    report, _ = run(WRAP_UP, "10:00:00")
    # SIP/1001, 09:00-10:00 = 3600 s: on contact 240, wrap-up 30 (not 09:14:20 -> 10:00 =
    # 2740 s), available 3600 - 240 - 30 = 3330.
    assert times(agent_today(report, "SIP/1001")) == (3600, 3330, 240, 30, 0)
    # bob: on contact 300, wrap-up 09:25:05-09:25:25 = 20, paused 09:25:25-09:35:25 = 600,
    # available 3600 - 300 - 20 - 600 = 2680.
    assert times(agent_today(report, "PJSIP/bob")) == (3600, 2680, 300, 20, 600)


def test_the_wrap_up_end_is_an_available_stamped_at_start_plus_length() -> None:
    events, _ = queue_log_events(WRAP_UP[:5])
    end = [e for e in events if e["event_id"].endswith(":we")]
    assert [(e["agent_id"], e["state"], e["ts"]) for e in end] == [
        ("SIP/1001", "available", (at("09:14:20") + 30) * 1000)
    ]
    # The follower releases it only once its time has come (an idle flush before 09:14:50
    # keeps it, so a pause logged during the wrap-up can still supersede it).
    mapper, parser = QueueLogMapper(), LineParser()
    for n, line in enumerate(WRAP_UP[:5], start=1):
        mapper.feed(parser.parse(line, n))
    assert mapper.flush(until_ms=(at("09:14:20") + 29) * 1000) == []
    assert [e["ts"] for e in mapper.flush(until_ms=(at("09:14:20") + 30) * 1000)] == [
        (at("09:14:20") + 30) * 1000
    ]


# -- 3. sub-second timestamps are cut, not rounded ----------------------------------------------

NINE_59_59_999 = (at("09:59:59") * 1000) + 999  # 09:59:59.999, still hour 09


def test_fractional_epochs_are_cut_to_the_millisecond() -> None:
    assert epoch_ms(f"{at('09:59:59')}.999999") == NINE_59_59_999
    assert epoch_ms(f"{at('09:59:59')}.9995") == NINE_59_59_999
    assert epoch_ms(f"{at('09:59:59')}.5") == NINE_59_59_999 - 499
    assert epoch_ms(f"{NINE_59_59_999}.9") == NINE_59_59_999  # 13 digits: milliseconds


def test_csv_date_times_and_contract_instants_are_cut_to_the_millisecond() -> None:
    header = "time,callid,queuename,agent,event,data1,data2,data3,data4,data5"
    parser = LineParser("UTC")
    parser.parse(header, 1)
    row = parser.parse("2025-03-04 09:59:59.999999,c1,sales,NONE,ENTERQUEUE,,+1555,1,,", 2)
    assert row.ts_ms == NINE_59_59_999  # type: ignore[union-attr]
    event = {"event_id": "e1", "type": "contact.offered", "tenant": "t", "queue": "sales",
             "contact_id": "c1", "ts": "2025-03-04T10:59:59.9999999+01:00"}  # fmt: skip
    assert decode_object(event, NINE_59_59_999 + 1000).ts_ms == NINE_59_59_999  # type: ignore[union-attr]
    assert parse_instant("2025-03-04T09:59:59.999999Z") == NINE_59_59_999


def test_a_call_at_the_last_microsecond_of_an_hour_counts_in_that_hour() -> None:
    lines = [f"{at('09:59:59')}.999999|c1|sales|NONE|ENTERQUEUE||+15550001|1"]
    report, _ = run(lines, "10:30:00")
    hours = {i["start"][11:13]: i["figures"]["offered"]
             for i in report["queues"][0]["channels"]["all"]["intervals"]}  # fmt: skip
    assert hours == {"09": 1}


# -- 4. agent NONE ----------------------------------------------------------------------------

ANONYMOUS = [
    # An anonymised export: the member names are NONE. c1 waits 12 s, talks 180 s; c2 waits 8 s,
    # talks 60 s and is transferred. The queue: offered 2, answered 2, ASA (12 + 8) / 2 = 10 s,
    # completed 2, AHT (180 + 60) / 2 = 120 s. No agent figures at all.
    ql("09:00:00", "c1", "sales", "NONE", "ENTERQUEUE", "", "+15550001", "1"),
    ql("09:00:12", "c1", "sales", "NONE", "CONNECT", "12", "c1.1", "3"),
    ql("09:03:12", "c1", "sales", "NONE", "COMPLETECALLER", "12", "180", "1"),
    ql("09:10:00", "c2", "sales", "NONE", "ENTERQUEUE", "", "+15550002", "1"),
    ql("09:10:08", "c2", "sales", "NONE", "CONNECT", "8", "c2.1", "2"),
    ql("09:11:08", "c2", "sales", "NONE", "BLINDTRANSFER", "2000", "internal", "8", "60", "1"),
    # Member housekeeping without a member: skipped with a counted reason, not dead letters.
    ql("09:20:00", "NONE", "sales", "NONE", "ADDMEMBER", ""),
    ql("09:20:00", "NONE", "sales", "NONE", "PAUSE", "Lunch"),
    ql("09:20:30", "c3", "sales", "NONE", "RINGNOANSWER", "15000"),
]


def test_calls_answered_by_agent_none_count_in_the_queue() -> None:
    report, stats = run(ANONYMOUS, "10:00:00")
    figs = report["queues"][0]["channels"]["all"]["today"]["figures"]
    assert (figs["offered"], figs["answered"], figs["completed"]) == (2, 2, 2)
    assert (figs["asa_seconds"], figs["aht_seconds"]) == (10, 120)
    assert report.get("agents", []) == []  # no agent event at all
    assert stats.dead_letters == []
    assert stats.skipped == {"ADDMEMBER without agent": 1, "PAUSE without agent": 1,
                             "RINGNOANSWER without agent": 1}  # fmt: skip


def test_the_follower_holds_a_wrap_up_end_until_its_time_across_restarts(tmp_path: Any) -> None:
    import time

    from ccpulse.sources.tail import QueueLogTailer

    # A call just ended and the dialplan logged a 1-hour wrap-up: the idle follower must not
    # release the wrap-up's end (an hour ahead of the clock) early, and a restart keeps it held.
    now_s = int(time.time()) - 10
    log, store = tmp_path / "queue_log", tmp_path / "offset.json"
    log.write_text(f"{now_s}|c1|sales|SIP/1|COMPLETEAGENT|3|200|1\n"
                   f"{now_s}|NONE|sales|SIP/1|WRAPUPSTART|3600\n")  # fmt: skip
    first = QueueLogTailer(log, store, idle_flush_seconds=0)
    assert [(e["type"], e.get("state")) for e in first.poll()] == [
        ("contact.completed", None), ("agent.state", "wrap_up")]  # fmt: skip
    assert first.poll() == [] and first.mapper.pending == 1  # idle, but not due
    first.commit()
    first.close()
    second = QueueLogTailer(log, store, idle_flush_seconds=0)
    assert second.poll() == [] and second.mapper.pending == 1
    # A pause 20 s into the wrap-up supersedes its end: nothing more is released.
    with log.open("a") as fh:
        fh.write(f"{now_s + 20}|NONE|sales|SIP/1|PAUSE|Break\n")
    assert [(e["state"], e["ts"]) for e in second.poll()] == [("paused", (now_s + 20) * 1000)]
    assert second.mapper.pending == 0
