"""The Faust app: topics, the state table and the agent that drives the pipeline.

The input topic's records reach `apply_records` a fetch at a time through the consumer's bulk
lane (streams/bulk_lane.py), which applies each message through the `Pipeline`, writes the
changed engine records to the state table (whose changelog topic is the recovery source) and
dead-letters refused input; a task hands fresh figures to the sinks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

from ccpulse.config import Settings
from ccpulse.kafka_auth import client_options, faust_credentials
from ccpulse.sources.produce import bootstrap_servers
from ccpulse.streams.bulk_lane import BulkHandler
from ccpulse.streams.faust_parts import QuietMonitor, RawSchema, Transport
from ccpulse.streams.fetch import apply_fetch
from ccpulse.streams.kpi import statekeys
from ccpulse.streams.pipeline import DeadLetter, Pipeline
from ccpulse.streams.repartition import add_repartition_stage, repartition_topic

log = logging.getLogger("ccpulse.worker")

#: How long a new owner may take to read a changelog partition back to its fence.
READ_BACK_TIMEOUT_SECONDS = 120.0
#: Dropping stale contacts and old buckets needs no hurry.
GC_INTERVAL_SECONDS = 60.0

SnapshotHandler = Callable[[list[dict[str, Any]], Pipeline], Awaitable[None]]


class FlushPacer:
    """Whether a flush tick should publish. While the worker keeps up: every tick, spaced only
    so that flushing takes at most `keeping_up_share` of the time while messages wait. While it
    catches up on a backlog: at most every `catch_up_seconds`, and spaced so that flushing takes
    at most `share` of the time (a flush of 2,000 queues can take a second or two).

    Catching up means more than `lag_messages` input messages wait and they are more than
    `backlog_seconds` of work at the rate messages were processed since the previous tick;
    `behind` says whether the last tick found it so.
    """

    def __init__(
        self,
        lag_messages: int,
        backlog_seconds: float,
        catch_up_seconds: float,
        share: float = 0.2,
        keeping_up_share: float = 0.5,
    ) -> None:
        self.lag_messages = lag_messages
        self.backlog_seconds = backlog_seconds
        self.catch_up_seconds = catch_up_seconds
        self.share = share
        self.keeping_up_share = keeping_up_share
        self.last = float("-inf")
        #: How long the last flush took (seconds), as told by `spent`.
        self.cost = 0.0
        self._tick: tuple[float, int] | None = None
        self.behind = False

    def spent(self, seconds: float) -> None:
        """The flush just done took this long."""
        self.cost = seconds

    def due(self, now: float, lag: int, processed: int) -> bool:
        """`lag`: messages waiting now; `processed`: messages processed so far (a counter)."""
        rate = 0.0
        if self._tick is not None and now > self._tick[0]:
            rate = (processed - self._tick[1]) / (now - self._tick[0])
        self._tick = (now, processed)
        behind = self.behind = lag > self.lag_messages and lag > rate * self.backlog_seconds
        if behind:
            spacing = max(self.catch_up_seconds, self.cost / self.share)
        elif lag:
            spacing = self.cost / self.keeping_up_share
        else:  # nothing waiting: the time is the flushes' (a day of intervals going out)
            spacing = 0.0
        if now - self.last < spacing:
            return False
        self.last = now
        return True


def create_app(
    settings: Settings, on_snapshots: SnapshotHandler | None = None, **faust_options: Any
) -> tuple[faust.App, Pipeline]:
    """Build the Faust app and the pipeline it drives."""
    kafka = settings.kafka
    options: dict[str, Any] = {
        "broker": kafka.broker,
        "store": "memory://",
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "table_standby_replicas": 0,
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": False,
        # A lone broker answers fast: shorter timeouts make joins and failover quick.
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 1.0,
        "broker_rebalance_timeout": 20.0,
        "broker_commit_every": 10_000,
        "broker_commit_interval": 1.0,
        "producer_linger_ms": 5,
        # The state writes of one batch go out as record batches per changelog partition, and
        # the client sends a partition's next batch only once the broker has answered for the
        # one before: with Faust's 16 KB batches, a flush of a few hundred KB waited on a
        # dozen round trips in a row. Kafka's default limit per batch is 1 MB.
        "producer_max_batch_size": 512 * 1024,
        # Faust stops fetching a partition once the agent's queue holds 80 % of this, and
        # fetches it again below 40 %. At Faust's 4,096 a batch of 2,000 messages took the
        # queue across both marks nearly every time, and the agent waited on fresh fetches.
        "stream_buffer_maxsize": 16384,
        # The embedded broker's end offsets can trail the offsets its produce responses
        # reported, which this check mistakes for a corrupt local store. The memory store has
        # nothing local to be inconsistent: recovery always reads the changelog itself.
        "recovery_consistency_check": False,
        # State keys and values are bytes the pipeline encodes itself.
        "key_serializer": "raw",
        "value_serializer": "raw",
        "Monitor": QuietMonitor,  # no per-message statistics: nothing here reads them
    }
    credentials = faust_credentials(kafka)
    if credentials is not None:
        options["broker_credentials"] = credentials
    # Faust keeps a little bookkeeping on disk; keep it out of the working directory.
    options.setdefault("datadir", f".ccpulse/faust/{kafka.app_id}")
    options.update(faust_options)
    Path(options["datadir"]).parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(kafka.app_id, **options)
    changelog = ChangelogWrites()
    # Read by the consumer before every offset commit (streams/faust_parts.py).
    app.commit_guard = changelog.failure  # type: ignore[attr-defined]
    transport = Transport(app.conf.broker_consumer, app)
    transport.fetch_max_wait_ms = kafka.fetch_max_wait_ms
    app.transport = transport
    pipeline = Pipeline(settings.policies, settings.limits)
    max_dead_letter_bytes = settings.limits.max_dead_letter_bytes
    # The topic the engines read: the input topic, or the repartition stage's output.
    source = app.topic(
        repartition_topic(kafka.app_id) if kafka.repartition else kafka.contacts_topic,
        schema=RawSchema(key_type=bytes, value_type=bytes), partitions=kafka.partitions,
    )  # fmt: skip
    #: Topics read a fetch at a time (streams/bulk_lane.py), and their handlers.
    bulk: dict[str, BulkHandler] = {}
    app.ccpulse_bulk = bulk  # type: ignore[attr-defined]
    if kafka.repartition:
        bulk[kafka.contacts_topic] = add_repartition_stage(
            app, kafka.contacts_topic, source.get_topic_name(), changelog.track
        )
    deadletter = app.topic(
        kafka.deadletter_topic, key_type=bytes, value_type=bytes,
        key_serializer="raw", value_serializer="raw", partitions=kafka.partitions,
    )  # fmt: skip
    table = app.Table(
        "state",
        key_type=bytes,
        value_type=bytes,
        partitions=kafka.partitions,
        help="KPI engine records (buckets, contacts, queue metas), keyed by input partition",
    )

    dead_letters: deque[DeadLetter] = deque()  # popped from the front: O(1), not O(n)
    state_lock = asyncio.Lock()
    dead_count = 0

    def dead_letter(item: DeadLetter) -> None:
        nonlocal dead_count
        dead_count += 1
        # The first ones in full, then one in a thousand: bad input must not flood the log.
        if dead_count <= 10 or dead_count % 1000 == 0:
            log.warning("dead letter #%d (%s): %s", dead_count, item.reason, item.error)
        dead_letters.append(item)

    async def write_state() -> None:
        """Send the batch's state writes to the changelog, then the dead letters.

        The records go straight into the Kafka client's per-partition batches, not through
        Faust's `send_soon` buffer (whose flush may give up early and let a commit overtake the
        writes, docs/exactly-once.md): Faust flushes the client before it commits any offset.
        The table's own store is not written: the engines are the live state, and recovery
        reads the changelog itself (`read_back`), so a second in-memory copy would only cost
        memory.
        """
        # One at a time (the agent's and the garbage collector's): records drained later must
        # not reach a partition's changelog before records drained earlier.
        async with state_lock:
            writes = pipeline.table_writes()
            if writes:
                await send_records(
                    app.producer, table.changelog_topic.get_topic_name(), writes, changelog.track
                )
            # Popped from the front in place, so that a write that fails leaves the rest queued.
            while dead_letters:
                item = dead_letters.popleft()
                try:
                    await deadletter.send(key=item.kafka_key(),
                                          value=item.to_bytes(max_dead_letter_bytes))  # fmt: skip
                except Exception as exc:  # a lost dead letter must never cost the input after it
                    pipeline.health.dead_letter_failures += 1
                    log.error("dead letter (%s) at %s[%d]@%d not written: %s", item.reason,
                              item.source.topic, item.source.partition, item.source.offset,
                              exc)  # fmt: skip

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # Faust's signal stubs
    async def _revoked(app: faust.App, revoked: set[TP], **_: Any) -> None:
        # Until the rebalance settles, another worker may own these and write their hashes:
        # publishing diffs from here could leave stale fields behind.
        pipeline.suspend(tp.partition for tp in revoked if tp.topic == source.get_topic_name())

    @table.on_recover
    async def _recovered() -> None:
        owned = {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == source.get_topic_name()
        }
        for partition in set(pipeline.engines) - owned:
            pipeline.drop(partition)
        for partition in owned - set(pipeline.engines):
            records = await read_back(partition)
            engine = pipeline.restore(partition, records.items())
            log.info("partition %d: restored %d queues from %d records", partition,
                     len(engine.queues), len(records))  # fmt: skip
        pipeline.resume()  # what is held now is owned: publish it (in full, after a change)
        # Faust's own recovery filled the table's store from the changelog too; the engines
        # now hold that state, so drop the copy.
        store: Any = table.data
        store.data.clear()
        index = getattr(store, "_key_partition", None)
        if index is not None:
            index.clear()

    async def read_back(partition: int) -> dict[bytes, bytes]:
        """The partition's state, read from its changelog up to a fence written now.

        Faust's own recovery stops at the end offset the broker reports; the embedded broker can
        report one below the true end, and a state record missed that way would be lost for
        good (its events lie before the committed offset). A fence record written first and
        read back last proves that every earlier record was read, on any broker.
        """
        fence, token = statekeys.fence_key(partition), uuid.uuid4().hex.encode()
        changelog = table.changelog_topic
        await changelog.send(key=fence, value=token, partition=partition,
                             key_serializer="raw", value_serializer="raw")  # fmt: skip
        await app.producer.flush()
        tp = TopicPartition(changelog.get_topic_name(), partition)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(kafka.broker), enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
            **client_options(kafka),
        )  # fmt: skip
        consumer.assign([tp])
        await consumer.start()
        records: dict[bytes, bytes] = {}
        try:
            consumer.seek(tp, 0)  # not seek_to_beginning: no offset look-up to trust
            deadline = time.monotonic() + READ_BACK_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=20_000)
                for rec in batch.get(tp, []):
                    if rec.key == fence:
                        if rec.value == token:
                            return records
                    elif rec.value is None:
                        records.pop(rec.key, None)
                    else:
                        records[rec.key] = rec.value
            raise RuntimeError(f"changelog partition {partition}: fence not read back in time")
        finally:
            await consumer.stop()

    async def apply_records(batches: Sequence[tuple[TP, Sequence[Any]]]) -> None:
        """Apply a fetch's records of the input topic (the bulk lane, streams/bulk_lane.py),
        then queue their state writes: the consumer marks the offsets once this returns. Within
        the fetch, state is also written every `kafka.state_write_every_events` events: ~20 MB
        of records per 50,000 at 10,000 queues on one event per message (docs/performance.md,
        change 24)."""
        await apply_fetch(pipeline, batches, dead_letter, write_state,
                          kafka.state_write_every_events)  # fmt: skip

    bulk[source.get_topic_name()] = apply_records

    @app.agent(source, name="ccpulse-contacts")
    async def contacts(stream: faust.StreamT[bytes]) -> None:
        """Subscribes the input topic, so that Faust assigns and co-partitions it with the
        state table. Its records reach `apply_records` through the bulk lane, never here."""
        async for _value in stream:
            raise RuntimeError(
                "a record of the input topic was delivered per message: it is read by the bulk "
                "lane (streams/bulk_lane.py), which this worker's consumer lacks"
            )

    @app.timer(GC_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def collect_garbage() -> None:
        pipeline.collect_garbage()  # every family's engines; then the names held are recounted
        await write_state()

    def measure_lag() -> int:
        """Messages waiting on the broker in the partitions this worker owns (all of them)."""
        lag = pipeline.health.lag_messages
        total = 0
        for partition, next_offset in pipeline.next_offsets.items():
            try:
                highwater = app.consumer.highwater(TP(source.get_topic_name(), partition))
            except (AssertionError, AttributeError, KeyError):  # not (or no longer) assigned
                continue
            if highwater is not None:
                lag[partition] = max(0, highwater - next_offset)
                total += lag[partition]
        return total

    if on_snapshots is not None:
        redis = settings.redis
        pacer = FlushPacer(redis.catch_up_lag_messages, redis.catch_up_backlog_seconds,
                           redis.catch_up_flush_interval_seconds,
                           redis.catch_up_flush_share, redis.flush_share)  # fmt: skip

        interval = settings.redis.flush_interval_seconds

        @app.task  # type: ignore[untyped-decorator]
        async def publish() -> None:
            """Publish every `interval` from the start of one flush to the start of the next
            (a timer that sleeps after each flush would stretch the period by its length)."""
            due = time.monotonic()
            while not app.should_stop:
                due += interval
                await app.sleep(max(0.0, due - time.monotonic()))
                now = time.monotonic()
                if now > due + interval:  # fell behind (a long flush or batch): no burst
                    due = now
                if app.should_stop or not pacer.due(now, measure_lag(), pipeline.health.messages):
                    continue
                pipeline.catching_up = pacer.behind  # live figures first (interval_records)
                # Even with no queue to publish: health counters and agent states move on.
                try:
                    await on_snapshots(pipeline.snapshots(int(time.time() * 1000)), pipeline)
                except Exception:  # a sink's bug must not stop publishing for good
                    log.exception("publishing figures failed; trying again at the next flush")
                pacer.spent(time.monotonic() - now)

    app.ccpulse_pipeline = pipeline  # type: ignore[attr-defined]
    return app, pipeline


class ChangelogWrites:
    """The state record batches sent to the changelog (and the repartition stage's re-keyed
    messages), and the first one the broker refused.

    Offsets may be committed only for events whose state records are durable: once a batch
    has failed, `failure()` says so for good, the consumer commits nothing more and stops the
    worker (streams/faust_parts.py), and a restart replays from the last commit.
    """

    def __init__(self) -> None:
        self._failure: BaseException | None = None

    def track(self, sent: asyncio.Future[Any]) -> None:
        sent.add_done_callback(self._done)

    def _done(self, sent: asyncio.Future[Any]) -> None:
        if sent.cancelled():
            error: BaseException | None = RuntimeError("changelog batch cancelled")
        else:
            error = sent.exception()
        if error is not None:
            log.error("records the next commit depends on were not written (state changelog or "
                      "repartition topic): %s", error)
            if self._failure is None:
                self._failure = error

    def failure(self) -> BaseException | None:
        """The first refused batch's error, or None while every batch was written."""
        return self._failure


async def send_records(
    producer: Any,
    topic: str,
    writes: list[tuple[int, bytes, bytes | None]],
    track: Callable[[asyncio.Future[Any]], None],
) -> None:
    """Queue records on Faust's Kafka client in whole per-partition batches, in order.

    One `Topic.send` per record costs about as much as consuming an event; appending to a
    record batch costs a few microseconds. The returned batches are delivered by the client's
    sender; `producer.flush()` (which Faust awaits before every commit) waits for them, and
    `track` is given each batch's delivery future.
    """
    client = producer._producer  # the aiokafka producer Faust started
    if client is None:
        raise RuntimeError("the Kafka producer is not running")
    now_ms = int(time.time() * 1000)
    batches: dict[int, Any] = {}
    for partition, key, value in writes:
        batch = batches.get(partition)
        if batch is None:
            batch = batches[partition] = client.create_batch()
        if batch.append(timestamp=now_ms, key=key, value=value) is None:  # full
            track(await client.send_batch(batch, topic, partition=partition))
            batch = batches[partition] = client.create_batch()
            batch.append(timestamp=now_ms, key=key, value=value)  # an empty batch takes one
    for partition, batch in batches.items():
        if batch.record_count():
            batch.close()
            track(await client.send_batch(batch, topic, partition=partition))


async def ensure_topics(settings: Settings) -> None:
    """Create the input and dead-letter topics when missing (same code on Kafka and Tansu)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    bootstrap = ",".join(u.split("://", 1)[-1] for u in settings.kafka.broker.split(";"))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options(settings.kafka))
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        kafka = settings.kafka
        # With the repartition stage, the engines read its topic: that one's partition count
        # must match the state's; the input topic's may be anything.
        engines_topic = repartition_topic(kafka.app_id) if kafka.repartition else None
        wanted = [
            NewTopic(name, kafka.partitions, kafka.replication_factor)
            for name in (kafka.contacts_topic, kafka.deadletter_topic, engines_topic)
            if name is not None and name not in existing
        ]
        if wanted:
            await admin.create_topics(wanted)
            await asyncio.sleep(0.5)
        name = engines_topic or kafka.contacts_topic
        if name in existing:
            found = await _partition_count(admin, name)
            if found is not None and found != settings.kafka.partitions:
                raise SystemExit(
                    f"topic {name!r} has {found} partitions but kafka.partitions is "
                    f"{settings.kafka.partitions}: the state changelog must match the input "
                    "topic (docs/partitioning.md); set kafka.partitions to the topic's count"
                )
    finally:
        await admin.close()


async def _partition_count(admin: Any, topic: str) -> int | None:
    """Partitions of an existing topic, or None when the broker does not say."""
    try:
        described = await admin.describe_topics([topic])
    except Exception:  # a broker without DescribeTopics: nothing to check against
        return None
    for entry in described:
        if entry.get("topic") == topic and entry.get("partitions"):
            return len(entry["partitions"])
    return None
