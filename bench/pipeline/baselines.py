"""Consumer processes of the rows compared with ccpulse: aiokafka ceiling, Faust floors and
baseline, Quix Streams peer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson

from .child import Meter
from .workload import PARTITIONS


def _faust_options(spec: dict[str, Any]) -> dict[str, Any]:
    """The Faust settings of ccpulse.streams.app.create_app, for the Faust baselines."""
    return {
        "broker": spec["broker"], "store": "memory://", "topic_partitions": PARTITIONS,
        "topic_replication_factor": 1, "table_standby_replicas": 0,
        "consumer_auto_offset_reset": "earliest", "web_enabled": False,
        "broker_session_timeout": 10.0, "broker_heartbeat_interval": 1.0,
        "broker_rebalance_timeout": 20.0, "broker_commit_every": 10_000,
        "broker_commit_interval": 1.0, "producer_linger_ms": 5,
        "recovery_consistency_check": False,
    }  # fmt: skip


def _count(doc: Any) -> int:
    return len(doc) if isinstance(doc, list) else 1


def child_aiokafka(spec: dict[str, Any], meter: Meter) -> None:
    from aiokafka import AIOKafkaConsumer

    async def go() -> None:
        consumer = AIOKafkaConsumer(
            spec["topic"], bootstrap_servers=spec["bootstrap"], group_id=spec["group"],
            auto_offset_reset="earliest", enable_auto_commit=True,
        )  # fmt: skip
        await consumer.start()
        loads = orjson.loads
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batches.values():
                n = 0
                for record in records:
                    n += _count(loads(record.value))
                meter.add(n)

    asyncio.run(go())


def child_faust(spec: dict[str, Any], meter: Meter) -> None:
    import faust

    from ccpulse.config import KafkaSettings
    from ccpulse.streams.faust_parts import QuietMonitor, RawSchema, Transport, Worker

    fast = spec["kind"] == "faust-noop-fast"  # on the Faust parts create_app() installs
    options = _faust_options(spec) | ({"Monitor": QuietMonitor} if fast else {})
    app = faust.App(spec["group"], **options)
    if fast:
        app.transport = Transport(app.conf.broker_consumer, app)
        app.transport.fetch_max_wait_ms = KafkaSettings().fetch_max_wait_ms  # the default
        topic = app.topic(spec["topic"], schema=RawSchema(key_type=bytes, value_type=bytes),
                          partitions=PARTITIONS)  # fmt: skip
    else:
        topic = app.topic(spec["topic"], key_type=bytes, value_type=bytes, key_serializer="raw",
                          value_serializer="raw", partitions=PARTITIONS)  # fmt: skip
    loads = orjson.loads
    kind = spec["kind"]
    if kind == "faust-noop":

        @app.agent(topic, name="noop")
        async def noop(stream: Any) -> None:
            async for value in stream:
                meter.add(_count(loads(value)))

    elif kind in ("faust-noop-take", "faust-noop-fast"):

        @app.agent(topic, name="noop-take")
        async def noop_take(stream: Any) -> None:
            async for events in stream.take_events(2000, within=0.05):
                for event in events:  # metered per message, as the ccpulse row is
                    meter.add(_count(loads(event.message.value)))

    else:  # faust-naive: the "obvious" implementation, one windowed-table update per event
        clock = [0.0]
        counts = (
            app.Table("counts", default=int, key_type=str, value_type=int, partitions=PARTITIONS)
            .tumbling(timedelta(minutes=15), expires=timedelta(hours=1))
            .relative_to(lambda _event: clock[0])  # event time of the event being counted
        )

        @app.agent(topic, name="naive")
        async def naive(stream: Any) -> None:
            async for value in stream:
                doc = loads(value)
                events = doc if isinstance(doc, list) else [doc]
                for ev in events:
                    clock[0] = ev["ts"] / 1000
                    counts[f"{ev['tenant']}/{ev['queue']}"] += 1
                meter.add(len(events))

    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def child_quix(spec: dict[str, Any], meter: Meter) -> None:
    from quixstreams import Application
    from quixstreams.models.topics.admin import TopicAdmin
    from quixstreams.processing.context import ProcessingContext

    # Tansu answers DescribeConfigs with no entries; Quix derives its changelog topics'
    # retention from the input topic's "retention.ms". Fill in Kafka's defaults (bench only).
    inspect = TopicAdmin.inspect_topics

    def inspect_with_defaults(self: Any, topic_names: list[str], timeout: float = 30) -> Any:
        found = inspect(self, topic_names, timeout)
        for config in found.values():
            if config is not None:
                config.extra_config.setdefault("retention.ms", "604800000")
                config.extra_config.setdefault("retention.bytes", "-1")
        return found

    TopicAdmin.inspect_topics = inspect_with_defaults  # type: ignore[method-assign]
    # State (windows) is flushed to RocksDB and the changelog at checkpoints: after the last
    # event, stop the app and stop the clock when its final, forced checkpoint is committed.
    commit_checkpoint = ProcessingContext.commit_checkpoint

    def commit_then_settle(self: Any, force: bool = False, **kwargs: Any) -> None:
        commit_checkpoint(self, force=force, **kwargs)
        if force and meter.pending:
            meter.done()

    ProcessingContext.commit_checkpoint = commit_then_settle  # type: ignore[method-assign]
    app = Application(broker_address=spec["bootstrap"], consumer_group=spec["group"],
                      auto_offset_reset="earliest", state_dir=spec["state_dir"],
                      loglevel="WARNING")  # fmt: skip
    topic = app.topic(spec["topic"], value_deserializer="json", key_deserializer="str")
    sdf = app.dataframe(topic)
    if spec["shape"] == "batched":
        sdf = sdf.apply(lambda batch: batch, expand=True)
    sdf = sdf.set_timestamp(lambda value, _key, _ts, _headers: int(value["ts"]))
    sdf = sdf.tumbling_window(timedelta(minutes=15)).count().current()
    sdf = sdf.update(lambda _window: meter.add(1))
    meter.settle = app.stop
    app.run()
