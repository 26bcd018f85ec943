"""Shared pieces of the dashboards: the data source, the template variables, label selectors,
queries and panels, so that every dashboard reads the same way and every panel queries through
the `datasource` variable."""

from __future__ import annotations

import json
from typing import Any, Final, TypeVar

from grafana_foundation_sdk.builders import bargauge, gauge, prometheus, stat, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

#: Every panel and query variable reads Prometheus through the `datasource` variable.
DATASOURCE: Final = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
#: Colours of the thresholds: good, watch, act.
GOOD, WATCH, BAD, IDLE = "green", "orange", "red", "blue"
#: Dashboards refresh at this period (the worker flushes every 0.5 s, Prometheus scrapes 15 s).
REFRESH: Final = "30s"

#: Any of the SDK's panel builders (time series, stat, gauge, bar gauge).
P = TypeVar("P", timeseries.Panel, stat.Panel, gauge.Panel, bargauge.Panel)


def sel(metric: str, *matchers: str, by: tuple[str, ...] = ("tenant", "queue")) -> str:
    """`metric{tenant=~"$tenant", ..., extra}`: the variables named in `by`, then `matchers`."""
    labels = [f'{name}=~"${name}"' for name in by] + list(matchers)
    return f"{metric}{{{', '.join(labels)}}}"


def ratio(numerator: str, denominator: str) -> str:
    """A ratio with no sample, rather than a made-up 0 or 1, when the denominator is 0."""
    return f"{numerator}\n/\n({denominator} > 0)"


def datasource_variable() -> db.DatasourceVariable:
    return (
        db.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .description("Prometheus that scrapes the ccpulse workers and evaluates its rules")
    )


def query_variable(name: str, label: str, selector: str, description: str) -> db.QueryVariable:
    """A multi-value variable of the label `name` of `selector`'s series; "All" is the regex
    `.*`, so selectors are written `name=~"$name"`."""
    return (
        db.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(f"label_values({selector}, {name})")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )


def target(expr: str, legend: str = "", instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        query = query.legend_format(legend)
    return query.instant() if instant else query.range()


def thresholds(base: str, *steps: tuple[float, str]) -> db.ThresholdsConfig:
    """Absolute thresholds: `base` below the first step, then each (from value, colour)."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(color=base)] + [dm.Threshold(value=v, color=c) for v, c in steps])
    )


def panel(
    builder: P,
    title: str,
    description: str,
    targets: list[prometheus.Dataquery],
    unit: str = "short",
    width: int = 6,
    height: int = 8,
) -> P:
    """The settings every panel shares; targets get ref ids A, B, ... in order."""
    builder = (
        builder.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
    )
    for n, query in enumerate(targets):
        builder = builder.with_target(query.ref_id(chr(ord("A") + n)))
    return builder


def last_value() -> cb.ReduceDataOptions:
    """Stat, gauge and bar gauge panels show each series' last value."""
    return cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def series() -> timeseries.Panel:
    """A time series panel with a table legend (last and max) and a tooltip of every series."""
    tooltip = cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI)
    return timeseries.Panel().legend(legend_table()).tooltip(tooltip.sort(cm.SortOrder.DESCENDING))


def threshold_lines(
    builder: timeseries.Panel, base: str, *steps: tuple[float, str]
) -> timeseries.Panel:
    """A time series with its thresholds drawn as dashed lines (where "too high" starts)."""
    style = cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
    return builder.thresholds(thresholds(base, *steps)).thresholds_style(style)


def legend_table() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.TABLE)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )


def dashed(ref_id: str, color: str) -> tuple[str, list[dm.DynamicConfigValue]]:
    """An override drawing query `ref_id` as a dashed line of one colour (targets, limits)."""
    return ref_id, [
        dm.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
        dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color}),
    ]


def finish(builder: db.Dashboard) -> dict[str, Any]:
    """Build the dashboard and number its panels 1, 2, ... in layout order (Grafana needs a
    unique id per panel for links and the panel editor); JSON-ready dict."""
    built = builder.build()
    for n, item in enumerate(built.panels or [], start=1):
        item.id_val = n
    model: dict[str, Any] = json.loads(json.dumps(built, cls=JSONEncoder))
    return model


def dashboard(uid: str, title: str, description: str, tags: list[str]) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["ccpulse", *tags])
        .refresh(REFRESH)
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .editable()
        .link(
            db.DashboardLink("ccpulse dashboards")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["ccpulse"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def assemble(
    board: db.Dashboard,
    variables: list[Any],
    rows: tuple[tuple[str, list[Any]], ...],
) -> dict[str, Any]:
    """The dashboard with its variables and its rows of panels, laid out left to right."""
    for variable in variables:
        board = board.with_variable(variable)
    for title, panels in rows:
        board = board.with_row(db.Row(title))
        for item in panels:
            board = board.with_panel(item)
    return finish(board)
