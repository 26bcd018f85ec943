"""The Grafana dashboards generated from deploy/monitoring/dashboards: the checked-in JSON is
what the code generates, every panel is complete and reads through the `datasource`
variable, every query parses with Prometheus' own parser (promtool) and names only metrics
that ccpulse exports or records. Grafana itself is not run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import orjson
import yaml
from prometheus_client import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from ccpulse.monitoring.__main__ import DEPLOY, main
from ccpulse.monitoring.dashboards import (
    MACROS,
    dashboard_queries,
    dashboards,
    label_values_selector,
    macros_in,
    substitute,
)
from ccpulse.monitoring.rules import recording_groups
from ccpulse.report import build_report
from ccpulse.sinks.prometheus_sink import PrometheusSink
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.liveness import WorkerLiveness
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline
from ccpulse.streams.worker import metrics_view

UIDS = ("ccpulse-overview", "ccpulse-agents", "ccpulse-tickets-surveys", "ccpulse-pipeline")
T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z
NOW = T0 + 3_600_000
#: Series Prometheus makes itself for every scrape target.
PROMETHEUS_NAMES = {"up"}


def _panels() -> list[tuple[str, dict]]:
    return [(uid, item) for uid, model in dashboards().items() for item in model["panels"]]


def test_four_dashboards_with_stable_uids() -> None:
    models = dashboards()
    assert tuple(models) == UIDS
    for uid, model in models.items():
        assert model["uid"] == uid
        assert model["title"].startswith("ccpulse / ")
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for name, variable in variables.items():
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == "${datasource}"
                assert variable["multi"] and variable["includeAll"]
                assert variable["allValue"] == ".*"
                assert name in ("tenant", "queue", "channel")
    overview = {v["name"] for v in models["ccpulse-overview"]["templating"]["list"]}
    assert overview == {"datasource", "tenant", "queue", "channel"}


def test_every_panel_is_complete() -> None:
    for uid, model in dashboards().items():
        ids = [item["id"] for item in model["panels"]]
        assert len(ids) == len(set(ids)), uid
        for item in model["panels"]:
            assert item["title"], (uid, item)
            if item["type"] == "row":
                continue
            where = (uid, item["title"])
            assert item["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            assert len(item.get("description", "")) > 20, where
            assert item["targets"], where
            assert item["fieldConfig"]["defaults"]["unit"], where
            for query in item["targets"]:
                assert query["datasource"]["uid"] == "${datasource}", where
            ref_ids = [query["refId"] for query in item["targets"]]
            assert len(ref_ids) == len(set(ref_ids)), where
            right = item["gridPos"]["x"] + item["gridPos"]["w"]
            assert right <= 24, where


def test_units_of_ratios_and_times() -> None:
    for uid, item in _panels():
        if item["type"] == "row":
            continue
        unit = item["fieldConfig"]["defaults"]["unit"]
        exprs = " ".join(query["expr"] for query in item["targets"])
        if "service_level" in exprs or "occupancy" in exprs or "csat_ratio" in exprs:
            assert unit == "percentunit", (uid, item["title"])
        if "_seconds" in exprs and "histogram_quantile" not in exprs and "rate(" not in exprs:
            assert unit in ("s", "percentunit"), (uid, item["title"])


def test_queries_use_only_the_listed_macros() -> None:
    for uid, title, query in dashboard_queries():
        assert macros_in(query) <= set(MACROS), (uid, title, query)
        assert "$" not in substitute(query), (uid, title)


def test_queries_cover_every_target_and_query_variable() -> None:
    expected = sum(
        len(item.get("targets", [])) for model in dashboards().values() for item in model["panels"]
    ) + sum(
        v["type"] == "query" for model in dashboards().values() for v in model["templating"]["list"]
    )
    queries = dashboard_queries()
    assert len(queries) == expected
    assert {uid for uid, _, _ in queries} == set(UIDS)


def test_label_values_selector_and_substitute() -> None:
    query = 'label_values(ccpulse_contacts_offered_total{tenant=~"$tenant"}, queue)'
    selector = label_values_selector(query)
    assert selector == 'ccpulse_contacts_offered_total{tenant=~"$tenant"}'
    assert substitute(selector) == 'ccpulse_contacts_offered_total{tenant=~".*"}'
    assert label_values_selector("up") is None
    assert substitute("rate(x[$__rate_interval]) + increase(x[${__range}])") == (
        f"rate(x[{MACROS['$__rate_interval']}]) + increase(x[{MACROS['$__range']}])"
    )


# Metric names ------------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NAME_REGEX = re.compile(r'__name__=~?"([^"]*)"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[A-Za-z_:][\w:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers outside strings, label matchers,
    ranges and groupings that are not followed by "(" (functions and aggregations)."""
    names = {n for alts in _NAME_REGEX.findall(expr) for n in alts.split("|")}
    expr = _STRING.sub('""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = _GROUPING.sub(" ", expr)
    for match in _IDENT.finditer(expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def test_metric_names_parser() -> None:
    assert metric_names(
        'sum by (le) (rate(a_bucket{x=~"b|c"}[5m])) / on (x) max(d:e:f) and vector(1)'
    ) == {"a_bucket", "d:e:f"}
    assert metric_names('{__name__=~"a|b", t="x"}') == {"a", "b"}


def _contact_pipeline() -> Pipeline:
    def event(eid: str, etype: str, offset_s: float, contact: str, **extra: object) -> dict:
        return {"event_id": eid, "type": etype, "ts": T0 + int(offset_s * 1000),
                "queue": "sales", "contact_id": contact, **extra}  # fmt: skip

    events = [
        event("o1", "contact.offered", 0, "c1"),
        event("a1", "contact.answered", 12, "c1", agent_id="alice"),
        event("w1", "contact.completed", 300, "c1", agent_id="alice"),
        event("o2", "contact.offered", 100, "c2"),
        event("x2", "contact.abandoned", 140, "c2"),
        event("o3", "contact.offered", 3000, "c3"),  # still waiting
    ]
    pipeline = Pipeline(PolicyBook())
    letters: list[DeadLetter] = []
    pipeline.process(Message("cc", 0, 0, b"default/sales", orjson.dumps(events)), letters.append)
    pipeline.table_writes()
    pipeline.health.lag_messages[0] = 3  # as the worker records from the broker's watermark
    return pipeline


FAMILY_EVENTS = [
    {"event_id": "l1", "type": "agent.login", "ts": T0, "agent_id": "alice", "queue": "sales"},
    {"event_id": "s1", "type": "agent.state", "ts": T0 + 300_000, "agent_id": "alice",
     "state": "on_contact", "queue": "sales"},
    {"event_id": "v1", "type": "survey.response", "ts": T0 + 400_000, "survey": "csat",
     "score": 5, "queue": "sales"},
    {"event_id": "t1", "type": "ticket.created", "ts": T0, "ticket_id": "A", "group": "billing"},
]  # fmt: skip


def exported_names() -> set[str]:
    """Every metric and sample name a worker's /metrics shows: the sink over a pipeline with
    contact, agent, survey and ticket events, a flush to Redis, and the process collector
    that the worker registers."""
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    pipeline = _contact_pipeline()
    liveness = WorkerLiveness()
    liveness.observe_flush(0.01, True, 1.0, 1_773_136_800.0)
    sink.update(metrics_view(pipeline, pipeline.snapshots(NOW), {}, liveness))
    report = build_report([orjson.dumps(e) for e in FAMILY_EVENTS], PolicyBook(), NOW)
    sink.update_families(
        [(family, snap) for family in ("agents", "surveys", "tickets") for snap in report[family]]
    )
    ProcessCollector(registry=registry)
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def test_queries_name_only_exported_or_recorded_metrics() -> None:
    recorded = {rule["record"] for group in recording_groups() for rule in group["rules"]}
    known = exported_names() | recorded | PROMETHEUS_NAMES
    assert "ccpulse_flush_duration_seconds_bucket" in known
    assert "ccpulse_tickets_open" in known and "process_resident_memory_bytes" in known
    for uid, title, query in dashboard_queries():
        expr = label_values_selector(query) or query
        names = metric_names(substitute(expr))
        assert names or query.startswith("vector("), (uid, title, query)
        assert names <= known, (uid, title, names - known)


def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    """One rule file with every query as a recording rule: `promtool check rules` parses each
    with Prometheus' PromQL parser (promtool: Debian's prometheus, from scripts/setup.sh)."""
    assert shutil.which("promtool"), "promtool not found: apt-get install prometheus"
    rules = [
        {"record": f"ccpulse_dashboard_query_{n}",
         "expr": substitute(label_values_selector(query) or query)}
        for n, (_, _, query) in enumerate(dashboard_queries())
    ]  # fmt: skip
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


# Generated files -----------------------------------------------------------------------------


def test_checked_in_files_are_what_the_code_generates() -> None:
    assert main(["--check"]) == 0
    for uid in UIDS:
        text = (DEPLOY / "grafana" / "dashboards" / f"{uid}.json").read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert orjson.loads(text)["uid"] == uid


def test_check_fails_when_a_file_differs(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    assert main(["--out", str(out)]) == 0
    assert main(["--check", "--out", str(out)]) == 0
    path = out / "grafana" / "dashboards" / "ccpulse-overview.json"
    path.write_text(path.read_text(encoding="utf-8").replace("Service level", "SL"))
    assert main(["--check", "--out", str(out)]) == 1
    (out / "grafana" / "provisioning" / "datasources" / "prometheus.yml").unlink()
    assert main(["--check", "--out", str(out)]) == 1


def test_provisioning() -> None:
    grafana = DEPLOY / "grafana" / "provisioning"
    sources = yaml.safe_load((grafana / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["uid"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True
    providers = yaml.safe_load((grafana / "dashboards" / "ccpulse.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
