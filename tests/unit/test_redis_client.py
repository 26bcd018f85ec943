"""The sink's transactions pack a hash's HSET from RESP bulk strings, to the bytes hiredis packs
from the same texts."""

from __future__ import annotations

import hiredis
import pytest

from ccpulse.sinks.redis_client import PackedCommand, Transaction, bulk_text, bulks


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
