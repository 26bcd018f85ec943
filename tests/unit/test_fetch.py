"""A fetch is applied message by message and its state written every N events within it and at
its end (`kafka.state_write_every_events`): the writes of a big fetch stay bounded, and what the
changelog holds in the end is what one write would have held."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from ccpulse.streams.fetch import apply_fetch
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.pipeline import DeadLetter, Message, Pipeline

T0 = 1_773_133_200_000  # 2026-03-10T09:00:00Z


def contact_events(contacts: int, queues: int) -> list[dict[str, Any]]:
    """Each contact offered, then answered after a wait: two events, in time order."""
    events = []
    for c in range(contacts):
        queue, at = f"q{c % queues:02d}", T0 + c * 7_000
        events.append({"event_id": f"o{c}", "type": "contact.offered", "ts": at,
                       "queue": queue, "contact_id": f"c{c}"})  # fmt: skip
        events.append({"event_id": f"a{c}", "type": "contact.answered", "ts": at + 4_000 + c,
                       "queue": queue, "contact_id": f"c{c}"})  # fmt: skip
    return sorted(events, key=lambda e: e["ts"])


def messages(events: list[dict[str, Any]], per_message: int) -> list[Message]:
    """One partition's messages, each of up to `per_message` events of one queue."""
    out: list[Message] = []
    pending: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        run = pending.setdefault(event["queue"], [])
        run.append(event)
        if len(run) == per_message:
            out.append(Message("cc", 0, len(out), f"default/{event['queue']}".encode(),
                               orjson.dumps(run if per_message > 1 else run[0])))  # fmt: skip
            del pending[event["queue"]]
    for queue, run in pending.items():
        out.append(Message("cc", 0, len(out), f"default/{queue}".encode(), orjson.dumps(run)))
    return out


class Changelog:
    """The fake `write_state`: drains the pipeline's writes into a compacted changelog, and
    notes the events applied so far at each write."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.records: dict[bytes, bytes | None] = {}
        self.written_at: list[int] = []
        self.sizes: list[int] = []

    async def write_state(self) -> None:
        writes = self.pipeline.table_writes()
        self.written_at.append(self.pipeline.health.messages_events)
        self.sizes.append(len(writes))
        for _partition, key, value in writes:
            self.records[key] = value


def run_fetch(msgs: list[Message], write_every: int) -> tuple[Changelog, list[DeadLetter]]:
    pipeline = Pipeline(PolicyBook())
    changelog = Changelog(pipeline)
    letters: list[DeadLetter] = []
    asyncio.run(apply_fetch(pipeline, [("cc-0", msgs)], letters.append, changelog.write_state,
                            write_every))  # fmt: skip
    return changelog, letters


def test_a_fetch_is_written_every_n_events_and_at_its_end() -> None:
    msgs = messages(contact_events(500, queues=20), per_message=1)
    changelog, letters = run_fetch(msgs, write_every=300)
    assert not letters
    assert changelog.written_at == [300, 600, 900, 1000]
    assert all(changelog.sizes)  # every write had records to send


def test_the_bound_counts_events_not_messages_and_a_write_follows_the_message() -> None:
    msgs = messages(contact_events(500, queues=4), per_message=50)
    changelog, _ = run_fetch(msgs, write_every=120)
    assert changelog.written_at == [150, 300, 450, 600, 750, 900, 1000]


def test_writes_within_a_fetch_leave_the_changelog_one_write_leaves() -> None:
    """Compacted by key, the bounded writes hold exactly the records of a single write: the
    same buckets, contacts and queue metas, with the same positions and tallies."""
    msgs = messages(contact_events(500, queues=20), per_message=1)
    bounded, _ = run_fetch(msgs, write_every=97)
    whole, _ = run_fetch(msgs, write_every=10**9)
    assert len(bounded.written_at) == 11 and whole.written_at == [1000]
    assert bounded.records == whole.records
    assert sum(bounded.sizes) > sum(whole.sizes)  # a queue's records went out in several writes


def test_a_message_that_cannot_be_processed_is_dead_lettered_and_the_fetch_goes_on() -> None:
    msgs = messages(contact_events(50, queues=5), per_message=1)
    pipeline = Pipeline(PolicyBook())
    process = pipeline.process

    def failing(msg: Message, dead_letter: Any) -> None:
        if msg.offset == 7:
            raise RuntimeError("boom")
        process(msg, dead_letter)

    pipeline.process = failing  # type: ignore[method-assign]
    changelog = Changelog(pipeline)
    letters: list[DeadLetter] = []
    asyncio.run(apply_fetch(pipeline, [("cc-0", msgs)], letters.append, changelog.write_state, 40))
    assert [(d.reason, d.source.offset) for d in letters] == [("invalid", 7)]
    assert "RuntimeError: boom" in letters[0].error
    assert pipeline.health.invalid == 1
    assert sum(pipeline.health.verdicts.values()) == 99  # every other event applied


def test_a_crash_between_or_within_the_writes_of_a_fetch_replays_to_the_same_changelog() -> None:
    """The worker dies after some of a fetch's writes (or part of one) reached the changelog;
    its offsets were not marked, so a new owner restores what was written and applies the
    whole fetch again. The changelog then holds what it holds without the crash."""
    msgs = messages(contact_events(300, queues=12), per_message=1)
    whole, _ = run_fetch(msgs, write_every=10**9)
    writes: list[list[tuple[int, bytes, bytes | None]]] = []
    pipeline = Pipeline(PolicyBook())

    async def keep() -> None:
        writes.append(pipeline.table_writes())

    asyncio.run(apply_fetch(pipeline, [("cc-0", msgs)], lambda _: None, keep, 130))
    assert len(writes) == 5
    for done, part in [(1, 0), (2, 0), (2, 37), (3, 1), (4, 0), (4, 200)]:
        survived = [w for batch in writes[:done] for w in batch] + writes[done][:part]
        compacted: dict[bytes, bytes | None] = {}
        for _partition, key, value in survived:
            compacted[key] = value
        owner = Pipeline(PolicyBook())
        owner.restore(0, [(k, v) for k, v in compacted.items() if v is not None])
        changelog = Changelog(owner)
        changelog.records = dict(compacted)
        asyncio.run(apply_fetch(owner, [("cc-0", msgs)], lambda _: None,
                                changelog.write_state, 130))  # fmt: skip
        assert changelog.records == whole.records, (done, part)
