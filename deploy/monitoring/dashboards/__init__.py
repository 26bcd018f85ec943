"""ccpulse's Grafana dashboards, built with grafana-foundation-sdk: a contact-centre overview,
an agents board, a tickets and surveys board and a pipeline-health board. Each is a JSON-ready
dict keyed by its stable uid; `python -m ccpulse.monitoring` writes them to
deploy/grafana/dashboards/<uid>.json.

Grafana itself is not run here. What is checked instead: `dashboard_queries()` lists every
PromQL expression of every panel and query variable, with the Grafana macros they may use in
`MACROS`, so that tests can parse them with promtool and run them against a real Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from ccpulse.monitoring.dashboards import agents, overview, pipeline, tickets_surveys

#: The dashboards in menu order: (uid, builder).
BUILDERS: Final[tuple[tuple[str, Callable[[], dict[str, Any]]], ...]] = (
    (overview.UID, overview.build),
    (agents.UID, agents.build),
    (tickets_surveys.UID, tickets_surveys.build),
    (pipeline.UID, pipeline.build),
)

#: The only Grafana macros and variables the queries use, each with a value that makes the
#: query plain PromQL over every tenant, queue and channel: substitute them (`substitute`)
#: before handing a query to Prometheus. Longer names first, so none is a prefix of another.
MACROS: Final[dict[str, str]] = {
    "$__rate_interval": "1m",
    "$__interval": "30s",
    "$__range": "1h",
    "$datasource": "prometheus",
    "$tenant": ".*",
    "$queue": ".*",
    "$channel": ".*",
}
_MACRO = re.compile(r"\$\{?\w+\}?")
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$", re.DOTALL)


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard as Grafana's JSON model, by uid."""
    return {uid: build() for uid, build in BUILDERS}


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel or variable title, query) for every panel target and every query
    variable, in dashboard order. Panel queries are PromQL with the `MACROS`; a variable's
    query is Grafana's raw `label_values(<series selector>, <label>)` string, whose selector is
    plain PromQL (with `$tenant`... of the variables before it)."""
    out = []
    for uid, model in dashboards().items():
        for variable in model.get("templating", {}).get("list", []):
            if variable["type"] == "query":
                out.append((uid, f"variable {variable['name']}", variable["query"]))
        for item in model.get("panels", []):
            for query in item.get("targets", []):
                out.append((uid, item["title"], query["expr"]))
    return out


def macros_in(query: str) -> set[str]:
    """The `$name` and `${name}` references of a query, each as `$name`."""
    return {"$" + m.strip("${}") for m in _MACRO.findall(query)}


def substitute(query: str) -> str:
    """The query with every macro of `MACROS` replaced by its value."""
    for macro, value in MACROS.items():
        query = query.replace("${" + macro[1:] + "}", value).replace(macro, value)
    return query


def label_values_selector(query: str) -> str | None:
    """The series selector of a variable's `label_values(<selector>, <label>)` query (a
    PromQL expression returning the series whose label values Grafana lists), else None."""
    found = _LABEL_VALUES.match(query.strip())
    return found["selector"] if found else None
