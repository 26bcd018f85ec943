"""Ordinary mistakes on the command line end in one line naming the input and what to do, and
an exit code per kind of mistake (docs/operations.md#exit-codes), never in a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Final

#: Exit codes of `ccpulse`: 2 is also what argparse returns for a malformed command line.
USAGE: Final = 2
INPUT_MISSING: Final = 3
BAD_CONFIG: Final = 4
BROKER_UNREACHABLE: Final = 5
INTERRUPTED: Final = 130
#: Output closed early (`ccpulse report ... | head`): quiet, as a shell reports SIGPIPE.
BROKEN_PIPE: Final = 141


class CliError(Exception):
    """A mistake the user can fix: `message` says which input and what to do."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def broker_hint(broker: str) -> str:
    return (f"cannot reach the Kafka broker at {broker}: start it (`ccpulse demo` runs one), "
            "or set [kafka] broker or CCPULSE_KAFKA_BROKER")  # fmt: skip


def input_file(path: str, what: str, hint: str) -> str:
    """`path` when it is a readable file; else a CliError naming it."""
    if not os.path.exists(path):
        raise CliError(f"{what} {path!r} not found: {hint}", INPUT_MISSING)
    if os.path.isdir(path):
        raise CliError(f"{what} {path!r} is a directory: {hint}", INPUT_MISSING)
    if not os.access(path, os.R_OK):
        raise CliError(f"{what} {path!r} is not readable: {hint}", INPUT_MISSING)
    return path


def guarded(command: str, run: Callable[[], int]) -> int:
    """Run one command; mistakes become one line on stderr and their exit code."""
    import logging

    from aiokafka.errors import KafkaConnectionError

    if command != "worker":  # its connection errors are ours to report, in one line
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        code = run()
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except CliError as exc:
        print(f"ccpulse {command}: {exc}", file=sys.stderr)
        return exc.code
    except KafkaConnectionError as exc:
        detail = exc.args[0] if exc.args and isinstance(exc.args[0], str) else exc
        print(f"ccpulse {command}: {detail}", file=sys.stderr)
        return BROKER_UNREACHABLE
    except BrokenPipeError:
        # The reader went away; Python would complain again when flushing stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"ccpulse {command}: interrupted", file=sys.stderr)
        return INTERRUPTED


def write_out(data: bytes) -> None:
    """All of `data` to stdout: a buffered write into a pipe may take only part of it (when the
    reader goes away), so the rest is written until done or the pipe is found closed."""
    view = memoryview(data)
    out = sys.stdout.buffer
    while view:
        written = out.write(view)
        view = view[written or 0 :]
        if not written:
            out.flush()
