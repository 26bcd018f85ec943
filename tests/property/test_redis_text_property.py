"""Property: a float's text in Redis is `repr(round(value, 6) + 0.0)` (the definition in
`redis_fields.text`), whichever way `text` renders it: any float, near the edges of its plain
notation range, halfway cases and negative zero included."""

from __future__ import annotations

import math

from hypothesis import example, given
from hypothesis import strategies as st

from ccpulse.sinks.redis_fields import text

EDGES = [1e-4, 9.9995e-5, 0.00015, 1e9, 999_999_999.9999996, 999_999_999.999999, 0.5e-6,
         2.5e-6, 1234.5678905, 0.1 + 0.2, 86_399.9999995, 1e16, 1e-7]  # fmt: skip


def definition(value: float) -> str:
    return repr(round(value, 6) + 0.0)


@given(st.floats(allow_nan=True, allow_infinity=True))
@example(-0.0)
@example(0.0)
def test_any_float_has_the_defined_text(value: float) -> None:
    assert text(value) == definition(value)


@given(
    st.sampled_from(EDGES),
    st.integers(-4, 4),
    st.sampled_from([1, -1]),
)
def test_floats_at_the_range_edges_have_the_defined_text(edge: float, ulps: int, sign: int) -> None:
    value = edge
    for _ in range(abs(ulps)):
        value = math.nextafter(value, math.inf if ulps > 0 else -math.inf)
    assert text(sign * value) == definition(sign * value)


@given(st.integers(-(10**15), 10**15), st.integers(0, 7))
def test_decimal_figures_have_the_defined_text(units: int, places: int) -> None:
    value = units / 10**places  # seconds to the millisecond, ratios, halfway cases at 7 places
    assert text(value) == definition(value)
