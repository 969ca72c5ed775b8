"""JavaScript objects as kes meets them: property keys, their order, and Dates.

A JavaScript object's keys are strings, listed (by ``Object.keys``, ``JSON.stringify``
and js-yaml alike) in the order ECMA-262 defines for ordinary objects
(OrdinaryOwnPropertyKeys, section 10.1.11.1): keys that are array indices first, in
ascending numeric order, then the other keys in the order they were created. So
``JSON.parse('{"b": 1, "10": 2, "a": 3, "2": 4}')`` lists ``2, 10, b, a``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kes.js.number import number_to_string

MAX_DEPTH = 100
"""How deeply JSON and YAML values may nest, in kes's JSON parser and both writers:
every walk over a value is then bounded, whatever a payload or template holds."""

_ARRAY_INDEX_MAX = 2**32 - 2  # ECMA-262: an array index is below 2**32 - 1
_DIGITS = re.compile(r"0|[1-9][0-9]{0,9}")


class DepthError(ValueError):
    """A value nests deeper than MAX_DEPTH."""

    def __init__(self) -> None:
        super().__init__(f"nests more than {MAX_DEPTH} levels deep")


def is_array_index(key: str) -> bool:
    """Whether ``key`` is the canonical text of an array index (``"0"``, ``"12"``;
    not ``"012"``, ``"-1"`` or ``"4294967295"``)."""
    return _DIGITS.fullmatch(key) is not None and int(key) <= _ARRAY_INDEX_MAX


def property_key(key: Any) -> str:
    """The property key JavaScript makes of ``key`` (``String(key)``)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return number_to_string(key)
    raise ValueError(f"a {type(key).__name__} cannot be an object key")


def ordered(pairs: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    """Key-value pairs as a JavaScript object holds them: keys made strings, a repeated
    key keeping its first place and its last value, array indices first."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        result[property_key(key)] = value
    indices = [key for key in result if key[:1].isdigit() and is_array_index(key)]
    if not indices:
        return result
    indices.sort(key=int)
    reordered = {key: result[key] for key in indices}
    reordered.update((key, value) for key, value in result.items() if key not in reordered)
    return reordered


def ordered_items(mapping: Mapping[Any, Any]) -> list[tuple[str, Any]]:
    return list(ordered(mapping.items()).items())


def iso_string(value: datetime.date) -> str:
    """``Date.prototype.toISOString``: UTC, milliseconds, ``Z`` (a date is its midnight,
    a datetime without a zone is UTC, as js-yaml reads YAML timestamps)."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    offset = value.utcoffset()
    if offset:
        try:
            value -= offset
        except OverflowError:
            raise ValueError("a date JavaScript cannot hold") from None
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
            f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z")
