"""The repartition stage (`[kafka] repartition = true`): for producers that cannot key their
messages "tenant/queue" (CTI connectors, CDC, `kafka-console-producer`, other teams' services).

The worker reads the input topic whatever its keys (and its partition count), a fetch at a time
through the consumer's bulk lane (streams/bulk_lane.py), splits each message into one message
per queue key, in the elements' order, and writes them keyed to the internal topic
`<app_id>-contacts-repartition`, which the engines read instead of the input topic. It is
at-least-once: input offsets are committed only after the re-keyed messages are acknowledged
(the consumer flushes the producer before each commit, and a send the broker refused stops
commits for good, as a failed state write does), so a crash can send a message twice, and the
engines count its events as duplicates by `event_id` (docs/exactly-once.md). Cost and
trade-offs: docs/partitioning.md#the-repartition-stage. Off, nothing here runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import faust
import orjson

from ccpulse.schemas.events import AGENTS_KEY, SURVEYS_KEY, TICKETS_KEY
from ccpulse.streams.bulk_lane import BulkHandler
from ccpulse.streams.faust_parts import RawSchema

_FAMILY_KEYS = {"agent": AGENTS_KEY, "ticket": TICKETS_KEY, "survey": SURVEYS_KEY}


def repartition_topic(app_id: str) -> str:
    """The internal topic the engines read when the stage is on."""
    return f"{app_id}-contacts-repartition"


def element_key(element: Any) -> bytes | None:
    """The contract key of one element ("tenant/queue", "tenant/#agents" ...), read the way the
    decoder reads it (CloudEvents: `data` wins, the type's last two parts); None when it names
    no queue: the engines then dead-letter it with the reason."""
    if not isinstance(element, dict):
        return None
    fields = element
    etype = element.get("type")
    if "specversion" in element:
        data = element.get("data")
        fields = {**element, **data} if isinstance(data, dict) else element
        if isinstance(etype, str):
            etype = ".".join(etype.rsplit(".", 2)[-2:])
    family = etype.partition(".")[0] if isinstance(etype, str) else ""
    tail = _FAMILY_KEYS.get(family) or fields.get("queue")
    tenant = fields.get("tenant", "default")
    if not isinstance(tail, str) or not tail or not isinstance(tenant, str):
        return None
    return f"{tenant}/{tail}".encode()


def regroup(value: bytes) -> list[tuple[bytes | None, bytes]]:
    """One input message as (key, value) messages, one per queue key, elements in their order.

    A message that is not JSON goes on unkeyed and unchanged (the engines dead-letter it as
    `invalid`, text included); so does a lone element without a key."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return [(None, value)]
    if not isinstance(doc, list):
        return [(element_key(doc), value)]
    groups: dict[bytes | None, list[Any]] = {}
    for element in doc:
        groups.setdefault(element_key(element), []).append(element)
    return [(key, orjson.dumps(elements)) for key, elements in groups.items()]


def add_repartition_stage(
    app: faust.App,
    input_topic: str,
    output_topic: str,
    track: Callable[[asyncio.Future[Any]], None],
) -> BulkHandler:
    """Subscribe the input topic and return the bulk handler that re-keys its records into
    `output_topic`; `track` is given each send's delivery future (the commit guard's)."""
    raw = app.topic(input_topic, schema=RawSchema(key_type=bytes, value_type=bytes))

    @app.agent(raw, name="ccpulse-repartition")
    async def subscribe(stream: faust.StreamT[bytes]) -> None:
        """Subscribes the input topic; its records reach `rekey` through the bulk lane."""
        async for _value in stream:
            raise RuntimeError(
                "a record of the input topic was delivered per message: it is read by the bulk "
                "lane (streams/bulk_lane.py), which this worker's consumer lacks"
            )

    async def rekey(batches: Sequence[tuple[Any, Sequence[Any]]]) -> None:
        client = app.producer._producer  # type: ignore[attr-defined]  # Faust's aiokafka client
        if client is None:
            raise RuntimeError("the Kafka producer is not running")
        send = client.send
        for _tp, records in batches:
            for record in records:
                if record.value is None:
                    continue
                for key, part in regroup(record.value):
                    # Straight into the client's batches: Faust flushes the client before every
                    # commit, so the input offset is committed only after this was acknowledged.
                    track(await send(output_topic, part, key=key))

    return rekey
