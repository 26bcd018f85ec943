"""Read the Redis contract (docs/redis-keys.md) into the wallboard's JSON models.

Only the fields a wallboard shows are read (HMGET of ~30 of a queue hash's ~330 fields), so a
refresh stays cheap when every queue changes at every flush. Values follow the contract: text,
the empty string is "no value" (None here, "–" on the page), and a missing live field is 0.
"""

from __future__ import annotations

from typing import Any

WINDOW_FIGURES = (
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "service_level_target",
    "service_level_threshold_seconds",
    "asa_seconds",
    "abandonment_rate",
)
COUNTS = frozenset({"offered", "answered", "abandoned", "in_queue", "logged_in", "available"})
QUEUE_FIELDS = (
    "tenant", "queue", "as_of", "as_of_ms", "time_zone", "interval_minutes",
    "live.all.in_queue", "live.all.longest_wait_seconds",
    "current_interval.all.start", "current_interval.all.end", "today.all.start",
    *(f"{w}.all.{f}" for w in ("current_interval", "today") for f in WINDOW_FIGURES),
)  # fmt: skip
AGENT_STATES = ("available", "on_contact", "wrap_up", "paused")
SUMMARY_FIELDS = ("as_of_ms", "logged_in", *(f"state.{s}" for s in AGENT_STATES))
AGENT_FIELDS = (
    "agent", "as_of_ms", "state", "reason", "queues", "since", "time_in_state_seconds",
    "today.handled", "today.aht_seconds", "today.occupancy",
)  # fmt: skip
TICKET_FIELDS = (
    "as_of", "as_of_ms", "now.open", "now.oldest_open_age_seconds",
    "now.at_risk.first_response", "now.at_risk.resolution",
    "now.overdue.first_response", "now.overdue.resolution",
    *(f"today.{f}" for f in ("created", "solved", "reopened", "frt_avg_seconds",
                               "resolution_avg_seconds", "fcr_rate", "frt_breaches",
                               "resolution_breaches")),
)  # fmt: skip
SURVEY_FIGURES = ("csat", "csat_responses", "nps", "nps_responses", "ces_average", "ces_responses")


def number(raw: str | None, count: bool = False) -> float | int | None:
    """A field's value: None for "" or a missing field (no value), else int or float."""
    if raw is None or raw == "":
        return None
    return int(raw) if count else float(raw)


def _text(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


def pairs(names: tuple[str, ...], values: list[Any]) -> dict[str, str | None]:
    return {n: _text(v) for n, v in zip(names, values, strict=True)}


def queue_model(h: dict[str, str | None]) -> dict[str, Any] | None:
    """One queue from its hash fields; None when the hash is gone."""
    as_of_ms = h.get("as_of_ms")
    if not as_of_ms:
        return None
    windows: dict[str, Any] = {}
    for window in ("current_interval", "today"):
        windows[window] = {f: number(h.get(f"{window}.all.{f}"), f in COUNTS)
                           for f in WINDOW_FIGURES}  # fmt: skip
        windows[window]["start"] = h.get(f"{window}.all.start")
    windows["current_interval"]["end"] = h.get("current_interval.all.end")
    return {
        "tenant": h["tenant"],
        "queue": h["queue"],
        "as_of": h.get("as_of"),
        "as_of_ms": int(as_of_ms),
        "time_zone": h.get("time_zone"),
        "interval_minutes": number(h.get("interval_minutes"), True),
        # live fields: a missing one means 0 (nobody waiting), per the contract
        "live": {
            "in_queue": int(h.get("live.all.in_queue") or 0),
            "longest_wait_seconds": float(h.get("live.all.longest_wait_seconds") or 0.0),
        },
        **windows,
        "agents": None,
    }


def summary_model(h: dict[str, str | None]) -> dict[str, Any] | None:
    """Agents of one queue now: logged in and per state (a missing state field means 0)."""
    if not h.get("as_of_ms"):
        return None
    out: dict[str, Any] = {"as_of_ms": int(h["as_of_ms"] or 0),
                           "logged_in": int(h.get("logged_in") or 0)}  # fmt: skip
    for state in AGENT_STATES:
        out[state] = int(h.get(f"state.{state}") or 0)
    return out


def agent_model(h: dict[str, str | None]) -> dict[str, Any] | None:
    if not h.get("as_of_ms"):
        return None
    return {
        "agent": h.get("agent"),
        "as_of_ms": int(h["as_of_ms"] or 0),
        "state": h.get("state"),
        "reason": h.get("reason") or None,
        "queues": [q for q in (h.get("queues") or "").split(",") if q],
        "since": h.get("since") or None,
        "time_in_state_seconds": number(h.get("time_in_state_seconds")),
        "today": {
            "handled": number(h.get("today.handled"), True),
            "aht_seconds": number(h.get("today.aht_seconds")),
            "occupancy": number(h.get("today.occupancy")),
        },
    }


def tickets_model(tenant: str, h: dict[str, str | None]) -> dict[str, Any] | None:
    if not h.get("as_of_ms"):
        return None
    now = {k[4:].replace(".", "_"): number(h.get(k), "age" not in k)
           for k in TICKET_FIELDS if k.startswith("now.")}  # fmt: skip
    today = {k[6:]: number(h.get(k), not k.endswith(("seconds", "rate")))
             for k in TICKET_FIELDS if k.startswith("today.")}  # fmt: skip
    return {"tenant": tenant, "as_of_ms": int(h["as_of_ms"] or 0), "now": now, "today": today}


def surveys_model(tenant: str, h: dict[str, str]) -> dict[str, Any] | None:
    """CSAT, NPS and CES today and over 7 days, for the tenant and each queue."""
    if not h.get("as_of_ms"):
        return None
    out: dict[str, Any] = {"tenant": tenant, "as_of_ms": int(h["as_of_ms"])}
    for window in ("today", "rolling_7d"):
        scopes: dict[str, Any] = {}
        for name, value in h.items():
            if not name.startswith(window + "."):
                continue
            scope, _, figure = name[len(window) + 1 :].rpartition(".")
            if figure in SURVEY_FIGURES and (scope == "all" or scope.startswith("queue.")):
                scopes.setdefault(scope, {})[figure] = number(value, figure.endswith("responses"))
        out[window] = {"all": scopes.pop("all", None),
                       "by_queue": {s[6:]: v for s, v in sorted(scopes.items())}}  # fmt: skip
    return out


class Store:
    """Reads models from Redis with a `redis.asyncio` client (decoded or not)."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def queue_members(self) -> list[str]:
        """Every queue of the index, as "tenant/queue"."""
        return [m for m in (_text(x) for x in await self.client.zrange(f"{self.prefix}:queues",
                                                                       0, -1)) if m]  # fmt: skip

    async def queues(self, members: list[str]) -> dict[str, dict[str, Any] | None]:
        """Models of these queues with their agent summaries, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for member in members:
            tenant, _, queue = member.partition("/")
            pipe.hmget(f"{self.prefix}:queue:{tenant}:{queue}", QUEUE_FIELDS)
            pipe.hmget(f"{self.prefix}:agent-summary:{tenant}:{queue}", SUMMARY_FIELDS)
        results = await pipe.execute()
        out: dict[str, dict[str, Any] | None] = {}
        for i, member in enumerate(members):
            model = queue_model(pairs(QUEUE_FIELDS, results[2 * i]))
            if model is not None:
                model["agents"] = summary_model(pairs(SUMMARY_FIELDS, results[2 * i + 1]))
            out[member] = model
        return out

    async def summaries(self, tenant: str, queues: list[str]) -> list[dict[str, Any] | None]:
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.hmget(f"{self.prefix}:agent-summary:{tenant}:{queue}", SUMMARY_FIELDS)
        return [summary_model(pairs(SUMMARY_FIELDS, r)) for r in await pipe.execute()]

    async def tenants(self) -> set[str]:
        """Tenants with agent, survey or ticket hashes (queue tenants come from the index)."""
        found: set[str] = set()
        for head, tail in (("agent-summary", ":#all"), ("surveys", ""), ("tickets", "")):
            start = f"{self.prefix}:{head}:"
            async for key in self.client.scan_iter(match=f"{start}*{tail}", count=500):
                name = (_text(key) or "")[len(start) :]
                found.add(name[: len(name) - len(tail)])
        return found

    async def agents(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's agents (state and time in state), sorted by name."""
        keys = [k async for k in self.client.scan_iter(
            match=f"{self.prefix}:agent:{tenant}:*", count=500)]  # fmt: skip
        if not keys:
            return None
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, AGENT_FIELDS)
        models = [agent_model(pairs(AGENT_FIELDS, r)) for r in await pipe.execute()]
        agents = sorted((m for m in models if m), key=lambda m: str(m["agent"]))
        return {"tenant": tenant, "as_of_ms": max((a["as_of_ms"] for a in agents), default=0),
                "agents": agents}  # fmt: skip

    async def tickets(self, tenant: str) -> dict[str, Any] | None:
        values = await self.client.hmget(f"{self.prefix}:tickets:{tenant}", TICKET_FIELDS)
        return tickets_model(tenant, pairs(TICKET_FIELDS, values))

    async def surveys(self, tenant: str) -> dict[str, Any] | None:
        raw = await self.client.hgetall(f"{self.prefix}:surveys:{tenant}")
        return surveys_model(tenant, {_text(k) or "": _text(v) or "" for k, v in raw.items()})
