"""JSON.parse and JSON.stringify (ECMA-262, section 25.5), as KES's values went through them.

``parse`` reads strict JSON (RFC 8259: no NaN, no comments) into Python values that
behave as JavaScript's: objects list their keys in JavaScript order, a repeated key
keeps its first place and its last value, strings may hold unpaired surrogates
(``"\\ud800"``), a number beyond the double range is Infinity. Integers keep their
exact digits (see kes.js.number). Nesting deeper than MAX_DEPTH is refused before
parsing, so no input can exhaust the stack.

``stringify`` writes compact JSON as JSON.stringify does: numbers by Number::toString
(non-finite ones as ``null``), keys in JavaScript order, unpaired surrogates as
``\\udXXX`` escapes, other text as is.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from kes.js.number import number_to_string
from kes.js.objects import MAX_DEPTH, DepthError, iso_string, ordered, ordered_items
from kes.js.text import has_surrogates, paired

# A string token, or one bracket: enough to measure nesting without parsing.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# A double holds at most 309 integer digits (about 1.8e308).
_MAX_DOUBLE_DIGITS = 309


class JsonError(ValueError):
    """Text JSON.parse would refuse ("is not valid JSON", "nests more than ...") or a
    value JSON.stringify cannot write; the message never quotes the text."""


class JsObject(dict[str, Any]):
    """A parsed JSON object, which remembers a key it met more than once."""

    repeated: str | None = None


def parse(text: str) -> Any:
    """``JSON.parse(text)``; JsonError if it is not JSON or nests too deeply."""
    _check_depth(text)
    try:
        return json.loads(text, object_pairs_hook=_object, parse_int=_integer,
                          parse_constant=_not_json)
    except RecursionError:  # not reached after _check_depth; kept as a guard
        raise JsonError(str(DepthError())) from None
    except ValueError:
        raise JsonError("is not valid JSON") from None


def _check_depth(text: str) -> None:
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for token in _STRUCTURE.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise JsonError(str(DepthError()))
        elif bracket in ("]", "}"):
            depth -= 1


def _object(pairs: list[tuple[str, Any]]) -> JsObject:
    result = JsObject(ordered(pairs))
    if len(result) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                result.repeated = key
                break
            seen.add(key)
    return result


def _integer(digits: str) -> int | float:
    """An integer as JavaScript holds it: exact (see kes.js.number) unless beyond the
    double range, where JavaScript has Infinity."""
    if len(digits.lstrip("-")) > _MAX_DOUBLE_DIGITS:
        return float("-inf") if digits.startswith("-") else float("inf")
    value = int(digits)
    try:
        float(value)
    except OverflowError:
        return float("-inf") if value < 0 else float("inf")
    return value


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def stringify(value: Any, indent: int | None = None) -> str:
    """``JSON.stringify(value, null, indent)``; JsonError for what JSON cannot hold."""
    parts: list[str] = []
    _write(value, parts, 0, "\n" if indent else "", " " * (indent or 0))
    return "".join(parts)


def quote(text: str) -> str:
    """A JSON string literal as JSON.stringify writes it (well-formed since ES2019)."""
    if not has_surrogates(text):
        return json.dumps(text, ensure_ascii=False)
    quoted = json.dumps(paired(text), ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _write(value: Any, parts: list[str], depth: int, newline: str, step: str) -> None:
    if isinstance(value, str):
        parts.append(quote(value))
    elif value is None:
        parts.append("null")
    elif isinstance(value, bool):
        parts.append("true" if value else "false")
    elif isinstance(value, int | float):
        finite = not isinstance(value, float) or math.isfinite(value)
        parts.append(number_to_string(value) if finite else "null")
    elif isinstance(value, Mapping | list | tuple):
        if depth >= MAX_DEPTH:
            raise JsonError(str(DepthError()))
        _write_container(value, parts, depth, newline, step)
    elif isinstance(value, datetime.date):
        parts.append(quote(iso_string(value)))
    else:
        raise JsonError(f"cannot write a {type(value).__name__}")


def _write_container(value: Mapping[Any, Any] | list[Any] | tuple[Any, ...],
                     parts: list[str], depth: int, newline: str, step: str) -> None:
    is_object = isinstance(value, Mapping)
    items: list[Any] = ordered_items(value) if isinstance(value, Mapping) else list(value)
    opening, closing = ("{", "}") if is_object else ("[", "]")
    if not items:
        parts.append(opening + closing)
        return
    inner = newline + step if newline else ""
    parts.append(opening)
    for index, item in enumerate(items):
        parts.append(("," if index else "") + inner)
        if is_object:
            key, item = item
            parts.append(quote(key) + (": " if newline else ":"))
        _write(item, parts, depth + 1, inner, step)
    parts.append(newline + closing)
