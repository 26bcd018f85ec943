"""/metrics as Prometheus reads it: counters from running totals, wait histograms whose buckets
include each queue's SL threshold, windowed and live gauges, and series that leave with their
partition. Asserted on registry samples, each test with its own registry."""

from __future__ import annotations

import orjson
from prometheus_client.registry import CollectorRegistry

from ccpulse.sinks.prometheus_sink import PrometheusSink
from ccpulse.streams.kpi import PolicyBook, QueuePolicy
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline
from ccpulse.streams.worker import metrics_view

T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z
NOW = T0 + 600_000


def _event(
    eid: str, etype: str, offset_s: float, contact: str, **extra: object
) -> dict[str, object]:
    return {"event_id": eid, "type": etype, "ts": T0 + int(offset_s * 1000), "queue": "sales",
            "contact_id": contact, **extra}  # fmt: skip


def _pipeline(threshold_s: float) -> Pipeline:
    book = PolicyBook(default=QueuePolicy(sl_threshold_seconds=threshold_s))
    pipeline = Pipeline(book)
    events = []
    for n, wait in enumerate((3, 12, 25, 50)):
        events.append(_event(f"o{n}", "contact.offered", n, f"c{n}"))
        events.append(_event(f"a{n}", "contact.answered", n + wait, f"c{n}", agent_id="a"))
    events.append(_event("o9", "contact.offered", 100, "c9"))
    events.append(_event("x9", "contact.abandoned", 104, "c9"))
    events.append(_event("o8", "contact.offered", 500, "c8"))  # still waiting at NOW
    letters: list[DeadLetter] = []
    pipeline.process(Message("cc", 0, 0, b"default/sales", orjson.dumps(events)), letters.append)
    assert letters == []
    pipeline.table_writes()
    return pipeline


def _registry(pipeline: Pipeline) -> CollectorRegistry:
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    sink.update(metrics_view(pipeline, pipeline.snapshots(NOW), {}))
    return registry


LABELS = {"tenant": "default", "queue": "sales", "channel": "voice"}


def test_wait_histogram_has_fixed_buckets_and_the_queue_threshold() -> None:
    registry = _registry(_pipeline(threshold_s=25))
    bucket = "ccpulse_answered_wait_seconds_bucket"

    def le(bound: str) -> float | None:
        return registry.get_sample_value(bucket, {**LABELS, "le": bound})

    # Answered waits 3, 12, 25, 50 s; bounds are inclusive (le).
    assert [le(b) for b in ("5", "10", "15", "20", "25", "30", "45", "60", "+Inf")] == [
        1,
        1,
        2,
        2,
        3,
        3,
        3,
        4,
        4,
    ]
    assert registry.get_sample_value("ccpulse_answered_wait_seconds_count", LABELS) == 4
    assert registry.get_sample_value("ccpulse_answered_wait_seconds_sum", LABELS) == 90
    assert (
        registry.get_sample_value("ccpulse_abandoned_wait_seconds_bucket", {**LABELS, "le": "5"})
        == 1
    )


def test_a_threshold_on_a_fixed_bound_adds_no_bucket() -> None:
    registry = _registry(_pipeline(threshold_s=20))
    assert (
        registry.get_sample_value("ccpulse_answered_wait_seconds_bucket", {**LABELS, "le": "25"})
        is None
    )
    assert (
        registry.get_sample_value("ccpulse_answered_wait_seconds_bucket", {**LABELS, "le": "20"})
        == 2
    )


def test_counters_and_gauges() -> None:
    registry = _registry(_pipeline(threshold_s=20))
    assert registry.get_sample_value("ccpulse_contacts_offered_total", LABELS) == 6
    assert registry.get_sample_value("ccpulse_contacts_answered_total", LABELS) == 4
    assert (
        registry.get_sample_value("ccpulse_contacts_answered_within_threshold_total", LABELS) == 2
    )
    assert registry.get_sample_value("ccpulse_contacts_abandoned_total", LABELS) == 1
    assert registry.get_sample_value("ccpulse_contacts_short_abandoned_total", LABELS) == 1
    today = {**LABELS, "window": "today"}
    # Default formula excludes short abandons: 2 met of 4 answered.
    assert registry.get_sample_value("ccpulse_queue_service_level_ratio", today) == 0.5
    assert registry.get_sample_value("ccpulse_queue_asa_seconds", today) == 22.5
    assert registry.get_sample_value("ccpulse_queue_contacts_waiting", LABELS) == 1
    assert registry.get_sample_value("ccpulse_queue_longest_wait_seconds", LABELS) == 100
    assert registry.get_sample_value("ccpulse_events_total", {"verdict": "applied"}) == 11


def test_series_leave_with_their_partition() -> None:
    pipeline = _pipeline(threshold_s=20)
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    latest: dict[tuple[str, str], dict[str, object]] = {}
    sink.update(metrics_view(pipeline, pipeline.snapshots(NOW), latest))
    assert registry.get_sample_value("ccpulse_contacts_offered_total", LABELS) == 6
    pipeline.drop(0)
    sink.update(metrics_view(pipeline, pipeline.snapshots(NOW), latest))
    assert registry.get_sample_value("ccpulse_contacts_offered_total", LABELS) is None
    assert registry.get_sample_value("ccpulse_queue_contacts_waiting", LABELS) is None


def test_service_level_counters_follow_the_queue_formula() -> None:
    """Met and counted contacts by the formula: their ratio is the gauge's service level."""
    registry = _registry(_pipeline(threshold_s=20))
    # Answered waits 3, 12, 25, 50 s (2 within 20 s); one abandon after 4 s is a short abandon
    # (< 5 s), which the default formula exclude_short_abandons leaves out.
    met = registry.get_sample_value("ccpulse_contacts_service_level_met_total", LABELS)
    counted = registry.get_sample_value("ccpulse_contacts_service_level_counted_total", LABELS)
    assert (met, counted) == (2, 4)
    gauge = registry.get_sample_value(
        "ccpulse_queue_service_level_ratio", {**LABELS, "window": "today"}
    )
    assert gauge == met / counted


def test_answered_and_abandoned_formula_counts_the_short_abandon() -> None:
    book = PolicyBook(default=QueuePolicy(sl_formula="answered_and_abandoned"))  # type: ignore[arg-type]
    pipeline = Pipeline(book)
    events = [
        _event("o1", "contact.offered", 0, "c1"),
        _event("a1", "contact.answered", 5, "c1", agent_id="a"),
        _event("o2", "contact.offered", 0, "c2"),
        _event("x2", "contact.abandoned", 2, "c2"),
    ]
    pipeline.process(Message("cc", 0, 0, b"default/sales", orjson.dumps(events)), print)
    registry = _registry(pipeline)
    assert registry.get_sample_value("ccpulse_contacts_service_level_met_total", LABELS) == 1
    assert registry.get_sample_value("ccpulse_contacts_service_level_counted_total", LABELS) == 2


def test_alert_limits_and_interval_end_are_series() -> None:
    book = PolicyBook(
        default=QueuePolicy(contacts_waiting_limit=4, longest_wait_limit_seconds=90),
        channels={("default", "sales", "voice"): QueuePolicy(longest_wait_limit_seconds=30)},
    )
    pipeline = Pipeline(book)
    events = [_event("o1", "contact.offered", 0, "c1")]
    pipeline.process(Message("cc", 0, 0, b"default/sales", orjson.dumps(events)), print)
    registry = _registry(pipeline)
    assert registry.get_sample_value("ccpulse_queue_longest_wait_limit_seconds", LABELS) == 30
    assert registry.get_sample_value("ccpulse_queue_contacts_waiting_limit", LABELS) == 10
    queue = {"tenant": "default", "queue": "sales"}
    assert registry.get_sample_value("ccpulse_queue_as_of_timestamp_seconds", queue) == NOW / 1000
    # 09:10 UTC is in the 09:00-09:15 interval (default 15 minutes, UTC).
    end = registry.get_sample_value("ccpulse_queue_current_interval_end_timestamp_seconds", queue)
    assert end == (T0 + 900_000) / 1000


def test_running_totals_move_with_the_queue_s_snapshot_and_stay_between_them() -> None:
    """A publish copies the running totals of the queues it has snapshots of, and keeps those
    of the others from earlier publishes: the counters and gauges of a queue change together."""
    pipeline = _pipeline(threshold_s=20)
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    latest: dict[tuple[str, str], dict[str, object]] = {}
    totals: dict[tuple[str, str, str], tuple[list[int], QueuePolicy]] = {}
    sink.update(metrics_view(pipeline, pipeline.snapshots(NOW), latest, None, totals))
    assert registry.get_sample_value("ccpulse_contacts_offered_total", LABELS) == 6
    late = _event("o7", "contact.offered", 550, "c7")
    pipeline.process(Message("cc", 0, 1, b"default/sales", orjson.dumps(late)), lambda _: None)
    sink.update(metrics_view(pipeline, [], latest, None, totals))  # no snapshot taken yet
    assert registry.get_sample_value("ccpulse_contacts_offered_total", LABELS) == 6
    assert registry.get_sample_value("ccpulse_queue_contacts_waiting", LABELS) == 1
    pipeline.table_writes()  # the queue is due for a snapshot now
    sink.update(metrics_view(pipeline, pipeline.snapshots(NOW), latest, None, totals))
    assert registry.get_sample_value("ccpulse_contacts_offered_total", LABELS) == 7
    assert registry.get_sample_value("ccpulse_queue_contacts_waiting", LABELS) == 2
