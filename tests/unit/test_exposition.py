"""/metrics streamed family by family says exactly what prometheus_client's own app says, in
every format Prometheus may ask for, gzipped or not, and with `name[]` filters."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from ccpulse.sinks import exposition
from ccpulse.sinks.exposition import Streamed, streaming_metrics_app

OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    gauge = Gauge("queue_level", "Level per queue", ["tenant", "queue"], registry=registry)
    for n in range(300):
        gauge.labels("acme", f"q{n}").set(n / 7)
    counter = Counter("events", "Events seen", ["verdict"], registry=registry)
    counter.labels("applied").inc(12)
    hist = Histogram("flush_seconds", "Flush time", registry=registry, buckets=(0.1, 1.0))
    hist.observe(0.5)
    return registry


def _call(app: Any, **environ: str) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "", **environ}
    body: Iterable[bytes] = app(env, start_response)
    data = b"".join(body)
    if seen["headers"].get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    headers = {k: v for k, v in seen["headers"].items() if k != "Content-Encoding"}
    return seen["status"], headers, data


@pytest.mark.parametrize("accept", ["", "text/plain;version=0.0.4", OPENMETRICS])
@pytest.mark.parametrize("encoding", ["", "gzip"])
@pytest.mark.parametrize("query", ["", "name[]=events_total&name[]=queue_level"])
def test_streamed_body_is_prometheus_clients_own(
    accept: str, encoding: str, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exposition, "CHUNK_BYTES", 1000)  # several chunks
    registry = _registry()
    env = {"HTTP_ACCEPT": accept, "HTTP_ACCEPT_ENCODING": encoding, "QUERY_STRING": query}
    assert _call(streaming_metrics_app(registry), **env) == _call(make_wsgi_app(registry), **env)


def test_body_comes_in_chunks_of_whole_families(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exposition, "CHUNK_BYTES", 1)
    chunks = list(streaming_metrics_app(_registry())(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics"}, lambda *_: None))  # fmt: skip
    assert len(chunks) >= 3
    assert all(c.startswith(b"# HELP ") for c in chunks if c)


@pytest.mark.parametrize("method", ["OPTIONS", "POST"])
def test_other_methods_answer_as_prometheus_client_does(method: str) -> None:
    registry = _registry()
    env = {"REQUEST_METHOD": method}
    assert _call(streaming_metrics_app(registry), **env) == _call(make_wsgi_app(registry), **env)


class _Families(Collector):
    """A gauge, a counter and a histogram over 700 queues, built whole or `Streamed`."""

    def __init__(self, streamed: bool) -> None:
        self.streamed = streamed

    def collect(self) -> Iterator[Metric]:
        queues = [f"q{n}" for n in range(700)]
        kinds: list[tuple[Callable[[], Any], Callable[[Any, str], None]]] = [
            (lambda: GaugeMetricFamily("queue_level", "Level", labels=["queue", "window"]),
             lambda f, q: [f.add_metric([q, w], len(q) / 3) for w in ("today", "now")]),
            (lambda: CounterMetricFamily("offered", "Offered", labels=["queue"]),
             lambda f, q: f.add_metric([q], 7)),
            (lambda: HistogramMetricFamily("wait_seconds", "Waits", labels=["queue"]),
             lambda f, q: f.add_metric([q], [("1", 1.0), ("+Inf", 3.0)], 9.5)),
        ]  # fmt: skip
        for new, fill in kinds:
            if self.streamed:
                yield Streamed(new, queues, fill)
            else:
                family = new()
                for q in queues:
                    fill(family, q)
                yield family


@pytest.mark.parametrize("accept", ["", OPENMETRICS])
@pytest.mark.parametrize("query", ["", "name[]=offered_total&name[]=wait_seconds_bucket"])
def test_a_streamed_family_renders_as_the_same_family_built_whole(
    accept: str, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its samples made 64 queues at a time (700 queues: the last batch short), read by every
    encoder and by the `name[]` filter, twice: the text is that of the family built whole."""
    monkeypatch.setattr(exposition, "STREAMED_ITEMS", 64)
    whole, streamed = CollectorRegistry(auto_describe=True), CollectorRegistry(auto_describe=True)
    whole.register(_Families(streamed=False))
    streamed.register(_Families(streamed=True))
    env = {"HTTP_ACCEPT": accept, "QUERY_STRING": query}
    expected = _call(make_wsgi_app(whole), **env)
    assert expected[2].count(b"\n") > 700
    for _ in range(2):
        assert _call(streaming_metrics_app(streamed), **env) == expected
