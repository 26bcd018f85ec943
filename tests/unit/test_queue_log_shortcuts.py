"""The parser's and the mapper's shortcuts give what the plain rules give, line for line.

`epoch_ms` reads whole seconds without its regex and `LineParser` finds blank lines with
`isspace`; `QueueLogMapper._release` looks at the held-back events only when one is due or the
line is that agent's, and `Visits.prune` only at the visits listed under the hours before the
horizon.
Each is checked against the plain rule it stands for, written out below as the reference (the
code as it was before the shortcut), over generated logs with the odd lines: agents NONE,
sub-second and millisecond timestamps, WRAPUPSTART with a length, pauses after a logoff, lines
out of time order, lines that are refused, restarts from the saved state.
"""

from __future__ import annotations

import itertools
import random
import re
import sys
from typing import Any

import orjson
import pytest

from ccpulse.sources.queue_log import QueueLogMapper
from ccpulse.sources.queue_log_parse import LineParser, QueueLogLine, epoch_ms
from ccpulse.sources.queue_log_state import (
    AFTER_CALL,
    PRUNE_EVERY_MS,
    HeldBack,
    Visits,
    WireEvent,
)
from ccpulse.sources.queue_log_typed import TypedQueueLogMapper

T0 = 1_741_078_800  # 2025-03-04T09:00:00Z
_NUMBER_RE = re.compile(r"^\d+(\.\d+)?\Z")


def plain_epoch_ms(text: str) -> int | None:
    """`epoch_ms` by its regex alone."""
    text = text.strip()
    if not _NUMBER_RE.match(text):
        return None
    whole, _, fraction = text.partition(".")
    if int(whole) >= 100_000_000_000:
        return int(whole)
    return int(whole) * 1000 + int(fraction[:3].ljust(3, "0"))


class PlainHeldBack(HeldBack):
    """`HeldBack.release` looking at every held-back event, as on every line before."""

    def release(self, agent: str, event_name: str, ts_ms: int) -> list[WireEvent]:
        ev = event_name.upper()
        out: list[WireEvent] = []
        for who, (ts, event, kind) in list(self.events.items()):
            if kind == AFTER_CALL:
                if who == agent or ts_ms >= ts + self.grace_ms:
                    del self.events[who]
                    if not (who == agent and ev == "WRAPUPSTART"):
                        out.append(event)
            elif who == agent and ev not in self.no_state:
                del self.events[who]
                if ts_ms >= ts:
                    out.append(event)
            elif ts_ms >= ts:
                del self.events[who]
                out.append(event)
        return out


class PlainVisits(Visits):
    """`Visits.prune` looking at every visit."""

    def prune(self, horizon_ms: int) -> None:
        for key in [k for k, v in self.by_key.items() if v.last_ms < horizon_ms]:
            del self.by_key[key]


class PlainMapper(QueueLogMapper):
    """The mapper with the plain rules: every line goes through the held-back events, every
    prune through the visits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._visits = PlainVisits()
        self._held = PlainHeldBack(self.grace_ms, self._held.no_state)

    def _release(self, line: QueueLogLine) -> list[WireEvent]:
        if not self._held.events:
            return []
        agent = self.agent_aliases.get(line.agent, line.agent)
        return self._held.release(agent, line.event, line.ts_ms)


TIMESTAMPS = ["1741078800", "1741078800.5", "1741078800.999999", "1741078800.", ".5",
              " 1741078800 ", "1741078800123", "1741078800123.9", "174107880012", "17410788001",
              "946684799", "946684800", "0", "", " ", "abc", "1e9", "-1741078800", "+1741078800",
              "1741078800.1.2", "1741078800,5", "1741078800\n", "00001741078800", "1_741_078_800",
              # Unicode digits (fullwidth, Arabic-Indic), a superscript, a numeral, wide spaces
              "\uff11\uff17\uff14\uff11\uff10\uff17\uff18\uff18\uff10\uff10",
              "\u0661\u0667\u0664\u0661\u0660\u0667\u0668\u0668\u0660\u0660.\u0665",
              "1741078800\u00b2", "\u216b", "\u30001741078800\u3000"]  # fmt: skip


@pytest.mark.parametrize("text", TIMESTAMPS)
def test_epoch_ms_is_its_regex_rule(text: str) -> None:
    assert epoch_ms(text) == plain_epoch_ms(text)


def test_epoch_ms_is_its_regex_rule_on_generated_numbers() -> None:
    rng = random.Random(5)
    digits = "0123456789\u0661\u0662\u0663\uff16\uff17\u00b2"
    for _ in range(5000):
        text = "".join(rng.choice(digits) for _ in range(rng.randint(1, 14)))
        if rng.random() < 0.3:
            text += "." + "".join(rng.choice(digits) for _ in range(rng.randint(0, 7)))
        assert epoch_ms(text) == plain_epoch_ms(text), text


@pytest.mark.parametrize("line", ["", " ", "\t", "\x0b\x0c", "\x1c\x1d\x1e\x1f", "\x85",
                                  "\u00a0", "\u2028\u3000", "\u200b", "\ufeff", " x "])  # fmt: skip
def test_a_blank_line_is_one_that_strips_to_nothing(line: str) -> None:
    parsed = LineParser().parse(line, 1)
    if not line.strip():
        assert parsed is None
    else:
        assert parsed is not None


AGENTS = ["SIP/1001", "SIP/1002", "PJSIP/alice", "PJSIP/bob", "Agent/7"]
QUEUES = ["sales", "support"]


def generated_log(seed: int, n_lines: int = 6000) -> list[str]:
    """Calls, agent state changes and odd lines over about 20 hours, some out of time order."""
    rng = random.Random(seed)
    t = float(T0)
    out: list[str] = []
    calls: list[str] = []
    while len(out) < n_lines:
        t += rng.expovariate(1 / 12)
        ts = t - rng.choice((0, 0, 0, 0, 3, 7, 60))  # a few lines out of order
        stamp = rng.choice((f"{int(ts)}", f"{int(ts)}", f"{ts:.6f}", f"{int(ts * 1000)}"))
        agent = rng.choice([*AGENTS, "NONE"])
        queue = "NONE" if rng.random() < 0.02 else rng.choice(QUEUES)
        if not calls or rng.random() < 0.3:
            calls.append(f"{int(t)}.{len(out)}")
        call = rng.choice(calls[-30:]) if rng.random() < 0.95 else "NONE"
        event, data = rng.choice([
            ("ENTERQUEUE", ["", "+1555", "1"]), ("CONNECT", [str(rng.randint(0, 99)), "x", "1"]),
            ("COMPLETECALLER", ["5", str(rng.randint(1, 600)), "1"]),
            ("COMPLETEAGENT", ["5", str(rng.randint(1, 600)), "1"]),
            ("TRANSFER", ["200", "ctx", "5", str(rng.randint(1, 600)), "1"]),
            ("ABANDON", ["1", "1", str(rng.randint(0, 99))]),
            ("EXITWITHTIMEOUT", ["1", "1", "30"]), ("RINGNOANSWER", ["15000"]),
            ("WRAPUPSTART", [rng.choice(["", "5", "30", "120", "abc", "0"])]),
            ("WRAPUPSTART", [""]), ("PAUSE", [rng.choice(["Lunch", ""])]), ("UNPAUSE", []),
            ("PAUSEALL", ["Break"]), ("UNPAUSEALL", []), ("ADDMEMBER", [""]),
            ("REMOVEMEMBER", [""]), ("AGENTLOGOFF", []), ("RINGCANCELED", ["1000"]),
            ("INFO", ["x"]), ("FULL", [""]), ("MYSTERY", []), ("connect", ["abc", "x"]),
        ])  # fmt: skip
        if event in ("PAUSE", "UNPAUSE", "PAUSEALL", "UNPAUSEALL", "ADDMEMBER", "REMOVEMEMBER",
                     "AGENTLOGOFF", "WRAPUPSTART"):  # fmt: skip
            call = "NONE"
        line = "|".join([stamp, call, queue, agent, event, *data])
        if rng.random() < 0.01:
            line = rng.choice(["garbage", "", "   ", f"{int(t)}|c|sales|NONE|", f"abc|{line}"])
        out.append(line)
    return out


def _run(mapper: QueueLogMapper, lines: list[str], seed: int, restarts: bool) -> list[Any]:
    """What the mapper gives line by line, with its state saved at random lines (as the follower
    does) and, with `restarts`, reloaded into a new mapper of the same class; finally flushed."""
    rng = random.Random(seed)
    parser = LineParser()
    seen: list[Any] = []
    for n, raw in enumerate(lines, start=1):
        seen.append(mapper.feed(parser.parse(raw, n)))
        if rng.random() < 0.01:
            state = mapper.state()
            seen.append(state)
            if restarts:
                again = type(mapper)(visit_retention_seconds=mapper.retention_ms // 1000)
                again.load_state(orjson.loads(orjson.dumps(state)))
                again.stats = mapper.stats
                mapper = again
        elif rng.random() < 0.01:
            seen.append(mapper.flush(until_ms=rng.choice((0, sys.maxsize, (T0 + 40_000) * 1000))))
    seen.append(mapper.flush())
    seen.append(mapper.state())
    seen.append((mapper.stats.lines, mapper.stats.events, mapper.stats.skipped,
                 mapper.stats.errors()))  # fmt: skip
    return seen


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("retention_s", [600, 7_200, 86_400])
@pytest.mark.parametrize("restarts", [False, True])
def test_the_mapper_gives_what_the_plain_rules_give(
    seed: int, retention_s: int, restarts: bool
) -> None:
    lines = generated_log(seed)
    fast = _run(QueueLogMapper(visit_retention_seconds=retention_s), lines, seed, restarts)
    plain = _run(PlainMapper(visit_retention_seconds=retention_s), lines, seed, restarts)
    assert orjson.dumps(fast) == orjson.dumps(plain)
    assert sum(len(x) for x in fast if isinstance(x, list)) > len(lines) // 2


def test_the_generated_log_has_what_the_shortcuts_must_handle() -> None:
    lines = generated_log(1)
    mapper = TypedQueueLogMapper(visit_retention_seconds=600)
    events = [e for n, raw in enumerate(lines, 1) for e in mapper.feed(LineParser().parse(raw, n))]
    ends = [e for e in events if e["event_id"].endswith(":we")]
    assert ends, "wrap-up ends of a known length"
    assert mapper.stats.dead_letters, "refused lines"
    assert (max(e["ts"] for e in events) - min(e["ts"] for e in events)) > 10 * PRUNE_EVERY_MS
    assert any(a["ts"] > b["ts"] for a, b in itertools.pairwise(events))
