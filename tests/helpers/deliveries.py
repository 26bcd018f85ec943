"""What reaches the engines in the property tests: contract JSON decoded, re-sends, delivery
orders (shuffled or late), and the documented lateness and duplicate rules replayed over them.

The replay is part of the tests' second computation: written from docs/agent-kpis.md and
docs/survey-kpis.md, sharing no code with `ccpulse.streams.kpi`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from hypothesis import event
from hypothesis import strategies as st

from ccpulse.schemas import decode_message

from .clock import DAY, FAR_FUTURE, SEC

T = TypeVar("T")
E = TypeVar("E")


def decode_all(messages: Iterable[bytes]) -> list[Any]:
    """The events of contract messages (single events or arrays), none refused."""
    events: list[Any] = []
    for message in messages:
        result = decode_message(message, now_ms=FAR_FUTURE)
        assert result.rejections == [], [r.describe() for r in result.rejections]
        events.extend(result.events)
    return events


def decode_one(message: bytes, kind: type[E]) -> E:
    """The one event of a contract message, of class `kind`."""
    (decoded,) = decode_all([message])
    assert isinstance(decoded, kind)
    return decoded


def resends(rnd: random.Random, items: Sequence[T]) -> list[T]:
    """Copies of random items, up to a third of them and one more, to send again."""
    return [rnd.choice(items) for _ in range(rnd.randint(0, len(items) // 3 + 1))]


def arrival_order(items: Sequence[T], ts_of: Callable[[T], int], delays: Sequence[int]) -> list[T]:
    """The items in the order they arrive when each is delivered `delay` after its ts (ties in
    the order given)."""
    order = sorted(range(len(items)), key=lambda i: (ts_of(items[i]) + delays[i], i))
    return [items[i] for i in order]


def delivery(
    draw: st.DrawFn,
    rnd: random.Random,
    sent: Sequence[T],
    ts_of: Callable[[T], int],
    max_delay_ms: int,
    latenesses: Sequence[int],
    stream_of: Callable[[T], object] = lambda _: None,
) -> tuple[list[T], int]:
    """A delivery order of `sent`, and the lateness setting to run it with.

    Either fully shuffled, with a lateness of 30 days (nothing is too late), or each item
    delivered up to `max_delay_ms` after its ts, with one of `latenesses` or, half of those
    times, exactly how far some item is behind the watermark of its stream (`stream_of`: its
    tenant, say) on arrival, which still counts.
    """
    if not draw(st.booleans()):
        shuffled = list(sent)
        rnd.shuffle(shuffled)
        return shuffled, 30 * DAY
    order = arrival_order(sent, ts_of, [rnd.randrange(max_delay_ms) for _ in sent])
    watermarks: dict[object, int] = {}
    lags = []
    for item in order:
        stream, ts = stream_of(item), ts_of(item)
        watermarks[stream] = max(watermarks.get(stream, 0), ts)
        lag = watermarks[stream] - ts
        if lag and lag % SEC == 0:  # the setting is in whole seconds
            lags.append(lag)
    lateness_ms = draw(st.sampled_from(latenesses))
    if draw(st.booleans()) and lags:
        lateness_ms = draw(st.sampled_from(lags))
    return order, lateness_ms


def apply_all(engine: Any, events: Iterable[Any], gc_every: int | None) -> None:
    """Apply the events in order; with `gc_every`, the engine's garbage collection runs after
    the first event and every `gc_every` events from there."""
    for i, decoded in enumerate(events):
        engine.apply(decoded)
        if gc_every and i % gc_every == 0:
            engine.collect_garbage()


class Identified(Protocol):
    @property
    def eid(self) -> str: ...
    @property
    def ts(self) -> int: ...


K = TypeVar("K", bound=Identified)


@dataclass
class Kept(Generic[K]):
    events: list[K] = field(default_factory=list)  # the first copy of each id, within lateness
    too_late: int = 0
    duplicates: int = 0
    watermark: int | None = None  # the latest ts seen


def kept(arrivals: Iterable[K], lateness_ms: int) -> Kept[K]:
    """The documented rules over one tenant's delivery order: more than the lateness behind
    the watermark (the latest ts seen) is too late, exactly the lateness still counts; then an
    id already taken is a duplicate, whatever its content (the first copy taken counts)."""
    out: Kept[K] = Kept()
    taken: set[str] = set()
    watermark = 0
    for e in arrivals:
        if watermark - e.ts == lateness_ms:
            event("an event exactly the lateness behind")
        if watermark - e.ts > lateness_ms:
            out.too_late += 1
        elif e.eid in taken:
            out.duplicates += 1
        else:
            taken.add(e.eid)
            out.events.append(e)
        watermark = max(watermark, e.ts)
    out.watermark = watermark or None
    return out
