"""The wallboard reads the Redis contract (docs/redis-keys.md) as written by the sink: figures
equal the engine's, the empty string is "no value" (None), a missing live field is 0."""

from __future__ import annotations

from wallboard_sample import T0, hmget, sample_pipeline

from ccpulse.sinks.redis_families import FLATTENERS
from ccpulse.sinks.redis_sink import flatten
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


def test_queue_model_holds_the_engine_figures() -> None:
    now = T0 + 130_000
    snap = sample_pipeline().snapshots(now)[0]
    model = queue_model(hmget(flatten(snap), QUEUE_FIELDS))
    assert model is not None
    figures = snap["channels"]["all"]["current_interval"]["figures"]
    assert model["as_of_ms"] == now
    for name in ("offered", "answered", "abandoned", "asa_seconds", "service_level_target"):
        assert model["current_interval"][name] == figures[name], name
    assert model["current_interval"]["offered"] == 3
    assert model["live"] == {"in_queue": 1, "longest_wait_seconds": 30.0}
    assert model["current_interval"]["end"] == "2026-03-10T09:15:00+00:00"


def test_empty_text_is_no_value_and_missing_live_fields_are_zero() -> None:
    fields = flatten(sample_pipeline().snapshots(T0 + 130_000)[0])
    fields["current_interval.all.service_level"] = ""
    del fields["live.all.in_queue"], fields["live.all.longest_wait_seconds"]
    model = queue_model(hmget(fields, QUEUE_FIELDS))
    assert model is not None
    assert model["current_interval"]["service_level"] is None  # shown "–", never 0 %
    assert model["live"] == {"in_queue": 0, "longest_wait_seconds": 0.0}
    assert queue_model(hmget({}, QUEUE_FIELDS)) is None  # the hash is gone: no data


def test_agent_ticket_and_survey_models() -> None:
    now = T0 + 130_000
    hashes = {}
    for family, snap in sample_pipeline().family_snapshots(now):
        hashes.update(dict(FLATTENERS[family]("p", snap)))
    bob = agent_model(hmget(hashes["p:agent:acme:bob"], AGENT_FIELDS))
    assert bob is not None
    assert (bob["state"], bob["queues"], bob["time_in_state_seconds"]) == (
        "on_contact", ["sales"], 105.0)
    summary = summary_model(hmget(hashes["p:agent-summary:acme:sales"], SUMMARY_FIELDS))
    assert summary == {"as_of_ms": now, "logged_in": 1, "available": 0, "on_contact": 1,
                       "wrap_up": 0, "paused": 0}  # fmt: skip
    tickets = tickets_model("acme", hmget(hashes["p:tickets:acme"], TICKET_FIELDS))
    assert tickets is not None
    assert tickets["now"]["open"] == 1 and tickets["today"]["created"] == 1
    assert tickets["now"]["oldest_open_age_seconds"] == 10.0
    surveys = surveys_model("acme", hashes["p:surveys:acme"])
    assert surveys is not None
    assert surveys["today"]["all"]["csat"] == 1.0
    assert surveys["today"]["by_queue"]["sales"]["csat_responses"] == 1
