"""The shipped Prometheus rules: generated from deploy/monitoring, valid for promtool, and
covered by promtool unit tests in which every alert fires once and stays quiet once. promtool
comes with Debian's `prometheus` package (scripts/setup.sh installs it); without it these
tests fail, they do not skip."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
TESTS = ROOT / "deploy" / "prometheus" / "tests"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: apt-get install prometheus (scripts/setup.sh does)"
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=300)


def _rules(name: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load((RULES / name).read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _unit_tests() -> list[dict[str, Any]]:
    return [
        t for f in sorted(TESTS.glob("*.test.yml")) for t in yaml.safe_load(f.read_text())["tests"]
    ]


def test_checked_in_rules_are_what_the_code_generates() -> None:
    done = subprocess.run([sys.executable, "-m", "ccpulse.monitoring", "--check"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_promtool_check_rules() -> None:
    done = _promtool("check", "rules", *map(str, sorted(RULES.glob("*.yml"))))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass() -> None:
    done = _promtool("test", "rules", *map(str, sorted(TESTS.glob("*.test.yml"))))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_fires_in_one_case_and_stays_quiet_in_another() -> None:
    cases = [case for t in _unit_tests() for case in t.get("alert_rule_test", [])]
    for rule in _rules("ccpulse-alerts.yml"):
        name = rule["alert"]
        mine = [case for case in cases if case["alertname"] == name]
        assert any(case.get("exp_alerts") for case in mine), f"{name}: no firing case"
        assert any(not case.get("exp_alerts") for case in mine), f"{name}: no quiet case"


def test_every_recorded_kpi_has_a_value_test() -> None:
    """Each family of recording rules (the same rule over several ranges) is checked against
    hand-computed values in at least one of its ranges."""
    tested = " ".join(case["expr"] for t in _unit_tests() for case in t.get("promql_expr_test", []))
    for rule in _rules("ccpulse-recording.yml"):
        family = re.sub(r"(rate|mean|increase)\d+[mhd]$", r"\1", rule["record"])
        assert family in re.sub(r"(rate|mean|increase)\d+[mhd]", r"\1", tested), rule["record"]


def test_every_alert_has_annotations_and_a_runbook_section() -> None:
    runbook = (ROOT / "docs" / "alerts.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbook.splitlines() if line.startswith("#")
    }  # fmt: skip
    for rule in _rules("ccpulse-alerts.yml"):
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket", "warning"}, rule["alert"]
        path, _, anchor = notes["runbook_url"].partition("#")
        assert path == "docs/alerts.md" and anchor in anchors, notes["runbook_url"]


def test_alertmanager_config_is_valid() -> None:
    amtool = shutil.which("amtool")
    assert amtool, "amtool not found: apt-get install prometheus-alertmanager (scripts/setup.sh)"
    config = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
    done = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
