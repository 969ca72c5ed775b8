"""ECMAScript Number::toString (ECMA-262, section 6.1.6.1.20), as KES wrote numbers."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kes.js.number import number_to_string


# Each case is one branch of the algorithm's step 6-12 (k digits, exponent n).
@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0"), (-0.0, "0"),  # step 2: +0 and -0 are "0"
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"),
    (1.0, "1"), (100.0, "100"), (-5.0, "-5"),  # k <= n <= 21: digits then zeros
    (1e20, "100000000000000000000"),
    (1.2345678901234568e20, "123456789012345680000"),
    (1e21, "1e+21"),  # n > 21: exponent form
    (1.5, "1.5"), (123.456, "123.456"), (0.1 + 0.2, "0.30000000000000004"),  # 0 < n <= 21
    (0.000001, "0.000001"), (1e-5, "0.00001"), (0.25, "0.25"),  # -6 < n <= 0
    (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (123e-20, "1.23e-18"),  # n <= -6
    (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
    (2.0**60, "1152921504606847000"),
])
def test_number_to_string_follows_ecmascript(value: float, text: str) -> None:
    assert number_to_string(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (-7, "-7"), (2**53, "9007199254740992"),
    (2**60, "1152921504606847000"),  # a double holds it: JavaScript's text
    (10**21, "1e+21"),
    (2**60 + 1, "1152921504606846977"),  # a double does not: the exact digits (kes)
    (12345678901234567891, "12345678901234567891"),
    (2**2000, str(2**2000)),
])
def test_integers_a_double_holds_read_as_javascript_others_keep_their_digits(
        value: int, text: str) -> None:
    assert number_to_string(value) == text


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(TypeError):
        number_to_string(True)


_JS_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?(?:e[+-][1-9][0-9]*)?")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_text_reads_back_as_the_same_double_in_shortest_digits(value: float) -> None:
    text = number_to_string(value)
    assert float(text) == value
    assert _JS_NUMBER.fullmatch(text)
    digits = re.sub(r"e.*|[-.]", "", text).strip("0")
    assert len(digits) == len(re.sub(r"e.*|[-.]", "", repr(abs(value))).strip("0"))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_exponent_form_exactly_outside_1e_minus_6_to_1e21(value: float) -> None:
    assert ("e" in number_to_string(value)) == (value != 0 and not 1e-6 <= abs(value) < 1e21)


@given(st.integers())
def test_integers_read_back_as_javascript_would(value: int) -> None:
    text = number_to_string(value)
    if value.bit_length() <= 1024 and float(value) == value:
        assert float(text) == value
    else:
        assert int(text) == value
