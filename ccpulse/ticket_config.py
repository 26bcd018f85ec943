"""The `[tickets]` section of the configuration file: SLA targets per priority, business hours
(for every tenant and per tenant), the "at risk" horizon and the backlog age buckets.

```toml
[tickets]
at_risk_seconds = 3600
backlog_bounds_seconds = [3600, 28800, 86400, 259200]

[tickets.targets.urgent]            # any priority not listed keeps its default
first_response_seconds = 1800
resolution_seconds = 14400

[tickets.business_hours]            # same keys as an [opening_hours] entry
weekdays = "08:00-18:00"
closed_dates = ["2026-12-25"]

[tickets.tenants.globex]
business_hours = "always"           # this tenant's clocks run around the clock
```

Every key is checked here, so a misspelt one stops ccpulse with its name (docs/configuration.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ccpulse.opening_hours import schedule_from_mapping
from ccpulse.schemas.events import TICKET_PRIORITIES
from ccpulse.streams.kpi.business_hours import BusinessSchedule
from ccpulse.streams.kpi.tickets_hours import DEFAULT_TARGETS, SlaTarget, TicketSettings

_KEYS = {"at_risk_seconds", "backlog_bounds_seconds", "targets", "business_hours", "tenants"}
_TARGET_KEYS = {"first_response_seconds", "resolution_seconds"}
#: `business_hours = "always"`: business time is elapsed time (no schedule).
ALWAYS = "always"


def _unknown(where: str, given: Mapping[str, Any], allowed: set[str]) -> None:
    extra = set(given) - allowed
    if extra:
        raise ValueError(f"unknown {where} setting(s): {', '.join(sorted(extra))}")


def _seconds(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where} must be a whole number of seconds > 0, got {value!r}")
    return int(value)


def _schedule(where: str, value: Any) -> BusinessSchedule | None:
    if value == ALWAYS:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a table of opening windows or {ALWAYS!r}")
    try:
        return schedule_from_mapping(dict(value))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def ticket_settings(section: Mapping[str, Any]) -> TicketSettings:
    """`TicketSettings` from the `[tickets]` section (empty: the defaults)."""
    _unknown("[tickets]", section, _KEYS)
    targets = dict(DEFAULT_TARGETS)
    for priority, values in dict(section.get("targets", {})).items():
        where = f"[tickets.targets.{priority}]"
        if priority not in TICKET_PRIORITIES:
            raise ValueError(f"{where}: priority must be one of {', '.join(TICKET_PRIORITIES)}")
        _unknown(where, values, _TARGET_KEYS)
        base = targets[priority]
        targets[priority] = SlaTarget(
            _seconds(f"{where} first_response_seconds",
                     values.get("first_response_seconds", base.first_response_seconds)),
            _seconds(f"{where} resolution_seconds",
                     values.get("resolution_seconds", base.resolution_seconds)),
        )  # fmt: skip
    options: dict[str, Any] = {"targets": targets}
    if "at_risk_seconds" in section:
        value = section["at_risk_seconds"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"[tickets] at_risk_seconds must be a whole number >= 0: {value!r}")
        options["at_risk_seconds"] = value
    if "backlog_bounds_seconds" in section:
        bounds = section["backlog_bounds_seconds"]
        if not isinstance(bounds, list):
            raise ValueError("[tickets] backlog_bounds_seconds must be a list of seconds")
        options["backlog_bounds_seconds"] = tuple(
            _seconds("[tickets] backlog_bounds_seconds", b) for b in bounds
        )
    if "business_hours" in section:
        options["schedule"] = _schedule("[tickets.business_hours]", section["business_hours"])
    tenants: dict[str, BusinessSchedule | None] = {}
    for tenant, values in dict(section.get("tenants", {})).items():
        where = f"[tickets.tenants.{tenant}]"
        _unknown(where, values, {"business_hours"})
        if "business_hours" in values:
            tenants[tenant] = _schedule(f"{where} business_hours", values["business_hours"])
    options["tenant_schedules"] = tenants
    try:
        return TicketSettings(**options)
    except ValueError as exc:
        raise ValueError(f"[tickets] {exc}") from None
