"""A queue's contacts, the idle and settled ones kept compact.

A day of lateness means a day of contacts held (see `Engine.collect_garbage`), and almost all
of them are over: nothing will touch them again unless a late or repeated event comes. As
objects (`Contact`, its packed events, their ids and times) one takes about 800 bytes; frozen
into one bytes object it takes about 300. `ContactStore` keeps the contacts seen lately as
objects (`hot`) and the others frozen (`cold`); reading a frozen one thaws it back, equal to
what was frozen, so which side a contact is on changes no figure.

A frozen contact is its latest event time (8 bytes) and then its changelog record
(`Contact.to_record`, JSON): exact for the strings, ints, None and bools of its packed events.
A contact whose visit is over is frozen as its record is written (`state_writes`), which then
costs no encoding of its own; an idle one by `Housekeeping.freeze_idle`. msgspec encodes a
record in about half the instructions `marshal` takes for the same tuple.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any, Final

import msgspec

from ccpulse.streams.kpi.contact import Contact

#: The frozen contact's latest event time (ms), ahead of its record, so that garbage
#: collection reads it without thawing.
_LAST_TS: Final = struct.Struct("<q")
#: Typed here: where msgspec is not installed (the compiler's build environment) its encoder
#: and decoder would read as Any.
_encode: Final[Callable[[Any], bytes]] = msgspec.json.Encoder().encode
_decode: Final[Callable[[memoryview], Any]] = msgspec.json.Decoder().decode


def freeze(contact: Contact, record: bytes | None = None) -> bytes:
    """The contact as bytes: its latest event time, then its changelog record (`record`, when
    the caller has just encoded it)."""
    if record is None:
        record = _encode(contact.to_record())
    return _LAST_TS.pack(contact.last_ts_ms) + record


def thaw(blob: bytes, qkey: tuple[str, str], contact_id: str) -> Contact:
    """The contact `freeze` made `blob` of, keyed with the queue's shared (tenant, queue)."""
    return Contact.from_record(_decode(memoryview(blob)[_LAST_TS.size :]), (qkey, contact_id))


def frozen_last_ts_ms(blob: bytes) -> int:
    """The latest event time of a frozen contact."""
    last: int = _LAST_TS.unpack_from(blob)[0]
    return last


class ContactStore:
    """contact_id -> `Contact` of one queue, as a mapping; idle contacts frozen (`freeze_idle`),
    and settled ones as their records are written (`state_writes.drain_writes`).

    `get` and `[]` thaw a frozen contact and keep it as an object again (it is being touched);
    `values` and `items` thaw for the caller only, leaving the store as it was.
    """

    __slots__ = ("cold", "hot", "qkey")

    def __init__(self, qkey: tuple[str, str]) -> None:
        self.qkey = qkey
        self.hot: dict[str, Contact] = {}
        self.cold: dict[str, bytes] = {}

    def get(self, contact_id: str) -> Contact | None:
        found = self.hot.get(contact_id)
        if found is None and self.cold:
            blob = self.cold.pop(contact_id, None)
            if blob is not None:
                found = self.hot[contact_id] = thaw(blob, self.qkey, contact_id)
        return found

    def __getitem__(self, contact_id: str) -> Contact:
        found = self.get(contact_id)
        if found is None:
            raise KeyError(contact_id)
        return found

    def peek(self, contact_id: str) -> Contact:
        """The contact, a frozen one thawed for the caller only (it stays frozen)."""
        found = self.hot.get(contact_id)
        if found is None:
            found = thaw(self.cold[contact_id], self.qkey, contact_id)
        return found

    def __setitem__(self, contact_id: str, contact: Contact) -> None:
        if self.cold:
            self.cold.pop(contact_id, None)
        self.hot[contact_id] = contact

    def __delitem__(self, contact_id: str) -> None:
        if self.hot.pop(contact_id, None) is None:
            del self.cold[contact_id]

    def __contains__(self, contact_id: object) -> bool:
        return contact_id in self.hot or contact_id in self.cold

    def __len__(self) -> int:
        return len(self.hot) + len(self.cold)

    def __iter__(self) -> Iterator[str]:
        yield from list(self.hot)
        yield from list(self.cold)

    def items(self) -> Iterator[tuple[str, Contact]]:
        """Every (contact_id, contact), the frozen ones thawed for the caller only."""
        yield from list(self.hot.items())
        qkey = self.qkey
        for cid, blob in list(self.cold.items()):
            yield cid, thaw(blob, qkey, cid)

    def values(self) -> Iterator[Contact]:
        for _, contact in self.items():
            yield contact

    def freeze(self, contact_id: str, record: bytes | None = None) -> None:
        """Keep a held contact frozen until it is touched again (`record`: its changelog
        record, when just encoded)."""
        self.cold[contact_id] = freeze(self.hot.pop(contact_id), record)

    def last_ts_ms(self) -> Iterator[tuple[str, int]]:
        """(contact_id, latest event time) of every contact, frozen ones not thawed."""
        for cid, contact in list(self.hot.items()):
            yield cid, contact.last_ts_ms
        for cid, blob in list(self.cold.items()):
            yield cid, frozen_last_ts_ms(blob)
