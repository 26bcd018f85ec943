"""The measured consumer's process: its meter, and the dispatch to the row it runs."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson


def _peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set (VmHWM) of a process, in MB (0.0 if unknown)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Meter:
    """Counts events a consumer has handled and writes its rate to a JSON file.

    The clock starts when the first unit (message or batch) has been handled: rate =
    (events - events of that first unit) / (time of the last - time of the first). A consumer
    that keeps state apart from handling events (ccpulse writes its changelog once per batch,
    Quix flushes state at checkpoints) sets `settle`: the clock then stops when that consumer
    calls `done()`, after the state of the last event is written, not at the last event.
    """

    def __init__(self, target: int, out: Path, settle: Callable[[], None] | None = None) -> None:
        self.target = target
        self.out = out
        self.settle = settle
        self.pending = False
        self.count = 0
        self.t0 = 0.0
        self.c0 = 0
        self.t_last_event = 0.0
        self.cpu0 = 0.0
        self.last_write = 0.0
        #: Called when the figures are written: more fields for the JSON file.
        self.extra: Callable[[], dict[str, Any]] = dict

    def add(self, n: int) -> None:
        self.total(self.count + n)

    def total(self, count: int) -> None:
        now = time.perf_counter()
        if self.t0 == 0.0:
            self.t0, self.c0 = now, count
            self.cpu0 = time.process_time()
        self.count = count
        if count >= self.target and not self.pending:
            if self.settle is None:
                self.done()
            self.t_last_event = now
            self.pending = True
            self.settle()
        elif now - self.last_write > 0.5:
            self.last_write = now
            self._write(now, False)

    def done(self) -> None:
        """All events handled and their state written: write the figures and exit."""
        self._write(time.perf_counter(), True)
        os._exit(0)

    def _write(self, now: float, done: bool) -> None:
        seconds = now - self.t0
        events = self.count - self.c0
        doc = {
            "done": done, "count": self.count, "events": events, "seconds": seconds,
            "settle_seconds": now - self.t_last_event if self.t_last_event else 0.0,
            "cores": (time.process_time() - self.cpu0) / seconds if seconds > 0 else 0.0,
            "rate": events / seconds if seconds > 0 else 0.0, "peak_rss_mb": _peak_rss_mb(),
            **self.extra(),
        }  # fmt: skip
        tmp = self.out.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(doc))
        tmp.replace(self.out)


def child_main(raw: str) -> None:
    """Run the consumer the JSON spec names until its meter exits the process."""
    from .baselines import child_aiokafka, child_faust, child_quix
    from .ccpulse_child import child_ccpulse

    spec = json.loads(raw)
    meter = Meter(spec["target"], Path(spec["out"]))
    kind = spec["kind"]
    if kind == "aiokafka":
        child_aiokafka(spec, meter)
    elif kind.startswith("faust"):
        child_faust(spec, meter)
    elif kind.startswith("ccpulse"):
        child_ccpulse(spec, meter)
    elif kind == "quix":
        child_quix(spec, meter)
    else:
        raise SystemExit(f"unknown kind {kind}")
