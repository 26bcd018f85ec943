"""`ccpulse report --from T1 --to T2`: the range report from an events file, a queue_log or the
live system's Redis, as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from ccpulse.config import Settings
    from ccpulse.streams.kpi import PolicyBook

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


def range_instant(text: str, time_zone: str) -> int:
    """`--from`/`--to`: a date (local midnight in `time_zone`), RFC 3339 with offset, or epoch
    milliseconds."""
    from ccpulse.cli_errors import CliError
    from ccpulse.report import parse_instant
    from ccpulse.schemas.decode import datetime_ms

    try:
        if _DATE_RE.match(text):
            return datetime_ms(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(time_zone)))
        return parse_instant(text)
    except ValueError:
        raise CliError(f"{text!r} is not an instant: give a date (2026-12-05, local midnight), "
                       "RFC 3339 with an offset or epoch milliseconds") from None  # fmt: skip


def add_range_arguments(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("--from", dest="range_from",
                     help="range report: first instant (a date is local midnight)")  # fmt: skip
    rep.add_argument("--to", dest="range_to", help="range report: end instant (excluded)")
    rep.add_argument("--by", choices=("interval", "day", "weekday"), default="interval",
                     help="range report rows")  # fmt: skip
    rep.add_argument("--open-hours-only", action="store_true",
                     help="leave out intervals outside each queue's opening hours")  # fmt: skip
    rep.add_argument("--csv-table", choices=("queues", "agents"), default="queues",
                     help="which table --format csv writes")  # fmt: skip
    rep.add_argument("--redis", help="range report from the live system's Redis (URL)")


def run_range(args: argparse.Namespace, settings: Settings, book: PolicyBook) -> int:
    import orjson

    from ccpulse.cli_errors import write_out
    from ccpulse.report_csv import write_csv
    from ccpulse.report_range import RangeSpec, build_range_report, render_range_table

    if not (args.range_from and args.range_to):
        print("ccpulse report: --from and --to go together", file=sys.stderr)
        return 2
    zone = book.for_queue(args.tenant, "").time_zone
    spec = RangeSpec(range_instant(args.range_from, zone), range_instant(args.range_to, zone),
                     args.by, args.open_hours_only)  # fmt: skip
    report: dict[str, Any]
    if args.redis:
        from ccpulse.report_redis import redis_range_report

        report = redis_range_report(args.redis, settings, book, spec, args.tenant)
    elif args.queue_log:
        from ccpulse.report_range_fast import range_report_of_queue_log

        report, stats = range_report_of_queue_log(args.queue_log, book, spec,
                                                  settings.opening_hours, tenant=args.tenant,
                                                  time_zone=zone)  # fmt: skip
        for error in stats.errors():
            print(f"ccpulse report: {args.queue_log}: {error}", file=sys.stderr)
    elif args.events == "-":
        report = build_range_report(sys.stdin.buffer, book, spec, settings.opening_hours)
    else:
        with open(args.events, "rb") as fh:
            report = build_range_report(fh, book, spec, settings.opening_hours)
    for line in report["errors"]:
        print(f"ccpulse report: {line}", file=sys.stderr)
    if args.format == "json":
        write_out(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    elif args.format == "csv":
        write_csv(report, sys.stdout, args.csv_table)
    else:
        render_range_table(report, sys.stdout)
    return 0
