"""Redis hashes of the other event families (docs/redis-keys.md): per-agent hashes, per-queue
agent summaries, and a survey and a ticket hash per tenant. Each function turns one tenant
snapshot into (key, hash) pairs.

A hash is built as a layout and values (redis_fields.py), not as text: `RedisSink` renders
text only for the fields that changed since its last write, and a layout is built once per
shape of hash and shared (an agent's hash has the same layout as most others').
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccpulse.sinks.redis_fields import Flat, Layout, as_text, layout, names

ALL_QUEUES = "#all"
Hashes = list[tuple[str, dict[str, str]]]
FlatHashes = list[tuple[str, Flat]]

AGENT_WINDOWS = ("current_interval", "today")
AGENT_HEAD: Layout = ("tenant", "as_of", "as_of_ms", "agent", "state", "reason", "since",
                      "time_in_state_seconds", "queues")  # fmt: skip
SUMMARY_HEAD: Layout = ("tenant", "as_of", "as_of_ms", "queue", "logged_in", "available")
OFFLINE_LIVE: dict[str, Any] = {"state": "offline"}
NOBODY_LIVE: dict[str, Any] = {"logged_in": 0, "available": 0, "by_state": {}}


def _figures(prefix: str, figs: dict[str, Any], parts: list[Layout], values: list[Any]) -> None:
    """`<prefix>.<name>` per figure, `<prefix>.<name>.<key>` per entry of a figure that is a
    dict (seconds paused by reason), in the figures' order."""
    run: list[str] = []
    for name, value in figs.items():
        if isinstance(value, dict):
            if run:
                parts.append(names("", prefix, tuple(run)))
                run = []
            parts.append(names(prefix, name, tuple(value)))
            values += value.values()
        else:
            run.append(name)
            values.append(value)
    if run:
        parts.append(names("", prefix, tuple(run)))


def agent_flats(prefix: str, snap: dict[str, Any]) -> FlatHashes:
    """`<prefix>:agent:<tenant>:<agent>` and `<prefix>:agent-summary:<tenant>:<queue|#all>`."""
    tenant, as_of, as_of_ms = snap["tenant"], snap["as_of"], snap["as_of_ms"]
    out: FlatHashes = []
    for agent, view in snap["agents"].items():
        live = view["live"] or OFFLINE_LIVE
        values: list[Any] = [
            tenant, as_of, as_of_ms, agent, live.get("state"), live.get("reason"),
            live.get("since"), live.get("time_in_state_seconds"), ",".join(live.get("queues", [])),
        ]  # fmt: skip
        parts = [AGENT_HEAD]
        for window in AGENT_WINDOWS:
            _figures(window, view[window], parts, values)
        out.append((f"{prefix}:agent:{tenant}:{agent}", (layout(tuple(parts)), values)))
    scopes = [(ALL_QUEUES, snap["all"]), *snap["queues"].items()]
    for queue, view in scopes:
        live = view.get("live") or NOBODY_LIVE
        values = [tenant, as_of, as_of_ms, queue, live["logged_in"], live["available"]]
        by_state = live["by_state"]
        parts = [SUMMARY_HEAD, names("", "state", tuple(by_state))]
        values += by_state.values()
        for window in AGENT_WINDOWS:
            _figures(window, view[window], parts, values)
        out.append((f"{prefix}:agent-summary:{tenant}:{queue}", (layout(tuple(parts)), values)))
    return out


SURVEY_WINDOWS = ("current_interval", "today", "rolling_7d")
SURVEY_HEAD: Layout = ("tenant", "as_of", "as_of_ms")


def survey_flats(prefix: str, snap: dict[str, Any]) -> FlatHashes:
    """`<prefix>:surveys:<tenant>`: `<window>.<scope>.<figure>`, scope `all`, `queue.<q>`,
    `agent.<a>` or `channel.<c>`; response counts beside every ratio."""
    values: list[Any] = [snap["tenant"], snap["as_of"], snap["as_of_ms"]]
    parts = [SURVEY_HEAD]
    for window in SURVEY_WINDOWS:
        view = snap[window]
        parts.append(names("", window, ("start",)))
        values.append(view["start"])
        scopes = [("all", view["all"])]
        for kind, key in (("queue", "by_queue"), ("agent", "by_agent"), ("channel", "by_channel")):
            scopes += [(f"{kind}.{name}", figs) for name, figs in view[key].items()]
        for scope, figs in scopes:
            parts.append(names(window, scope, tuple(figs)))
            values += figs.values()
    return [(f"{prefix}:surveys:{snap['tenant']}", (layout(tuple(parts)), values))]


def _nested(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            _nested(f"{prefix}.{name}", inner, out)
    else:
        out[prefix] = value


def ticket_flats(prefix: str, snap: dict[str, Any]) -> FlatHashes:
    """`<prefix>:tickets:<tenant>`: `now.*` (open, by group and priority, backlog by age,
    at risk, overdue) and `current_interval.*` / `today.*` figures with their breakdowns."""
    fields: dict[str, Any] = {"tenant": snap["tenant"], "as_of": snap["as_of"],
                              "as_of_ms": snap["as_of_ms"]}  # fmt: skip
    _nested("now", snap["now"], fields)
    for window in ("current_interval", "today"):
        fields[f"{window}.start"] = snap[window]["start"]
        _nested(window, snap[window]["figures"], fields)
    flat = (layout((tuple(fields),)), list(fields.values()))
    return [(f"{prefix}:tickets:{snap['tenant']}", flat)]


FlatsOf = Callable[[str, dict[str, Any]], FlatHashes]
HashesOf = Callable[[str, dict[str, Any]], Hashes]


def _as_text(flats: FlatsOf) -> HashesOf:
    def hashes(prefix: str, snap: dict[str, Any]) -> Hashes:
        return [(key, as_text(flat)) for key, flat in flats(prefix, snap)]

    hashes.__doc__ = f"{flats.__doc__}\n\nAs Redis holds them: every field as text."
    return hashes


agent_hashes = _as_text(agent_flats)
survey_hashes = _as_text(survey_flats)
ticket_hashes = _as_text(ticket_flats)

#: Per family, its hashes as layouts and values (what `RedisSink` writes).
FLATS: dict[str, FlatsOf] = {
    "agents": agent_flats,
    "surveys": survey_flats,
    "tickets": ticket_flats,
}
#: Per family, its hashes as Redis holds them.
FLATTENERS: dict[str, HashesOf] = {
    "agents": agent_hashes,
    "surveys": survey_hashes,
    "tickets": ticket_hashes,
}
