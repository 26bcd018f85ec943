"""The range report as CSV for spreadsheets: a header row, then one row per queue channel (or
agent scope) and period, the total last. `period` is the interval start, the date, the weekday or
`total`; `start` and `end` are ISO 8601 in the queue's (or tenant's) time zone. Dict figures are
spread into `name.key` columns (`paused_seconds_by_reason.Lunch`)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, Any, Final

TABLES: Final = ("queues", "agents")
_QUEUE_KEYS: Final = ("tenant", "queue", "channel")
_AGENT_KEYS: Final = ("tenant", "scope", "name")


def _flat(figures: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in figures.items():
        if isinstance(value, dict):
            out.update((f"{name}.{key}", v) for key, v in value.items())
        else:
            out[name] = value
    return out


def _period(row: dict[str, Any]) -> dict[str, Any]:
    if "weekday" in row:
        return {"period": row["weekday"], "days": row["days"], "start": "", "end": ""}
    if "date" in row:
        return {"period": row["date"], "days": 1, "start": row["start"], "end": row["end"]}
    return {"period": row["start"], "days": "", "start": row["start"], "end": row["end"]}


def _rows(keys: dict[str, Any], table: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for row in table["rows"]:
        yield {**keys, **_period(row), **_flat(row["figures"])}
    total = {"period": "total", "days": "", "start": "", "end": ""}
    yield {**keys, **total, **_flat(table["total"]["figures"])}


def csv_rows(report: dict[str, Any], table: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows of the `queues` or `agents` table."""
    rows: list[dict[str, Any]] = []
    if table == "queues":
        leading = _QUEUE_KEYS
        for q in report["queues"]:
            for channel, t in q["channels"].items():
                rows += _rows({"tenant": q["tenant"], "queue": q["queue"], "channel": channel}, t)
    else:
        leading = _AGENT_KEYS
        for snap in report["agents"]:
            tenant = snap["tenant"]
            rows += _rows({"tenant": tenant, "scope": "all", "name": ""}, snap["all"])
            for kind in ("queues", "agents"):
                for name, t in snap[kind].items():
                    rows += _rows({"tenant": tenant, "scope": kind[:-1], "name": name}, t)
    header = [*leading, "period", "days", "start", "end"]
    seen = set(header)
    for row in rows:  # figure columns in first-seen order (reasons vary from row to row)
        for name in row:
            if name not in seen:
                seen.add(name)
                header.append(name)
    return header, rows


def write_csv(report: dict[str, Any], out: IO[str], table: str = "queues") -> None:
    """Write one table of the range report as CSV (empty cells for missing values)."""
    header, rows = csv_rows(report, table)
    writer = csv.DictWriter(out, header, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
