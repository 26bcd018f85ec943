"""The bulk lane hands a fetch's records of the input topic to the pipeline per partition, and
marks their offsets for commit only once the handler has returned and no rebalance overtook it."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from ccpulse.streams.bulk_lane import BulkLane, bulk_batches

INPUT = "contacts"
P0, P1, OTHER = TP(INPUT, 0), TP(INPUT, 1), TP("elsewhere", 0)


def records(tp: TP, *offsets: int) -> list[Any]:
    return [SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=o) for o in offsets]


class FaustSide:
    """What the lane relies on in Faust's consumer."""

    def __init__(self) -> None:
        self.app = SimpleNamespace(consumer_generation_id=7)
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._n_acked = 0
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._buffered_partitions: set[TP] = set()
        self.revoked: list[set[TP]] = []
        self.waited = False

    def _new_offset(self, tp: TP) -> int | None:
        return None

    async def wait_empty(self) -> None:
        self.waited = True

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self.revoked.append(revoked)


class Lane(BulkLane, FaustSide):
    pass


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[TP, list[int]]] = []

    async def __call__(self, batches: Sequence[tuple[TP, Sequence[Any]]]) -> None:
        self.seen.extend((tp, [r.offset for r in recs]) for tp, recs in batches)


def test_a_fetch_is_split_into_the_input_topics_active_partitions_and_the_rest() -> None:
    fetched = {P0: records(P0, 1, 2), P1: records(P1, 5), OTHER: records(OTHER, 9)}
    fetched[TP(INPUT, 2)] = []
    handler = Recorder()
    route = {INPUT: handler}
    bulk, rest = bulk_batches(fetched, route, active={P0, OTHER}, buffered=set())
    assert [(tp, [r.offset for r in recs]) for tp, recs in bulk[handler]] == [(P0, [1, 2])]
    assert list(rest) == [OTHER]
    everything, _ = bulk_batches(fetched, route, active=None, buffered=set())
    assert [tp for tp, _ in everything[handler]] == [P0, P1]


def test_each_bulk_topic_goes_to_its_own_handler() -> None:
    first, second = Recorder(), Recorder()
    fetched = {P0: records(P0, 1), OTHER: records(OTHER, 2)}
    bulk, rest = bulk_batches(fetched, {INPUT: first, OTHER.topic: second}, None, set())
    assert [tp for tp, _ in bulk[first]] == [P0] and [tp for tp, _ in bulk[second]] == [OTHER]
    assert rest == {}


def test_offsets_are_marked_after_the_handler_returns_and_committed_past_the_last_record() -> None:
    lane, handler = Lane(), Recorder()
    handed = asyncio.run(lane.bulk_deliver(handler, [(P0, records(P0, 3, 4, 5))], 7))
    assert handed == 3 and handler.seen == [(P0, [3, 4, 5])]
    assert lane._new_offset(P0) == 6  # the next offset to read, as Kafka commits it
    assert P0 in lane._acked  # so Faust's commit looks at the partition
    assert lane._read_offset[P0] == 5 and lane._n_acked == 3
    assert lane._new_offset(P1) is None  # untouched partitions: Faust's own answer


def test_records_before_the_read_position_are_not_handed_over_again() -> None:
    lane, handler = Lane(), Recorder()
    lane._read_offset[P0] = 4
    fetch = [(P0, records(P0, 2, 3, 4, 5)), (P1, records(P1, 0))]
    asyncio.run(lane.bulk_deliver(handler, fetch, 7))
    assert handler.seen == [(P0, [4, 5]), (P1, [0])]
    lane2, handler2 = Lane(), Recorder()
    lane2._read_offset[P0] = 10
    assert asyncio.run(lane2.bulk_deliver(handler2, [(P0, records(P0, 2, 3))], 7)) == 0
    assert handler2.seen == [] and lane2._new_offset(P0) is None


def test_a_batch_overtaken_by_a_revocation_marks_no_offset() -> None:
    lane = Lane()

    async def revoked_meanwhile(batches: Sequence[tuple[TP, Sequence[Any]]]) -> None:
        await lane.on_partitions_revoked({P0})

    assert asyncio.run(lane.bulk_deliver(revoked_meanwhile, [(P0, records(P0, 1))], 7)) == 0
    assert lane._new_offset(P0) is None and lane._n_acked == 0
    assert lane.revoked == [{P0}]  # Faust's own revocation still runs


def test_a_batch_of_an_older_group_generation_marks_no_offset() -> None:
    lane, handler = Lane(), Recorder()
    assert asyncio.run(lane.bulk_deliver(handler, [(P0, records(P0, 1))], 6)) == 0
    assert handler.seen == [(P0, [1])] and lane._new_offset(P0) is None


def test_a_revocation_forgets_the_revoked_partitions_marks() -> None:
    lane, handler = Lane(), Recorder()
    asyncio.run(lane.bulk_deliver(handler, [(P0, records(P0, 1)), (P1, records(P1, 8))], 7))
    asyncio.run(lane.on_partitions_revoked({P0}))
    assert lane._new_offset(P0) is None and lane._new_offset(P1) == 9


def test_waiting_for_the_streams_waits_for_the_batch_in_progress() -> None:
    async def scenario() -> list[str]:
        lane, order = Lane(), []
        release = asyncio.Event()

        async def slow(batches: Sequence[tuple[TP, Sequence[Any]]]) -> None:
            order.append("batch started")
            await release.wait()
            order.append("batch done")

        batch = asyncio.ensure_future(lane.bulk_deliver(slow, [(P0, records(P0, 1))], 7))
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(lane.wait_empty())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        release.set()
        await waiting
        order.append("waited")
        assert lane.waited  # and then Faust's own wait
        await batch
        return order

    assert asyncio.run(scenario()) == ["batch started", "batch done", "waited"]


def test_a_failing_handler_marks_nothing_and_leaves_the_lane_idle() -> None:
    lane = Lane()

    async def failing(batches: Sequence[tuple[TP, Sequence[Any]]]) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):  # the fetch loop sees the handler's error
        asyncio.run(lane.bulk_deliver(failing, [(P0, records(P0, 1))], 7))
    assert lane._new_offset(P0) is None
    asyncio.run(lane.wait_empty())  # does not hang
