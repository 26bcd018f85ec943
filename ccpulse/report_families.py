"""The report table's ticket and survey sections: per tenant, today's figures (the JSON report
has every window and breakdown; definitions in docs/ticket-kpis.md and docs/survey-kpis.md)."""

from __future__ import annotations

from typing import IO, Any

TICKET_COLUMNS = (
    ("created", "created", "{:d}"),
    ("solved", "solved", "{:d}"),
    ("reopened", "reopened", "{:d}"),
    ("FRT n", "frt_count", "{:d}"),
    ("FRT avg h", "frt_avg_seconds", "hours"),
    ("FRT p90 h", "frt_p90_seconds", "hours"),
    ("resol. h", "resolution_avg_seconds", "hours"),
    ("FCR", "fcr_rate", "{:.1%}"),
    ("FRT brch", "frt_breaches", "{:d}"),
    ("res. brch", "resolution_breaches", "{:d}"),
)
SURVEY_COLUMNS = (
    ("CSAT", "csat", "{:.1%}"),
    ("CSAT n", "csat_responses", "{:d}"),
    ("NPS", "nps", "{:.1f}"),
    ("NPS n", "nps_responses", "{:d}"),
    ("CES", "ces_average", "{:.2f}"),
    ("CES n", "ces_responses", "{:d}"),
)


def _cell(fmt: str, value: Any) -> str:
    if value is None:
        return "-"
    if fmt == "hours":
        return f"{value / 3600:.1f}"
    return fmt.format(value)


def _table(
    rows: list[tuple[str, dict[str, Any]]], columns: tuple[tuple[str, str, str], ...], out: IO[str]
) -> None:
    out.write(f"{'':<27}" + "".join(f"{name:>11}" for name, _, _ in columns) + "\n")
    for label, figs in rows:
        cells = "".join(f"{_cell(fmt, figs.get(key)):>11}" for _, key, fmt in columns)
        out.write(f"{label[:27]:<27}{cells}\n")


def render_tickets(snap: dict[str, Any], out: IO[str]) -> None:
    """One tenant's tickets: the backlog now, then today by group, priority and channel."""
    now = snap["now"]
    out.write(f"\n== tickets of {snap['tenant']}  as of {snap['as_of']}  "
              f"({snap['time_zone']}, {snap['clock']} time, today)\n")  # fmt: skip
    oldest = now.get("oldest_open_age_seconds")
    oldest_text = "-" if oldest is None else f"{oldest / 3600:.1f} h"
    out.write(f"   now: {now['open']} open, at risk {now['at_risk']['first_response']} first "
              f"response / {now['at_risk']['resolution']} resolution, overdue "
              f"{now['overdue']['first_response']} / {now['overdue']['resolution']}, "
              f"oldest open {oldest_text}\n")  # fmt: skip
    today = snap["today"]["figures"]
    rows = [("all tickets", today)]
    breakdowns = (("group", "by_group"), ("priority", "by_priority"), ("channel", "by_channel"))
    for kind, key in breakdowns:
        rows += [(f"{kind} {name}", figs) for name, figs in sorted(today.get(key, {}).items())]
    _table(rows, TICKET_COLUMNS, out)


def render_surveys(snap: dict[str, Any], out: IO[str]) -> None:
    """One tenant's survey responses today: all, per queue and per channel."""
    out.write(f"\n== surveys of {snap['tenant']}  as of {snap['as_of']}  "
              f"({snap['time_zone']}, today)\n")  # fmt: skip
    today = snap["today"]
    rows = [("all responses", today["all"])]
    for kind, key in (("queue", "by_queue"), ("channel", "by_channel")):
        rows += [(f"{kind} {name}", figs) for name, figs in sorted(today[key].items())]
    _table(rows, SURVEY_COLUMNS, out)
