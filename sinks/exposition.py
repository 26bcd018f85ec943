"""The /metrics response written one metric family at a time.

prometheus_client's WSGI app renders the whole exposition into one string, then into bytes
(and gzip), before the first byte goes out: with ~150 series per queue and channel, a worker
of 10,000 queues builds hundreds of megabytes for every scrape, on top of the figures it
holds. Here each family is rendered by prometheus_client's own encoder (so the text is the
same, line for line) and sent before the next one is built: a scrape holds one family at a
time. The response has no Content-Length; the server ends it by closing the connection
(HTTP/1.0), as Prometheus expects of a streamed body.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

#: Rendered families are gathered into chunks of about this many bytes before being sent.
CHUNK_BYTES = 256 * 1024
#: What the OpenMetrics encoder ends every rendering with; said once, after the last family.
_EOF = b"# EOF\n"


M = TypeVar("M", bound=Metric)
T = TypeVar("T")
#: Items (queues, say) whose samples a `Streamed` family builds at a time.
STREAMED_ITEMS = 256


class Streamed(Metric, Generic[M, T]):
    """A metric family whose samples are made while the encoder reads them, a few items at a
    time: `new()` makes an empty family of the kind wanted and `fill(family, item)` adds an
    item's samples to it, as with any prometheus_client family.

    At 10,000 queues a family of windowed gauges has ~100,000 samples, each a tuple with a
    dict of labels: ~50 MB held for one family, where its rendered text is ~10 MB. Read once
    per scrape (as the encoders and `restricted_registry` do); every read makes them anew.
    """

    def __init__(self, new: Callable[[], M], items: Sequence[T], fill: Callable[[M, T], None]):
        shape = new()
        super().__init__(shape.name, shape.documentation, shape.type, shape.unit)
        self._new, self._items, self._fill = new, items, fill

    @property  # type: ignore[override]
    def samples(self) -> Iterator[Sample]:
        items, fill = self._items, self._fill
        for start in range(0, len(items), STREAMED_ITEMS):
            family = self._new()
            for item in items[start : start + STREAMED_ITEMS]:
                fill(family, item)
            yield from family.samples

    @samples.setter
    def samples(self, value: Any) -> None:
        """`Metric.__init__` sets an empty list; the samples are made, not kept."""


class _OneFamily(Collector):
    """A registry stand-in that yields one metric family, for the encoder to render alone."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def collect(self) -> Iterable[Any]:
        return (self.metric,)


def rendered(registry: Collector, encoder: Callable[[Any], bytes]) -> Iterator[bytes]:
    """The exposition of `registry`, in chunks of whole families (their concatenation is
    what `encoder(registry)` returns)."""
    # OpenMetrics ends every rendering with `# EOF`: cut from each family, said once at the end.
    eof = encoder(CollectorRegistry(auto_describe=False)).endswith(_EOF)
    pending: list[bytes] = []
    size = 0
    for metric in registry.collect():
        text = encoder(_OneFamily(metric))
        if eof:
            text = text[: -len(_EOF)]
        pending.append(text)
        size += len(text)
        if size >= CHUNK_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if eof:
        pending.append(_EOF)
    yield b"".join(pending)


def _gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """One gzip stream over the chunks, compressed as they come."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        out = z.compress(chunk)
        if out:
            yield out
    yield z.flush()


def streaming_metrics_app(registry: CollectorRegistry) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering as prometheus_client's `make_wsgi_app` does (content negotiation,
    gzip, `name[]` filters, OPTIONS), with the body streamed family by family."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method == "OPTIONS":
            start_response("200 OK", [("Allow", "OPTIONS,GET")])
            return [b""]
        if method != "GET":
            status = "405 Method Not Allowed"
            start_response(status, [("Allow", "OPTIONS,GET")])
            return [f"# HTTP {status}: {method}; use OPTIONS or GET\n".encode()]
        if environ.get("PATH_INFO") == "/favicon.ico":
            start_response("200 OK", [])
            return [b""]
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        params = parse_qs(environ.get("QUERY_STRING", ""))
        source: Collector = registry
        if "name[]" in params:
            source = registry.restricted_registry(params["name[]"])
        headers = [("Content-Type", content_type)]
        body = rendered(source, encoder)
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            headers.append(("Content-Encoding", "gzip"))
            body = _gzipped(body)
        start_response("200 OK", headers)
        return body

    return app
