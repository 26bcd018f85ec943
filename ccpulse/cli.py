"""The `ccpulse` command: report, worker, simulate, wallboard, demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import orjson

from ccpulse.cli_range import add_range_arguments
from ccpulse.config import load_settings


def _report(args: argparse.Namespace) -> int:

    from ccpulse.report import build_report, parse_instant, render_table, write_errors

    settings = load_settings(args.config)
    book = settings.policies
    overrides: dict[str, object] = {}
    if args.interval:
        overrides["interval_minutes"] = args.interval
    if args.attribution:
        overrides["attribution"] = args.attribution
    if overrides:
        book = book.with_overrides(**overrides)
    if args.range_from or args.range_to or args.redis:
        from ccpulse.cli_range import run_range

        return run_range(args, settings, book)
    if args.format == "csv":
        print("ccpulse report: --format csv needs --from and --to", file=sys.stderr)
        return 2
    at_ms = parse_instant(args.at) if args.at else None
    if args.queue_log:
        from ccpulse.sources.queue_log import json_lines, queue_log_events

        events, stats = queue_log_events(
            args.queue_log, tenant=args.tenant, time_zone=book.for_queue(args.tenant, "").time_zone
        )
        for error in stats.errors():
            print(f"ccpulse report: {args.queue_log}: {error}", file=sys.stderr)
        report = build_report(json_lines(events), book, at_ms)
    elif args.events == "-":
        report = build_report(sys.stdin.buffer, book, at_ms)
    else:
        with open(args.events, "rb") as fh:
            report = build_report(fh, book, at_ms)
    write_errors(report)
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        render_table(report, sys.stdout)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from ccpulse.streams.worker import run_worker

    run_worker(load_settings(args.config), loglevel=args.loglevel)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from ccpulse.demo import send_events, simulated_events, write_events
    from ccpulse.report import parse_instant

    start = (
        parse_instant(args.start)
        if args.start
        else int(time.time() * 1000) - int(args.hours * 3_600_000)
    )
    events = simulated_events(args.seed, start, args.hours)
    if not args.realtime:  # sent at once: what happens after now would come from the future
        now = int(time.time() * 1000)
        events = (e for e in events if e["ts"] <= now)
    if args.out:
        if args.out == "-":
            count = write_events(events, sys.stdout.buffer)
        else:
            with open(args.out, "wb") as fh:
                count = write_events(events, fh)
    else:
        settings = load_settings(args.config)
        realtime = int(time.time() * 1000) if args.realtime else None
        count = asyncio.run(send_events(settings, events, args.batch_size, realtime))
    print(f"ccpulse simulate: {count} events", file=sys.stderr)
    return 0


def _wallboard(args: argparse.Namespace) -> int:
    from ccpulse.wallboard.app import serve

    serve(load_settings(args.config), args.host, args.port)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ccpulse.demo import run_demo

    return run_demo(load_settings(args.config), args.backfill_hours, args.duration, args.seed)


def _tail_queue_log(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    from pathlib import Path

    from ccpulse.kafka_auth import client_options
    from ccpulse.sources.produce import EventProducer
    from ccpulse.sources.queue_log import send_events
    from ccpulse.sources.tail import QueueLogTailer

    settings = load_settings(args.config)
    store = args.offset_store or str(Path(".ccpulse") / f"{Path(args.path).name}.offset.json")
    Path(store).parent.mkdir(parents=True, exist_ok=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tailer = QueueLogTailer(
            args.path, store, tenant=args.tenant,
            time_zone=settings.policies.for_queue(args.tenant, "").time_zone,
            start_at_end=args.from_end,
        )  # fmt: skip
        async with EventProducer(
            settings.kafka.broker, settings.kafka.contacts_topic, **client_options(settings.kafka)
        ) as producer:

            async def sink(events: list[dict[str, object]]) -> None:
                await send_events(producer, events)

            await tailer.run(sink, poll_interval=args.poll_seconds, stop=stop)
        tailer.close()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccpulse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="compute KPIs offline from a JSON-lines events file")
    rep.add_argument("events", nargs="?", default="-", help="events file (default: stdin)")
    rep.add_argument("--config", help="configuration file (TOML or YAML)")
    rep.add_argument("--format", choices=("table", "json", "csv"), default="table")
    rep.add_argument("--interval", type=int, choices=(15, 30, 60), help="interval minutes")
    rep.add_argument("--at", help="the 'now' instant (RFC 3339 or epoch ms; default: last event)")
    rep.add_argument("--attribution", choices=("outcome", "arrival"),
                     help="interval of answered/abandoned contacts, for every queue")  # fmt: skip
    rep.add_argument("--queue-log", help="read an Asterisk queue_log instead of contract events")
    rep.add_argument("--tenant", default="default", help="tenant of queue_log events")
    add_range_arguments(rep)
    rep.set_defaults(func=_report)
    tail = sub.add_parser("tail-queue-log", help="follow an Asterisk queue_log into Kafka")
    tail.add_argument("path", help="the queue_log file (followed across rotations)")
    tail.add_argument("--config", help="configuration file (TOML or YAML)")
    tail.add_argument("--tenant", default="default")
    tail.add_argument("--offset-store", help="where the read position is kept "
                      "(default .ccpulse/<file>.offset.json)")  # fmt: skip
    tail.add_argument("--from-end", action="store_true", help="on first start, skip what is there")
    tail.add_argument("--poll-seconds", type=float, default=0.5)
    tail.set_defaults(func=_tail_queue_log)
    wrk = sub.add_parser("worker", help="run the streaming pipeline (Kafka -> Redis, /metrics)")
    wrk.add_argument("--config", help="configuration file (TOML or YAML)")
    wrk.add_argument("--loglevel", default="warning")
    wrk.set_defaults(func=_worker)
    sim = sub.add_parser("simulate", help="produce simulated contact-centre events")
    sim.add_argument("--config", help="configuration file (TOML or YAML): Kafka to send to")
    sim.add_argument("--out", help="write JSON lines to this file ('-': stdout) instead of Kafka")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--hours", type=float, default=1.0, help="simulated span (default 1)")
    sim.add_argument("--start", help="first instant (RFC 3339 or epoch ms; default now - hours)")
    sim.add_argument("--batch-size", type=int, default=100, help="events per Kafka message")
    sim.add_argument("--realtime", action="store_true",
                     help="send events later than now as their time comes")  # fmt: skip
    sim.set_defaults(func=_simulate)
    wall = sub.add_parser("wallboard", help="serve the live wallboard page, stream and JSON API")
    wall.add_argument("--config", help="configuration file (TOML or YAML)")
    wall.add_argument("--host", help="address to bind (default [wallboard] host, 127.0.0.1)")
    wall.add_argument("--port", type=int, help="port (default [wallboard] port, 8080)")
    wall.set_defaults(func=_wallboard)
    demo = sub.add_parser("demo", help="run broker, Redis, worker and simulator together")
    demo.add_argument("--config", help="configuration file (TOML or YAML)")
    demo.add_argument("--backfill-hours", type=float, default=2.0,
                      help="simulated history sent at start (default 2)")  # fmt: skip
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument("--seed", type=int, default=1)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
