"""An agent bucket's tally reads and writes by field name as the dict of named ints it replaces
did: a field at zero is absent, reasons keep their own fields, records round-trip."""

from __future__ import annotations

import random

import pytest

from ccpulse.streams.kpi.agent_tally import FIELDS, AgentTally

NAMES = [*FIELDS, "paused_ms:lunch", "paused_ms:training", "paused_ms:unspecified"]


def test_fields_add_up_and_a_field_back_at_zero_is_absent() -> None:
    tally = AgentTally()
    assert not tally.any() and tally.as_dict() == {} and tally.items() == []
    tally.add("on_contact_ms", 90_000)
    tally.add("logged_in_ms", 120_000)
    tally.add("paused_ms:lunch", 30_000)
    tally.add("handled", 1)
    assert tally.get("on_contact_ms") == 90_000 and tally.get("wrap_up_ms") == 0
    assert tally.get("paused_ms:lunch") == 30_000 and tally.get("paused_ms:other") == 0
    # `FIELDS` order, then the reasons.
    assert tally.items() == [("logged_in_ms", 120_000), ("on_contact_ms", 90_000),
                             ("handled", 1), ("paused_ms:lunch", 30_000)]  # fmt: skip
    tally.add("paused_ms:lunch", -30_000)
    tally.add("handled", -1)
    assert tally.as_dict() == {"logged_in_ms": 120_000, "on_contact_ms": 90_000}
    tally.add("logged_in_ms", -120_000)
    tally.add("on_contact_ms", -90_000)
    assert not tally.any() and tally == AgentTally()


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(KeyError, match="no agent figure 'talk_ms'"):
        AgentTally().add("talk_ms", 1)


def test_it_matches_a_dict_of_named_ints_under_random_additions() -> None:
    rng = random.Random(7)
    for _ in range(200):
        tally, plain = AgentTally(), {}
        for _ in range(rng.randrange(1, 30)):
            field, amount = rng.choice(NAMES), rng.randrange(-5, 6)
            tally.add(field, amount)
            value = plain.get(field, 0) + amount
            if value:
                plain[field] = value
            else:
                plain.pop(field, None)
        assert tally.as_dict() == plain
        assert all(tally.get(field) == plain.get(field, 0) for field in NAMES)
        assert tally.any() == bool(plain)
        assert AgentTally.of(tally.as_dict()) == tally  # a record read back
