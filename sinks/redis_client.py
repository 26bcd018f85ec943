"""The Redis client the sink writes with: redis-py's asyncio client, with HSET packed in one
call to hiredis.

A flush of thousands of hashes sends hundreds of thousands of field names and values. redis-py
passes each through its encoder in Python before hiredis packs the command (~1.5 µs an
argument, a third of a large flush). The sink's HSET arguments are all text, which hiredis packs
by itself exactly as the encoder would (UTF-8), so those go to it directly; every other command
takes redis-py's own path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hiredis
import redis.asyncio as aioredis


class _HsetPacker:
    """A connection's command packer, with HSET packed by hiredis alone."""

    __slots__ = ("_packer",)

    def __init__(self, packer: Any) -> None:
        self._packer = packer

    def pack(self, *args: Any) -> list[bytes]:
        if args and args[0] == "HSET":
            try:
                return [hiredis.pack_command(args)]
            except TypeError:  # not text: the encoder says what is wrong, as without this
                pass
        packed: list[bytes] = self._packer.pack(*args)
        return packed


def connect(url: str) -> aioredis.Redis:
    """A client for `url` whose connections pack HSET with hiredis (when hiredis packs)."""
    connect_url: Callable[[str], aioredis.Redis] = aioredis.from_url
    client = connect_url(url)
    pool: Any = client.connection_pool
    make = pool.make_connection

    def make_connection() -> Any:
        connection = make()
        packer = getattr(connection, "_command_packer", None)
        if packer is not None and hasattr(packer, "pack"):  # hiredis is there
            connection._command_packer = _HsetPacker(packer)
        return connection

    pool.make_connection = make_connection
    return client
