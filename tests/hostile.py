"""Hostile input for the fuzz tests and the bench: messages no valid event is hidden in.

One generator shared by the pipeline fuzz test (tests/integration/test_fuzz.py), the report's
decoder fuzzing (tests/unit/test_hostile_input.py) and `bench/hostile_bench.py`. Every message
it makes holds no valid event, so after a run the figures must equal those of the valid events
alone; each kind names what broke (or could break) a worker once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from ccpulse.schemas import ContactEvent, decode_object

#: A valid contact event's fields, spoiled one at a time by `_spoiled`.
_BASE: dict[str, Any] = {
    "event_id": "h-1", "type": "contact.offered", "ts": 1_700_000_000_000, "tenant": "acme",
    "queue": "sales", "channel": "voice", "contact_id": "hc-1",
}  # fmt: skip
_WEIRD: tuple[Any, ...] = (
    None, True, 0, -1, 2**63, 1e308, -0.0, "", " ", "\u0000", "\ud800".encode("utf-8",
    "surrogatepass").decode("utf-8", "replace"), "x" * 300, [], {}, [1], {"a": 1}, "NaN",
)  # fmt: skip


def nested(depth: int, rng: random.Random | None = None) -> bytes:
    """`depth` levels of arrays or objects (what made orjson.dumps raise at 255)."""
    if rng is not None and rng.random() < 0.5:
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"]" * depth


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, a few levels deep."""
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice(_WEIRD)
    if kind == 1:
        return rng.randrange(-(2**40), 2**40)
    if kind == 2:
        return rng.random() * 10 ** rng.randrange(-5, 30)
    if kind == 3:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(12)))
    if kind == 4:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {str(_json_value(rng, 4))[:12]: _json_value(rng, depth + 1) for _ in range(4)}


def _spoiled(rng: random.Random) -> dict[str, Any]:
    """A contact event with one field made wrong (or an unknown type)."""
    event = dict(_BASE, event_id=f"h-{rng.randrange(10**9)}")
    name = rng.choice((*_BASE, "type", "ts"))
    value = rng.choice((*_WEIRD, float("nan"), float("inf"), "contact.bogus"))
    event[name] = value
    if isinstance(decode_object(event), ContactEvent):  # the value happened to be valid there
        event["type"] = "no.such.type"
    return event


# Each maker: rng -> (key, value). None of them yields a valid event.
def _bad_json(rng: random.Random) -> tuple[bytes | None, bytes]:
    return b"acme/sales", rng.choice((b"{", b"[1,", b"nul", b'{"a":}', b"\xff\xfe", b"", b"\x00"))


def _nan(rng: random.Random) -> tuple[bytes | None, bytes]:
    body = orjson.dumps(dict(_BASE, type="contact.answered", agent_id="a1"))
    return b"acme/sales", body.replace(b"}", b',"wait_seconds":NaN}')


def _wrong_field(rng: random.Random) -> tuple[bytes | None, bytes]:
    return b"acme/sales", orjson.dumps(_spoiled(rng), option=orjson.OPT_SERIALIZE_NUMPY)


def _random_json(rng: random.Random) -> tuple[bytes | None, bytes]:
    value = _json_value(rng)
    if isinstance(value, dict) and rng.random() < 0.5:
        value["type"] = "contact.offered"  # a known type with garbage around it
    return b"acme/sales", orjson.dumps(value)


def _deep(rng: random.Random) -> tuple[bytes | None, bytes]:
    return b"acme/sales", nested(rng.randrange(1, 2001), rng)


def _invalid_utf8(rng: random.Random) -> tuple[bytes | None, bytes]:
    body = orjson.dumps(_BASE).replace(b'"sales"', b'"sa\xc3\x28les"')
    return b"acme/sales", body


def _hostile_key(rng: random.Random) -> tuple[bytes | None, bytes]:
    key = rng.choice((None, b"", b"\xff\xfe/\x00", b"acme/" + b"q" * 5000, b"/", b"a/b/c"))
    event = dict(_BASE, event_id=f"k-{rng.randrange(10**9)}", queue="x" * 200)
    return key, orjson.dumps(event)


def _huge_string(rng: random.Random) -> tuple[bytes | None, bytes]:
    event = dict(_BASE, queue="q" * rng.choice((300, 70_000, 600_000)))
    return b"acme/sales", orjson.dumps(event)


def _bad_batch(rng: random.Random) -> tuple[bytes | None, bytes]:
    size = rng.choice((2, 50, 1000, 20_000, 100_000))
    return b"acme/sales", orjson.dumps([0] * size if rng.random() < 0.5 else [{}] * size)


#: Maker name -> relative weight: the expensive kinds rarely, so that a million stays quick.
KINDS: dict[str, tuple[Callable[[random.Random], tuple[bytes | None, bytes]], int]] = {
    "bad_json": (_bad_json, 20),
    "nan": (_nan, 10),
    "wrong_field": (_wrong_field, 40),
    "random_json": (_random_json, 20),
    "invalid_utf8": (_invalid_utf8, 5),
    "hostile_key": (_hostile_key, 5),
    "deep": (_deep, 3),
    "huge_string": (_huge_string, 1),
    "bad_batch": (_bad_batch, 1),
}


#: Weights for runs of a million: the megabyte-sized kinds about once in 5,000 messages.
BULK_WEIGHTS: dict[str, float] = {**{n: w for n, (_, w) in KINDS.items()},
                                  "huge_string": 0.02, "bad_batch": 0.02}  # fmt: skip


def hostile_messages(
    seed: int, count: int, key: bytes = b"acme/sales", weights: dict[str, float] | None = None
) -> Iterator[tuple[str, bytes | None, bytes]]:
    """`count` hostile messages as (kind, key, value), reproducible from `seed`; `key` replaces
    the usual message key (hostile keys stay hostile); `weights` overrides `KINDS`' weights."""
    rng = random.Random(seed)
    names = list(KINDS)
    chosen = weights or {n: w for n, (_, w) in KINDS.items()}
    weights_list = [chosen[n] for n in names]
    for _ in range(count):
        name = rng.choices(names, weights_list)[0]
        made_key, value = KINDS[name][0](rng)
        yield name, key if made_key == b"acme/sales" else made_key, value


def every_kind(
    seed: int = 0, key: bytes = b"acme/sales"
) -> Iterator[tuple[str, bytes | None, bytes]]:
    """One message of each kind, then deep nesting at the depths that once mattered."""
    rng = random.Random(seed)
    for name, (make, _) in KINDS.items():
        made_key, value = make(rng)
        yield name, key if made_key == b"acme/sales" else made_key, value
    for depth in (1, 254, 255, 256, 300, 1023, 1024, 1025, 2000):
        yield "deep", key, nested(depth)


def elements(value: bytes, max_bytes: int = 1_048_576) -> int:
    """Elements a message holds as the contract counts them: the items of a JSON array, else
    one (also for a message that is not JSON, or is over `max_bytes`)."""
    if len(value) > max_bytes:
        return 1
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return 1
    return len(doc) if isinstance(doc, list) else 1


def dead_letter_records(value: bytes, per_message: int = 100) -> int:
    """Dead letters a hostile message gives: one per element up to `per_message`, then one
    summary record."""
    n = elements(value)
    return min(n, per_message) + (n > per_message)
