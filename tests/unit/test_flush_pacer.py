"""The flush pacer: live figures every tick while the worker keeps up, sparse writes while it
catches up on a backlog (redis.catch_up_* settings)."""

from __future__ import annotations

from ccpulse.streams.app import FlushPacer


def test_every_tick_publishes_while_the_worker_keeps_up() -> None:
    pacer = FlushPacer(lag_messages=2000, catch_up_seconds=5.0)
    assert [pacer.due(t * 0.5, lag=2000) for t in range(10)] == [True] * 10


def test_a_backlog_spaces_flushes_by_the_catch_up_interval() -> None:
    pacer = FlushPacer(lag_messages=2000, catch_up_seconds=5.0)
    ticks = [t * 0.5 for t in range(24)]  # 0.0 .. 11.5 s
    published = [t for t in ticks if pacer.due(t, lag=2001)]
    assert published == [0.0, 5.0, 10.0]


def test_publishing_resumes_at_the_first_tick_after_catching_up() -> None:
    pacer = FlushPacer(lag_messages=100, catch_up_seconds=5.0)
    assert pacer.due(0.0, lag=10_000)
    assert not pacer.due(0.5, lag=5_000)
    assert not pacer.due(1.0, lag=101)
    assert pacer.due(1.5, lag=100)  # caught up: no waiting for the catch-up interval
    assert pacer.due(2.0, lag=0)
