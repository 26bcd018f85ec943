"""The flush pacer: live figures every tick while the worker keeps up, sparse writes while it
catches up on a backlog (redis.catch_up_* settings)."""

from __future__ import annotations

import itertools

import pytest

from ccpulse.streams.app import FlushPacer


def pacer() -> FlushPacer:
    return FlushPacer(lag_messages=500, backlog_seconds=2.0, catch_up_seconds=5.0)


def test_every_tick_publishes_while_the_worker_keeps_up() -> None:
    """800 messages a second go through; a few hundred waiting is under 2 s of work."""
    p = pacer()
    assert [p.due(t * 0.5, lag=600, processed=t * 400) for t in range(10)] == [True] * 10


def test_a_small_lag_never_slows_publishing_however_slow_the_rate() -> None:
    p = pacer()
    assert [p.due(t * 0.5, lag=500, processed=0) for t in range(10)] == [True] * 10


def test_a_backlog_spaces_flushes_by_the_catch_up_interval() -> None:
    """190,000 messages waiting at 6,000 a second: half a minute of work."""
    p = pacer()
    ticks = [t * 0.5 for t in range(24)]  # 0.0 .. 11.5 s
    published = [t for t in ticks if p.due(t, lag=190_000 - int(t * 6000), processed=int(t * 6000))]
    assert published == [0.0, 5.0, 10.0]


def test_the_pacer_says_whether_its_last_tick_found_the_worker_catching_up() -> None:
    p = pacer()
    assert not p.behind  # before any tick
    p.due(0.0, lag=190_000, processed=0)
    assert p.behind
    p.due(0.5, lag=100_000, processed=3000)  # not due (spaced), still behind
    assert p.behind
    p.due(1.0, lag=400, processed=6000)
    assert not p.behind


def test_backlog_is_judged_against_the_rate_of_the_last_tick() -> None:
    """2,000 messages of 100 events at 230 messages a second is a backlog; the same 2,000
    messages at 6,000 a second are a third of a second of work."""
    slow, fast = pacer(), pacer()
    assert slow.due(0.0, lag=2000, processed=0)
    assert not slow.due(0.5, lag=1900, processed=115)
    assert fast.due(0.0, lag=2000, processed=0)
    assert fast.due(0.5, lag=2000, processed=3000)


def test_publishing_resumes_at_the_first_tick_after_catching_up() -> None:
    p = pacer()
    assert p.due(0.0, lag=10_000, processed=0)
    assert not p.due(0.5, lag=5_000, processed=100)
    assert not p.due(1.0, lag=501, processed=200)
    assert p.due(1.5, lag=500, processed=300)  # caught up: no waiting for the catch-up interval
    assert p.due(2.0, lag=0, processed=400)


def test_while_catching_up_slow_flushes_take_at_most_a_fifth_of_the_time() -> None:
    """Flushes of 2 s (thousands of queues) while catching up: one every 10 s, not every 5 s;
    back to every 5 s once they are quick again."""
    p = pacer()
    ticks = [t * 0.5 for t in range(60)]  # 0.0 .. 29.5 s
    published = []
    for t in ticks:
        if p.due(t, lag=190_000 - int(t * 6000), processed=int(t * 6000)):
            published.append(t)
            p.spent(2.0 if t < 15 else 0.1)
    assert published == [0.0, 10.0, 20.0, 25.0]


def test_the_share_of_time_for_flushing_is_a_setting() -> None:
    from ccpulse.config import RedisSettings, load_settings

    assert load_settings(env={"CCPULSE_REDIS_CATCH_UP_FLUSH_SHARE": "0.5"}).redis == RedisSettings(
        catch_up_flush_share=0.5
    )
    assert load_settings(env={"CCPULSE_REDIS_FLUSH_SHARE": "0.3"}).redis.flush_share == 0.3
    for name in ("catch_up_flush_share", "flush_share"):
        for wrong in ("0", "1.5"):
            with pytest.raises(ValueError, match=f"{name} must be > 0 and <= 1"):
                load_settings(env={f"CCPULSE_REDIS_{name.upper()}": wrong})


def test_while_keeping_up_slow_flushes_take_at_most_half_the_time() -> None:
    """Flushes of 0.8 s every 0.5-s tick (thousands of changing queues) would leave no time for
    the events: one every 1.6 s or so instead; every tick again once they are quick."""
    p = pacer()
    published = []
    for t in [t * 0.5 for t in range(24)]:  # 0.0 .. 11.5 s, a few hundred messages waiting
        if p.due(t, lag=300, processed=int(t * 1000)):
            published.append(t)
            p.spent(0.8 if t < 6 else 0.1)
    assert published == [0.0, 2.0, 4.0, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 10.5,
                         11.0, 11.5]  # fmt: skip
    assert all(b - a >= 1.6 for a, b in itertools.pairwise(published[:4]))


def test_with_nothing_waiting_every_tick_publishes_however_long_flushes_take() -> None:
    """A caught-up worker with a day of intervals still to write has nothing else to do."""
    p = pacer()
    for t in [t * 0.5 for t in range(10)]:
        assert p.due(t, lag=0, processed=1000)
        p.spent(0.8)
