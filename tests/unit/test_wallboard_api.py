"""The wallboard's HTTP surface without a browser: the JSON API answers what the OpenAPI
document says, bad requests get clear 4xx answers (never a traceback), credentials read only
their tenants. The feed is filled from the sink's own hashes; no Redis is needed here (the
integration and browser tests run it against a real one)."""

from __future__ import annotations

import base64
from importlib.resources import files
from typing import Any

import jsonschema
import orjson
import pytest
from starlette.testclient import TestClient
from wallboard_sample import T0, hashes, hmget

from ccpulse.config import Settings
from ccpulse.wallboard.app import create_app
from ccpulse.wallboard.feed import Feed
from ccpulse.wallboard.settings import wallboard_settings
from ccpulse.wallboard.store import (
    AGENT_FIELDS,
    QUEUE_FIELDS,
    SUMMARY_FIELDS,
    TICKET_FIELDS,
    agent_model,
    queue_model,
    summary_model,
    surveys_model,
    tickets_model,
)

NOW = T0 + 130_000
OPENAPI = orjson.loads((files("ccpulse.wallboard") / "openapi.json").read_bytes())


def _feed() -> Feed:
    """A feed holding acme/sales from the sample events, and a copy of it as globex/help."""
    h = hashes(NOW)
    feed = Feed("redis://127.0.0.1:1/0", "p")
    sales = queue_model(hmget(h["p:queue:acme:sales"], QUEUE_FIELDS))
    assert sales is not None
    sales["agents"] = summary_model(hmget(h["p:agent-summary:acme:sales"], SUMMARY_FIELDS))
    feed.queues = {"acme/sales": sales,
                   "globex/help": {**sales, "tenant": "globex", "queue": "help"}}  # fmt: skip
    bob = agent_model(hmget(h["p:agent:acme:bob"], AGENT_FIELDS))
    feed.families["agents"]["acme"] = {"tenant": "acme", "as_of_ms": NOW, "agents": [bob]}
    feed.families["tickets"]["acme"] = tickets_model("acme", hmget(h["p:tickets:acme"],
                                                                   TICKET_FIELDS))  # fmt: skip
    feed.families["surveys"]["acme"] = surveys_model("acme", h["p:surveys:acme"])
    feed.loaded = feed.redis_up = True
    return feed


def _client(wallboard: dict[str, Any] | None = None, feed: Feed | None = None) -> TestClient:
    """The app without its lifespan: the feed does not connect anywhere."""
    settings = Settings(wallboard=wallboard_settings(wallboard or {}))
    return TestClient(create_app(settings, feed or _feed()))


def _valid(body: Any, schema: str) -> None:
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{schema}", **OPENAPI})


def test_api_answers_match_the_openapi_document() -> None:
    client = _client()
    assert client.get("/openapi.json").json() == OPENAPI
    listing = client.get("/api/queues")
    assert listing.status_code == 200
    _valid(listing.json(), "QueueList")
    assert [q["queue"] for q in listing.json()["queues"]] == ["sales", "help"]
    sales = client.get("/api/queues/acme/sales").json()
    _valid(sales, "Queue")
    assert sales["current_interval"]["offered"] == 3 and sales["live"]["in_queue"] == 1
    for path, schema in (("/api/agents/acme", "Agents"), ("/api/tickets/acme", "Tickets"),
                         ("/api/surveys/acme", "Surveys"), ("/api/status", "Status"),
                         ("/api/layout?tenant=acme&columns=2", "Layout")):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200, path
        _valid(response.json(), schema)
    assert client.get("/api/queues?tenant=globex").json()["queues"][0]["queue"] == "help"


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/api/queues/acme/nope", 404, "unknown queue acme/nope"),
        ("/api/agents/globex", 404, "no agents figures for tenant globex"),
        ("/api/queues?tenant=acme&colour=red", 400, "unknown parameter(s): colour"),
        ("/api/layout?columns=many", 400, "columns must be a whole number"),
        ("/api/layout?columns=13", 400, "columns must be a whole number"),
        ("/api/layout?tiles=in_queue,speed", 400, "unknown tile(s): speed"),
        ("/api/layout?view=wall", 400, "view must be one of"),
        ("/api/layout?queues=sales", 400, "needs a tenant"),
        ("/api/layout?sort=name", 400, "unknown parameter(s): sort"),
        ("/?columns=-1", 400, "columns must be a whole number"),
        ("/stream?tiles=nope", 400, "unknown tile(s): nope"),
        ("/api/nothing", 404, "Not Found"),
        ("/static/missing.js", 404, "Not Found"),
    ],
)
def test_bad_requests_get_a_clear_4xx(path: str, status: int, says: str) -> None:
    response = _client().get(path)
    assert response.status_code == status
    assert says in response.json()["error"]
    assert "Traceback" not in response.text


def test_writes_are_refused() -> None:
    response = _client().post("/api/queues")
    assert response.status_code == 405 and "error" in response.json()


def test_before_redis_was_read_the_api_says_so() -> None:
    response = _client(feed=Feed("redis://127.0.0.1:1/0", "p")).get("/api/queues/acme/sales")
    assert response.status_code == 503 and "no data yet" in response.json()["error"]


ACCESS = {"access": [{"token": "acme-wall", "tenants": ["acme"]},
                     {"username": "lead", "password": "s3cret", "tenants": ["*"]}]}  # fmt: skip


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_credentials_are_required_for_page_stream_and_api() -> None:
    client = _client(ACCESS)
    for path in ("/", "/stream", "/api/queues", "/api/queues/acme/sales", "/api/status"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert "Basic" in response.headers["www-authenticate"]
    assert client.get("/api/queues", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/queues", headers=_basic("lead", "wrong")).status_code == 401
    bad = client.get("/api/queues", headers={"Authorization": "Basic !!!"})
    assert bad.status_code == 400 and "malformed" in bad.json()["error"]
    assert client.get("/static/wallboard.js").status_code == 200  # code, no figures


def test_a_token_reads_only_its_tenants() -> None:
    client = _client(ACCESS)
    bearer = {"Authorization": "Bearer acme-wall"}
    listing = client.get("/api/queues", headers=bearer).json()["queues"]
    assert [(q["tenant"], q["queue"]) for q in listing] == [("acme", "sales")]
    assert client.get("/api/queues/acme/sales?access_token=acme-wall").status_code == 200
    for path in ("/api/queues/globex/help", "/api/agents/globex", "/api/queues?tenant=globex",
                 "/api/layout?tenant=globex", "/api/layout?queues=globex/help",
                 "/?tenant=globex", "/stream?tenant=globex"):  # fmt: skip
        response = client.get(path, headers=bearer)
        assert response.status_code == 403, path
        assert "may not read tenant 'globex'" in response.json()["error"]
    # an unknown tenant is refused the same way: a token cannot probe which tenants exist
    assert client.get("/api/queues/initech/x", headers=bearer).status_code == 403
    everyone = client.get("/api/queues", headers=_basic("lead", "s3cret")).json()["queues"]
    assert len(everyone) == 2


def test_a_stream_carries_only_what_its_screen_may_see() -> None:
    feed = _feed()
    screen = feed.attach(frozenset({"acme"}), None)
    snapshot = feed.snapshot(screen)
    assert [q["tenant"] for q in snapshot["queues"]] == ["acme"]
    assert [m["tenant"] for m in snapshot["agents"]] == ["acme"]
    feed._broadcast_queues(["globex/help"])
    assert screen.outbox.empty()
    feed._broadcast_queues(["globex/help", "acme/sales"])
    event, data = screen.outbox.get_nowait()
    assert (event, [q["tenant"] for q in orjson.loads(data)]) == ("queues", ["acme"])
