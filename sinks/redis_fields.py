"""The fields of the queue and interval hashes (docs/redis-keys.md): names, values and text.

A hash is built as a layout (its field names, in order) and the values of those fields, not yet
as text. `RedisSink` compares the values with those it wrote last and renders text only for the
few that changed: a busy queue's ~330 fields change by a tenth between two flushes. A layout is
built once per shape of hash (its channels, windows and figures) and shared by every hash of
that shape, so that two writes of one hash can be compared position by position.
"""

from __future__ import annotations

import sys
from typing import Any

from ccpulse.sinks.redis_client import bulk_text

#: A hash as field names and their values (None, int, float, str), rendered by `text`.
Layout = tuple[str, ...]
Flat = tuple[Layout, list[Any]]

WINDOWS = ("current_interval", "today")
#: The queue hash's descriptive fields, first in its layout.
QUEUE_META: Layout = (
    "tenant",
    "queue",
    "as_of",
    "as_of_ms",
    "time_zone",
    "interval_minutes",
    "sl_formula",
    "attribution",
    "pipeline.too_late",
    "pipeline.duplicates",
)
INTERVAL_META: Layout = ("start", "end", "start_ms")
#: Bounds on the shared name tuples and layouts: channels, windows and figures are few, so
#: these hold a handful; bounded all the same.
MAX_SHAPES = 10_000

#: How many floats' texts `text` keeps at most. -0.0 finds the text of 0.0, which is its own;
#: a NaN is found only as the same object (it equals no other), and every NaN's text is "nan".
MAX_FLOAT_TEXTS = 4096

_NAMES: dict[tuple[str, str, tuple[str, ...]], Layout] = {}
_FLOAT_TEXTS: dict[float, str] = {}
_LAYOUTS: dict[tuple[Layout, ...], Layout] = {}


def text(value: Any) -> str:
    """A value's text in Redis: '' for no value, floats rounded to 6 places, without a sign
    on zero (so that values equal as numbers always have one text), the rest as `str`.

    A float's text is `repr(round(value, 6) + 0.0)`. Between 1e-4 and 1e9 in magnitude, where
    that text is in plain notation and two 6-place decimals are never one float, it is also
    the 6-place text without its trailing zeros: one conversion instead of three, and most
    figures are there (a flush renders hundreds of thousands)."""
    if value is None:
        return ""
    if value.__class__ is float:
        # Most figures of a flush are a few values (0.0, 1.0, a target's 20.0 or 0.8): their
        # texts are kept, so that each is rendered once.
        found = _FLOAT_TEXTS.get(value)
        if found is None:
            found = _float_text(value)
            if len(_FLOAT_TEXTS) >= MAX_FLOAT_TEXTS:
                _FLOAT_TEXTS.clear()  # bounded, and kept to the values of late
            _FLOAT_TEXTS[value] = found
        return found
    return str(value)


def _float_text(value: float) -> str:
    if 1e-4 <= abs(value) < 1e9:
        digits = f"{value:.6f}".rstrip("0")
        return digits + "0" if digits[-1] == "." else digits
    return repr(round(value, 6) + 0.0)


#: RESP bulk strings of the commonest values (`bulk`): the ints below this (counts, nearly
#: every int figure), None, and the floats `text` keeps.
SMALL_INTS = 1024
_INT_BULKS: tuple[str, ...] = tuple(bulk_text(str(i)) for i in range(SMALL_INTS))
_NONE_BULK = bulk_text("")
_FLOAT_BULKS: dict[float, str] = {}


def bulk(value: Any) -> str:
    """`text(value)` as a RESP bulk string (redis_client.py `bulk_text`), for the sink's HSET:
    most values of a flush are a few small counts and floats, whose bulk strings are kept, so
    that a hash written in full is mostly lookups and one join."""
    cls = value.__class__
    if cls is int and 0 <= value < SMALL_INTS:
        found: str = _INT_BULKS[value]
        return found
    if value is None:
        return _NONE_BULK
    if cls is float:
        kept = _FLOAT_BULKS.get(value)
        if kept is None:
            kept = bulk_text(text(value))
            if len(_FLOAT_BULKS) >= MAX_FLOAT_TEXTS:
                _FLOAT_BULKS.clear()
            _FLOAT_BULKS[value] = kept
        return kept
    return bulk_text(text(value))


def names(prefix: str, channel: str, figure_names: tuple[str, ...]) -> Layout:
    """`<prefix>.<channel>.<name>` (`<channel>.<name>` with no prefix) per figure; built once
    per (prefix, channel, figure names) and shared."""
    found = _NAMES.get((prefix, channel, figure_names))
    if found is None:
        head = f"{prefix}.{channel}" if prefix else channel
        found = tuple(sys.intern(f"{head}.{name}") for name in figure_names)
        if len(_NAMES) < MAX_SHAPES:
            _NAMES[(prefix, channel, figure_names)] = found
    return found


def layout(parts: tuple[Layout, ...]) -> Layout:
    """The concatenation of `parts`, one shared tuple per sequence of parts."""
    found = _LAYOUTS.get(parts)
    if found is None:
        found = tuple(name for part in parts for name in part)
        if len(_LAYOUTS) < MAX_SHAPES:
            _LAYOUTS[parts] = found
    return found


def queue_flat(snapshot: dict[str, Any]) -> Flat:
    """The wallboard hash of a queue snapshot: descriptive fields, `<window>.<channel>.<figure>`
    per window and channel, `live.<channel>.<figure>` per channel with live figures."""
    pipeline = snapshot["pipeline"]
    values: list[Any] = [
        snapshot["tenant"],
        snapshot["queue"],
        snapshot["as_of"],
        snapshot["as_of_ms"],
        snapshot["time_zone"],
        snapshot["interval_minutes"],
        snapshot["sl_formula"],
        snapshot["attribution"],
        pipeline["too_late"],
        pipeline["duplicates"],
    ]
    parts: list[Layout] = [QUEUE_META]
    for channel, view in snapshot["channels"].items():
        current = view["current_interval"]
        parts.append(_BOUNDS.get(channel) or _bounds(channel))
        values += (current["start"], current["end"], view["today"]["start"])
        for window in WINDOWS:
            figs = view[window]["figures"]
            parts.append(names(window, channel, tuple(figs)))
            values += figs.values()
        for span, figs in view["rolling"].items():
            parts.append(names(f"rolling_{span}", channel, tuple(figs)))
            values += figs.values()
    for channel, live in snapshot["live"].items():
        parts.append(names("live", channel, tuple(live)))
        values += live.values()
    return layout(tuple(parts)), values


#: Per channel, the names of its window bounds (`current_interval.<channel>.start`, ...).
_BOUNDS: dict[str, Layout] = {}


def _bounds(channel: str) -> Layout:
    found = (
        sys.intern(f"current_interval.{channel}.start"),
        sys.intern(f"current_interval.{channel}.end"),
        sys.intern(f"today.{channel}.start"),
    )
    if len(_BOUNDS) < MAX_SHAPES:
        _BOUNDS[channel] = found
    return found


def interval_flat(record: dict[str, Any], tally_texts: dict[str, str]) -> Flat:
    """The hash of one interval record: its bounds, `<channel>.<figure>` per channel, and
    `<channel>.tally` (the channel's tally as JSON, for range reports) from `tally_texts`."""
    values: list[Any] = [record["start"], record["end"], record["start_ms"]]
    parts: list[Layout] = [INTERVAL_META]
    for channel, figs in record["channels"].items():
        parts.append(names("", channel, tuple(figs)))
        values += figs.values()
    for channel, tally in tally_texts.items():
        parts.append(names("", channel, ("tally",)))
        values.append(tally)
    return layout(tuple(parts)), values


def as_text(flat: Flat) -> dict[str, str]:
    """Every field of a hash as the text written to Redis."""
    fields, values = flat
    return dict(zip(fields, map(text, values), strict=True))


def flatten(snapshot: dict[str, Any]) -> dict[str, str]:
    """The wallboard hash of a queue snapshot, as Redis holds it."""
    return as_text(queue_flat(snapshot))


def put_figures(out: dict[str, str], prefix: str, channel: str, figs: dict[str, Any]) -> None:
    """Add `<prefix>.<channel>.<name>` (`<channel>.<name>` with no prefix) = text of each
    figure to `out`."""
    out.update(zip(names(prefix, channel, tuple(figs)), map(text, figs.values()), strict=True))
