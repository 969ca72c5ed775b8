"""ECMAScript Number::toString(10) (ECMA-262, section 6.1.6.1.20): how JavaScript writes
a number as text, in ``String(n)``, in template output and inside ``JSON.stringify``.

The digits are the shortest that read back as the same double, which is what
Python's ``repr`` finds too; only the layout differs (JavaScript writes ``1e-7``,
``0.00001``, ``1`` and ``123456789012345680000`` where Python writes ``1e-07``,
``1e-05``, ``1.0`` and ``1.2345678901234568e+20``).

kes keeps one difference on purpose: an integer that a double cannot hold exactly
(JSON such as ``12345678901234567891``, which JavaScript reads as a nearby double)
keeps all its digits instead of turning into another number.
"""

from __future__ import annotations

import math

# Python refuses to write integers longer than this many digits (sys.int_info).
_MAX_INT_DIGITS = 4300


def number_to_string(value: int | float) -> str:
    """``value`` as JavaScript writes it; an int a double cannot hold keeps its digits."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        if -(2**53) <= value <= 2**53:  # every such integer is a double, below 1e21
            return str(value)
        if value.bit_length() <= 1024 and float(value) == value:
            return _double_to_string(float(value))
        if value.bit_length() > _MAX_INT_DIGITS * 3:  # about log2(10) bits a digit
            raise ValueError("integer too large to write")
        return str(value)
    return _double_to_string(value)


def _double_to_string(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"  # -0 too
    if value < 0:
        return "-" + _double_to_string(-value)
    digits, n = _shortest_digits(value)
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    exponent = n - 1
    sign = "+" if exponent >= 0 else "-"
    mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{mantissa}e{sign}{abs(exponent)}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest round-tripping decimal digits of a positive finite ``value``, and
    ``n`` such that the value is 0.digits times 10**n (ECMA-262's k digits and n)."""
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    written = whole + fraction
    significant = written.lstrip("0")
    leading_zeros = len(written) - len(significant)
    n = len(whole) + int(exponent or 0) - leading_zeros
    return significant.rstrip("0"), n
