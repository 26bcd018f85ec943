"""State-table keys: a family record's key is its partition's family prefix and its parts."""

from __future__ import annotations

import pytest

from ccpulse.streams.kpi import statekeys


@pytest.mark.parametrize(
    "record_key", [("acme", "q"), ("acme", "b", "agent", "a 1", "1700000000000"), ("t", "e", "")]
)
def test_a_family_key_is_the_family_prefix_and_the_record_key(record_key: tuple[str, ...]) -> None:
    key = statekeys.family_key(3, "agents", record_key)
    assert (statekeys.family_prefix(3, "agents") + statekeys.SEP.join(record_key)).encode() == key
    assert statekeys.parse(key) == (3, "f", ["agents", *record_key])
