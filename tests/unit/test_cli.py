"""The installed `ccpulse` command on ordinary mistakes and for help: one line naming the input
and what to do, a distinct exit code, never a traceback (docs/operations.md#exit-codes)."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ccpulse.cli import build_parser
from ccpulse.demo import simulated_events, write_events
from ccpulse.embedded import free_port

CCPULSE = str(Path(sys.executable).with_name("ccpulse"))
DATA = Path(__file__).resolve().parents[1] / "data"
EVENTS = str(DATA / "sample-events.jsonl")
CONFIG = str(DATA / "sample-config.toml")


def ccpulse(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CCPULSE, *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a mistake prints on stderr."""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_report_of_a_missing_file_names_it() -> None:
    done = ccpulse("report", "nowhere.jsonl")
    assert done.returncode == 3
    assert one_line(done) == ("ccpulse report: events file 'nowhere.jsonl' not found: give a "
                              "JSON-lines events file, or '-' to read them from stdin")  # fmt: skip


def test_a_misspelt_build_choice_is_one_line_and_a_configuration_error() -> None:
    done = ccpulse("report", EVENTS, env={"CCPULSE_NATIVE": "fast"})
    assert done.returncode == 4
    assert one_line(done) == "ccpulse: CCPULSE_NATIVE must be one of auto, off, require, not 'fast'"


def test_report_of_a_missing_queue_log_names_it() -> None:
    done = ccpulse("report", "--queue-log", "no-queue_log")
    assert done.returncode == 3
    assert "queue_log 'no-queue_log' not found" in one_line(done)


def test_a_missing_configuration_file_is_named() -> None:
    done = ccpulse("report", EVENTS, "--config", "nope.toml")
    assert done.returncode == 4
    assert one_line(done).startswith("ccpulse report: configuration file 'nope.toml' not found")


def test_a_misspelt_configuration_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[defaults]\nsl_treshold_seconds = 20\n")
    done = ccpulse("report", EVENTS, "--config", str(config))
    assert done.returncode == 4
    assert "sl_treshold_seconds" in one_line(done)
    assert str(config) in one_line(done)


def test_an_instant_that_is_not_one_is_refused_with_the_accepted_forms() -> None:
    done = ccpulse("report", EVENTS, "--at", "yesterday")
    assert done.returncode == 2
    assert one_line(done) == (
        "ccpulse report: --at 'yesterday' is not an instant: give RFC 3339 with an offset "
        "(2026-12-05T14:00:00Z) or epoch milliseconds"
    )


def test_report_without_input_at_a_terminal_says_what_to_give() -> None:
    """Instead of waiting silently for a terminal's stdin."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([CCPULSE, "report"], stdin=follower, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2
    assert one_line(done).startswith("ccpulse report: no events: give a JSON-lines events file")


def test_report_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`ccpulse report ... | head -1`: no BrokenPipeError, the shell's SIGPIPE status."""
    events = tmp_path / "events.jsonl"
    with open(events, "wb") as fh:  # two simulated hours: a report larger than a pipe holds
        write_events(simulated_events(1, 1_764_950_400_000, 2.0), fh)
    proc = subprocess.Popen([CCPULSE, "report", str(events), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # before the report (hundreds of kB) is written
    stderr = proc.stderr.read().decode()
    assert proc.wait(60) == 141
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


@pytest.mark.parametrize("command", [["simulate", "--hours", "0.1"], ["produce", EVENTS]])
def test_sending_without_a_broker_says_where_it_looked(command: list[str]) -> None:
    broker = f"kafka://127.0.0.1:{free_port()}"
    done = ccpulse(*command, env={"CCPULSE_KAFKA_BROKER": broker})
    assert done.returncode == 5
    assert one_line(done) == (
        f"ccpulse {command[0]}: cannot reach the Kafka broker at {broker}: start it "
        "(`ccpulse demo` runs one), or set [kafka] broker or CCPULSE_KAFKA_BROKER"
    )  # and no "Unclosed AIOKafkaProducer"


def test_a_worker_waits_for_a_broker_that_is_not_up_yet() -> None:
    broker = f"kafka://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [CCPULSE, "worker"], stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CCPULSE_KAFKA_BROKER": broker, "CCPULSE_METRICS_PORT": "0"},
    )  # fmt: skip
    assert proc.stderr is not None
    waits = []
    for line in proc.stderr:
        if "waiting for the Kafka broker" in line:
            waits.append(line)
        if len(waits) == 2:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(30) == 130
    assert f"waiting for the Kafka broker at {broker}" in waits[0]
    assert "retrying in 1 s" in waits[0] and "retrying in 2 s" in waits[1]  # backing off
    assert "Traceback" not in rest


def test_help_lists_every_command_and_version_prints_it() -> None:
    listed = ccpulse("--help").stdout
    for command in ("demo", "worker", "wallboard", "simulate", "produce", "report",
                    "tail-queue-log"):  # fmt: skip
        assert f"    {command}" in listed
    version = ccpulse("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("ccpulse 0.")


def test_every_option_of_every_command_has_help_text() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, type(parser._subparsers._actions[-1]))]  # type: ignore[union-attr]
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, command in sub.choices.items()
        for action in command._actions
        if not action.help
    ]
    assert missing == []
