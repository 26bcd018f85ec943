"""Property: a float's text in Redis is `repr(round(value, 6) + 0.0)` (the definition in
`redis_fields.text`), whichever way `text` renders it: any float, near the edges of its plain
notation range, halfway cases and negative zero included."""

from __future__ import annotations

import math

import hiredis
from hypothesis import example, given
from hypothesis import strategies as st

from ccpulse.sinks import redis_fields
from ccpulse.sinks.redis_client import bulk_text
from ccpulse.sinks.redis_fields import bulk, text

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


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=20))
def test_a_float_rendered_again_has_the_defined_text(values: list[float]) -> None:
    """The second time, the text comes from the ones `text` keeps: still the definition."""
    for value in values + values[::-1]:
        assert text(value) == definition(value)


def test_zero_has_one_text_whichever_sign_is_rendered_first() -> None:
    redis_fields._FLOAT_TEXTS.clear()
    assert [text(-0.0), text(0.0)] == ["0.0", "0.0"]
    redis_fields._FLOAT_TEXTS.clear()
    assert [text(0.0), text(-0.0)] == ["0.0", "0.0"]


def test_the_texts_kept_are_bounded() -> None:
    values = [i / 7 for i in range(redis_fields.MAX_FLOAT_TEXTS * 2 + 5)]
    assert [text(v) for v in values] == [definition(v) for v in values]
    assert 0 < len(redis_fields._FLOAT_TEXTS) <= redis_fields.MAX_FLOAT_TEXTS
    assert [bulk(v) for v in values] == [bulk_text(definition(v)) for v in values]
    assert 0 < len(redis_fields._FLOAT_BULKS) <= redis_fields.MAX_FLOAT_TEXTS


@given(
    st.lists(
        st.none()
        | st.integers()
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text()
        | st.sampled_from([0, 1, 1023, 1024, -1, 0.0, -0.0, 1.0, "", "Zürich", "東京"]),
        max_size=30,
    )
)
def test_a_value_s_bulk_string_is_the_resp_of_its_text(values: list[object]) -> None:
    """A hash written in full sends each value's text, whichever cache `bulk` finds it in:
    `$<UTF-8 length>\\r\\n<text>\\r\\n`, as hiredis packs it (twice: kept values too)."""
    for value in values + values[::-1]:
        assert bulk(value) == bulk_text(text(value))
        packed = hiredis.pack_command(("X", text(value)))
        assert packed == b"*2\r\n$1\r\nX\r\n" + bulk(value).encode()
