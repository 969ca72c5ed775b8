"""JavaScript strings as Node writes them out.

A JavaScript string is UTF-16 code units, so it can hold a surrogate without its
pair (``JSON.parse('"\\ud800"')`` makes one); Python's ``json`` gives such strings
too. Node's UTF-8 encoder (``Buffer.from(s, 'utf8')``, how KES wrote every value)
writes each unpaired surrogate as U+FFFD, which is ``String.prototype.toWellFormed``.
A high and a low surrogate side by side are one character in JavaScript, however
Python came to hold them apart.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def paired(text: str) -> str:
    """``text`` with each high-low surrogate pair joined into the one character it is
    in JavaScript; unpaired surrogates stay."""
    if not has_surrogates(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def well_formed(text: str) -> str:
    """``text.toWellFormed()``: pairs joined, each unpaired surrogate replaced by U+FFFD."""
    if not has_surrogates(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def utf8(text: str) -> bytes:
    """``Buffer.from(text, 'utf8')``: UTF-8, unpaired surrogates as U+FFFD (EF BF BD)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return well_formed(text).encode("utf-8")
