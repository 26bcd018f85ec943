"""The Redis client the sink writes with: redis-py's asyncio client for its connections, and
transactions packed by ccpulse and read in bulk (`Transaction`).

A flush of thousands of hashes sends hundreds of thousands of field names and values. redis-py
passes each through its encoder in Python before hiredis packs the command (~1.5 µs an
argument, a third of a large flush), so a transaction is packed here: a hash's HSET from the RESP
text of each field name and value (`bulk_text`; a layout's field names kept once, `bulks`; each
value's RESP text from the sink's caches, redis_fields.py `bulk`), a few string joins per hash
against ~0.1 µs an argument in hiredis; every other command by hiredis, which packs text as
redis-py's encoder would (UTF-8).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

#: Layouts whose field names `bulks` keeps packed, and names it keeps the bulk string of, at
#: most: a hash's layouts are few, but an agent's hash has a field per pause reason it met, so
#: agents' layouts vary. A name's bulk string is shared by every layout it is in.
MAX_PACKED_LAYOUTS: Final = 10_000
MAX_PACKED_NAMES: Final = 100_000
_PACKED_LAYOUTS: dict[tuple[str, ...], tuple[str, ...]] = {}
_PACKED_NAMES: dict[str, str] = {}


def bulk_text(text: str) -> str:
    """`text` as a RESP bulk string: `$<length in UTF-8 bytes>\\r\\n<text>\\r\\n`."""
    size = len(text) if text.isascii() else len(text.encode())
    return f"${size}\r\n{text}\r\n"


def bulks(names: tuple[str, ...]) -> tuple[str, ...]:
    """`bulk_text` of each name, kept per tuple of names (a hash layout, shared by every hash
    of its shape)."""
    found = _PACKED_LAYOUTS.get(names)
    if found is None:
        found = tuple(map(_name_bulk, names))
        if len(_PACKED_LAYOUTS) >= MAX_PACKED_LAYOUTS:
            _PACKED_LAYOUTS.clear()
        _PACKED_LAYOUTS[names] = found
    return found


def _name_bulk(name: str) -> str:
    found = _PACKED_NAMES.get(name)
    if found is None:
        found = bulk_text(name)
        if len(_PACKED_NAMES) >= MAX_PACKED_NAMES:
            _PACKED_NAMES.clear()
        _PACKED_NAMES[name] = found
    return found


class PackedCommand(bytes):
    """A command already in RESP, queued as it will be sent (`Transaction.hset_bulks`)."""

    __slots__ = ()

    @property
    def args(self) -> tuple[str, ...]:
        """The command's arguments, read back (for tests and logs: not on the write path)."""
        out: list[str] = []
        data, at = bytes(self), self.index(b"\r\n") + 2
        while at < len(data):
            end = data.index(b"\r\n", at)
            size = int(data[at + 1 : end])
            out.append(data[end + 2 : end + 2 + size].decode())
            at = end + 4 + size
        return tuple(out)


def connect(url: str) -> aioredis.Redis:
    """A client for `url`: its connections carry the transactions (`Transaction.execute`)."""
    connect_url: Callable[[str], aioredis.Redis] = aioredis.from_url
    return connect_url(url)


class Transaction:
    """The commands of one MULTI/EXEC, queued as Redis takes them, then sent and read at once.

    redis-py's pipeline reads a transaction's replies one by one through several layers of
    Python, a timeout context each (~15 µs a reply); a flush of 2,000 queues queues ~6,000
    commands. `execute` reads them straight from the connection's parser, under one timeout
    for the whole, and gives EXEC's replies as Redis sends them (EXPIRE: 1 or 0, SET NX: OK
    or None). The first error Redis answers is raised, as redis-py would.
    """

    __slots__ = ("command_stack",)

    def __init__(self) -> None:
        self.command_stack: list[tuple[Any, ...] | PackedCommand] = []

    def set(self, name: str, value: bytes, *, nx: bool) -> None:
        self.command_stack.append(("SET", name, value, "NX") if nx else ("SET", name, value))

    def get(self, name: str) -> None:
        self.command_stack.append(("GET", name))

    def incr(self, name: str) -> None:
        self.command_stack.append(("INCR", name))

    def delete(self, *names: str) -> None:
        self.command_stack.append(("DEL", *names))

    def hset_bulks(self, name: str, field_bulks: Sequence[str], value_bulks: Iterable[str]) -> None:
        """HSET of field i = value i, both given as RESP bulk strings (`bulk_text`; field
        names from `bulks`), packed into one command now: as many values as fields."""
        parts: list[str] = [""] * (2 * len(field_bulks))
        parts[0::2] = field_bulks
        parts[1::2] = value_bulks  # a count other than the fields' is refused (ValueError)
        head = f"*{len(parts) + 2}\r\n$4\r\nHSET\r\n{bulk_text(name)}"
        self.command_stack.append(PackedCommand((head + "".join(parts)).encode()))

    def hdel(self, name: str, *keys: str) -> None:
        self.command_stack.append(("HDEL", name, *keys))

    def expire(self, name: str, time: int) -> None:
        self.command_stack.append(("EXPIRE", name, time))

    def zadd(self, name: str, mapping: Mapping[str, int]) -> None:
        pairs = (x for member, score in mapping.items() for x in (score, member))
        self.command_stack.append(("ZADD", name, *pairs))

    def zremrangebyscore(self, name: str, min: str, max: int) -> None:
        self.command_stack.append(("ZREMRANGEBYSCORE", name, min, max))

    def publish(self, channel: str, message: bytes) -> None:
        self.command_stack.append(("PUBLISH", channel, message))

    async def execute(self, client: aioredis.Redis) -> list[Any]:
        """Send MULTI, the commands and EXEC in one write; EXEC's replies, one per command."""
        pool: Any = client.connection_pool
        connection = await pool.get_connection()
        try:
            pack = hiredis.pack_command
            packed = b"".join(
                command if isinstance(command, PackedCommand) else pack(command)
                for command in (("MULTI",), *self.command_stack, ("EXEC",))
            )
            await connection.send_packed_command(packed, check_health=False)
            parser = getattr(connection, "_parser", None)
            # hiredis's parser answers a reply already read from the socket without a timeout
            # context or any await; without hiredis, the connection reads each reply itself.
            bulk = hasattr(getattr(parser, "_reader", None), "gets")
            read = parser.read_response if bulk else connection.read_response  # type: ignore[union-attr]
            async with asyncio.timeout(connection.socket_timeout):
                errors = [r for r in [await read() for _ in range(len(self.command_stack) + 1)]
                          if isinstance(r, ResponseError)]  # fmt: skip
                replies = await read()
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)
        if isinstance(replies, ResponseError):  # EXECABORT: a command was refused when queued
            raise errors[0] if errors else replies
        if errors:
            raise errors[0]
        if not isinstance(replies, list) or len(replies) != len(self.command_stack):
            raise ResponseError(f"EXEC answered {replies!r} to {len(self.command_stack)} commands")
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies
