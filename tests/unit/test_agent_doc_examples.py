"""The worked examples of docs/agent-kpis.md, the agent, ticket and survey examples of
docs/event-contract.md, and the agent and survey parts of docs/redis-keys.md and
docs/prometheus-metrics.md give, through ccpulse, what the docs print.

Expected values are the docs' hand arithmetic (written out beside each assertion), not copies of
program output.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.registry import CollectorRegistry

from ccpulse.report import build_report, render_table
from ccpulse.schemas import AgentEvent, SurveyEvent, TicketEvent, decode_message, routing_key
from ccpulse.sinks.prometheus_sink import PrometheusSink
from ccpulse.sinks.redis_families import agent_hashes
from ccpulse.streams.kpi import PolicyBook
from tests.helpers.docs import code_blocks, schema_validator

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "tests" / "data" / "examples"
SHIFT = EXAMPLES / "agents-shift.jsonl"
RULES = EXAMPLES / "agents-rules.jsonl"
LATE = EXAMPLES / "agents-late.jsonl"
NOW_MS = 1_900_000_000_000


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def report(path: Path, at: str | None = None, book: PolicyBook | None = None) -> Any:
    lines = path.read_text(encoding="utf-8").splitlines()
    return build_report(lines, book or PolicyBook(), None if at is None else ms(at))


def agents(rep: Any) -> Any:
    assert len(rep["agents"]) == 1
    return rep["agents"][0]


def figures(
    logged_in: float,
    available: float,
    on_contact: float,
    wrap_up: float,
    paused: float,
    by_reason: dict[str, float],
    handled: int,
    rna: int,
) -> dict[str, Any]:
    """Every agent figure from the times and counts, by the documented formulas."""
    handling = on_contact + wrap_up
    return {
        "logged_in_seconds": logged_in,
        "available_seconds": available,
        "on_contact_seconds": on_contact,
        "wrap_up_seconds": wrap_up,
        "paused_seconds": paused,
        "paused_seconds_by_reason": by_reason,
        "handled": handled,
        "ring_no_answer": rna,
        "aht_seconds": handling / handled if handled else None,
        "occupancy": handling / (logged_in - paused) if logged_in - paused > 0 else None,
        "utilisation": handling / logged_in if logged_in > 0 else None,
    }


def assert_figures(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == (value if value is None else pytest.approx(value)), key


# -- the worked example: agents-shift.jsonl at 09:55 ------------------------------------------

AT = "2026-03-10T09:55:00+00:00"


@pytest.fixture(scope="module")
def shift() -> Any:
    return agents(report(SHIFT, AT))


def test_shift_per_agent_today(shift: Any) -> None:
    ana = shift["agents"]["ana"]["today"]
    # 09:00-09:50; available 300 + 180 + 240 + 600; contact 420 + 480; wrap 300 + 120.
    assert_figures(ana, figures(3000, 1320, 900, 420, 360, {"break": 360}, 2, 1))
    assert ana["aht_seconds"] == 660  # (900 + 420) / 2
    assert ana["occupancy"] == 0.5  # 1320 / (3000 - 360)
    assert ana["utilisation"] == pytest.approx(0.44)  # 1320 / 3000
    bob = shift["agents"]["bob"]["today"]
    # 09:10-09:55; paused 09:40 up to as_of, no reason.
    assert_figures(bob, figures(2700, 600, 900, 300, 900, {"unspecified": 900}, 1, 0))
    assert bob["aht_seconds"] == 1200
    assert bob["occupancy"] == pytest.approx(2 / 3)  # 1200 / (2700 - 900)
    assert bob["utilisation"] == pytest.approx(4 / 9)  # 1200 / 2700


def test_shift_all_and_queues_today(shift: Any) -> None:
    everyone = shift["all"]["today"]
    reasons = {"break": 360, "unspecified": 900}
    assert_figures(everyone, figures(5700, 1920, 1800, 720, 1260, reasons, 3, 1))
    assert everyone["aht_seconds"] == 840  # 2520 / 3
    assert everyone["occupancy"] == pytest.approx(2520 / 4440)
    assert everyone["utilisation"] == pytest.approx(2520 / 5700)
    sales = shift["queues"]["sales"]["today"]
    # Both agents' logged-in, available and paused time; Ana's sales contact only.
    assert_figures(sales, figures(5700, 1920, 420 + 900, 300 + 300, 1260, reasons, 2, 0))
    assert sales["aht_seconds"] == 960
    states = sum(sales[f"{s}_seconds"] for s in ("available", "on_contact", "wrap_up", "paused"))
    assert states == 5700 - 600  # Ana's support contact: logged in to sales, no sales state
    support = shift["queues"]["support"]["today"]
    assert_figures(support, figures(3000, 1320, 480, 120, 360, {"break": 360}, 1, 1))
    assert support["occupancy"] == pytest.approx(600 / 2640)
    assert support["utilisation"] == pytest.approx(0.2)
    assert sorted(shift["queues"]) == ["sales", "support"]


def test_shift_intervals_split_at_boundaries(shift: Any) -> None:
    found = {i["start"][11:16]: i for i in shift["all"]["intervals"]}
    assert sorted(found) == ["09:00", "09:15", "09:30", "09:45"]
    assert found["09:45"]["end"] == "2026-03-10T10:00:00+00:00"
    expected = {
        "09:00": figures(1200, 600, 420, 180, 0, {}, 1, 0),
        "09:15": figures(1800, 720, 600, 120, 360, {"break": 360}, 1, 1),
        "09:30": figures(1800, 300, 780, 420, 300, {"unspecified": 300}, 1, 0),
        "09:45": figures(900, 300, 0, 0, 600, {"unspecified": 600}, 0, 0),
    }
    for start, figs in expected.items():
        assert_figures(found[start]["figures"], figs)
    assert found["09:30"]["figures"]["aht_seconds"] == 1200
    assert found["09:45"]["figures"]["occupancy"] == 0  # 0 / (900 - 600)
    assert found["09:45"]["figures"]["aht_seconds"] is None
    assert shift["all"]["current_interval"] == found["09:45"]["figures"]
    total = sum(i["figures"]["logged_in_seconds"] for i in found.values())
    assert total == shift["all"]["today"]["logged_in_seconds"] == 5700


def test_shift_live_view(shift: Any) -> None:
    (block,) = [b for b in code_blocks("agent-kpis.md", "json") if '"support": null' in b]
    documented = json.loads(block)
    shown = {
        "all": shift["all"]["live"],
        "sales": shift["queues"]["sales"]["live"],
        "support": shift["queues"]["support"]["live"],
        "bob": shift["agents"]["bob"]["live"],
        "ana": shift["agents"]["ana"]["live"],
    }
    assert shown == documented
    assert shown["bob"]["time_in_state_seconds"] == 900  # paused since 09:40


def test_shift_table_as_printed() -> None:
    out = io.StringIO()
    render_table(report(SHIFT, AT), out)
    documented = next(b for b in code_blocks("agent-kpis.md", "text") if "agents of demo" in b)
    section, summary = out.getvalue().strip().split("\n\n")
    assert section == documented.strip()
    assert summary.startswith("16 events from 16 lines; 0 rejected")


def test_doc_shows_the_example_files() -> None:
    blocks = code_blocks("agent-kpis.md", "jsonl")
    assert blocks == [p.read_text(encoding="utf-8") for p in (SHIFT, RULES, LATE)]


def test_order_does_not_change_figures() -> None:
    lines = SHIFT.read_text(encoding="utf-8").splitlines()
    backwards = list(reversed(lines))
    forward = agents(build_report(lines, PolicyBook(), ms(AT)))
    backward = agents(build_report(backwards, PolicyBook(), ms(AT)))
    assert backward == forward
    doubled = agents(build_report(backwards + lines[::3], PolicyBook(), ms(AT)))
    assert doubled["pipeline"] == {"too_late": 0, "duplicates": 6}
    assert {k: v for k, v in doubled.items() if k != "pipeline"} == {
        k: v for k, v in forward.items() if k != "pipeline"
    }


# -- the fold rules: agents-rules.jsonl as of its last event ----------------------------------


def test_rules_example() -> None:
    rep = report(RULES)
    snap = agents(rep)
    assert snap["as_of"] == "2026-03-10T09:30:00+00:00"
    cara = snap["agents"]["cara"]["today"]
    # Seen on a billing contact without a login: logged in from 09:00, in no queue.
    assert_figures(cara, figures(600, 120, 360, 120, 0, {}, 1, 0))
    assert cara["occupancy"] == pytest.approx(0.8)
    billing = snap["queues"]["billing"]["today"]
    # Handling a billing contact counts as logged in to billing for that time.
    assert_figures(billing, figures(480, 0, 360, 120, 0, {}, 1, 0))
    assert (billing["aht_seconds"], billing["occupancy"], billing["utilisation"]) == (480, 1, 1)
    dan = snap["agents"]["dan"]["today"]
    assert_figures(dan, figures(1800, 1800, 0, 0, 0, {}, 0, 0))
    assert snap["queues"]["sales"]["today"]["logged_in_seconds"] == 1800
    assert snap["queues"]["support"]["today"]["logged_in_seconds"] == 1200  # left at 09:20
    assert_figures(snap["all"]["today"], figures(2400, 1920, 360, 120, 0, {}, 1, 0))
    assert snap["all"]["today"]["occupancy"] == pytest.approx(0.2)
    assert snap["all"]["live"] is None  # Dan went offline at 09:30
    assert snap["agents"]["cara"]["live"] is None


# -- lateness and duplicates: agents-late.jsonl, lateness 3600 s, at 13:00 ---------------------


def test_late_example() -> None:
    book = PolicyBook()
    book = replace(book, engine=replace(book.engine, lateness_seconds=3600))
    rep = report(LATE, "2026-03-10T13:00:00+00:00", book)
    assert (rep["input"]["too_late"], rep["input"]["duplicates"]) == (1, 1)
    snap = agents(rep)
    assert snap["pipeline"] == {"too_late": 1, "duplicates": 1}
    eve = figures(3600, 600, 1200, 0, 1800, {"meeting": 1800}, 1, 0)
    for view in (snap["agents"]["eve"], snap["queues"]["sales"], snap["all"]):
        assert_figures(view["today"], eve)
    assert snap["all"]["today"]["occupancy"] == pytest.approx(2 / 3)
    live = snap["agents"]["eve"]["live"]
    assert (live["state"], live["reason"], live["time_in_state_seconds"]) == (
        "paused",
        "meeting",
        1800,
    )
    # With the default lateness of a day, e3 counts: Eve is logged out by 10:30's logout,
    # folded before her 12:00 login, so nothing changes but the too-late count.
    default = agents(report(LATE, "2026-03-10T13:00:00+00:00"))
    assert default["pipeline"] == {"too_late": 0, "duplicates": 1}
    assert default["all"]["today"] == snap["all"]["today"]


# -- event-contract.md: the agent, ticket and survey examples ---------------------------------

SCHEMAS = {
    AgentEvent: "agent-event.v1.json",
    TicketEvent: "ticket-event.v1.json",
    SurveyEvent: "survey-event.v1.json",
}


def test_contract_family_examples_are_valid() -> None:
    validators = {kind: schema_validator(name) for kind, name in SCHEMAS.items()}
    blocks = code_blocks("event-contract.md", "jsonl")
    assert len(blocks) == 3  # agent, ticket and survey examples
    keys = set()
    for block in blocks:
        for line in block.splitlines():
            result = decode_message(line, NOW_MS)
            assert result.rejections == [], line
            (event,) = result.events
            assert list(validators[type(event)].iter_errors(json.loads(line))) == [], line
            keys.add(routing_key(event))
    assert keys == {"acme/#agents", "acme/#tickets", "acme/#surveys"}


# -- redis-keys.md and prometheus-metrics.md: what the sinks make of the worked example -------


def _hmget_blocks(text: str) -> list[tuple[str, list[str], list[str | None]]]:
    """(key, fields, values) of every `> HMGET` in a redis-cli transcript."""
    out: list[tuple[str, list[str], list[str | None]]] = []
    for line in text.splitlines():
        if line.startswith("> HMGET "):
            _, _, key, *fields = line.split()
            out.append((key, fields, []))
        elif out and re.match(r"^\s*\d+\) ", line):
            value = line.split(") ", 1)[1]
            out[-1][2].append(None if value == "(nil)" else json.loads(value))
    return out


def test_redis_agent_hashes_as_documented(shift: Any) -> None:
    hashes = dict(agent_hashes("ccpulse", shift))
    transcripts = [b for b in code_blocks("redis-keys.md", "text") if "ccpulse:agent" in b]
    assert len(transcripts) == 1
    checked = _hmget_blocks(transcripts[0])
    assert [key for key, _, _ in checked] == [
        "ccpulse:agent:demo:bob",
        "ccpulse:agent:demo:ana",
        "ccpulse:agent-summary:demo:#all",
    ]
    for key, fields, values in checked:
        assert [hashes[key].get(f) for f in fields] == values, key
    assert set(hashes) == {
        "ccpulse:agent:demo:ana",
        "ccpulse:agent:demo:bob",
        "ccpulse:agent-summary:demo:#all",
        "ccpulse:agent-summary:demo:sales",
        "ccpulse:agent-summary:demo:support",
    }
    # The 10 documented figures, per window, besides the pause reasons.
    documented = {
        "logged_in_seconds", "available_seconds", "on_contact_seconds", "wrap_up_seconds",
        "paused_seconds", "handled", "ring_no_answer", "aht_seconds", "occupancy", "utilisation",
    }  # fmt: skip
    for fields in hashes.values():
        for window in ("current_interval", "today"):
            names = {f.split(".", 1)[1] for f in fields if f.startswith(f"{window}.")}
            assert {n for n in names if not n.startswith("paused_seconds_by_reason.")} == (
                documented
            )


def _metric_rows(section: str) -> dict[str, set[str]]:
    """Metric name -> label names, from the table of a section of prometheus-metrics.md."""
    text = (DOCS / "prometheus-metrics.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `ccpulse_"):
            rows[cells[0].strip("`")] = set(re.findall(r"`(\w+)`", cells[1]))
    return rows


def test_prometheus_agent_and_survey_series_as_documented() -> None:
    lines = SHIFT.read_text(encoding="utf-8").splitlines()
    for n, (survey, score) in enumerate((("csat", 5), ("nps", 9), ("ces", 3))):
        lines.append(json.dumps({
            "event_id": f"v{n}", "type": "survey.response", "ts": f"2026-03-10T09:3{n}:00Z",
            "tenant": "demo", "survey": survey, "score": score, "queue": "sales",
        }))  # fmt: skip
    rep = build_report(lines, PolicyBook(), ms(AT))
    registry = CollectorRegistry()
    sink = PrometheusSink(registry, agent_labels=True)
    sink.update_families(
        [("agents", s) for s in rep["agents"]] + [("surveys", s) for s in rep["surveys"]]
    )
    emitted = {
        metric.name: set(metric.samples[0].labels)
        for metric in registry.collect()
        if metric.samples and metric.name.startswith(("ccpulse_agent", "ccpulse_survey"))
    }
    agent_rows = _metric_rows("Agent metrics")
    survey_rows = {name: {"tenant", "queue", "window"} for name in _metric_rows("Survey metrics")}
    assert emitted == {**agent_rows, **survey_rows}
    value = registry.get_sample_value
    today = {"tenant": "demo", "window": "today"}
    assert value("ccpulse_agents_logged_in", {"tenant": "demo", "queue": "#all"}) == 1
    assert value("ccpulse_agents_logged_in", {"tenant": "demo", "queue": "support"}) == 0
    seconds = {**today, "queue": "sales", "state": "on_contact"}
    assert value("ccpulse_agent_state_seconds", seconds) == 1320
    assert value("ccpulse_agent_handled_contacts", {**today, "queue": "#all"}) == 3
    occupancy = value("ccpulse_agent_occupancy_ratio", {**today, "queue": "support"})
    assert occupancy == pytest.approx(600 / 2640)
    by_agent = {**today, "agent": "bob", "state": "paused"}
    assert value("ccpulse_agent_state_seconds_by_agent", by_agent) == 900
    assert value("ccpulse_survey_csat_responses", {**today, "queue": "#all"}) == 1
    assert value("ccpulse_survey_nps_score", {**today, "queue": "sales"}) == 100
    # No response in 09:45-10:00: no NPS sample, a response count of 0.
    current = {"tenant": "demo", "window": "current_interval", "queue": "#all"}
    assert value("ccpulse_survey_nps_score", current) is None
    assert value("ccpulse_survey_nps_responses", current) == 0
