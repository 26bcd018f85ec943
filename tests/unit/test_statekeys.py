"""State-table keys and records: a family record's key is its partition's family prefix and its
parts; a record is JSON in bytes of its own size."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from ccpulse.streams.kpi import statekeys
from ccpulse.streams.kpi.state_writes import record_bytes


@pytest.mark.parametrize(
    "record_key", [("acme", "q"), ("acme", "b", "agent", "a 1", "1700000000000"), ("t", "e", "")]
)
def test_a_family_key_is_the_family_prefix_and_the_record_key(record_key: tuple[str, ...]) -> None:
    key = statekeys.family_key(3, "agents", record_key)
    assert (statekeys.family_prefix(3, "agents") + statekeys.SEP.join(record_key)).encode() == key
    assert statekeys.parse(key) == (3, "f", ["agents", *record_key])


@pytest.mark.parametrize(
    "record",
    [
        [1 << 40, [0, 3, 2**62, -7], {"3": 1234}],
        [5, 1_700_000_000_000],
        ["c-1", None, True, 2.5, [[1, 2], [3, 4]]],
    ],
)
def test_a_state_record_is_json(record: list[object]) -> None:
    assert orjson.loads(record_bytes(record)) == record


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_state_records_take_their_own_size_in_memory() -> None:
    """A catch-up batch holds ~100,000 records at once: an encoder's spare output buffer
    riding along with each (orjson's keeps kilobytes) would take gigabytes."""
    record = [1_700_000_000_000 << 20, [0] * 33, None]
    before = _resident_bytes()
    held = [record_bytes(record) for _ in range(20_000)]
    grown = _resident_bytes() - before
    assert len(held[0]) < 100
    assert grown < 20_000 * 1024, f"{grown / len(held):.0f} bytes resident per record"
