"""Per-agent hourly figures of tests/data/queue_log/sample.queue_log, worked out by hand from the
log lines, against what `ccpulse report --queue-log` computes (the agent engine fed by the
queue_log mapper).

Per-agent hourly figures are read from the range report (`--from 08:00 --to 11:00`), per-queue
and all-agents hourly figures from the report's `intervals`.

Clock: T0 = 1 741 078 800 = 2025-03-04T09:00:00Z (see tests/helpers/queue_log.py for the
arithmetic); hour 08 is [T0 - 3600, T0), 09 is [T0, T0 + 3600), 10 is [T0 + 3600, T0 + 7200).
A line's time below is its epoch minus T0, e.g. line 12 `1741078835` = T0 + 35 = 09:00:35.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ccpulse.report import build_report
from ccpulse.report_range import RangeSpec, build_range_report
from ccpulse.sources.queue_log import json_lines, queue_log_events
from ccpulse.streams.kpi import Attribution, PolicyBook, QueuePolicy
from tests.helpers.queue_log import SAMPLE, T0

HOURS = ("08", "09", "10")
#: The end of the log: line 78 (`1741086000`, 11:00:00, a dead letter) is the last line; the
#: last mapped line is 75 (10:59:00). 11:00:00 is also the end of hour 10.
END_MS = (T0 + 7200) * 1000
BOOK = PolicyBook(default=QueuePolicy(interval_minutes=60, attribution=Attribution.ARRIVAL))

#: Figures compared, in this order in the tables below.
FIELDS = ("logged_in_seconds", "available_seconds", "on_contact_seconds", "wrap_up_seconds",
          "paused_seconds", "paused_seconds_by_reason", "handled", "ring_no_answer")  # fmt: skip
Row = tuple[float, float, float, float, float, dict[str, float], int, int]
ZERO: Row = (0, 0, 0, 0, 0, {}, 0, 0)

# -- by hand, per agent ---------------------------------------------------------------------------
#
# Every agent line of the sample, with what the mapper makes of it (docs/asterisk-queue-log.md)
# and the state the agent engine folds from it (docs/agent-kpis.md). An agent whose first line is
# not a login is logged in from that line on; nobody is logged in before its first line; an
# agent never logged out stays logged in up to the end of the log, 11:00:00.
#
# PJSIP/bob
#   l.1  08:56:00 COMPLETEAGENT support 12|400|2: the log starts mid-call; no CONNECT, so no
#        on_contact and nothing handled; the completion's "available" (held back, released by
#        line 2, stamped 08:56:00) makes bob logged in and available from 08:56:00.
#   l.16 09:05:20 RINGNOANSWER support 20000: one ring not answered (no state change).
#   l.23 09:12:08 RINGCANCELED: skipped (the caller hung up; not bob's fault).
#   Never logged out: available 08:56:00 -> 11:00:00.
#   08: 08:56:00-09:00:00 = 240 s.  09: 3600 s, 1 RNA.  10: 3600 s.
#
# PJSIP/alice
#   l.3/4 08:57:01 ADDMEMBER sales, support: logged in, available.
#   l.12 09:00:35 CONNECT sales: on_contact, handled 1.
#   l.13 09:04:35 COMPLETEAGENT sales 30|240: calltime 240 = 09:00:35 -> 09:04:35.
#   l.14 09:04:35 WRAPUPSTART sales: wrap_up (the completion's "available" is dropped).
#   l.17 09:05:40 CONNECT support: on_contact, handled 2; wrap-up 09:04:35 -> 09:05:40 = 65 s.
#   l.18 09:07:40 BLINDTRANSFER support ..|40|120|1: calltime 120 = 09:05:40 -> 09:07:40;
#        available.
#   l.53 10:00:15 CONNECT sales 25|..: handled; the call waited 25 s, so it entered the queue
#        at 09:59:50, and with attribution by arrival it counts as handled in hour 09.
#        l.54 10:03:15 COMPLETEAGENT 25|180: 180 s (the time stays where it was spent).
#   l.58 10:06:11 CONNECT sales (handled) / l.59 10:10:11 COMPLETECALLER 10|240: 240 s.
#   Never logged out: available 10:10:11 -> 11:00:00.
#   08: 08:57:01-09:00:00 = 179 s, all available.
#   09: logged 3600; on contact 240 + 120 = 360; wrap-up 65; available
#       09:00:00-09:00:35 (35) + 09:07:40-10:00:00 (3140) = 3175; 3175 + 360 + 65 = 3600;
#       handled 3 (l.12, l.17, and l.53 by arrival).
#   10: logged 3600; on contact 180 + 240 = 420; available 15 (10:00:00-10:00:15) + 176
#       (10:03:15-10:06:11) + 2989 (10:10:11-11:00:00) = 3180; handled 1 (l.58).
#
# SIP/1001
#   l.5  08:57:02 ADDMEMBER sales PAUSED: logged in, paused without reason ("unspecified").
#   l.8/9 08:58:00 UNPAUSEALL, UNPAUSE sales: available; paused 08:57:02 -> 08:58:00 = 58 s.
#   l.11 09:00:20 RINGNOANSWER sales 15000: 1 RNA.
#   l.29 09:20:10 CONNECT sales (handled) / l.30 09:25:10 COMPLETECALLER 10|300: 300 s.
#   l.31 09:26:00 PAUSE sales Lunch / l.50 09:58:00 UNPAUSE: paused (Lunch) 32 min = 1920 s.
#   l.66 10:30:18 CONNECT support (handled; not a support member, the time is still its own)
#   l.67 10:35:18 ATTENDEDTRANSFER LINK ..|18|300|1: 300 s.
#   l.69 10:40:05 SYSCOMPAT: skipped.
#   l.73 10:55:00 REMOVEMEMBER sales: its only queue: logged out.
#   08: 08:57:02-09:00:00 = 178 s: paused 58 (unspecified), available 120.
#   09: logged 3600; on contact 300; paused 1920 (Lunch); available 3600 - 300 - 1920 = 1380
#       (09:00-09:20:10 = 1210, 09:25:10-09:26:00 = 50, 09:58-10:00 = 120); handled 1; RNA 1.
#   10: logged 10:00-10:55 = 3300; on contact 300; available 3000 (1818 before the call, 1182
#       after); handled 1.
#
# Agent/1003
#   l.6  08:57:03 AGENTLOGIN (queue NONE): logged in, available, no member queue.
#   l.34 09:30:12 CONNECT support (handled) / l.37 09:33:12 ATTENDEDTRANSFER BRIDGE ..|12|180|1:
#        180 s.
#   l.63 10:21:05 CONNECT support (handled) / l.64 10:23:05 TRANSFER ..|5|120|1: 120 s.
#   l.71 10:40:30 PAUSEALL Break / l.72 10:50:00 UNPAUSEALL: paused (Break) 570 s.
#   l.74 10:58:00 AGENTLOGOFF ..|7257: logged out; the log's own logintime, 7257 s, is
#        08:57:03 -> 10:58:00 = 177 + 3600 + 3480.
#   08: 177 s available.  09: logged 3600, on contact 180, available 3420, handled 1.
#   10: logged 10:00-10:58 = 3480; on contact 120; paused 570 (Break); available
#       3480 - 120 - 570 = 2790; handled 1.
#
# Agent/1004
#   l.52 10:00:00 AGENTCALLBACKLOGIN / l.75 10:59:00 AGENTCALLBACKLOGOFF ..|3540|..:
#   10: logged in and available 3540 s (the log's logintime says 3540 too).
#
# Local/1002@agents/n
#   l.25 09:15:02 CONNECT sales (logged before its ENTERQUEUE, l.26): first line: logged in,
#        on_contact, handled 1.
#   l.27 09:18:02 COMPLETECALLER 4|180|1: 180 s; available from then on, never logged out.
#   09: logged 09:15:02-10:00:00 = 2698; on contact 180; available 2518; handled 1.
#   10: logged and available 3600.
#
# In every row: available + on contact + wrap-up + paused = logged in.
AGENTS: dict[tuple[str, str], Row] = {
    # (agent, hour): (logged in, available, on contact, wrap-up, paused, by reason, handled, RNA)
    ("PJSIP/bob", "08"): (240, 240, 0, 0, 0, {}, 0, 0),
    ("PJSIP/bob", "09"): (3600, 3600, 0, 0, 0, {}, 0, 1),
    ("PJSIP/bob", "10"): (3600, 3600, 0, 0, 0, {}, 0, 0),
    ("PJSIP/alice", "08"): (179, 179, 0, 0, 0, {}, 0, 0),
    ("PJSIP/alice", "09"): (3600, 3175, 360, 65, 0, {}, 3, 0),
    ("PJSIP/alice", "10"): (3600, 3180, 420, 0, 0, {}, 1, 0),
    ("SIP/1001", "08"): (178, 120, 0, 0, 58, {"unspecified": 58}, 0, 0),
    ("SIP/1001", "09"): (3600, 1380, 300, 0, 1920, {"Lunch": 1920}, 1, 1),
    ("SIP/1001", "10"): (3300, 3000, 300, 0, 0, {}, 1, 0),
    ("Agent/1003", "08"): (177, 177, 0, 0, 0, {}, 0, 0),
    ("Agent/1003", "09"): (3600, 3420, 180, 0, 0, {}, 1, 0),
    ("Agent/1003", "10"): (3480, 2790, 120, 0, 570, {"Break": 570}, 1, 0),
    ("Agent/1004", "08"): ZERO,
    ("Agent/1004", "09"): ZERO,
    ("Agent/1004", "10"): (3540, 3540, 0, 0, 0, {}, 0, 0),
    ("Local/1002@agents/n", "08"): ZERO,
    ("Local/1002@agents/n", "09"): (2698, 2518, 180, 0, 0, {}, 1, 0),
    ("Local/1002@agents/n", "10"): (3600, 3600, 0, 0, 0, {}, 0, 0),
}
AGENT_NAMES = sorted({agent for agent, _ in AGENTS})

# -- by hand, per queue ---------------------------------------------------------------------------
#
# A queue counts the logged-in, available and paused time of its member agents (ADDMEMBER), and
# the handling time of contacts of that queue whoever handles them; handling a contact of a
# queue the agent is not a member of also counts as logged-in time of that queue
# (docs/agent-kpis.md, "Agents, queues and all").
# Members: sales = alice (l.3), SIP/1001 (l.5, until l.73); support = alice (l.4). bob,
# Agent/1003, Agent/1004 and Local/1002 are members of no queue.
#
# sales
#   08: alice 179 + SIP/1001 178 = 357 logged; available 179 + 120 = 299; paused 58.
#   09: logged 3600 + 3600 + Local/1002's sales call 180 (not a member) = 7380; available
#       alice 3175 + SIP/1001 1380 = 4555; on contact: alice's sales call 240 + SIP/1001 300 +
#       Local/1002 180 = 720 (not alice's support call, 120); wrap-up 65 (alice's after her
#       sales call, l.14 names sales); paused 1920 (Lunch); handled l.12, l.25, l.29, and l.53
#       (entered 09:59:50, counted by arrival) = 4; RNA l.11 = 1.
#   10: logged alice 3600 + SIP/1001 3300 = 6900 (SIP/1001's support call at 10:30 is logged-in
#       time of sales, its member queue, but no state of it); available 3180 + 3000 = 6180; on
#       contact alice 420; handled l.58 = 1.
# support
#   08: alice 179 logged and available.
#   09: logged alice 3600 + Agent/1003's support call 180 (not a member) = 3780; available
#       alice 3175; on contact alice's support call 120 + Agent/1003's 180 = 300; handled l.17,
#       l.34 = 2; RNA l.16 (bob) = 1.
#   10: logged alice 3600 + the support calls of non-members Agent/1003 120 and SIP/1001 300 =
#       4020; available 3180; on contact 120 + 300 = 420; handled l.63, l.66 = 2.
QUEUES: dict[tuple[str, str], Row] = {
    ("sales", "08"): (357, 299, 0, 0, 58, {"unspecified": 58}, 0, 0),
    ("sales", "09"): (7380, 4555, 720, 65, 1920, {"Lunch": 1920}, 4, 1),
    ("sales", "10"): (6900, 6180, 420, 0, 0, {}, 1, 0),
    ("support", "08"): (179, 179, 0, 0, 0, {}, 0, 0),
    ("support", "09"): (3780, 3175, 300, 0, 0, {}, 2, 1),
    ("support", "10"): (4020, 3180, 420, 0, 0, {}, 2, 0),
}


# -- reading the report ---------------------------------------------------------------------------


def hour_start_ms(hour: str) -> int:
    return (T0 + (int(hour) - 9) * 3600) * 1000


def agents_report(at_ms: int) -> dict[str, Any]:
    """`ccpulse report --queue-log sample.queue_log --interval 60 --attribution arrival --at ..`:
    the agent snapshot of the tenant."""
    events, stats = queue_log_events(SAMPLE)
    assert [d.line_no for d in stats.dead_letters] == [76, 77, 78]
    report = build_report(json_lines(events), BOOK, at_ms)
    assert report["errors"] == [] and report["input"]["rejected"] == 0
    assert report["input"]["duplicates"] == 0 and report["input"]["too_late"] == 0
    (snapshot,) = report["agents"]
    assert snapshot["tenant"] == "default"
    return dict(snapshot)


def row(figures: dict[str, Any]) -> Row:
    return tuple(figures[f] for f in FIELDS)


def minus(a: Row, b: Row) -> Row:
    reasons = {k: a[5].get(k, 0) - b[5].get(k, 0) for k in a[5].keys() | b[5].keys()}
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3], a[4] - b[4],
            {k: v for k, v in reasons.items() if v}, a[6] - b[6], a[7] - b[7])  # fmt: skip


def plus(a: Row, b: Row) -> Row:
    reasons = {k: a[5].get(k, 0) + b[5].get(k, 0) for k in a[5].keys() | b[5].keys()}
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], reasons,
            a[6] + b[6], a[7] + b[7])  # fmt: skip


def per_agent_hourly() -> dict[tuple[str, str], Row]:
    """`ccpulse report --queue-log sample.queue_log --from 08:00 --to 11:00 --interval 60
    --attribution arrival`: each agent's hourly rows."""
    events, _ = queue_log_events(SAMPLE)
    spec = RangeSpec(hour_start_ms("08"), END_MS)
    (snapshot,) = build_range_report(json_lines(events), BOOK, spec)["agents"]
    out: dict[tuple[str, str], Row] = {}
    for agent in AGENT_NAMES:
        table = snapshot["agents"][agent]
        assert [r["start"][11:13] for r in table["rows"]] == list(HOURS)
        for r in table["rows"]:
            out[(agent, r["start"][11:13])] = row(r["figures"])
    return out


def intervals(scope: dict[str, Any]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for interval in scope["intervals"]:
        assert interval["start"].startswith("2025-03-04T") and interval["start"].endswith(
            ":00:00+00:00"
        )
        out[interval["start"][11:13]] = row(interval["figures"])
    return out


# -- tests ----------------------------------------------------------------------------------------


def test_the_hand_rows_add_up() -> None:
    # A check of the arithmetic above, not of ccpulse: for one agent, the four states fill the
    # logged-in time, and the pause reasons fill the paused time.
    for key, (logged, available, on_contact, wrap, paused, reasons, _, _) in AGENTS.items():
        assert available + on_contact + wrap + paused == logged, key
        assert sum(reasons.values()) == paused, key
        assert 0 <= logged <= 3600, key


def test_per_agent_hourly_figures_match_the_hand_computation() -> None:
    got = per_agent_hourly()
    diffs = [f"{key}: report {got[key]} != hand {want}"
             for key, want in AGENTS.items() if got[key] != want]  # fmt: skip
    assert not diffs, "\n".join(diffs)


def test_per_agent_day_totals_at_the_end_of_the_log() -> None:
    # One report at the end of the log: `today` is the sum of the three hours, and the current
    # interval (11:00-12:00, holding as_of = 11:00:00) is empty.
    snapshot = agents_report(END_MS)
    assert sorted(snapshot["agents"]) == AGENT_NAMES
    for agent in AGENT_NAMES:
        want = ZERO
        for hour in HOURS:
            want = plus(want, AGENTS[(agent, hour)])
        want = (*want[:5], {k: v for k, v in want[5].items() if v}, *want[6:])
        entry = snapshot["agents"][agent]
        assert row(entry["today"]) == want, agent
        assert row(entry["current_interval"]) == ZERO, agent
    # alice: (on contact 780 + wrap-up 65) / 4 handled; occupancy (780 + 65) / 7379.
    alice = snapshot["agents"]["PJSIP/alice"]["today"]
    assert alice["aht_seconds"] == pytest.approx(845 / 4)
    assert alice["occupancy"] == pytest.approx(845 / 7379)
    # SIP/1001: (600 + 0) / (7078 - 1978) ready seconds; utilisation 600 / 7078.
    sip = snapshot["agents"]["SIP/1001"]["today"]
    assert sip["occupancy"] == pytest.approx(600 / (7078 - 1978))
    assert sip["utilisation"] == pytest.approx(600 / 7078)


def test_live_view_at_the_end_of_the_log() -> None:
    # Still logged in at 11:00:00: bob (available since l.1, 08:56:00), alice (since l.59,
    # 10:10:11), Local/1002 (since l.27, 09:18:02). SIP/1001, Agent/1003 and Agent/1004 logged
    # out (l.73-75).
    live = {a: e["live"] for a, e in agents_report(END_MS)["agents"].items()}
    got = {
        a: None if v is None else (v["state"], v["since"][11:19], v["time_in_state_seconds"])
        for a, v in live.items()
    }
    assert got == {
        "PJSIP/bob": ("available", "08:56:00", 7440.0),
        "PJSIP/alice": ("available", "10:10:11", 2989.0),
        "Local/1002@agents/n": ("available", "09:18:02", 6118.0),
        "SIP/1001": None,
        "Agent/1003": None,
        "Agent/1004": None,
    }
    assert live["PJSIP/alice"]["queues"] == ["sales", "support"]
    assert live["PJSIP/bob"]["queues"] == []  # seen without a login: no known member queue


def test_all_agents_hourly_intervals_are_the_sum_of_the_agents() -> None:
    want: dict[str, Row] = {}
    for hour in HOURS:
        total = ZERO
        for agent in AGENT_NAMES:
            total = plus(total, AGENTS[(agent, hour)])
        want[hour] = (*total[:5], {k: v for k, v in total[5].items() if v}, *total[6:])
    # By hand as well: 08: 240 + 179 + 178 + 177 = 774 logged in; 09: 4 * 3600 + 2698 = 17098;
    # 10: 3600 + 3600 + 3300 + 3480 + 3540 + 3600 = 21120; handled 0, 6, 3 (alice's l.53 call,
    # entered 09:59:50, counts in 09 by arrival).
    assert [(want[h][0], want[h][6]) for h in HOURS] == [(774, 0), (17098, 6), (21120, 3)]
    assert intervals(agents_report(END_MS)["all"]) == want


def test_per_queue_hourly_intervals_match_the_hand_computation() -> None:
    queues = agents_report(END_MS)["queues"]
    assert sorted(queues) == ["sales", "support"]
    got = {(q, hour): r for q in queues for hour, r in intervals(queues[q]).items()}
    assert got == QUEUES


def test_the_docs_table_is_the_hand_computation() -> None:
    # docs/asterisk-queue-log.md prints the AGENTS table; it must not drift from it.
    doc = (Path(__file__).resolve().parents[2] / "docs" / "asterisk-queue-log.md").read_text()
    lines = doc.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("| Agent | Hour | Logged in |"))
    shown: dict[tuple[str, str], Row] = {}
    agent = ""
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        agent = cells[0].strip("`") or agent
        paused, _, reason = cells[6].partition(" ")
        by_reason = {reason.strip("(`)"): float(paused)} if reason else {}
        logged, available, on_contact, wrap = (float(c) for c in cells[2:6])
        shown[(agent, cells[1])] = (logged, available, on_contact, wrap, float(paused), by_reason,
                                    int(cells[7]), int(cells[8]))  # fmt: skip
    assert shown == {key: r for key, r in AGENTS.items() if r != ZERO}
