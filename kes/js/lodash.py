"""lodash 4.17 ``get(object, path)``, the property paths KES read JSON payloads with.

A path names a key of the object whole when it is one, or when it holds no ``.`` and
no ``[...]``; otherwise it is split into keys: at each ``.``, and at brackets, which
hold a number (``[0]``, ``[-1]``) or a quoted key (``["a.b"]``, ``['x']``, with
backslash escapes) and otherwise read as text between dots would. Every piece is a
literal key: ``where``, ``é``, ``$`` and ``*`` are keys like any other, and empty
pieces (``a..b``, ``a.``) are empty keys. lodash's own rules for this are the
regular expressions in its source (``reIsDeepProp``, ``rePropName``).

kes reads only what JSON holds: keys of objects and elements of arrays. JavaScript
would also find ``length`` of a string or array, a string's characters and what
every object inherits (``constructor``, ``toString``); kes does not.
"""

from __future__ import annotations

import re
from typing import Any, Final

from kes.js.objects import is_array_index

# JavaScript's "." does not match its line terminators.
_ANY = r"[^\n\r\u2028\u2029]"
_PLAIN = re.compile(r"[A-Za-z0-9_]*")
_DEEP = re.compile(r"""\.|\[(?:[^\[\]]*|(["'])(?:(?!\1)[^\\]|\\""" + _ANY + r""")*?\1)\]""")
_PIECE = re.compile(
    r"""[^.\[\]]+"""
    r"""|\[(?:(-?[0-9]+(?:\.[0-9]+)?)|(["'])((?:(?!\2)[^\\]|\\""" + _ANY + r""")*?)\2)\]"""
    r"""|(?=(?:\.|\[\])(?:\.|\[\]|\Z))"""
)
_ESCAPE = re.compile(r"\\(\\)?")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What ``get`` returns when the path leads nowhere."""


def is_whole_key(path: str) -> bool:
    """Whether lodash reads ``path`` as one key wherever it is looked up."""
    return _PLAIN.fullmatch(path) is not None or _DEEP.search(path) is None


def to_path(path: str) -> list[str]:
    """The keys lodash splits ``path`` into (its ``stringToPath``)."""
    keys = [""] if path.startswith(".") else []
    for match in _PIECE.finditer(path):
        number, quote, quoted = match.group(1, 2, 3)
        if quote:
            keys.append(_ESCAPE.sub(lambda m: m.group(1) or "", quoted))
        else:
            keys.append(number or match.group())
    return keys


def get(document: Any, path: str) -> Any:
    """The value at ``path`` in a parsed JSON ``document``, or MISSING."""
    if isinstance(document, dict) and path in document:
        return document[path]
    keys = [path] if is_whole_key(path) else to_path(path)
    if not keys:  # "].[" splits into nothing, which lodash finds nowhere
        return MISSING
    value = document
    for key in keys:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and is_array_index(key) and int(key) < len(value):
            value = value[int(key)]
        else:
            return MISSING
    return value
