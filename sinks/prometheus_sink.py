"""Expose figures on /metrics for Prometheus (metric names: docs/prometheus-metrics.md).

A custom collector renders whatever the last publish handed it, so a scrape never reads engine
state while the event loop changes it. Counters come from each queue's running totals, which
live in the changelog-backed state: they survive restarts instead of resetting. Series of a queue
disappear as soon as the worker no longer owns its partition. Labels: tenant, queue, channel
(channel is a closed list; tenants and queues are as many as the event sources name), plus
window and reason where named.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from ccpulse.schemas.events import BLOCK_REASONS, DEQUEUE_REASONS
from ccpulse.sinks.exposition import Streamed
from ccpulse.sinks.prometheus_families import agent_metrics, survey_metrics, ticket_metrics
from ccpulse.streams.kpi import counters as k
from ccpulse.streams.kpi.figures import service_level_parts
from ccpulse.streams.kpi.policy import QueuePolicy
from ccpulse.streams.liveness import WorkerLiveness

#: Windowed figures exported as gauges: (figure key, metric name suffix, help).
WINDOW_GAUGES = (
    ("offered", "offered_contacts", "Contacts offered to the queue in the window"),
    ("answered", "answered_contacts", "Contacts answered in the window"),
    ("abandoned", "abandoned_contacts", "Contacts abandoned in the window"),
    ("blocked", "blocked_contacts", "Contacts refused before queueing in the window"),
    ("service_level", "service_level_ratio", "Service level (0-1) by the queue's formula"),
    ("service_level_target", "service_level_target_ratio", "Configured service level target"),
    ("asa_seconds", "asa_seconds", "Average speed of answer"),
    ("abandonment_rate", "abandonment_ratio", "Abandoned over offered (0-1)"),
    ("blockage_rate", "blockage_ratio", "Blocked over offered plus blocked (0-1)"),
    ("aht_seconds", "aht_seconds", "Average handle time (talk + hold + wrap)"),
    ("longest_answered_wait_seconds", "longest_answered_wait_seconds", "Longest answered wait"),
)
WINDOWS = ("current_interval", "today")

#: Running totals exported as counters: (tally index, metric name, help).
TOTAL_COUNTERS = (
    (k.OFFERED, "ccpulse_contacts_offered", "Contacts offered to queues"),
    (k.ANSWERED, "ccpulse_contacts_answered", "Contacts answered"),
    (k.ANSWERED_WITHIN, "ccpulse_contacts_answered_within_threshold",
     "Contacts answered within the queue's service-level threshold"),
    (k.ABANDONED, "ccpulse_contacts_abandoned", "Contacts abandoned while waiting"),
    (k.SHORT_ABANDONED, "ccpulse_contacts_short_abandoned",
     "Contacts abandoned before the short-abandon threshold"),
    (k.ABANDONED_WITHIN, "ccpulse_contacts_abandoned_within_threshold",
     "Contacts abandoned within the service-level threshold"),
    (k.COMPLETED, "ccpulse_contacts_completed", "Contacts whose after-contact work is done"),
)  # fmt: skip
#: Wait histograms (contacts with a known wait): (name, help, first slot, sum field,
#: within-threshold field).
WAIT_HISTOGRAMS = (
    ("ccpulse_answered_wait_seconds", "Wait in queue of answered contacts",
     k.ANSWERED_WAIT_SLOTS, k.ANSWERED_WAIT_SUM, k.ANSWERED_WITHIN),
    ("ccpulse_abandoned_wait_seconds", "Wait in queue of abandoned contacts",
     k.ABANDONED_WAIT_SLOTS, k.ABANDONED_WAIT_SUM, k.ABANDONED_WITHIN),
)  # fmt: skip


@dataclass
class MetricsView:
    """What the collector renders: built on the event loop, read by the scrape thread."""

    snapshots: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: (tenant, queue, channel) -> (running-total tally, the channel's policy).
    totals: dict[tuple[str, str, str], tuple[list[int], QueuePolicy]] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)


class PrometheusSink(Collector):
    """Collector over the latest published figures."""

    def __init__(
        self, registry: CollectorRegistry | None = None, agent_labels: bool = False
    ) -> None:
        self.view = MetricsView()
        self.families: list[tuple[str, dict[str, Any]]] = []
        self.agent_labels = agent_labels
        if registry is not None:
            registry.register(self)

    def update_families(self, families: list[tuple[str, dict[str, Any]]]) -> None:
        """Swap in the latest snapshots of the other families (agents, ...)."""
        self.families = families

    def update(self, view: MetricsView) -> None:
        """Swap in a new view (a single reference assignment: safe against a running scrape)."""
        self.view = view

    def collect(self) -> Iterator[Metric]:
        view = self.view
        yield from _window_gauges(view.snapshots.values())
        yield from _live_gauges(view.snapshots.values())
        yield from _queue_times(view.snapshots.values())
        yield from _totals(view.totals)
        yield from _limits(view.totals)
        yield from _health(view.health)
        families = self.families
        yield from agent_metrics([s for f, s in families if f == "agents"], self.agent_labels)
        yield from survey_metrics([s for f, s in families if f == "surveys"])
        yield from ticket_metrics([s for f, s in families if f == "tickets"])


_GAUGE_KEYS = tuple(key for key, _, _ in WINDOW_GAUGES)


def compact(snap: dict[str, Any]) -> dict[str, Any]:
    """The part of a queue snapshot that /metrics shows: what the collector keeps per queue
    between publishes (a full snapshot holds about four times as many figures). A queue of one
    channel shares its view with "all" (queue_snapshot), and so does this."""
    views: dict[int, dict[str, Any]] = {}
    channels = {}
    for channel, view in snap["channels"].items():
        found = views.get(id(view))
        if found is None:
            found = views[id(view)] = {
                **{w: {"figures": _keep(view[w]["figures"])} for w in WINDOWS},
                "rolling": {span: _keep(figs) for span, figs in view["rolling"].items()},
            }
        channels[channel] = found
    return {
        "tenant": snap["tenant"],
        "queue": snap["queue"],
        "as_of_ms": snap["as_of_ms"],
        "current_interval_end_s": _epoch_s(snap["channels"]["all"]["current_interval"]["end"]),
        "live": snap["live"],
        "channels": channels,
    }


def _keep(figs: dict[str, Any]) -> dict[str, Any]:
    return dict(zip(_GAUGE_KEYS, map(figs.get, _GAUGE_KEYS), strict=True))


#: Epoch seconds per RFC 3339 label: every queue of a zone shares its interval ends.
_EPOCH_S: dict[str, float] = {}


def _epoch_s(label: str) -> float:
    found = _EPOCH_S.get(label)
    if found is None:
        if len(_EPOCH_S) > 10_000:
            _EPOCH_S.clear()
        found = _EPOCH_S[label] = datetime.fromisoformat(label).timestamp()
    return found


def _labels(snap: dict[str, Any], channel: str) -> list[str]:
    return [snap["tenant"], snap["queue"], channel]


def _window_gauges(snapshots: Iterable[dict[str, Any]]) -> Iterator[Metric]:
    snaps = list(snapshots)
    for key, suffix, help_text in WINDOW_GAUGES:

        def new(suffix: str = suffix, help_text: str = help_text) -> GaugeMetricFamily:
            labels = ["tenant", "queue", "channel", "window"]
            return GaugeMetricFamily(f"ccpulse_queue_{suffix}", help_text, labels=labels)

        def fill(family: GaugeMetricFamily, snap: dict[str, Any], key: str = key) -> None:
            for channel, view in snap["channels"].items():
                windows = [(w, view[w]["figures"]) for w in WINDOWS]
                windows += [(f"rolling_{span}", f) for span, f in view["rolling"].items()]
                for window, figs in windows:
                    value = figs.get(key)
                    if value is not None:
                        family.add_metric([*_labels(snap, channel), window], float(value))

        yield Streamed(new, snaps, fill)


def _live_gauges(snapshots: Iterable[dict[str, Any]]) -> Iterator[Metric]:
    snaps = list(snapshots)
    for name, help_text, field_name in (
        ("ccpulse_queue_contacts_waiting", "Contacts waiting in queue now", "in_queue"),
        ("ccpulse_queue_longest_wait_seconds", "Wait of the oldest contact in queue now",
         "longest_wait_seconds"),
    ):  # fmt: skip

        def new(name: str = name, help_text: str = help_text) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, help_text, labels=["tenant", "queue", "channel"])

        def fill(family: GaugeMetricFamily, snap: dict[str, Any], name: str = field_name) -> None:
            for channel, live in snap["live"].items():
                family.add_metric(_labels(snap, channel), live[name])

        yield Streamed(new, snaps, fill)


def _queue_times(snapshots: Iterable[dict[str, Any]]) -> Iterator[Metric]:
    """When the windowed gauges were computed, and when their current interval ends: a queue
    that stays quiet keeps its last figures, so alerts tell a finished interval by its end."""
    as_of = GaugeMetricFamily(
        "ccpulse_queue_as_of_timestamp_seconds",
        "Instant the queue's windowed gauges are computed for (epoch seconds)",
        labels=["tenant", "queue"],
    )
    end = GaugeMetricFamily(
        "ccpulse_queue_current_interval_end_timestamp_seconds",
        "End of the interval the current_interval gauges describe (epoch seconds)",
        labels=["tenant", "queue"],
    )
    for snap in snapshots:
        labels = [snap["tenant"], snap["queue"]]
        as_of.add_metric(labels, snap["as_of_ms"] / 1000)
        end.add_metric(labels, snap["current_interval_end_s"])
    yield as_of
    yield end


def wait_buckets(
    tally: list[int], first_slot: int, within_idx: int, threshold_s: float
) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs: the fixed bounds, the queue's SL threshold, +Inf."""
    out: list[tuple[float, int]] = []
    running = 0
    for i, bound in enumerate(k.WAIT_BUCKETS_SECONDS):
        running += tally[first_slot + i]
        out.append((float(bound), running))
    if threshold_s not in k.WAIT_BUCKETS_SECONDS:
        out.append((threshold_s, tally[within_idx]))
        out.sort()
    running += tally[first_slot + len(k.WAIT_BUCKETS_SECONDS)]
    return [(_le(b), float(c)) for b, c in out] + [("+Inf", float(running))]


def _le(bound: float) -> str:
    return str(int(bound)) if bound == int(bound) else str(bound)


Totals = dict[tuple[str, str, str], tuple[list[int], QueuePolicy]]


def _totals(totals: Totals) -> Iterator[Metric]:
    labels = ["tenant", "queue", "channel"]
    items = list(totals.items())
    for idx, name, help_text in TOTAL_COUNTERS:

        def new(name: str = name, help_text: str = help_text) -> CounterMetricFamily:
            return CounterMetricFamily(name, help_text, labels=labels)

        def fill(family: CounterMetricFamily, item: Any, idx: int = idx) -> None:
            lv, (tally, _) = item
            family.add_metric(list(lv), tally[idx])

        yield Streamed(new, items, fill)
    met = CounterMetricFamily(
        "ccpulse_contacts_service_level_met",
        "Contacts that met the service level, by the queue's formula", labels=labels,
    )  # fmt: skip
    counted = CounterMetricFamily(
        "ccpulse_contacts_service_level_counted",
        "Contacts the service level is taken over, by the queue's formula", labels=labels,
    )  # fmt: skip
    for lv, (tally, policy) in totals.items():
        met_n, counted_n = service_level_parts(tally, policy)
        met.add_metric(list(lv), met_n)
        counted.add_metric(list(lv), counted_n)
    yield met
    yield counted
    for name, help_text, slots, sum_idx, within_idx in WAIT_HISTOGRAMS:

        def new_hist(name: str = name, help_text: str = help_text) -> HistogramMetricFamily:
            return HistogramMetricFamily(name, help_text, labels=labels)

        def fill_hist(
            hist: HistogramMetricFamily,
            item: Any,
            slots: int = slots,
            sum_idx: int = sum_idx,
            within_idx: int = within_idx,
        ) -> None:
            lv, (tally, policy) = item
            buckets = wait_buckets(tally, slots, within_idx, policy.sl_threshold_seconds)
            hist.add_metric(list(lv), buckets, tally[sum_idx] / 1000)

        yield Streamed(new_hist, items, fill_hist)
    for reasons, by_reason, name, help_text in (
        (BLOCK_REASONS, k.BLOCKED_BY_REASON, "ccpulse_contacts_blocked",
         "Contacts refused before queueing, by reason"),
        (DEQUEUE_REASONS, k.DEQUEUED_BY_REASON, "ccpulse_contacts_dequeued",
         "Contacts that left the queue unanswered for a reason other than abandoning"),
    ):  # fmt: skip
        family = CounterMetricFamily(name, help_text, labels=[*labels, "reason"])
        for lv, (tally, _) in totals.items():
            for reason in reasons:
                family.add_metric([*lv, reason], tally[by_reason[reason]])
        yield family
    handle = CounterMetricFamily(
        "ccpulse_handle_seconds", "Handle time of completed contacts, by part",
        labels=[*labels, "part"],
    )  # fmt: skip
    for lv, (tally, _) in totals.items():
        for part, idx in (("talk", k.TALK_SUM), ("hold", k.HOLD_SUM), ("wrap", k.WRAP_SUM)):
            handle.add_metric([*lv, part], tally[idx] / 1000)
    yield handle


def _limits(totals: Totals) -> Iterator[Metric]:
    """Each channel's configured alert limits, carried as series so that one alert rule serves
    every queue whatever its limits."""
    labels = ["tenant", "queue", "channel"]
    waiting = GaugeMetricFamily(
        "ccpulse_queue_contacts_waiting_limit",
        "Configured limit of contacts waiting (contacts_waiting_limit)", labels=labels,
    )  # fmt: skip
    longest = GaugeMetricFamily(
        "ccpulse_queue_longest_wait_limit_seconds",
        "Configured limit of the longest current wait (longest_wait_limit_seconds)",
        labels=labels,
    )
    for lv, (_, policy) in totals.items():
        waiting.add_metric(list(lv), policy.contacts_waiting_limit)
        longest.add_metric(list(lv), policy.longest_wait_limit_seconds)
    yield waiting
    yield longest


def _health(health: dict[str, Any]) -> Iterator[Metric]:
    if not health:
        return
    messages = CounterMetricFamily("ccpulse_messages", "Input messages consumed by this worker")
    messages.add_metric([], health["messages"])
    yield messages
    events = CounterMetricFamily(
        "ccpulse_events", "Valid events by what the engine did with them", labels=["verdict"]
    )
    for verdict, count in health["verdicts"].items():
        events.add_metric([str(verdict)], count)
    yield events
    invalid = CounterMetricFamily(
        "ccpulse_events_dead_lettered", "Events sent to the dead-letter topic", labels=["reason"]
    )
    invalid.add_metric(["invalid"], health["invalid"])
    invalid.add_metric(["misrouted"], health["misrouted"])
    invalid.add_metric(["too_late"], health["verdicts"].get("too_late", 0))
    refused = health.get("over_limit", {})
    invalid.add_metric(["over_limit"], sum(refused.values()))
    yield invalid
    over = CounterMetricFamily(
        "ccpulse_over_limit_events",
        "Events refused because their tenant, queue or agent is past a [limits] cap",
        labels=["limit"],
    )
    for limit, count in refused.items():
        over.add_metric([limit], count)
    yield over
    failed = CounterMetricFamily(
        "ccpulse_dead_letter_write_failures",
        "Dead letters the broker refused or that could not be sent (the input goes on)",
    )
    failed.add_metric([], health.get("dead_letter_failures", 0))
    yield failed
    last = GaugeMetricFamily(
        "ccpulse_last_event_timestamp_seconds", "Event time of the newest event seen, per topic",
        labels=["topic"],
    )  # fmt: skip
    for topic, ts_ms in health["last_event_ms"].items():
        last.add_metric([topic], ts_ms / 1000)
    yield last
    lag = GaugeMetricFamily(
        "ccpulse_consumer_lag_messages",
        "Input messages on the broker not yet processed, per owned input partition",
        labels=["partition"],
    )
    for partition, waiting in sorted(health.get("lag_messages", {}).items()):
        lag.add_metric([str(partition)], waiting)
    yield lag
    liveness = health.get("liveness")
    if liveness is not None:
        yield from _publishing(liveness)


def _publishing(liveness: WorkerLiveness) -> Iterator[Metric]:
    """Redis publishes of this worker: how many, how many failed, how long they take."""
    flushes = CounterMetricFamily("ccpulse_redis_publishes", "Flushes of figures to Redis")
    flushes.add_metric([], liveness.flushes)
    yield flushes
    failures = CounterMetricFamily(
        "ccpulse_redis_publish_failures", "Flushes to Redis that failed (retried next flush)"
    )
    failures.add_metric([], liveness.failures)
    yield failures
    if liveness.last_success_wall is not None:
        last = GaugeMetricFamily(
            "ccpulse_redis_last_publish_success_timestamp_seconds",
            "Wall-clock time of the last successful flush to Redis",
        )
        last.add_metric([], liveness.last_success_wall)
        yield last
    duration = HistogramMetricFamily(
        "ccpulse_flush_duration_seconds", "Time one flush to Redis took, failed ones included"
    )
    duration.add_metric([], liveness.flush_buckets(), liveness.flush_seconds_sum)
    yield duration
