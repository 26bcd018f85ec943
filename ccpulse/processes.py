"""`ccpulse` commands as child processes, as the integration tests and the benches run them: a
worker (or a follower, a wallboard) pointed at the embedded broker and Redis by `CCPULSE_*`
variables, its output in a log file, stopped politely and then for good."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from ccpulse.embedded import Service, die_with_parent, stop_process

__all__ = ["ccpulse_argv", "start_process", "stop_process", "worker_env"]


def ccpulse_argv(*args: str) -> list[str]:
    """The command line of `ccpulse ARGS` run by this interpreter."""
    return [sys.executable, "-m", "ccpulse.cli", *args]


def worker_env(
    name: str, broker: Service, redis: Service, partitions: int, metrics_port: int
) -> dict[str, str]:
    """The `CCPULSE_*` settings of a deployment called `name` on the embedded services: topics
    `<name>.contacts` and `<name>.deadletter`, consumer group `name`, Redis key prefix `name`."""
    return {
        "CCPULSE_KAFKA_BROKER": f"kafka://127.0.0.1:{broker.port}",
        "CCPULSE_KAFKA_CONTACTS_TOPIC": f"{name}.contacts",
        "CCPULSE_KAFKA_DEADLETTER_TOPIC": f"{name}.deadletter",
        "CCPULSE_KAFKA_APP_ID": name,
        "CCPULSE_KAFKA_PARTITIONS": str(partitions),
        "CCPULSE_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "CCPULSE_REDIS_KEY_PREFIX": name,
        "CCPULSE_METRICS_PORT": str(metrics_port),
    }


def start_process(
    argv: list[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    tied: bool = False,
) -> subprocess.Popen[bytes]:
    """Run `argv` with its output (stdout and stderr) in the file `log`, in `env` (else this
    process's environment); `tied`: stopped by Linux when this process dies."""
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
            env=None if env is None else dict(env),
            preexec_fn=die_with_parent if tied else None,
        )  # fmt: skip
