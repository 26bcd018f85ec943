"""ccpulse: real-time contact-centre metrics. Commands: demo, worker, wallboard, simulate,
produce, report, tail-queue-log; `ccpulse COMMAND --help` for each one's options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import orjson

from ccpulse import native
from ccpulse.cli_errors import BAD_CONFIG, CliError, guarded, input_file, write_out

try:  # the KPI core's build is chosen when it is first imported (CCPULSE_NATIVE)
    import ccpulse.streams.kpi  # noqa: F401
except native.BuildChoiceError as exc:
    print(f"ccpulse: {exc}", file=sys.stderr)
    sys.exit(BAD_CONFIG)

from ccpulse.cli_range import add_range_arguments
from ccpulse.config import Settings, load_settings

EVENTS_HINT = "give a JSON-lines events file, or '-' to read them from stdin"


def _settings(path: str | None) -> Settings:
    """The configuration, or a CliError naming the file and the mistake."""
    import yaml

    if path and not Path(path).exists():
        raise CliError(f"configuration file {path!r} not found: check --config or "
                       "CCPULSE_CONFIG (keys: docs/configuration.md)", BAD_CONFIG)  # fmt: skip
    try:
        return load_settings(path)
    except (ValueError, TypeError, yaml.YAMLError) as exc:
        where = f"configuration {path}" if path else "configuration (environment)"
        raise CliError(f"{where}: {exc} (keys: docs/configuration.md)", BAD_CONFIG) from None


def _instant(text: str, option: str) -> int:
    from ccpulse.report import parse_instant

    try:
        return parse_instant(text)
    except ValueError:
        raise CliError(f"{option} {text!r} is not an instant: give RFC 3339 with an offset "
                       "(2026-12-05T14:00:00Z) or epoch milliseconds") from None  # fmt: skip


def _report(args: argparse.Namespace) -> int:
    from ccpulse.report import build_report, render_table, write_errors

    settings = _settings(args.config)
    book = settings.policies
    overrides: dict[str, object] = {}
    if args.interval:
        overrides["interval_minutes"] = args.interval
    if args.attribution:
        overrides["attribution"] = args.attribution
    if overrides:
        book = book.with_overrides(**overrides)
    if args.queue_log:
        input_file(args.queue_log, "queue_log", "give the path of an Asterisk queue_log")
    elif args.events is None and not args.redis:
        if sys.stdin.isatty():
            raise CliError(f"no events: {EVENTS_HINT} (or --queue-log PATH, or --redis URL "
                           "with --from and --to)")  # fmt: skip
        args.events = "-"
    elif args.events not in (None, "-"):
        input_file(args.events, "events file", EVENTS_HINT)
    if args.range_from or args.range_to or args.redis:
        from ccpulse.cli_range import run_range

        return run_range(args, settings, book)
    if args.format == "csv":
        print("ccpulse report: --format csv needs --from and --to", file=sys.stderr)
        return 2
    at_ms = _instant(args.at, "--at") if args.at else None
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
        write_out(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        render_table(report, sys.stdout)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from ccpulse.streams.worker import run_worker

    run_worker(_settings(args.config), loglevel=args.loglevel)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from ccpulse.demo import send_events, simulated_events, write_events
    from ccpulse.schemas.decode import MAX_FUTURE_MS

    now = int(time.time() * 1000)
    start = _instant(args.start, "--start") if args.start else now - int(args.hours * 3_600_000)
    events = simulated_events(args.seed, start, args.hours)
    if args.out:
        # Contacts in progress at the end of the span are finished (their last events fall
        # after it), up to what a worker accepts now: 5 minutes ahead of the clock. `--all`
        # also writes what lies further ahead (tickets closing days later, for instance).
        cut = None if args.all else now + MAX_FUTURE_MS
        if args.out == "-":
            count, later = write_events(events, sys.stdout.buffer, cut)
        else:
            with open(args.out, "wb") as fh:
                count, later = write_events(events, fh, cut)
        print(f"ccpulse simulate: {count} events written", file=sys.stderr)
        if later:
            print(f"ccpulse simulate: {later} later events left out (a worker refuses events "
                  "more than 5 minutes ahead of its clock); --start earlier puts them in the "
                  "past, --all writes them anyway", file=sys.stderr)  # fmt: skip
        return 0
    settings = _settings(args.config)
    if not args.realtime:  # sent at once: what happens after now would come from the future
        events = (e for e in events if e["ts"] <= now)
    realtime = now if args.realtime else None
    count = asyncio.run(send_events(settings, events, args.batch_size, realtime))
    print(f"ccpulse simulate: {count} events sent", file=sys.stderr)
    return 0


def _produce(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from ccpulse.kafka_auth import client_options
    from ccpulse.sources.produce import EventProducer, produce_values, read_event_lines

    settings = _settings(args.config)
    if args.file == "-":
        if sys.stdin.isatty():
            raise CliError(f"no events on stdin: {EVENTS_HINT}")
        source = sys.stdin.buffer
    else:
        source = open(input_file(args.file, "events file", EVENTS_HINT), "rb")  # noqa: SIM115
    topic = args.topic or settings.kafka.contacts_topic
    shown = [time.monotonic()]

    def progress(events: int, messages: int, final: bool = False) -> None:
        if final or time.monotonic() - shown[0] >= 2.0:
            shown[0] = time.monotonic()
            print(f"ccpulse produce: {events} events in {messages} messages to {topic}",
                  file=sys.stderr, flush=True)  # fmt: skip

    async def run() -> tuple[int, int]:
        async with EventProducer(
            settings.kafka.broker, topic, **client_options(settings.kafka)
        ) as producer:
            return await produce_values(producer, read_event_lines(source), args.batch_size,
                                        keyed=not args.no_key, progress=progress)  # fmt: skip

    try:
        events, messages = asyncio.run(run())
    finally:
        source.close()
    progress(events, messages, final=True)
    return 0


def _wallboard(args: argparse.Namespace) -> int:
    from ccpulse.wallboard.app import serve

    serve(_settings(args.config), args.host, args.port)
    return 0


def _demo(args: argparse.Namespace) -> int:
    import os

    from ccpulse.demo import DEMO_CONFIG, run_demo

    path = args.config or os.environ.get("CCPULSE_CONFIG") or str(DEMO_CONFIG)
    replay = None
    if args.replay:
        replay = Path(input_file(args.replay, "events file", EVENTS_HINT))
    return run_demo(_settings(path), args.backfill_hours, args.duration, args.seed, path, replay)


def _tail_queue_log(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    from pathlib import Path

    from ccpulse.kafka_auth import client_options
    from ccpulse.sources.produce import EventProducer
    from ccpulse.sources.queue_log import send_events
    from ccpulse.sources.tail import QueueLogTailer

    settings = _settings(args.config)
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


def _version() -> str:
    try:
        return version("ccpulse")
    except PackageNotFoundError:  # run from a source tree without an install
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccpulse", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ccpulse {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = "configuration file, TOML or YAML (default: CCPULSE_CONFIG, else built-ins)"
    loglevel_help = "log level: debug, info, warning (default), error"

    demo = sub.add_parser("demo", help="run broker, Redis, worker, simulator and wallboard "
                          "together (the quickest start)")  # fmt: skip
    demo.add_argument("--config", help="configuration file (default: the demo's own, "
                      "ccpulse/demo.toml, matching the simulated contact centre)")  # fmt: skip
    demo.add_argument("--backfill-hours", type=float, default=2.0,
                      help="simulated history sent at start (default 2)")  # fmt: skip
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument("--seed", type=int, default=1,
                      help="random seed of the simulated traffic (default 1)")  # fmt: skip
    demo.add_argument("--replay", metavar="FILE",
                      help="send this JSON-lines events file (as `ccpulse produce` does) "
                      "instead of simulated traffic, then keep running")  # fmt: skip
    demo.set_defaults(func=_demo)

    wrk = sub.add_parser("worker", help="run the streaming pipeline (Kafka -> Redis, /metrics)")
    wrk.add_argument("--config", help=config_help)
    wrk.add_argument("--loglevel", default="warning", help=loglevel_help)
    wrk.set_defaults(func=_worker)

    wall = sub.add_parser("wallboard", help="serve the live wallboard page, stream and JSON API")
    wall.add_argument("--config", help=config_help)
    wall.add_argument("--host", help="address to bind (default [wallboard] host, 127.0.0.1)")
    wall.add_argument("--port", type=int, help="port (default [wallboard] port, 8080)")
    wall.set_defaults(func=_wallboard)

    sim = sub.add_parser("simulate", help="simulated contact-centre events, to Kafka or a file")
    sim.add_argument("--config", help=config_help + "; its [kafka] is where events go")
    sim.add_argument("--out", help="write JSON lines to this file ('-': stdout) instead of "
                     "Kafka, finishing the contacts in progress at the end up to now + 5 min")
    sim.add_argument("--all", action="store_true",
                     help="with --out, also write events more than 5 min ahead of now")
    sim.add_argument("--seed", type=int, default=1,
                     help="random seed: one seed, the same events (default 1)")  # fmt: skip
    sim.add_argument("--hours", type=float, default=1.0, help="simulated span (default 1)")
    sim.add_argument("--start", help="first instant (RFC 3339 or epoch ms; default now - hours)")
    sim.add_argument("--batch-size", type=int, default=100, help="events per Kafka message")
    sim.add_argument("--realtime", action="store_true",
                     help="send events later than now as their time comes")  # fmt: skip
    sim.set_defaults(func=_simulate)

    prod = sub.add_parser("produce", help="send an events file to Kafka, keyed as the "
                          "contract says (replay a file, then compare with report)")  # fmt: skip
    prod.add_argument("file", help="JSON lines, each an event or an array of events ('-': stdin)")
    prod.add_argument("--config", help=config_help + "; its [kafka] is where events go")
    prod.add_argument("--batch-size", type=int, default=100,
                      help="events of one queue per message, as a JSON array (default 100; "
                      "1: one event per message)")  # fmt: skip
    prod.add_argument("--topic", help="topic (default [kafka] contacts_topic)")
    prod.add_argument("--no-key", action="store_true",
                      help="send messages without keys, as producers that cannot key do "
                      "(for a worker with [kafka] repartition on)")  # fmt: skip
    prod.set_defaults(func=_produce)

    rep = sub.add_parser("report", help="compute KPIs offline from events, a queue_log or Redis")
    rep.add_argument("events", nargs="?", help="JSON-lines events file ('-': stdin)")
    rep.add_argument("--config", help=config_help)
    rep.add_argument("--format", choices=("table", "json", "csv"), default="table",
                     help="output format (default table; csv needs --from and --to)")  # fmt: skip
    rep.add_argument("--interval", type=int, choices=(15, 30, 60),
                     help="interval minutes, every queue (default: the configuration's)")
    rep.add_argument("--at", help="the 'now' instant (RFC 3339 or epoch ms; default: last event)")
    rep.add_argument("--attribution", choices=("outcome", "arrival"),
                     help="interval of answered/abandoned contacts, for every queue")  # fmt: skip
    rep.add_argument("--queue-log", help="read an Asterisk queue_log instead of contract events")
    rep.add_argument("--tenant", default="default",
                     help="tenant of queue_log events, and of --redis range reports "
                     "(default 'default')")  # fmt: skip
    add_range_arguments(rep)
    rep.set_defaults(func=_report)

    tail = sub.add_parser("tail-queue-log", help="follow an Asterisk queue_log into Kafka")
    tail.add_argument("path", help="the queue_log file (followed across rotations)")
    tail.add_argument("--config", help=config_help + "; its [kafka] is where events go")
    tail.add_argument("--tenant", default="default",
                      help="tenant of the events (default 'default')")  # fmt: skip
    tail.add_argument("--offset-store", help="where the read position is kept "
                      "(default .ccpulse/<file>.offset.json)")  # fmt: skip
    tail.add_argument("--from-end", action="store_true", help="on first start, skip what is there")
    tail.add_argument("--poll-seconds", type=float, default=0.5,
                      help="how often the file is checked for new lines (default 0.5)")  # fmt: skip
    tail.set_defaults(func=_tail_queue_log)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return guarded(args.command, lambda: int(args.func(args)))


if __name__ == "__main__":
    sys.exit(main())
