"""The field checks of the event decoder (decode.py): names, ids, instants, durations, choices,
each raising `_Invalid` with the field and the reason; and the strings shared between events."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

#: Clock skew tolerated between a producer and ccpulse before an event counts as "from the future".
MAX_FUTURE_MS: Final = 5 * 60 * 1000
#: Instants before 2000-01-01 are almost always epoch seconds sent where milliseconds belong.
MIN_TS_MS: Final = 946_684_800_000
#: No real wait, talk, hold or wrap lasts a week; longer values are corrupt input.
MAX_DURATION_S: Final = 7 * 86_400
NAME_RE: Final = re.compile(r"^\w[\w .@+~-]{0,127}\Z")
#: RFC 3339 date-time (what JSON Schema's "date-time" means): "T", seconds, and Z or +hh:mm.
RFC3339_RE: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})\Z"
)
MAX_ID_LEN: Final = 256
#: Characters of a free-text label such as a pause reason.
MAX_LABEL_LEN: Final = 64

_NAIVE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\Z")
_FRACTION_RE: Final = re.compile(r"(\.\d{6})\d+")  # datetime keeps microseconds
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
#: Names already validated, each mapped to one shared copy. Tenants, queues and agents repeat
#: in every event: a decoded event refers to the shared string instead of holding its own (the
#: engine keeps a day of events), and a known name skips the pattern check. Bounded, so a flood
#: of distinct names cannot grow it without end; past the bound names are checked every time.
_KNOWN_NAMES: dict[str, str] = {}
#: The same for agent ids, which follow the (looser) id rule: kept apart so that an id never
#: passes as a validated name.
_KNOWN_IDS: dict[str, str] = {}
MAX_KNOWN_NAMES: Final = 100_000


class _Invalid(Exception):
    def __init__(self, field_name: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


#: Characters of a refused value quoted in an error message.
SHOWN_CHARS: Final = 80


def _show(value: Any) -> str:
    """A refused value for an error message: its repr, cut to `SHOWN_CHARS` characters."""
    if isinstance(value, str | list | dict) and len(value) > SHOWN_CHARS:
        value = (
            value[:SHOWN_CHARS] if not isinstance(value, dict) else dict(list(value.items())[:8])
        )
    try:
        text = repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deep>"
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def _label(obj: dict[str, Any], name: str) -> str:
    """A free-text label such as a pause reason: 1-64 printable characters."""
    value = obj.get(name)
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_LABEL_LEN
        or not value.isprintable()
    ):
        raise _Invalid(
            name, f"must be 1-{MAX_LABEL_LEN} printable characters, got {_show(value)}"
        )
    return value


def _flag(obj: dict[str, Any], name: str, default: bool) -> bool:
    value = obj.get(name, default)
    if not isinstance(value, bool):
        raise _Invalid(name, f"must be true or false, got {_show(value)}")
    return value


def _ident(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if type(value) is not str or not value:
        raise _Invalid(name, "required non-empty string missing" if value is None else
                       f"must be a non-empty string, got {_show(value)}")  # fmt: skip
    if len(value) > MAX_ID_LEN or not value.isprintable():
        raise _Invalid(name, f"must be at most {MAX_ID_LEN} printable characters")
    return value


def _shared(value: str, known: dict[str, str] = _KNOWN_NAMES) -> str:
    """The one shared copy of a validated name (or, with `_KNOWN_IDS`, id) that repeats."""
    found = known.get(value)
    if found is not None:
        return found
    if len(known) < MAX_KNOWN_NAMES:
        known[value] = value
    return value


def _name(obj: dict[str, Any], name: str, default: str | None = None) -> str:
    value = obj.get(name, default)
    if isinstance(value, str):
        found = _KNOWN_NAMES.get(value)
        if found is not None:
            return found
    if value is None:
        raise _Invalid(name, "required string missing")
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise _Invalid(
            name,
            "must be 1-128 letters, digits, spaces or _ . @ + ~ -, starting with a letter, "
            f"digit or _, got {_show(value)}",
        )
    return _shared(value)


def _choice(obj: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = obj.get(name)
    if value not in allowed:
        raise _Invalid(name, f"must be one of {', '.join(allowed)}, got {_show(value)}")
    return str(value)


def _duration(obj: dict[str, Any], name: str, required: bool) -> int | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _Invalid(name, "required number of seconds missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(name, f"must be a number of seconds, got {_show(value)}")
    if value != value or value < 0:
        raise _Invalid(name, f"must be a non-negative number of seconds, got {_show(value)}")
    if value > MAX_DURATION_S:
        raise _Invalid(name, f"must be at most {MAX_DURATION_S} seconds, got {_show(value)}")
    ms: int = round(value * 1000)
    return ms


def datetime_ms(parsed: datetime) -> int:
    """Epoch milliseconds of an aware date-time, the fraction cut toward the past (never
    rounded up into the next second or interval), with exact integer arithmetic."""
    return (parsed - _EPOCH) // _ONE_MS


def _ts_ms(obj: dict[str, Any], now_ms: int) -> int:
    """`_ts`, with the usual shape (integer epoch milliseconds in range) checked inline."""
    value = obj.get("ts")
    if type(value) is int and MIN_TS_MS <= value <= now_ms + MAX_FUTURE_MS:
        return value
    return _ts(obj, now_ms)


def _tenant(obj: dict[str, Any]) -> str:
    """`_name` of the tenant, a known one looked up first."""
    value = obj.get("tenant", "default")
    tenant = _KNOWN_NAMES.get(value) if type(value) is str else None
    return _name(obj, "tenant", default="default") if tenant is None else tenant


def _ts(obj: dict[str, Any], now_ms: int) -> int:
    value = obj.get("ts")
    if value is None:
        raise _Invalid("ts", "required timestamp missing")
    if isinstance(value, bool):
        raise _Invalid("ts", f"must be RFC 3339 or epoch milliseconds, got {_show(value)}")
    if isinstance(value, int):
        ts_ms = value
    elif isinstance(value, str):
        if not RFC3339_RE.match(value):
            hint = "needs an offset or Z" if _NAIVE_RE.match(value) else "expected e.g."
            raise _Invalid(
                "ts", f"not an RFC 3339 timestamp ({hint} 2026-03-10T09:00:00Z): {_show(value)}"
            )
        try:
            parsed = datetime.fromisoformat(_FRACTION_RE.sub(r"\1", value))
        except ValueError:
            raise _Invalid("ts", f"not a valid date or time: {_show(value)}") from None
        ts_ms = datetime_ms(parsed)
    else:
        raise _Invalid("ts", f"must be RFC 3339 or integer epoch milliseconds, got {_show(value)}")
    if ts_ms < MIN_TS_MS:
        raise _Invalid(
            "ts", f"{_show(value)} is before 2000 (epoch seconds instead of milliseconds?)"
        )
    if ts_ms > now_ms + MAX_FUTURE_MS:
        raise _Invalid("ts", f"{_show(value)} is more than {MAX_FUTURE_MS // 1000} s in the future")
    return ts_ms
