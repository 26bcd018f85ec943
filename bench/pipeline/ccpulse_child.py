"""Consumer process of the ccpulse rows: the real worker app, with bench-only probes."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from .child import Meter

#: Where the worker's main thread is, by its stack: (file suffix, function) -> section. The
#: first section found from the innermost frame outwards wins; nothing found: Faust and the rest.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("streams/pipeline.py", "process", "process"),
    ("streams/app.py", "write_state", "write_state"),
    ("streams/app.py", "publish", "flush"),
    ("streams/app.py", "collect_garbage", "gc"),
)
SECTION_LABELS = {
    "process": "Pipeline.process: decode + KPI engine",
    "write_state": "write_state: table_writes + changelog record batches",
    "flush": "sinks flush timer: snapshots, Prometheus view, Redis publish",
    "gc": "garbage-collection timer",
    "idle": "main thread in select(): I/O, or consumer thread holds GIL",
    "faust": "Faust and aiokafka: consume, ack, commit, produce, timers",
}


def sample_main_thread(samples: dict[str, float], period: float = 0.005) -> None:
    """A tiny sampling profiler: classify the main thread's stack every `period` seconds."""
    import threading

    main_id = threading.main_thread().ident
    wanted = {(suffix, name): section for suffix, name, section in SECTIONS}

    def classify() -> str:
        frame = sys._current_frames().get(main_id)  # type: ignore[arg-type]
        if frame is None:
            return "faust"
        if frame.f_code.co_name in ("select", "poll") and frame.f_code.co_filename.endswith(
            "selectors.py"
        ):
            return "idle"
        while frame is not None:
            code = frame.f_code
            for (suffix, name), section in wanted.items():
                if code.co_name == name and code.co_filename.endswith(suffix):
                    return section
            frame = frame.f_back
        return "faust"

    def run() -> None:
        # Weighted by the time since the previous sample: a busy main thread hands the GIL
        # over only every switch interval, an idle one (in select) at once, so plain counts
        # would over-sample idle moments.
        last = time.perf_counter()
        while True:
            time.sleep(period)
            now = time.perf_counter()
            samples[classify()] += now - last
            last = now

    threading.Thread(target=run, name="bench-sampler", daemon=True).start()


def child_ccpulse(spec: dict[str, Any], meter: Meter) -> None:
    """The real app with its sinks; bench-only probes show where the time goes."""
    from prometheus_client.registry import CollectorRegistry

    from ccpulse.config import load_settings
    from ccpulse.sinks.redis_sink import RedisSink
    from ccpulse.streams.app import ensure_topics
    from ccpulse.streams.faust_parts import Worker
    from ccpulse.streams.pipeline import Message, Pipeline
    from ccpulse.streams.worker import build_worker_app

    settings = load_settings(env=spec["env"])
    asyncio.run(ensure_topics(settings))
    app = build_worker_app(settings, CollectorRegistry())
    pipeline: Pipeline = app.ccpulse_pipeline  # type: ignore[attr-defined]
    health = pipeline.health
    calls: dict[str, int] = defaultdict(int)
    flush_seconds = [0.0]
    samples: dict[str, float] = defaultdict(float)
    table_writes = pipeline.table_writes

    class Writes(list):  # type: ignore[type-arg]
        """A batch's state writes; the agent's write_state() loops over them, storing and
        sending each. After the batch holding the last event, the clock stops when that loop
        has exhausted the list, i.e. when the last event's state is on its way to Kafka."""

        def __iter__(self) -> Iterator[Any]:
            yield from super().__iter__()
            if meter.pending:
                meter.done()

    def counted_writes() -> Any:
        writes = table_writes()
        calls["changelog_writes"] += len(writes)
        return Writes(writes)

    pipeline.table_writes = counted_writes  # type: ignore[method-assign]
    meter.settle = lambda: None  # the next write_state() settles
    snapshots = pipeline.snapshots

    def timed_snapshots(*args: Any, **kwargs: Any) -> Any:
        # the flush timer's first step: a flush lasts from here to the end of the Redis publish
        flush_seconds.append(-time.perf_counter())
        return snapshots(*args, **kwargs)

    pipeline.snapshots = timed_snapshots  # type: ignore[method-assign]
    redis_publish = RedisSink.publish

    async def publish(self: RedisSink, *args: Any, **kwargs: Any) -> None:
        try:
            await redis_publish(self, *args, **kwargs)
        finally:
            if flush_seconds[-1] < 0:
                flush_seconds[0] += time.perf_counter() + flush_seconds.pop()
            calls["redis_publish"] += 1

    RedisSink.publish = publish  # type: ignore[method-assign]
    gc_seconds = [0.0, 0.0, 0.0]
    gc_counts = [0, 0, 0]
    gc_started = [0.0]

    def gc_timer(phase: str, info: dict[str, Any]) -> None:
        # the cyclic collector's own time, by generation (it runs inside whatever allocated)
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_seconds[info["generation"]] += time.perf_counter() - gc_started[0]
            gc_counts[info["generation"]] += 1

    gc.callbacks.append(gc_timer)
    meter.extra = lambda: {
        "verdicts": {str(k): v for k, v in health.verdicts.items()},
        "invalid": health.invalid, "misrouted": health.misrouted,
        "samples": dict(samples), "calls": dict(calls), "flush_seconds": flush_seconds[0],
        "gc_seconds": list(gc_seconds), "gc_counts": list(gc_counts),
    }  # fmt: skip
    verdicts = health.verdicts
    process = pipeline.process
    started = [False]

    def counted(msg: Message, dead_letter: Any) -> None:
        if not started[0]:  # sample from the first event on, as the clock runs
            started[0] = True
            sample_main_thread(samples)
        process(msg, dead_letter)
        meter.total(sum(verdicts.values()) + health.invalid + health.misrouted)

    pipeline.process = counted  # type: ignore[method-assign]
    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
