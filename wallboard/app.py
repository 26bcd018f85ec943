"""The wallboard web app: the page, its Server-Sent Events stream and the JSON API.

One Starlette app per process. Its lifespan starts the single Redis subscription (`Feed`);
every route reads the feed's cache, so a thousand API calls or screens cost Redis nothing.
Read-only: every route is a GET. Errors are JSON `{"error": ...}` with a 4xx status, never a
traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

import orjson
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ccpulse.config import Settings
from ccpulse.wallboard.auth import Viewer, authenticate
from ccpulse.wallboard.feed import RESYNC, Feed
from ccpulse.wallboard.layout import resolve, scope

PACKAGE = files("ccpulse.wallboard")
STATIC = str(PACKAGE / "static")


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def create_app(settings: Settings, feed: Feed | None = None) -> Starlette:
    """The app for these settings; `feed` defaults to one following `settings.redis`."""
    board = settings.wallboard
    feed = feed or Feed(settings.redis.url, settings.redis.key_prefix)

    def viewer(request: Request) -> Viewer:
        return authenticate(request, board)

    def loaded() -> None:
        if not feed.loaded:
            raise HTTPException(503, "no data yet: Redis has not been read (unreachable?)",
                                {"Retry-After": "1"})  # fmt: skip

    async def page(request: Request) -> Response:
        resolve(request.query_params, board, viewer(request))  # a bad URL: 4xx, not a page
        return FileResponse(f"{STATIC}/index.html", headers={"Cache-Control": "no-store"})

    async def layout(request: Request) -> Response:
        return JSON(resolve(request.query_params, board, viewer(request)))

    async def stream(request: Request) -> Response:
        who = viewer(request)
        tenants, queues = scope(resolve(request.query_params, board, who), who)
        screen = feed.attach(tenants, queues)
        first = orjson.dumps(feed.snapshot(screen)).decode()  # attached first: nothing missed

        async def events() -> AsyncIterator[dict[str, Any]]:
            try:
                yield {"event": "snapshot", "data": first, "retry": 1000}
                while True:
                    event, data = await screen.outbox.get()
                    if (event, data) == RESYNC:
                        data, event = orjson.dumps(feed.snapshot(screen)).decode(), "snapshot"
                    yield {"event": event, "data": data}
            finally:
                feed.detach(screen)

        return EventSourceResponse(events(), ping=10, send_timeout=10,
                                   headers={"Cache-Control": "no-store"})  # fmt: skip

    async def queues_list(request: Request) -> Response:
        who = viewer(request)
        tenant = request.query_params.get("tenant", "")
        unknown = set(request.query_params) - {"tenant", "access_token"}
        if unknown:
            raise HTTPException(400, f"unknown parameter(s): {', '.join(sorted(unknown))}")
        if tenant:
            who.check(tenant)
        loaded()
        rows = [q for m, q in sorted(feed.queues.items())
                if who.reads(q["tenant"]) and (not tenant or q["tenant"] == tenant)]  # fmt: skip
        return JSON({"status": feed.status(), "queues": rows})

    async def queue_one(request: Request) -> Response:
        tenant, queue = request.path_params["tenant"], request.path_params["queue"]
        viewer(request).check(tenant)
        loaded()
        model = feed.queues.get(f"{tenant}/{queue}")
        if model is None:
            raise HTTPException(404, f"unknown queue {tenant}/{queue}")
        return JSON(model)

    def family(name: str) -> Any:
        async def one(request: Request) -> Response:
            tenant = request.path_params["tenant"]
            viewer(request).check(tenant)
            loaded()
            model = feed.families[name].get(tenant)
            if model is None:
                raise HTTPException(404, f"no {name} figures for tenant {tenant}")
            return JSON(model)

        return one

    async def status(request: Request) -> Response:
        viewer(request)
        return JSON(feed.status())

    async def openapi(request: Request) -> Response:
        return FileResponse(str(PACKAGE / "openapi.json"), media_type="application/json")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSON({"error": exc.detail}, exc.status_code, headers=exc.headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(feed.run())
        try:
            yield
        finally:
            feed.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = [
        Route("/", page),
        Route("/stream", stream),
        Route("/api/layout", layout),
        Route("/api/status", status),
        Route("/api/queues", queues_list),
        Route("/api/queues/{tenant}/{queue}", queue_one),
        Route("/api/agents/{tenant}", family("agents")),
        Route("/api/tickets/{tenant}", family("tickets")),
        Route("/api/surveys/{tenant}", family("surveys")),
        Route("/openapi.json", openapi),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error})  # fmt: skip
    app.state.feed = feed
    return app


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the app with uvicorn until interrupted (`ccpulse wallboard`)."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=host or settings.wallboard.host,
        port=port or settings.wallboard.port,
        log_level="warning",
        access_log=False,  # a bearer token may travel in the query string
    )
