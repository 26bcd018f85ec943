"""The sink's Redis connections pack HSET with hiredis alone: the same bytes as redis-py's own
packing for text, and redis-py's path (and its errors) for everything else. Its transactions
pack a hash's HSET from RESP bulk strings, to the same bytes."""

from __future__ import annotations

import hiredis
import pytest
from redis.exceptions import DataError

from ccpulse.sinks.redis_client import (
    PackedCommand,
    Transaction,
    _HsetPacker,
    bulk_text,
    bulks,
    connect,
)


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


def test_hset_bulks_packs_the_bytes_hiredis_packs() -> None:
    """A hash written from RESP bulk strings is the HSET hiredis would pack from its texts,
    UTF-8 lengths and empty values included, and reads back as its arguments."""
    fields = ("today.all.offered", "as_of", "time_zone", "queue", "empty")
    texts = ["12", "2026-03-10T09:20", "Europe/Zürich", "ventes-été-東京", ""]
    transaction = Transaction()
    transaction.hset_bulks("cc:queue:acme:ventes-été", bulks(fields), map(bulk_text, texts))
    (packed,) = transaction.command_stack
    pairs = zip(fields, texts, strict=True)
    args = ("HSET", "cc:queue:acme:ventes-été", *(x for pair in pairs for x in pair))
    assert isinstance(packed, PackedCommand)
    assert packed == hiredis.pack_command(args)
    assert packed.args == args


def test_hset_bulks_refuses_a_value_count_other_than_the_fields() -> None:
    fields = bulks(("a", "b", "c"))
    with pytest.raises(ValueError):  # a text missing: refused, never a shifted pair
        Transaction().hset_bulks("k", fields, [bulk_text("1"), bulk_text("2")])
    with pytest.raises(ValueError):
        Transaction().hset_bulks("k", fields, map(bulk_text, "1234"))


def test_a_layout_s_field_names_are_packed_once_and_shared() -> None:
    layout = ("live.all.in_queue", "live.all.longest_wait_seconds")
    assert bulks(layout) is bulks(tuple(list(layout)))
    assert bulks(layout) == (
        "$17\r\nlive.all.in_queue\r\n",
        "$29\r\nlive.all.longest_wait_seconds\r\n",
    )


def test_packed_names_are_shared_between_layouts_and_bounded() -> None:
    from ccpulse.sinks import redis_client

    one = bulks(("tenant", "today.all.offered", "today.all.paused.lunch"))
    two = bulks(("tenant", "today.all.offered", "today.all.paused.training"))
    assert one[0] is two[0] and one[1] is two[1]  # one string per name, whatever the layout
    layouts = [(f"field{i}", "tenant") for i in range(redis_client.MAX_PACKED_LAYOUTS + 5)]
    assert [bulks(layout)[0] for layout in layouts] == [bulk_text(n) for n, _ in layouts]
    assert 0 < len(redis_client._PACKED_LAYOUTS) <= redis_client.MAX_PACKED_LAYOUTS
    assert 0 < len(redis_client._PACKED_NAMES) <= redis_client.MAX_PACKED_NAMES
