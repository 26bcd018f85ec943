"""Exactly-once by design: a worker that dies at any point of its state writes, restores the
state table from the changelog prefix that reached the broker, and re-consumes from its last
committed offset ends with the same figures as a worker that never died."""

from __future__ import annotations

import random

import orjson
import pytest

from ccpulse.streams.kpi import (
    Attribution,
    EngineSettings,
    PolicyBook,
    QueuePolicy,
    queue_snapshot,
    statekeys,
)
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline, TableWrite

T0 = 1_773_100_800_000  # 2026-03-10T00:00:00Z


def _history(rng: random.Random, contacts: int) -> list[dict[str, object]]:
    """Contacts over three queues, shuffled a little, with duplicates, in wire shape."""
    events: list[dict[str, object]] = []
    for n in range(contacts):
        queue = rng.choice(["sales", "support", "billing"])
        channel = rng.choice(["voice", "chat"])
        entry = T0 + rng.randrange(0, 4 * 3_600_000)
        base = {"queue": queue, "channel": channel, "contact_id": f"c{n}"}
        events.append({**base, "event_id": f"o{n}", "type": "contact.offered", "ts": entry})
        wait = rng.randrange(0, 120_000)
        kind = rng.choice(["answered", "answered", "abandoned", "dequeued", None])
        if kind == "answered":
            events.append({**base, "event_id": f"a{n}", "type": "contact.answered",
                           "ts": entry + wait, "agent_id": "a1"})  # fmt: skip
            events.append({**base, "event_id": f"d{n}", "type": "contact.completed",
                           "ts": entry + wait + 200_000, "agent_id": "a1",
                           "talk_seconds": 150, "wrap_seconds": 50})  # fmt: skip
        elif kind == "abandoned":
            events.append({**base, "event_id": f"x{n}", "type": "contact.abandoned",
                           "ts": entry + wait})  # fmt: skip
        elif kind == "dequeued":
            events.append({**base, "event_id": f"q{n}", "type": "contact.dequeued",
                           "ts": entry + wait, "reason": "timeout"})  # fmt: skip
    events.sort(key=lambda e: int(e["ts"]) + rng.randrange(-30_000, 30_000))  # type: ignore[call-overload]
    events += rng.sample(events, len(events) // 10)  # re-sent duplicates
    return events


def _messages(events: list[dict[str, object]], rng: random.Random) -> list[Message]:
    """Keyed messages on 2 partitions, some single events and some batches of one queue."""
    by_queue: dict[str, list[dict[str, object]]] = {}
    for e in events:
        by_queue.setdefault(str(e["queue"]), []).append(e)
    offsets = [0, 0]
    out = []
    for queue, evs in sorted(by_queue.items()):
        partition = 0 if queue == "sales" else 1
        i = 0
        while i < len(evs):
            size = rng.choice([1, 1, 5, 20])
            chunk = evs[i : i + size]
            i += size
            value = orjson.dumps(chunk if size > 1 else chunk[0])
            out.append(
                Message("cc", partition, offsets[partition], f"default/{queue}".encode(), value)
            )
            offsets[partition] += 1
    rng.shuffle(out)
    out.sort(key=lambda m: (m.partition, m.offset))  # per-partition order is what Kafka keeps
    interleaved = sorted(out, key=lambda m: (m.offset, m.partition))
    return interleaved


def _figures(pipeline: Pipeline, now_ms: int) -> dict[tuple[str, str], object]:
    out = {}
    for engine in pipeline.engines.values():
        for key, qs in engine.queues.items():
            out[key] = queue_snapshot(qs, now_ms, (15, 60), 86_400_000)
    return out


def _ignore(_: DeadLetter) -> None:
    pass


def _processed(seed: int) -> tuple[Pipeline, dict[bytes, bytes | None]]:
    """A pipeline that read 200 contacts' messages, and the state table it wrote."""
    rng = random.Random(seed)
    pipeline = Pipeline(PolicyBook())
    for msg in _messages(_history(rng, 200), rng):
        pipeline.process(msg, _ignore)
    return pipeline, {key: value for _, key, value in pipeline.table_writes()}


def _restored(
    table: dict[bytes, bytes | None], book: PolicyBook | None = None, clock_ms: int | None = None
) -> Pipeline:
    """A new pipeline restored from the state table, as a restarted worker's (one that has read
    the wall clock first with `clock_ms`, as one given a partition back in a rebalance has)."""
    restored = Pipeline(book or PolicyBook())
    if clock_ms is not None:
        restored.read_clock(clock_ms)
    for partition in (0, 1):
        restored.restore(partition, [(k, v) for k, v in table.items() if v is not None])
    return restored


def _last_event_ms(pipeline: Pipeline) -> int:
    return max(qs.watermark_ms for e in pipeline.engines.values() for qs in e.queues.values())


def _run_with_crashes(
    messages: list[Message], book: PolicyBook, rng: random.Random, crashes: int
) -> Pipeline:
    """Process with `crashes` deaths, each after a random message (one of them among the last
    tenth): a random prefix of unflushed writes survives each one."""
    changelog: list[TableWrite] = []
    committed = {0: 0, 1: 0}  # next offset to read, per partition
    pipeline = Pipeline(book)
    last_tenth = rng.randrange(len(messages) * 9 // 10, len(messages))
    crash_points = sorted({*rng.sample(range(1, len(messages)), crashes - 1), last_tenth})
    while True:
        pending: list[TableWrite] = []
        consumed = 0
        stop = crash_points.pop(0) if crash_points else None
        for cursor, msg in enumerate(messages):
            if msg.offset < committed[msg.partition]:
                continue
            pipeline.process(msg, _ignore)
            consumed += 1
            if consumed % 7 == 0:  # end of a take_events batch: its table writes are sent
                pending.extend(pipeline.table_writes())
            if consumed % 21 == 0:  # a commit of acked (whole-batch) events: flush, then offsets
                changelog.extend(pending)
                pending = []
                committed[msg.partition] = msg.offset + 1
                for other in committed:  # the commit covers every partition's acked events
                    committed[other] = max(committed[other], _next_offset(messages, other, msg))
            if stop is not None and cursor >= stop:
                break
        else:
            pending.extend(pipeline.table_writes())
            changelog.extend(pending)
            return pipeline
        # Death: only a prefix of the writes not yet flushed reached the broker.
        changelog.extend(pending[: rng.randrange(0, len(pending) + 1)])
        pipeline = _restored({key: value for _, key, value in changelog}, book)


def _next_offset(messages: list[Message], partition: int, upto: Message) -> int:
    """Offsets of `partition` consumed before `upto` in the interleaved order."""
    best = 0
    for m in messages:
        if m is upto:
            break
        if m.partition == partition:
            best = m.offset + 1
    return best


#: The default lateness (a day) holds every contact of the rolling horizon: minute buckets are
#: rebuilt from the contacts on restore. Half an hour holds fewer: they are written.
LATENESS = {"minutes rebuilt": 86_400, "minutes written": 1_800}


@pytest.mark.parametrize("minutes", sorted(LATENESS))
@pytest.mark.parametrize("attribution", [Attribution.OUTCOME, Attribution.ARRIVAL])
@pytest.mark.parametrize("seed", range(6))
def test_crashes_at_random_points_give_the_figures_of_a_clean_run(
    seed: int, attribution: Attribution, minutes: str
) -> None:
    rng = random.Random(seed)
    settings = EngineSettings(lateness_seconds=LATENESS[minutes])
    book = PolicyBook(default=QueuePolicy(attribution=attribution), engine=settings)
    messages = _messages(_history(rng, 300), rng)
    clean = Pipeline(book)
    for msg in messages:
        clean.process(msg, _ignore)
    writes = clean.table_writes()
    assert any(b"\x1fm\x1f" in key for _, key, _ in writes) is (minutes == "minutes written")
    crashed = _run_with_crashes(messages, book, rng, crashes=12)
    # Later, and right after the last events, when the rolling windows hold most of them.
    last = _last_event_ms(clean)
    for now in (T0 + 5 * 3_600_000, last + 20_000):
        assert _figures(crashed, now) == _figures(clean, now)
    rolling = _figures(clean, last + 20_000)[("default", "sales")]["channels"]["all"]["rolling"]
    assert rolling["60m"]["offered"] > 10


def test_minute_records_of_an_earlier_version_are_rebuilt_and_deleted() -> None:
    """A changelog written when minute buckets went to it too: on restore they are read no
    more, rebuilt from the contacts with the same figures, and deleted with the next writes."""
    pipeline, table = _processed(seed=7)
    for engine in pipeline.engines.values():  # the minute records as that version wrote them
        for (tenant, queue), qs in engine.queues.items():
            for bkey, bucket in qs.buckets.items():
                if bkey[0] == "m":
                    key = statekeys.bucket_key(0 if queue == "sales" else 1, tenant, queue, bkey)
                    table[key] = orjson.dumps(bucket.to_record())
    minute_keys = {key for key in table if b"\x1fm\x1f" in key}
    assert len(minute_keys) > 50
    restored = _restored(table)
    last = _last_event_ms(pipeline)
    assert _figures(restored, last + 20_000) == _figures(pipeline, last + 20_000)
    assert {key for _, key, value in restored.table_writes() if value is None} == minute_keys
    assert restored.table_writes() == []


def test_restoring_from_the_table_reproduces_every_figure() -> None:
    pipeline, table = _processed(seed=99)
    restored = _restored(table)
    now = T0 + 5 * 3_600_000
    assert _figures(restored, now) == _figures(pipeline, now)
    assert len(_figures(restored, now)) == 3


def test_maxima_of_contacts_dropped_past_lateness_are_written_and_restored() -> None:
    """A contact dropped from state past the lateness leaves its maxima (the longest wait) in
    its buckets' floors; those buckets reach the changelog and come back on restore."""
    pipeline = Pipeline(PolicyBook())
    base = {"queue": "sales", "channel": "voice"}
    day = 86_400_000
    events = [
        {**base, "contact_id": "c1", "event_id": "o1", "type": "contact.offered", "ts": T0},
        {**base, "contact_id": "c1", "event_id": "a1", "type": "contact.answered",
         "ts": T0 + 95_000, "agent_id": "a1"},
        {**base, "contact_id": "c2", "event_id": "o2", "type": "contact.offered",
         "ts": T0 + day + 3_600_000},
    ]
    for offset, e in enumerate(events):
        pipeline.process(Message("cc", 0, offset, b"default/sales", orjson.dumps(e)), _ignore)
    table = {key: value for _, key, value in pipeline.table_writes()}
    assert pipeline.engines[0].collect_garbage() > 0  # c1, a day behind c2, is dropped
    table.update((key, value) for _, key, value in pipeline.table_writes())
    qs = pipeline.engines[0].queues[("default", "sales")]
    assert "c1" not in qs.contacts
    floors = {bkey: b.floor for bkey, b in qs.buckets.items() if b.floor}
    assert floors  # the 95-s wait lives on in the running total
    restored = _restored(table)
    held = restored.engines[0].queues[("default", "sales")].buckets
    assert {bkey: held[bkey].floor for bkey in floors} == floors
    now = T0 + day + 3_700_000
    assert _figures(restored, now) == _figures(pipeline, now)


def test_misrouted_and_invalid_input_is_dead_lettered_with_its_reason() -> None:
    pipeline = Pipeline(PolicyBook())
    letters: list[DeadLetter] = []
    good = {"event_id": "e1", "type": "contact.offered", "ts": T0, "queue": "sales",
            "contact_id": "c1"}  # fmt: skip
    wrong_queue = {**good, "event_id": "e2", "queue": "support"}
    bad = {**good, "event_id": "e3", "type": "contact.teleported"}
    value = orjson.dumps([good, wrong_queue, bad])
    pipeline.process(Message("cc", 0, 0, b"default/sales", value), letters.append)
    assert sorted(d.reason for d in letters) == ["invalid", "misrouted"]
    invalid = next(d for d in letters if d.reason == "invalid")
    assert "e3" in invalid.error and "type" in invalid.error
    assert orjson.loads(invalid.raw)["event_id"] == "e3"
    record = orjson.loads(invalid.to_bytes())
    assert record["offset"] == 0 and record["key"] == "default/sales"
    qs = pipeline.engines[0].queues[("default", "sales")]
    assert list(qs.contacts) == ["c1"]
