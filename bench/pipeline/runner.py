"""Parent side: services, subprocesses, and one measured consumer run."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccpulse.embedded import Service, free_port
from ccpulse.processes import ccpulse_argv, start_process, stop_process, worker_env

from .topics import bootstrap, broker_url
from .workload import PARTITIONS, SHAPE_LABEL

#: The script a consumer subprocess runs (with --child): the bench's entry point.
ENTRY = Path(__file__).resolve().parents[1] / "pipeline_bench.py"
#: The throughput rows, in the order each round runs them.
KINDS: dict[str, str] = {
    "ccpulse": "a. ccpulse pipeline (real app, Redis+Prometheus sinks)",
    "ccpulse-mixed": "a2. same, agent + ticket + survey events mixed in",
    "ccpulse-many": "a3. same, queue events over --many-queues queues",
    "ccpulse-repartition": "a4. same as a, read through the repartition stage",
    "aiokafka": "b. ceiling: raw aiokafka consumer + orjson decode",
    "faust-noop": "c. Faust floor: no-op agent, per event",
    "faust-noop-take": "c. Faust floor: no-op agent, take_events(2000, 0.05 s)",
    "faust-noop-fast": "c2. no-op agent, take_events, on ccpulse's Faust parts",
    "faust-naive": "d. baseline: naive Faust agent, windowed table per event",
    "quix": "e. peer: Quix Streams tumbling 15-min count per queue",
}


@dataclass
class Run:
    kind: str
    shape: str
    #: the round (0, 1, ...) of the interleaved repeats this run belongs to
    round: int = 0
    rate: float = 0.0
    events: int = 0
    seconds: float = 0.0
    status: str = "ok"
    peak_rss_mb: float = 0.0
    #: CPU used meanwhile by processes this bench did not start (cores, 0-nproc)
    others_cores: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class CpuWatch:
    """CPU used by processes other than this bench's own, over a measurement.

    The machine may be shared: a busy neighbour lowers every figure measured meanwhile.
    """

    def __init__(self, bench: Bench) -> None:
        import psutil

        self.psutil = psutil
        self.t0 = time.monotonic()
        self.sys0 = self._busy()
        self.own = [psutil.Process(), *(psutil.Process(s.proc.pid)
                                        for s in (bench.broker, bench.redis))]  # fmt: skip
        self.own0 = sum(self._cpu(p) for p in self.own)
        self.child = 0.0

    def _busy(self) -> float:
        t = self.psutil.cpu_times()
        return float(t.user + t.nice + t.system + t.irq + t.softirq + t.steal)

    def _cpu(self, proc: Any) -> float:
        try:
            t = proc.cpu_times()
            return float(t.user + t.system)
        except self.psutil.Error:
            return 0.0

    def sample(self, pid: int) -> None:
        with contextlib.suppress(self.psutil.Error):
            self.child = max(self.child, self._cpu(self.psutil.Process(pid)))

    def broker_cpu(self) -> float:
        return self._cpu(self.own[1])

    def others(self) -> float:
        own = sum(self._cpu(p) for p in self.own) - self.own0 + self.child
        wall = time.monotonic() - self.t0
        return max(0.0, (self._busy() - self.sys0 - own) / wall) if wall > 0 else 0.0


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    broker: Service
    redis: Service
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def spawn(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> Any:
        cwd = self.workdir / name  # Faust writes <app_id>-data/ into its working directory
        cwd.mkdir(exist_ok=True)
        proc = start_process(argv, self.log(name), env or None, cwd)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        stop_process(proc, 10)

    def stop_all(self) -> None:
        for proc in self.procs:
            self.stop(proc)

    def ccpulse_env(self, name: str, metrics_port: int = 0) -> dict[str, str]:
        return {
            **worker_env(name, self.broker, self.redis, PARTITIONS, metrics_port or free_port()),
            # Rows of 10,000 queues: a worker tracks 2,000 by default ([limits] max_queues).
            "CCPULSE_LIMITS_MAX_QUEUES": "20000",
        }

    def measure(
        self, kind: str, shape: str, topic: str, target: int, timeout: float, round_: int = 0
    ) -> Run:
        """Run one consumer over the whole topic in a fresh process; its rate in events/s."""
        group = f"bench-{kind}-{shape}-{uuid.uuid4().hex[:6]}"
        out = self.workdir / f"{group}.json"
        spec: dict[str, Any] = {
            "kind": kind, "shape": shape, "topic": topic, "target": target, "out": str(out),
            "group": group, "broker": broker_url(self.broker), "bootstrap": bootstrap(self.broker),
            "state_dir": str(self.workdir / group / "state"),
        }  # fmt: skip
        if kind.startswith("ccpulse"):
            env = self.ccpulse_env(group)
            env["CCPULSE_KAFKA_CONTACTS_TOPIC"] = topic
            if kind == "ccpulse-repartition":
                env["CCPULSE_KAFKA_REPARTITION"] = "true"
            spec["env"] = env
        load = CpuWatch(self)
        proc = self.spawn([sys.executable, str(ENTRY), "--child",
                           json.dumps(spec)], group)  # fmt: skip
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        status = "ok"
        broker_cpu: list[tuple[float, float]] = []  # (time, broker CPU s) while measured
        while True:
            time.sleep(0.25)
            load.sample(proc.pid)
            if out.exists():
                with contextlib.suppress(ValueError):
                    doc = json.loads(out.read_bytes())
                broker_cpu.append((time.monotonic(), load.broker_cpu()))
            if doc.get("done"):
                break
            if proc.poll() is not None:
                status = f"exited {proc.returncode} (log {self.log(group)})"
                break
            if time.monotonic() > deadline:
                status = f"timeout after {timeout:.0f} s, partial"
                break
        self.stop(proc)
        run = Run(kind, shape, round_, doc.get("rate", 0.0), doc.get("events", 0),
                  doc.get("seconds", 0.0), status, doc.get("peak_rss_mb", 0.0),
                  load.others())  # fmt: skip
        run.extra["cores"] = doc.get("cores", 0.0)
        if len(broker_cpu) > 1:
            (ta, ca), (tb, cb) = broker_cpu[0], broker_cpu[-1]
            run.extra["broker_cores"] = (cb - ca) / (tb - ta) if tb > ta else 0.0
        for key in (
            "verdicts",
            "invalid",
            "misrouted",
            "samples",
            "calls",
            "flush_seconds",
            "settle_seconds",
            "gc_seconds",
            "gc_counts",
        ):
            if key in doc:
                run.extra[key] = doc[key]
        print(f"  [{round_ + 1}] {KINDS[kind]:<58} {SHAPE_LABEL[shape]:>16}: "
              f"{run.rate:>9,.0f} ev/s "
              f"({run.events:,} ev in {run.seconds:.1f} s"
              + (f" incl. {run.extra['settle_seconds']:.3f} s of state write after the last"
                 if run.extra.get("settle_seconds") else "")
              + f", other processes "
              f"{run.others_cores:.2f} cores, {status})", flush=True)  # fmt: skip
        if kind == "quix":
            shutil.rmtree(self.workdir / group, ignore_errors=True)
        return run

    def start_worker(
        self, name: str, metrics_port: int, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """`ccpulse worker` as shipped, with extra settings from `extra_env` if any."""
        env = {**os.environ, **self.ccpulse_env(name, metrics_port), **(extra_env or {})}
        proc: subprocess.Popen[bytes] = self.spawn(ccpulse_argv("worker", "--loglevel", "warning"),
                                                   name, env)  # fmt: skip
        return proc
