"""A screen's layout: the configured defaults, overridden by the page's URL parameters.

`?view=queues&tenant=acme&queues=sales,support&tiles=in_queue,longest_wait&columns=3` —
every parameter optional. A malformed or unknown parameter is a 400 that says what is wrong,
a tenant the credential may not read a 403, so a mistyped URL on a wall screen shows why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException

from ccpulse.wallboard.auth import Viewer
from ccpulse.wallboard.settings import WallboardSettings, parse_tiles

VIEWS = ("queues", "agents", "tickets")
PARAMETERS = frozenset({"view", "tenant", "queues", "tiles", "columns", "access_token"})


def _names(raw: str) -> list[str]:
    return [n.strip() for n in raw.split(",") if n.strip()]


def resolve(params: Mapping[str, str], settings: WallboardSettings, viewer: Viewer) -> dict[str,
                                                                                           Any]:
    """The layout a screen shows, with the thresholds of its queues."""
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        raise HTTPException(400, f"unknown parameter(s): {', '.join(unknown)} "
                                 f"(known: {', '.join(sorted(PARAMETERS))})")  # fmt: skip
    view = params.get("view", "queues")
    if view not in VIEWS:
        raise HTTPException(400, f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    tenant = params.get("tenant", settings.tenant).strip()
    if tenant:
        viewer.check(tenant)
    queues = _names(params["queues"]) if "queues" in params else list(settings.queues)
    members = []
    for name in queues:
        member = name if "/" in name else f"{tenant}/{name}" if tenant else ""
        if not member:
            raise HTTPException(400, f"queue {name!r} needs a tenant: tenant=... or tenant/queue")
        viewer.check(member.partition("/")[0])
        members.append(member)
    try:
        tiles = parse_tiles(_names(params["tiles"])) if "tiles" in params else settings.tiles
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    columns = settings.columns
    if "columns" in params:
        raw = params["columns"]
        if not raw.isdigit() or not 0 <= int(raw) <= 12:
            raise HTTPException(400, f"columns must be a whole number 0-12, not {raw!r}")
        columns = int(raw)
    return {
        "view": view,
        "tenant": tenant or None,
        "queues": members or None,
        "tiles": list(tiles),
        "columns": columns,
        "stale_seconds": settings.stale_seconds,
        "thresholds": {k: t.to_json() for k, t in settings.thresholds.items()},
        "queue_thresholds": {
            member: {k: t.to_json() for k, t in settings.thresholds_for(member).items()}
            for member in settings.queue_thresholds
            if viewer.reads(member.partition("/")[0])
        },
    }


def scope(layout: dict[str, Any], viewer: Viewer) -> tuple[frozenset[str] | None,
                                                          frozenset[str] | None]:
    """The tenants and queues a screen's stream carries: its layout within its credential."""
    tenants = viewer.tenants
    if layout["tenant"]:
        tenants = frozenset({layout["tenant"]})
    queues = frozenset(layout["queues"]) if layout["queues"] else None
    return tenants, queues
