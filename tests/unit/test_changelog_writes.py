"""The record of changelog writes: the first batch the broker refuses (or that is cancelled)
is reported for good, so that no offset is committed past state that is not durable."""

from __future__ import annotations

import asyncio

from ccpulse.streams.app import ChangelogWrites


def _settled(*outcomes: BaseException | str | None) -> BaseException | None:
    """Track one batch per outcome (None: written, an error: refused, "cancel": cancelled)."""

    async def scenario() -> BaseException | None:
        writes = ChangelogWrites()
        loop = asyncio.get_running_loop()
        for outcome in outcomes:
            sent: asyncio.Future[object] = loop.create_future()
            writes.track(sent)
            if outcome is None:
                sent.set_result(object())
            elif outcome == "cancel":
                sent.cancel()
            else:
                assert isinstance(outcome, BaseException)
                sent.set_exception(outcome)
        await asyncio.sleep(0)  # done callbacks run on the loop
        return writes.failure()

    return asyncio.run(scenario())


def test_no_failure_while_every_batch_is_written() -> None:
    assert _settled(None, None, None) is None


def test_the_first_refused_batch_is_reported_and_stays_reported() -> None:
    first, second = RuntimeError("first"), RuntimeError("second")
    assert _settled(None, first, None, second, None) is first


def test_a_cancelled_batch_counts_as_not_written() -> None:
    failure = _settled(None, "cancel")
    assert isinstance(failure, RuntimeError)
    assert "cancelled" in str(failure)
