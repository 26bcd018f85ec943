"""Every worked example in docs/ gives, when run through ccpulse, the numbers the docs print.

Expected values are the docs' hand arithmetic (written out beside each assertion), not copies of
program output.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ccpulse.config import load_settings
from ccpulse.schemas import ContactEvent, decode_message
from ccpulse.streams.kpi.windows import Calendar
from tests.helpers.docs import code_blocks, run_report, schema_validator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
EXAMPLES = DATA / "examples"
NOW_MS = 1_900_000_000_000


def only_queue(report: Any) -> Any:
    assert len(report["queues"]) == 1
    return report["queues"][0]


def today(report: Any, channel: str = "all") -> Any:
    return only_queue(report)["channels"][channel]["today"]["figures"]


def intervals(report: Any) -> dict[str, Any]:
    """Interval figures of the `all` channel by start label."""
    return {i["start"]: i for i in only_queue(report)["channels"]["all"]["intervals"]}


# -- kpi-definitions.md: the worked example ---------------------------------------------------

KPIS = EXAMPLES / "kpis.jsonl"


@pytest.fixture(scope="module")
def kpis() -> Any:
    return today(run_report(KPIS)[0])


def test_counters(kpis: Any) -> None:
    expected = {
        "offered": 12,  # a1-a6, b1-b5, d1
        "blocked": 2,
        "blocked_full": 1,
        "blocked_no_agents": 0,
        "blocked_closed": 1,
        "blocked_other": 0,
        "answered": 6,
        "answered_within_threshold": 4,  # 5, 12, 18 and 20 s (inclusive)
        "abandoned": 5,
        "short_abandoned": 2,  # 2 and 4 s, below 5 s
        "abandoned_within_threshold": 3,  # 2, 4 and 15 s
        "dequeued": 1,
        "dequeued_timeout": 1,
        "completed": 3,
    }
    assert {k: kpis[k] for k in expected} == expected
    assert kpis["answered_wait_seconds_sum"] == 5 + 12 + 18 + 20 + 25 + 40
    assert kpis["abandoned_wait_seconds_sum"] == 2 + 4 + 15 + 30 + 90
    longest_waits = (kpis["longest_answered_wait_seconds"], kpis["longest_abandoned_wait_seconds"])
    assert longest_waits == (40, 90)
    sums = (kpis["talk_seconds_sum"], kpis["hold_seconds_sum"], kpis["wrap_seconds_sum"])
    assert sums == (180 + 300 + 120, 20, 40 + 60)
    longest = (
        kpis["longest_talk_seconds"],
        kpis["longest_hold_seconds"],
        kpis["longest_wrap_seconds"],
    )
    assert longest == (300, 20, 60)


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("answered", 4 / 6),
        ("answered_and_abandoned", 4 / 11),
        ("exclude_short_abandons", 4 / 9),
        ("exclude_abandons_within_threshold", 4 / 8),
        ("abandons_within_threshold_met", (4 + 3) / 11),
    ],
)
def test_service_level_formulas(formula: str, expected: float) -> None:
    report, _ = run_report(KPIS, defaults_sl_formula=formula)
    assert only_queue(report)["sl_formula"] == formula
    assert today(report)["service_level"] == pytest.approx(expected)


def test_default_formula_and_dequeued(kpis: Any) -> None:
    assert kpis["service_level"] == pytest.approx(4 / 9)
    assert (kpis["service_level_target"], kpis["service_level_threshold_seconds"]) == (0.8, 20)
    report, _ = run_report(KPIS, defaults_sl_counts_dequeued="true")
    assert today(report)["service_level"] == pytest.approx(4 / (6 + 5 - 2 + 1))


def test_derived_figures(kpis: Any) -> None:
    assert kpis["asa_seconds"] == pytest.approx(120 / 6)
    assert kpis["abandonment_rate"] == pytest.approx(5 / 12)
    assert kpis["average_abandon_seconds"] == pytest.approx(141 / 5)
    assert kpis["blockage_rate"] == pytest.approx(2 / 14)
    assert kpis["answer_rate"] == pytest.approx(6 / 12)
    assert kpis["aht_seconds"] == pytest.approx((600 + 20 + 100) / 3)
    assert kpis["first_contact_resolution_rate"] == pytest.approx(1 / 2)
    # Wazo's answered rate from ccpulse's counts: answered / (offered + blocked - closed).
    wazo = kpis["answered"] / (kpis["offered"] + kpis["blocked"] - kpis["blocked_closed"])
    assert wazo == pytest.approx(6 / 13)
    report, _ = run_report(KPIS, defaults_abandon_rate_excludes_short="true")
    assert today(report)["abandonment_rate"] == pytest.approx((5 - 2) / (12 - 2))


# -- live figures and rolling windows ---------------------------------------------------------

ROLLING = EXAMPLES / "rolling-live.jsonl"
AT = "2024-03-05T10:07:30Z"


def test_live_and_rolling_windows() -> None:
    report, _ = run_report(ROLLING, "--at", AT)
    assert report["input"]["ignored_after_at"] == 1  # r4 at 10:07:45
    queue = only_queue(report)
    assert queue["live"]["all"] == {"in_queue": 4, "longest_wait_seconds": 4050.0}
    rolling = queue["channels"]["all"]["rolling"]
    assert rolling["15m"]["offered"] == 2  # [09:53:00, 10:08:00): r2, r3
    assert rolling["60m"]["offered"] == 3  # [09:08:00, 10:08:00): r1, r2, r3
    report, _ = run_report(ROLLING, "--at", AT, engine_max_wait_seconds="3600")
    assert only_queue(report)["live"]["all"] == {"in_queue": 3, "longest_wait_seconds": 871.0}
    assert today(report)["offered"] == 4  # r0 left the live view, not the counts


# -- intervals and daylight saving ------------------------------------------------------------


def _intervals_of_day(zone: str, day: str, minutes: int) -> list[tuple[str, str]]:
    cal = Calendar(zone, minutes * 60_000)
    noon = datetime.fromisoformat(f"{day}T12:00").replace(tzinfo=ZoneInfo(zone))
    start, end = cal.day_bounds(round(noon.timestamp() * 1000))
    out = []
    while start < end:
        out.append((cal.label(start), cal.label(cal.interval_end(start))))
        start = cal.interval_end(start)
    return out


def test_quarter_hours_per_day() -> None:
    assert len(_intervals_of_day("Europe/Paris", "2024-03-31", 15)) == 92
    assert len(_intervals_of_day("Europe/Paris", "2024-10-27", 15)) == 100
    assert len(_intervals_of_day("Europe/Paris", "2024-03-05", 15)) == 96
    lord_howe = _intervals_of_day("Australia/Lord_Howe", "2024-10-06", 60)  # a 23.5-hour day
    assert len(lord_howe) == 24
    assert lord_howe[-1] == ("2024-10-06T23:30:00+11:00", "2024-10-07T00:00:00+11:00")


def test_dst_example() -> None:
    report, _ = run_report(EXAMPLES / "dst.jsonl", defaults_time_zone="Europe/Paris")
    found = [(i["start"], i["end"], i["figures"]["offered"]) for i in intervals(report).values()]
    assert found == [
        ("2024-03-31T01:45:00+01:00", "2024-03-31T03:00:00+02:00", 1),
        ("2024-03-31T03:00:00+02:00", "2024-03-31T03:15:00+02:00", 1),
        ("2024-10-27T02:00:00+02:00", "2024-10-27T02:15:00+02:00", 1),
        ("2024-10-27T02:00:00+01:00", "2024-10-27T02:15:00+01:00", 1),
    ]
    assert only_queue(report)["channels"]["all"]["today"]["start"] == "2024-10-27T00:00:00+02:00"


# -- attribution ------------------------------------------------------------------------------

ATTRIBUTION = EXAMPLES / "attribution.jsonl"
COUNTS = ("offered", "answered", "abandoned", "completed")


def test_outcome_attribution() -> None:
    report, _ = run_report(ATTRIBUTION)
    by_start = intervals(report)
    first = by_start["2024-03-05T10:00:00+00:00"]["figures"]
    assert (first["offered"], first["answered"], first["service_level"]) == (1, 0, None)
    assert first["answer_rate"] == 0
    second = by_start["2024-03-05T10:15:00+00:00"]["figures"]
    assert tuple(second[k] for k in COUNTS) == (1, 1, 1, 1)
    assert second["service_level"] == pytest.approx(1 / 2)
    assert (second["answer_rate"], second["abandonment_rate"]) == (1.0, 1.0)
    assert today(report)["service_level"] == pytest.approx(1 / 2)


def test_arrival_attribution() -> None:
    report, _ = run_report(ATTRIBUTION, defaults_attribution="arrival")
    by_start = intervals(report)
    first = by_start["2024-03-05T10:00:00+00:00"]["figures"]
    assert tuple(first[k] for k in COUNTS) == (1, 1, 0, 1)
    assert first["service_level"] == 1.0
    assert first["aht_seconds"] == 240 + 30
    second = by_start["2024-03-05T10:15:00+00:00"]["figures"]
    assert tuple(second[k] for k in COUNTS) == (1, 0, 1, 0)
    assert second["service_level"] == 0.0
    assert today(report)["service_level"] == pytest.approx(1 / 2)


def test_all_channel_judges_each_channel_by_its_threshold() -> None:
    config = str(DATA / "sample-config.toml")
    report, _ = run_report(DATA / "sample-events.jsonl", "--config", config)
    sales = next(q for q in report["queues"] if q["queue"] == "sales")
    first = next(
        i for i in sales["channels"]["all"]["intervals"] if i["start"].endswith("T14:00:00+01:00")
    )["figures"]
    assert first["service_level_threshold_seconds"] == 20
    assert first["answered_within_threshold"] == 2  # s1 (15 s) and chat s5 (50 s <= 60 s)
    chat = sales["channels"]["chat"]["today"]["figures"]
    assert chat["service_level_threshold_seconds"] == 60


# -- lateness, duplicates, order --------------------------------------------------------------


def test_ordering_example() -> None:
    report, _ = run_report(EXAMPLES / "ordering.jsonl", engine_lateness_seconds="3600")
    pipeline = only_queue(report)["pipeline"]
    assert (pipeline["duplicates"], pipeline["too_late"]) == (1, 1)
    assert pipeline["watermark"] == "2024-03-05T11:30:00+00:00"
    by_start = intervals(report)
    first = by_start["2024-03-05T10:00:00+00:00"]["figures"]
    assert (first["offered"], first["answered"], first["abandoned"]) == (2, 2, 1)
    assert first["service_level"] == 0.0  # 0 / (1 + 1): o2's unknown wait is left out
    assert first["asa_seconds"] == 30  # o2's unknown wait is left out
    late = by_start["2024-03-05T10:30:00+00:00"]["figures"]
    assert (late["offered"], late["answered_within_threshold"]) == (1, 1)
    assert "2024-03-05T10:15:00+00:00" not in by_start  # o6 (10:20) was too late
    figures = today(report)
    assert (figures["offered"], figures["answered"]) == (4, 3)
    assert figures["service_level"] == pytest.approx(1 / 3)
    assert figures["asa_seconds"] == pytest.approx((30 + 10) / 2)


def test_order_does_not_change_figures(tmp_path: Path) -> None:
    """Lines 1-6 of ordering.jsonl in reverse give the same figures (no lateness involved)."""
    lines = (EXAMPLES / "ordering.jsonl").read_text().splitlines()[:6]
    forward, backward = tmp_path / "forward.jsonl", tmp_path / "backward.jsonl"
    forward.write_text("\n".join(lines) + "\n")
    backward.write_text("\n".join(reversed(lines)) + "\n")
    a, _ = run_report(forward)
    b, _ = run_report(backward)
    assert a["queues"][0]["channels"] == b["queues"][0]["channels"]
    assert a["queues"][0]["channels"]["all"]["today"]["figures"]["answered"] == 2


# -- event-contract.md ------------------------------------------------------------------------


def test_contract_examples_are_valid() -> None:
    validator = schema_validator("contact-event.v1.json")
    blocks = code_blocks("event-contract.md", "json")
    assert len(blocks) == 8
    for block in blocks:
        result = decode_message(block, NOW_MS)
        assert result.rejections == [], block
        assert result.events and all(isinstance(e, ContactEvent) for e in result.events)
        doc = json.loads(block)
        for element in doc if isinstance(doc, list) else [doc]:
            if "specversion" not in element:
                assert list(validator.iter_errors(element)) == [], element


def test_contract_rejection_lines() -> None:
    _, stderr = run_report(EXAMPLES / "rejections.jsonl")
    documented = next(b for b in code_blocks("event-contract.md", "text") if "line 2:" in b)
    assert stderr.splitlines() == documented.splitlines()
    fields = re.findall(r"field '(\w+)'", stderr)
    assert fields == ["agent_id", "type", "ts", "channel", "wait_seconds", "queue", "data"]


# -- configuration.md -------------------------------------------------------------------------


def _check_resolved(path: Path) -> None:
    settings = load_settings(path, env={})
    book = settings.policies
    assert settings.kafka.partitions == 12
    assert settings.kafka.contacts_topic == "cc.contacts"  # not set: built-in default
    assert book.engine.rolling_minutes == (5, 15, 60)
    voice = book.for_channel("acme", "sales", "voice")
    chat = book.for_channel("acme", "sales", "chat")
    billing = book.for_channel("acme", "billing", "voice")
    helpdesk = book.for_channel("default", "helpdesk", "voice")
    other = book.for_channel("globex", "support", "voice")
    assert (voice.sl_threshold_seconds, voice.sl_target) == (20, 0.8)
    assert (voice.sl_formula, voice.time_zone, voice.interval_minutes) == (
        "answered_and_abandoned",
        "Europe/Paris",
        15,
    )
    assert (chat.sl_threshold_seconds, chat.sl_target, chat.time_zone) == (60, 0.9, "Europe/Paris")
    assert (billing.sl_formula, billing.time_zone) == ("answered_and_abandoned", "Europe/Paris")
    assert (helpdesk.sl_formula, helpdesk.time_zone, helpdesk.interval_minutes) == (
        "answered",
        "America/New_York",
        30,
    )
    assert book.for_channel("acme", "helpdesk", "voice").time_zone == "Europe/Paris"
    assert (other.sl_formula, other.time_zone) == ("exclude_short_abandons", "UTC")


def test_configuration_examples(tmp_path: Path) -> None:
    tickets, *toml_blocks = code_blocks("configuration.md", "toml")
    yaml_blocks = code_blocks("configuration.md", "yaml")
    assert len(toml_blocks) == len(yaml_blocks) == 1
    (tmp_path / "t.toml").write_text(tickets)
    ticket_settings = load_settings(tmp_path / "t.toml", env={}).policies.tickets
    assert ticket_settings is not None
    assert ticket_settings.targets["urgent"].first_response_seconds == 1800
    (tmp_path / "c.toml").write_text(toml_blocks[0])
    (tmp_path / "c.yaml").write_text(yaml_blocks[0])
    _check_resolved(tmp_path / "c.toml")
    _check_resolved(tmp_path / "c.yaml")
    assert load_settings(tmp_path / "c.toml", env={}) == load_settings(tmp_path / "c.yaml", env={})


def test_configuration_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[defaults]\nsl_threshold_seconds = 30\n")
    env = {
        "CCPULSE_CONFIG": str(path),
        "CCPULSE_ENGINE_ROLLING_MINUTES": "[5, 15, 60]",
        "CCPULSE_KAFKA_BROKER": "kafka://k1:9092",
        "CCPULSE_KAFKA_APP_ID": '"2024"',
        "CCPULSE_SOMETHING_ELSE": "ignored",
    }
    settings = load_settings(None, env=env)
    assert settings.policies.default.sl_threshold_seconds == 30  # file named by CCPULSE_CONFIG
    assert settings.policies.engine.rolling_minutes == (5, 15, 60)
    assert (settings.kafka.broker, settings.kafka.app_id) == ("kafka://k1:9092", "2024")
    env["CCPULSE_DEFAULTS_SL_THRESHOLD_SECONDS"] = "25"
    assert load_settings(None, env=env).policies.default.sl_threshold_seconds == 25
    env["CCPULSE_KAFKA_APP_ID"] = "2024"
    assert load_settings(None, env=env).kafka.app_id == "2024"  # a text setting stays text
    with pytest.raises(ValueError, match=r"unknown queue setting\(s\): sl_treshold_seconds"):
        load_settings(None, env={"CCPULSE_DEFAULTS_SL_TRESHOLD_SECONDS": "30"})


def test_queue_only_settings_refused_per_channel(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[queues."acme/sales".channels.chat]\ntime_zone = "Europe/Paris"\n')
    texts = code_blocks("configuration.md", "text")
    documented = next(b for b in texts if "can only be set" in b).strip()
    with pytest.raises(ValueError) as caught:
        load_settings(path, env={})
    assert str(caught.value) == documented
