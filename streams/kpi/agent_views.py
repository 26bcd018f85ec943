"""Agent figures as of an instant: per agent, per queue and all agents, for the current
interval, today and each interval, plus the live view (who is in what state, for how long)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ccpulse.streams.kpi.agents import TenantAgents

from ccpulse.streams.kpi.agent_state import ClosedAgentSums
from ccpulse.streams.kpi.agent_tally import AgentTally
from ccpulse.streams.kpi.agents import AGENT, ALL, QUEUE, TIMED_STATES, segment_items


def agent_figures(tally: dict[str, int]) -> dict[str, Any]:
    """Seconds per state, contacts handled, AHT, occupancy and utilisation of one tally."""
    ms = tally.get
    logged_in = ms("logged_in_ms", 0)
    paused = ms("paused_ms", 0)
    handling = ms("on_contact_ms", 0) + ms("wrap_up_ms", 0)
    handled = ms("handled", 0)
    out: dict[str, Any] = {
        "logged_in_seconds": logged_in / 1000,
        **{f"{s}_seconds": ms(f"{s}_ms", 0) / 1000 for s in TIMED_STATES},
        "paused_seconds_by_reason": {
            k.partition(":")[2]: v / 1000 for k, v in sorted(tally.items())
            if k.startswith("paused_ms:")
        },
        "handled": handled,
        "ring_no_answer": ms("ring_no_answer", 0),
        "aht_seconds": handling / handled / 1000 if handled else None,
        "occupancy": handling / (logged_in - paused) if logged_in - paused > 0 else None,
        "utilisation": handling / logged_in if logged_in > 0 else None,
    }  # fmt: skip
    return out


def _add(into: dict[str, int], field: str, amount: int) -> None:
    into[field] = into.get(field, 0) + amount


#: scope (kind, name) -> interval start -> tally.
ScopeIntervals = dict[tuple[str, str], dict[int, dict[str, int]]]


def scope_intervals(t: TenantAgents, now_ms: int) -> ScopeIntervals:
    """Every scope's tally per interval as of `now_ms`: the closed segments' buckets plus each
    agent's open segment up to `now_ms`."""
    cal = t.calendar
    per_scope: ScopeIntervals = {}
    for (kind, name, start), (_, tally) in t.buckets.items():
        if start and start <= now_ms and tally.any():  # none: every contribution moved out
            per_scope.setdefault((kind, name), {})[start] = tally.as_dict()
    for agent, tl in t.timelines.items():
        s, last = tl.current, tl.last_ms
        if last is not None and last < now_ms:
            for kind, name, at, field, amount in segment_items(agent, s, last, now_ms, cal):
                scope = per_scope.setdefault((kind, name), {})
                _add(scope.setdefault(cal.interval_start(at), {}), field, amount)
    return per_scope


def scope_windows(t: TenantAgents, now_ms: int, day_start: int, current: int) -> ScopeIntervals:
    """`scope_intervals` folded to what the live views read: per scope, the current interval
    (at `current`) and the day's sum (at `day_start`; the same tally when the day has one
    interval). Every scope of `scope_intervals` is there, with the same two tallies.

    The closed intervals' part is kept on the tenant for the views of the same interval
    (`ClosedAgentSums`): a flush reads the current interval's buckets and the open segments."""
    closed = t.closed
    if closed is None or closed.current != current or closed.day_start != day_start:
        closed = t.closed = _closed_sums(t, day_start, current)
    cal = t.calendar
    split = current != day_start
    per_scope: ScopeIntervals = {}

    def windows_of(scope: tuple[str, str]) -> dict[int, dict[str, int]]:
        found = per_scope.get(scope)
        if found is None:
            kept = closed.today.get(scope)
            found = per_scope[scope] = {day_start: {} if kept is None else dict(kept)}
            if split:
                found[current] = {}
        return found

    for scope in closed.today:
        windows_of(scope)
    buckets = t.buckets
    for scope in closed.current_scopes:
        bucket = buckets.get((scope[0], scope[1], current))
        if bucket is not None and bucket[1].any():
            windows = windows_of(scope)
            today = windows[day_start]
            for field, amount in bucket[1].items():
                _add(today, field, amount)
            if split:
                now = windows[current]
                for field, amount in bucket[1].items():
                    _add(now, field, amount)
    # Buckets after `current` count once `now_ms` reaches them: only another calendar's
    # interval starts lie between (a tenant's interval length changed across a restart).
    for bkey in closed.later:
        bucket = buckets.get(bkey)
        if bucket is not None and bkey[2] <= now_ms and bucket[1].any():
            today = windows_of((bkey[0], bkey[1]))[day_start]
            for field, amount in bucket[1].items():
                _add(today, field, amount)
    for agent, tl in t.timelines.items():
        s, last = tl.current, tl.last_ms
        if last is not None and last < now_ms:
            for kind, name, at, field, amount in segment_items(agent, s, last, now_ms, cal):
                windows = windows_of((kind, name))
                start = cal.interval_start(at)
                if start >= day_start:
                    _add(windows[day_start], field, amount)
                    if start == current and split:
                        _add(windows[current], field, amount)
    return per_scope


def _closed_sums(t: TenantAgents, day_start: int, current: int) -> ClosedAgentSums:
    """The sums `scope_windows` keeps, from every bucket of the tenant."""
    closed = ClosedAgentSums(day_start, current, budget=len(t.buckets))
    today = closed.today
    for (kind, name, start), (_, tally) in t.buckets.items():
        if not start:  # the tenant's totals
            continue
        if start == current:
            closed.current_scopes[(kind, name)] = None
        elif start > current:
            closed.later[(kind, name, start)] = None
        elif tally.any():
            summed = today.get((kind, name))
            if summed is None:
                summed = today[(kind, name)] = {}
            if start >= day_start:
                for field, amount in tally.items():
                    _add(summed, field, amount)
    return closed


def tenant_snapshot(
    t: TenantAgents, tenant: str, now_ms: int, history: bool = True
) -> dict[str, Any]:
    """A tenant's agent figures as of `now_ms`; with `history`, each interval's figures of all
    agents and of each queue too (reports); without it, only the current interval and today
    (what the live sinks read, at every flush)."""
    cal = t.calendar
    day_start, _ = cal.day_bounds(now_ms)
    current = cal.interval_start(now_ms)
    if history:
        per_scope = scope_intervals(t, now_ms)
    else:
        per_scope = scope_windows(t, now_ms, day_start, current)
    live_agents: dict[str, Any] = {}
    for agent, tl in sorted(t.timelines.items()):
        s = tl.current
        if s.logged_in:
            live_agents[agent] = {
                "state": s.state,
                "reason": s.reason,
                "queues": sorted(s.queues),
                "since": cal.label(s.since_ms),
                "time_in_state_seconds": max(0, now_ms - s.since_ms) / 1000,
            }
    live_queues: dict[str, dict[str, Any]] = {}
    for info in live_agents.values():
        for q in [ALL, *info["queues"]]:
            view = live_queues.setdefault(q, {"logged_in": 0, "by_state": {}})
            view["logged_in"] += 1
            view["by_state"][info["state"]] = view["by_state"].get(info["state"], 0) + 1
    for view in live_queues.values():
        view["available"] = view["by_state"].get("available", 0)

    def windows(intervals: dict[int, dict[str, int]], with_intervals: bool) -> dict[str, Any]:
        if not history:  # folded already (scope_windows)
            return {"current_interval": agent_figures(intervals.get(current, {})),
                    "today": agent_figures(intervals.get(day_start, {}))}  # fmt: skip
        today: dict[str, int] = {}
        for start, tally in intervals.items():
            if start >= day_start:
                for field, amount in tally.items():
                    _add(today, field, amount)
        out: dict[str, Any] = {
            "current_interval": agent_figures(intervals.get(current, {})),
            "today": agent_figures(today),
        }
        if with_intervals:
            out["intervals"] = [
                {"start": cal.label(s), "end": cal.label(cal.interval_end(s)),
                 "figures": agent_figures(intervals[s])}
                for s in sorted(intervals)
            ]  # fmt: skip
        return out

    found = t.buckets.get((ALL, "", 0))
    totals = AgentTally() if found is None else found[1]
    return {
        "tenant": tenant,
        "as_of": cal.label(now_ms),
        "as_of_ms": now_ms,
        "all": {**windows(per_scope.get((ALL, ""), {}), True), "live": live_queues.get(ALL)},
        "queues": {
            name: {**windows(iv, True), "live": live_queues.get(name)}
            for (kind, name), iv in sorted(per_scope.items()) if kind == QUEUE
        },
        "agents": {
            name: {**windows(iv, False), "live": live_agents.get(name)}
            for (kind, name), iv in sorted(per_scope.items()) if kind == AGENT
        },
        "pipeline": {"too_late": totals.too_late, "duplicates": totals.duplicates},
    }  # fmt: skip
