"""Node's UTF-8 encoding of JavaScript strings: unpaired surrogates become U+FFFD."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kes.js.text import paired, utf8, well_formed


@pytest.mark.parametrize(("text", "encoded"), [
    ("a", b"a"),
    ("\ud800", b"\xef\xbf\xbd"),  # Buffer.from('\ud800', 'utf8')
    ("\udc00x\ud800", b"\xef\xbf\xbdx\xef\xbf\xbd"),
    ("\ud83d\ude00", "😀".encode()),  # a pair Python holds apart is one character
    ("\ud83d\ud83d\ude00", b"\xef\xbf\xbd" + "😀".encode()),
    ("é😀", "é😀".encode()),
])
def test_utf8_writes_unpaired_surrogates_as_replacement_characters(text: str,
                                                                   encoded: bytes) -> None:
    assert utf8(text) == encoded


def reference_well_formed(text: str) -> str:
    """ECMA-262 String.prototype.toWellFormed, one UTF-16 code unit at a time."""
    units = [u for c in text for u in ([ord(c)] if ord(c) < 0x10000 else
                                       [0xD800 + ((ord(c) - 0x10000) >> 10),
                                        0xDC00 + ((ord(c) - 0x10000) & 0x3FF)])]
    out, i = [], 0
    while i < len(units):
        unit = units[i]
        if 0xD800 <= unit <= 0xDBFF and i + 1 < len(units) and 0xDC00 <= units[i + 1] <= 0xDFFF:
            out.append(chr(0x10000 + ((unit - 0xD800) << 10) + units[i + 1] - 0xDC00))
            i += 2
            continue
        out.append("\ufffd" if 0xD800 <= unit <= 0xDFFF else chr(unit))
        i += 1
    return "".join(out)


texts = st.text(st.sampled_from(["a", "é", "😀", "\ud800", "\udbff", "\udc00", "\udfff",
                                 "\ud83d", "\ude00"]))


@given(texts)
def test_well_formed_matches_the_ecmascript_algorithm(text: str) -> None:
    assert well_formed(text) == reference_well_formed(text)
    assert utf8(text) == reference_well_formed(text).encode()


@given(texts)
def test_paired_keeps_every_code_unit(text: str) -> None:
    assert paired(text).encode("utf-16-le", "surrogatepass") == text.encode(
        "utf-16-le", "surrogatepass")
