"""The sink's Redis connections pack HSET with hiredis alone: the same bytes as redis-py's own
packing for text, and redis-py's path (and its errors) for everything else."""

from __future__ import annotations

import pytest
from redis.exceptions import DataError

from ccpulse.sinks.redis_client import _HsetPacker, connect


def _connections() -> tuple[object, object]:
    """A connection of the sink's client and one of a plain redis-py client (never opened)."""
    import redis.asyncio as aioredis

    ours = connect("redis://127.0.0.1:1/0").connection_pool.make_connection()
    plain = aioredis.from_url("redis://127.0.0.1:1/0").connection_pool.make_connection()
    return ours, plain


def test_hset_of_text_packs_to_the_bytes_redis_py_sends() -> None:
    ours, plain = _connections()
    assert isinstance(ours._command_packer, _HsetPacker)  # type: ignore[attr-defined]
    args = (
        "HSET", "cc:queue:acme:sales", "today.all.offered", "12", "as_of", "2026-03-10T09:20",
        "time_zone", "Europe/Zürich", "today.all.service_level", "0.833333", "empty", "",
    )  # fmt: skip
    assert ours.pack_command(*args) == plain.pack_command(*args)  # type: ignore[attr-defined]
    assert b"Z\xc3\xbcrich" in b"".join(ours.pack_command(*args))  # type: ignore[attr-defined]


def test_other_commands_and_other_values_take_redis_py_s_path() -> None:
    ours, plain = _connections()
    for args in (("EXPIRE", "k", 90), ("ZADD", "idx", 3, "m"), ("HSET", "k", "f", 1.5),
                 ("HSET", "k", "f", b"raw"), ("PUBLISH", "cc:updates", b"x")):  # fmt: skip
        assert ours.pack_command(*args) == plain.pack_command(*args), args  # type: ignore[attr-defined]
    with pytest.raises(DataError):  # None is no Redis value, with or without the packer
        ours.pack_command("HSET", "k", "f", None)  # type: ignore[attr-defined]


def test_hset_fields_queues_each_field_followed_by_its_text() -> None:
    from ccpulse.sinks.redis_client import Transaction

    fields, texts = ("today.all.offered", "as_of", "empty"), ["12", "2026-03-10T09:20", ""]
    transaction = Transaction()
    transaction.hset_fields("cc:queue:acme:sales", fields, texts)
    assert transaction.command_stack == [
        ("HSET", "cc:queue:acme:sales", "today.all.offered", "12", "as_of", "2026-03-10T09:20",
         "empty", ""),
    ]  # fmt: skip
    with pytest.raises(ValueError):  # a text missing: refused, never a shifted pair
        Transaction().hset_fields("k", fields, texts[:2])
