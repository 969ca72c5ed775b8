"""js-yaml 3.14 ``safeDump(value)`` with its default options, which KES templates used as
``yaml.dump``: the text a YAML value becomes, byte for byte.

The rules, from js-yaml's dumper (lib/js-yaml/dumper.js at 3.14.1):
- Block style throughout, indent 2; a sequence under a key is indented under it
  (``a:\\n  - 1``); empty containers are ``{}`` and ``[]``; keys in JavaScript order.
- Scalars: ``null``, ``true``/``false``, numbers by Number::toString (a non-integer
  written without a dot before its exponent gets one: ``5.e-324``; ``-0`` is
  ``-0.0``, infinities ``.inf``/``-.inf``, NaN ``.nan``), dates as ISO strings.
- A string is written plain when it can be, in single quotes when it could read as
  another type (``'true'``, ``'1'``, ``'2001-12-14'``, ``''``) or holds characters
  plain text may not, in double quotes with escapes when it holds a character YAML
  does not print (control characters, tabs, and, since JavaScript strings are UTF-16,
  any character beyond U+FFFF), as a literal block (``|``) when it spans lines, and
  as a folded block (``>``) when a line is longer than the width (80 less the
  indentation, at least 40) and can be folded.
- The same object met twice is written once with an anchor (``&ref_0``) and then
  as an alias (``*ref_0``).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from typing import Any

from kes.js.number import number_to_string
from kes.js.objects import MAX_DEPTH, DepthError, iso_string, ordered_items
from kes.js.text import paired

_INDENT = 2
_LINE_WIDTH = 80
_MAX_SIMPLE_KEY = 1024  # a longer key is written as an explicit "? key" pair

# Characters js-yaml does not print as they are (outside isPrintable), with line feed
# allowed where a block scalar may carry it. Astral characters count: JavaScript sees
# each as two surrogates, neither printable.
_UNPRINTABLE = ("\x00-\x09\x0b-\x1f\x7f-\xa0\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff"
                "\U00010000-\U0010ffff")
_UNPRINTABLE_IN_BLOCK = re.compile(f"[{_UNPRINTABLE}]")
_UNPRINTABLE_IN_LINE = re.compile(f"[{_UNPRINTABLE}\n]")
_ESCAPED = re.compile(f'[{_UNPRINTABLE}\n"\\\\]')
_ESCAPES = {
    0x00: "\\0", 0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v",
    0x0C: "\\f", 0x0D: "\\r", 0x1B: "\\e", 0x22: '\\"', 0x5C: "\\\\", 0x85: "\\N",
    0xA0: "\\_", 0x2028: "\\L", 0x2029: "\\P",
}
# js-yaml quotes YAML 1.1 booleans too, for older readers.
_OLD_BOOLEANS = frozenset({"y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
                           "n", "N", "no", "No", "NO", "off", "Off", "OFF"})
_NOT_PLAIN_FIRST = frozenset("-?:,[]{}#&*!|=>'\"%@` \t")
_NOT_PLAIN = re.compile(r"[,\[\]{}:\n]| #")
_LEADING_SPACE = re.compile(r"\n* ")
_FOLD_BREAK = re.compile(r" [^ ]")
_LINES_AFTER_FIRST = re.compile(r"(\n+)([^\n]*)")

# Plain text that js-yaml's safe schema would read back as something else.
_NULL_OR_BOOL = frozenset({"~", "null", "Null", "NULL", "true", "True", "TRUE",
                           "false", "False", "FALSE", "<<"})
_INT = re.compile(
    r"[-+]?(?:0|0b[01_]*[01][01_]*|0x[0-9a-fA-F_]*[0-9a-fA-F][0-9a-fA-F_]*"
    r"|0[0-7_]*[0-7][0-7_]*|[1-9][0-9_]*(?::[0-5]?[0-9])*)"
)
_FLOAT = re.compile(
    r"[-+]?(?:0|[1-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
    r"|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN)"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9]{2}:[0-9]{2}"
    r"(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9]{2})?))?"
)
_SCIENTIFIC_WITHOUT_DOT = re.compile(r"[-+]?[0-9]+e")


def safe_dump(value: Any) -> str:
    """``yaml.safeDump(value)``; ValueError for what it cannot write."""
    return _Dumper(value).node(value, 0, compact=True) + "\n"


def _reads_as_other_type(text: str) -> bool:
    if text in _NULL_OR_BOOL:
        return True
    if text.endswith("_"):
        return False  # neither int nor float may end with "_"; no timestamp does
    return bool(_INT.fullmatch(text) or _FLOAT.fullmatch(text) or _DATE.fullmatch(text)
                or _TIMESTAMP.fullmatch(text))


class _Dumper:
    def __init__(self, value: Any) -> None:
        self.anchors = _shared_containers(value)
        self.written: set[int] = set()

    def node(self, value: Any, level: int, compact: bool, is_key: bool = False) -> str:
        if isinstance(value, str):
            return _scalar(paired(value), level, is_key)
        if isinstance(value, Mapping | list | tuple):
            if level > MAX_DEPTH:
                raise DepthError()
            return self.container(value, level, compact)
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return _number(value)
        if isinstance(value, datetime.date):
            return iso_string(value)
        raise ValueError(f"cannot write a {type(value).__name__}")

    def container(self, value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], level: int,
                  compact: bool) -> str:
        anchor = self.anchors.get(id(value))
        if anchor is not None:
            if anchor in self.written:
                return f"*ref_{anchor}"
            self.written.add(anchor)
            compact = False
        if isinstance(value, Mapping):
            items = ordered_items(value)
            text = self.mapping(items, level, compact) if items else "{}"
        else:
            text = self.sequence(value, level, compact) if value else "[]"
        if anchor is None:
            return text
        return f"&ref_{anchor}" + ("" if text.startswith("\n") else " ") + text

    def mapping(self, items: list[tuple[str, Any]], level: int, compact: bool) -> str:
        parts = []
        for index, (key, value) in enumerate(items):
            part = "" if compact and index == 0 else _newline(level)
            key_text = self.node(key, level + 1, compact=True, is_key=True)
            explicit = len(key_text) > _MAX_SIMPLE_KEY
            if explicit:
                part += "? " + key_text + _newline(level)
            else:
                part += key_text
            value_text = self.node(value, level + 1, compact=explicit)
            part += (":" if value_text.startswith("\n") else ": ") + value_text
            parts.append(part)
        return "".join(parts)

    def sequence(self, items: list[Any] | tuple[Any, ...], level: int, compact: bool) -> str:
        parts = []
        for index, item in enumerate(items):
            text = self.node(item, level + 1, compact=True)
            part = "" if compact and index == 0 else _newline(level)
            parts.append(part + ("-" if text.startswith("\n") else "- ") + text)
        return "".join(parts)


def _shared_containers(value: Any) -> dict[int, int]:
    """Lists and mappings met more than once, numbered in the order the second
    meeting happens in a depth-first walk, as js-yaml numbers its anchors. Tuples are
    left out: Python shares equal constant tuples where JavaScript has new arrays."""
    seen: set[int] = set()
    shared: dict[int, int] = {}
    stack = [value]
    while stack:
        item = stack.pop()
        if not isinstance(item, Mapping | list | tuple):
            continue
        if not isinstance(item, tuple):
            if id(item) in seen:
                shared.setdefault(id(item), len(shared))
                continue
            seen.add(id(item))
        children = [v for _, v in ordered_items(item)] if isinstance(item, Mapping) else item
        stack.extend(reversed(children))
    return shared


def _newline(level: int) -> str:
    return "\n" + " " * (_INDENT * level)


def _number(value: int | float) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        if value == 0 and math.copysign(1.0, value) < 0:
            return "-0.0"
        if not value.is_integer():
            text = number_to_string(value)
            return text.replace("e", ".e", 1) if _SCIENTIFIC_WITHOUT_DOT.match(text) else text
    return number_to_string(value)


def _scalar(text: str, level: int, is_key: bool) -> str:
    if not text:
        return "''"
    if text in _OLD_BOOLEANS:
        return f"'{text}'"
    indent = _INDENT * max(1, level)
    width = max(min(_LINE_WIDTH, 40), _LINE_WIDTH - indent)
    unprintable = _UNPRINTABLE_IN_LINE if is_key else _UNPRINTABLE_IN_BLOCK
    if unprintable.search(text):
        return '"' + _ESCAPED.sub(_escape, text) + '"'
    lines = text.split("\n")
    foldable = not is_key and any(len(line) > width and not line.startswith(" ")
                                  for line in lines)
    if len(lines) == 1 and not foldable:
        plain = (text[0] not in _NOT_PLAIN_FIRST and text[-1] != " "
                 and not _NOT_PLAIN.search(text) and not _reads_as_other_type(text))
        return text if plain else "'" + text.replace("'", "''") + "'"
    if foldable:
        return ">" + _block_header(text) + _drop_last_newline(_indented(_fold(text, width),
                                                                          indent))
    return "|" + _block_header(text) + _drop_last_newline(_indented(text, indent))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code in _ESCAPES:
        return _ESCAPES[code]
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _block_header(text: str) -> str:
    """The indentation indicator (when the text starts with a space) and the chomping
    indicator: ``-`` strips a missing final newline, ``+`` keeps several."""
    indicator = str(_INDENT) if _LEADING_SPACE.match(text) else ""
    clip = text.endswith("\n")
    keep = clip and (text.endswith("\n\n") or text == "\n")
    return indicator + ("+" if keep else "" if clip else "-") + "\n"


def _indented(text: str, spaces: int) -> str:
    """Every line that is not empty, indented."""
    prefix = " " * spaces
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def _drop_last_newline(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def _fold(text: str, width: int) -> str:
    """Folded-style content: each line broken at spaces to fit ``width``, and an extra
    line break between two lines of ordinary (not more-indented) text, which a
    reader folds back into one."""
    first_break = text.find("\n")
    first_break = len(text) if first_break == -1 else first_break
    result = _fold_line(text[:first_break], width)
    previous_more_indented = text[:1] in ("\n", " ")
    for match in _LINES_AFTER_FIRST.finditer(text, first_break):
        breaks, line = match.groups()
        more_indented = line.startswith(" ")
        joined = not previous_more_indented and not more_indented and line != ""
        result += breaks + ("\n" if joined else "") + _fold_line(line, width)
        previous_more_indented = more_indented
    return result


def _fold_line(line: str, width: int) -> str:
    """One line broken greedily at spaces: the longest piece within ``width`` each
    time, else the shortest piece beyond it. A more-indented line stays whole."""
    if not line or line.startswith(" "):
        return line
    pieces = []
    start = end = 0  # ``end``: the last break seen; breaks replace one space each
    for match in _FOLD_BREAK.finditer(line):
        here = match.start()
        if here - start > width:
            cut = end if end > start else here
            pieces.append(line[start:cut])
            start = cut + 1
        end = here
    if len(line) - start > width and end > start:
        pieces += [line[start:end], line[end + 1:]]
    else:
        pieces.append(line[start:])
    return "\n".join(pieces)
