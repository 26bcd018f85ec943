"""Redis hashes of the other event families (docs/redis-keys.md): per-agent hashes and per-queue
agent summaries. Each function turns one tenant snapshot into (key, fields) pairs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccpulse.sinks.redis_fields import text

ALL_QUEUES = "#all"
Hashes = list[tuple[str, dict[str, str]]]


def _figures(prefix: str, figs: dict[str, Any], out: dict[str, str]) -> None:
    for name, value in figs.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                out[f"{prefix}.{name}.{sub}"] = text(v)
        else:
            out[f"{prefix}.{name}"] = text(value)


def agent_hashes(prefix: str, snap: dict[str, Any]) -> Hashes:
    """`<prefix>:agent:<tenant>:<agent>` and `<prefix>:agent-summary:<tenant>:<queue|#all>`."""
    tenant = snap["tenant"]
    common = {"tenant": tenant, "as_of": snap["as_of"], "as_of_ms": str(snap["as_of_ms"])}
    out: Hashes = []
    for agent, view in snap["agents"].items():
        fields = {**common, "agent": agent}
        live = view["live"] or {"state": "offline"}
        for name in ("state", "reason", "since", "time_in_state_seconds"):
            fields[name] = text(live.get(name))
        fields["queues"] = ",".join(live.get("queues", []))
        for window in ("current_interval", "today"):
            _figures(window, view[window], fields)
        out.append((f"{prefix}:agent:{tenant}:{agent}", fields))
    scopes = [(ALL_QUEUES, snap["all"]), *snap["queues"].items()]
    for queue, view in scopes:
        fields = {**common, "queue": queue}
        live = view.get("live") or {"logged_in": 0, "available": 0, "by_state": {}}
        fields["logged_in"] = str(live["logged_in"])
        fields["available"] = str(live["available"])
        for state, count in live["by_state"].items():
            fields[f"state.{state}"] = str(count)
        for window in ("current_interval", "today"):
            _figures(window, view[window], fields)
        out.append((f"{prefix}:agent-summary:{tenant}:{queue}", fields))
    return out


SURVEY_WINDOWS = ("current_interval", "today", "rolling_7d")


def survey_hashes(prefix: str, snap: dict[str, Any]) -> Hashes:
    """`<prefix>:surveys:<tenant>`: `<window>.<scope>.<figure>`, scope `all`, `queue.<q>`,
    `agent.<a>` or `channel.<c>`; response counts beside every ratio."""
    fields = {"tenant": snap["tenant"], "as_of": snap["as_of"], "as_of_ms": str(snap["as_of_ms"])}
    for window in SURVEY_WINDOWS:
        view = snap[window]
        fields[f"{window}.start"] = view["start"]
        scopes = [("all", view["all"])]
        for kind, key in (("queue", "by_queue"), ("agent", "by_agent"), ("channel", "by_channel")):
            scopes += [(f"{kind}.{name}", figs) for name, figs in view[key].items()]
        for scope, figs in scopes:
            for name, value in figs.items():
                fields[f"{window}.{scope}.{name}"] = text(value)
    return [(f"{prefix}:surveys:{snap['tenant']}", fields)]


def _nested(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            _nested(f"{prefix}.{name}", inner, out)
    else:
        out[prefix] = text(value)


def ticket_hashes(prefix: str, snap: dict[str, Any]) -> Hashes:
    """`<prefix>:tickets:<tenant>`: `now.*` (open, by group and priority, backlog by age,
    at risk, overdue) and `current_interval.*` / `today.*` figures with their breakdowns."""
    fields = {"tenant": snap["tenant"], "as_of": snap["as_of"], "as_of_ms": str(snap["as_of_ms"])}
    _nested("now", snap["now"], fields)
    for window in ("current_interval", "today"):
        fields[f"{window}.start"] = snap[window]["start"]
        _nested(window, snap[window]["figures"], fields)
    return [(f"{prefix}:tickets:{snap['tenant']}", fields)]


FLATTENERS: dict[str, Callable[[str, dict[str, Any]], Hashes]] = {
    "agents": agent_hashes,
    "surveys": survey_hashes,
    "tickets": ticket_hashes,
}
