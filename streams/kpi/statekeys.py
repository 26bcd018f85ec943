"""How engine records are named in the Faust state table (one table, one changelog).

Every key starts with the input partition, so a worker that is assigned a partition rebuilds
exactly that partition's engine from the recovered table. One table (not one per record kind)
keeps all of a partition's writes in one changelog partition, in the order they were made.
"""

from __future__ import annotations

from typing import Final

from ccpulse.streams.kpi.state import BucketKey

SEP: Final = "\x1f"  # ASCII unit separator: the contract allows it in no name or id


def bucket_key(partition: int, tenant: str, queue: str, bkey: BucketKey) -> bytes:
    gran, channel, start = bkey
    return SEP.join((str(partition), "b", tenant, queue, gran, channel, str(start))).encode()


def contact_key(partition: int, tenant: str, queue: str, contact_id: str) -> bytes:
    return (contact_prefix(partition, tenant, queue) + contact_id).encode()


def contact_prefix(partition: int, tenant: str, queue: str) -> str:
    """What the `contact_key` of every contact of a queue starts with (+ its contact id)."""
    return SEP.join((str(partition), "c", tenant, queue, ""))


def family_key(partition: int, family: str, record_key: tuple[str, ...]) -> bytes:
    """A record of a family engine (agents, tickets, surveys)."""
    return SEP.join((str(partition), "f", family, *record_key)).encode()


def family_prefix(partition: int, family: str) -> str:
    """What every `family_key` of a family's records in a partition starts with: the key of
    `record_key` is `(family_prefix(...) + SEP.join(record_key)).encode()`."""
    return SEP.join((str(partition), "f", family, ""))


def meta_key(partition: int, tenant: str, queue: str) -> bytes:
    return SEP.join((str(partition), "q", tenant, queue)).encode()


def fence_key(partition: int) -> bytes:
    """A marker a new owner writes before reading a changelog partition back (see app.py)."""
    return SEP.join((str(partition), "fence")).encode()


def parse(key: bytes) -> tuple[int, str, list[str]]:
    """(partition, kind, rest) of a state key."""
    partition, kind, *rest = key.decode().split(SEP)
    return int(partition), kind, rest
