"""The worker's HTTP endpoint: `/metrics` for Prometheus and `/healthz` for supervisors
(docker-compose, Kubernetes probes): 200 while the worker consumes and writes, 503 otherwise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import orjson
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler
from prometheus_client.registry import CollectorRegistry

from ccpulse.sinks.exposition import streaming_metrics_app

#: Health check: (healthy, details) at a monotonic instant.
HealthCheck = Callable[[float], tuple[bool, dict[str, Any]]]


def metrics_app(registry: CollectorRegistry, health: HealthCheck) -> Callable[..., Iterable[bytes]]:
    """A WSGI app: `/healthz` answers JSON; every other path is the metrics exposition."""
    metrics = streaming_metrics_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            healthy, details = health(time.monotonic())
            body = orjson.dumps(details)
            start_response(
                "200 OK" if healthy else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return metrics(environ, start_response)

    return app


def start_metrics_server(
    host: str, port: int, registry: CollectorRegistry, health: HealthCheck
) -> WSGIServer:
    """Serve the app from a daemon thread, as prometheus_client's own server does."""
    server = make_server(
        host, port, metrics_app(registry, health), ThreadingWSGIServer,
        handler_class=_SilentHandler,
    )  # fmt: skip
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
