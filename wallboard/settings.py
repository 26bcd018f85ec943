"""The `[wallboard]` configuration section: where the wallboard listens, who may read it, its
default layout and the amber and red thresholds of each figure (docs/wallboard.md).

Parsed here, validated strictly (a misspelt key or a threshold the wrong way round stops the
server at start), and held in frozen dataclasses that `ccpulse.config.Settings` carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Tiles of a queue, in their default order (docs/wallboard.md#tiles).
QUEUE_TILES = (
    "in_queue",
    "longest_wait",
    "service_level_interval",
    "service_level_today",
    "offered",
    "answered",
    "abandoned",
    "asa",
    "agents",
)

#: Figures that can carry thresholds, and the side on which they are bad: "above" (the figure
#: reaching the threshold is a breach) or "below" (the figure falling under it is).
THRESHOLD_FIGURES: dict[str, str] = {
    "in_queue": "above",
    "longest_wait_seconds": "above",
    "asa_seconds": "above",
    "abandonment_rate": "above",
    "service_level": "below",
    "agents_available": "below",
}

#: Sensible defaults for a voice queue. Service level has none: by default it is amber under
#: the queue's own target and red more than `SERVICE_LEVEL_RED_POINTS` under it.
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "in_queue": (5, 10),
    "longest_wait_seconds": (60, 120),
    "asa_seconds": (30, 60),
    "abandonment_rate": (0.05, 0.10),
    "agents_available": (2, 1),
}
SERVICE_LEVEL_RED_POINTS = 0.10


@dataclass(frozen=True, slots=True)
class Threshold:
    """Amber and red levels of one figure; `None` for service level means "from the target"."""

    amber: float | None
    red: float | None
    bad_when: str  # "above" or "below"

    def to_json(self) -> dict[str, Any]:
        return {"amber": self.amber, "red": self.red, "bad_when": self.bad_when}


def default_thresholds() -> dict[str, Threshold]:
    """The defaults above, as thresholds."""
    out = {name: Threshold(a, r, THRESHOLD_FIGURES[name]) for name, (a, r) in
           DEFAULT_THRESHOLDS.items()}  # fmt: skip
    out["service_level"] = Threshold(None, None, "below")
    return out



@dataclass(frozen=True, slots=True)
class Access:
    """One credential (a bearer token, or a user name and password) and the tenants it reads;
    `"*"` in `tenants` reads every tenant."""

    tenants: tuple[str, ...]
    token: str = ""
    username: str = ""
    password: str = ""

    def reads(self, tenant: str) -> bool:
        return "*" in self.tenants or tenant in self.tenants


@dataclass(frozen=True, slots=True)
class WallboardSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    #: Default layout, overridden per screen by the URL: tenant ("" = every tenant it may read),
    #: queues ("" = all of them), tiles and columns.
    tenant: str = ""
    queues: tuple[str, ...] = ()
    tiles: tuple[str, ...] = QUEUE_TILES
    columns: int = 0  # 0: as many as fit
    #: A screen turns "stale" when no figure newer than this has arrived.
    stale_seconds: float = 30.0
    #: Credentials; none means an open wallboard (it binds to loopback by default).
    access: tuple[Access, ...] = ()
    thresholds: dict[str, Threshold] = field(default_factory=default_thresholds)
    #: Per "<tenant>/<queue>": thresholds that replace the defaults for that queue.
    queue_thresholds: dict[str, dict[str, Threshold]] = field(default_factory=dict)

    def thresholds_for(self, member: str) -> dict[str, Threshold]:
        """The thresholds of one queue ("tenant/queue"): defaults, then its own."""
        return {**self.thresholds, **self.queue_thresholds.get(member, {})}


_SCALARS = {"host": str, "port": int, "tenant": str, "columns": int, "stale_seconds": float}


def wallboard_settings(values: dict[str, Any]) -> WallboardSettings:
    """Build and validate the section; every error names the offending key."""
    known = set(_SCALARS) | {"queues", "tiles", "access", "thresholds", "queue_thresholds"}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown [wallboard] setting(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, kind in _SCALARS.items():
        if key in values:
            value = values[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if kind is str and not isinstance(value, str):
                value = str(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"[wallboard] {key} must be {kind.__name__}, not {value!r}")
            out[key] = value
    if not 0 < out.get("port", 8080) < 65536:
        raise ValueError("[wallboard] port must be 1-65535")
    if not 0 <= out.get("columns", 0) <= 12:
        raise ValueError("[wallboard] columns must be 0 (automatic) to 12")
    if out.get("stale_seconds", 30.0) <= 0:
        raise ValueError("[wallboard] stale_seconds must be positive")
    if "queues" in values:
        out["queues"] = tuple(_names(values["queues"], "queues"))
    if "tiles" in values:
        out["tiles"] = parse_tiles(_names(values["tiles"], "tiles"))
    out["access"] = tuple(_access(entry) for entry in values.get("access", []))
    out["thresholds"] = {**default_thresholds(), **_thresholds(values.get("thresholds", {}), "")}
    out["queue_thresholds"] = {
        str(member): _thresholds(figs, f".{member}")
        for member, figs in values.get("queue_thresholds", {}).items()
    }
    return WallboardSettings(**out)


def parse_tiles(names: list[str]) -> tuple[str, ...]:
    bad = [n for n in names if n not in QUEUE_TILES]
    if bad:
        raise ValueError(f"unknown tile(s): {', '.join(bad)} (known: {', '.join(QUEUE_TILES)})")
    return tuple(names)


def _names(value: Any, key: str) -> list[str]:
    """A list of names, or one comma-separated string (as an environment variable gives)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"[wallboard] {key} must be a list of names")


def _access(entry: Any) -> Access:
    if not isinstance(entry, dict):
        raise ValueError("[wallboard] access entries must be tables")
    unknown = set(entry) - {"token", "username", "password", "tenants"}
    if unknown:
        raise ValueError(f"unknown [wallboard.access] setting(s): {', '.join(sorted(unknown))}")
    token, user, password = (str(entry.get(k, "")) for k in ("token", "username", "password"))
    if bool(token) == bool(user):
        raise ValueError("[wallboard.access] needs either a token or a username, not both")
    if user and not password:
        raise ValueError(f"[wallboard.access] user {user!r} needs a password")
    tenants = _names(entry.get("tenants", []), "access.tenants")
    if not tenants:
        raise ValueError("[wallboard.access] needs tenants (a list of names, or [\"*\"] for all)")
    return Access(tuple(tenants), token, user, password)


def _thresholds(values: Any, where: str) -> dict[str, Threshold]:
    if not isinstance(values, dict):
        raise ValueError(f"[wallboard.thresholds{where}] must be a table")
    out: dict[str, Threshold] = {}
    for name, levels in values.items():
        side = THRESHOLD_FIGURES.get(name)
        if side is None:
            raise ValueError(
                f"[wallboard.thresholds{where}] unknown figure {name!r} "
                f"(known: {', '.join(THRESHOLD_FIGURES)})"
            )
        if not isinstance(levels, dict) or set(levels) - {"amber", "red"} or not levels:
            raise ValueError(f"[wallboard.thresholds{where}] {name} needs amber and/or red")
        amber, red = (_level(levels.get(k), f"{where} {name}.{k}") for k in ("amber", "red"))
        if amber is not None and red is not None and (red < amber if side == "above"
                                                       else red > amber):  # fmt: skip
            raise ValueError(
                f"[wallboard.thresholds{where}] {name}: red must be beyond amber "
                f"({'higher' if side == 'above' else 'lower'}), got amber {amber}, red {red}"
            )
        out[name] = Threshold(amber, red, side)
    return out


def _level(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"[wallboard.thresholds{where}] must be a number, not {value!r}")
    return float(value)
