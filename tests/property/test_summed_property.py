"""Property: `summed` folds tallies field by field (sums add, maxima take the largest, never
below zero), whatever their number and whether they carry a running total's histogram slots,
which are left out. Its two-tally path (a live snapshot's kept sums plus the current bucket)
gives what its general path gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ccpulse.streams.kpi.counters import MAX_FIELDS, SIZE, TOTAL_SIZE, summed

values = st.integers(-5, 10**12)
tallies = st.sampled_from([SIZE, TOTAL_SIZE]).flatmap(
    lambda size: st.lists(values, min_size=size, max_size=size)
)


def by_hand(parts: list[list[int]]) -> list[int]:
    out = []
    for idx in range(SIZE):
        column = [t[idx] for t in parts]
        if idx in MAX_FIELDS:
            out.append(max([0, *column]))
        else:
            out.append(sum(column))
    return out


@given(st.lists(tallies, max_size=4))
def test_summed_folds_each_field(parts: list[list[int]]) -> None:
    copies = [list(t) for t in parts]
    assert summed(parts) == by_hand(parts)
    assert parts == copies  # the tallies themselves are left as they were


@given(tallies, tallies)
def test_two_tallies_are_folded_as_any_number_are(first: list[int], second: list[int]) -> None:
    assert summed([first, second]) == summed([first, second, [0] * SIZE])
