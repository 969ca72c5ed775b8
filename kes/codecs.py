"""Byte encodings kes reads and writes in more than one place.

Secret values are bytes end to end; text appears only where KES's format or a
template asks for it, and each conversion lives here once.
"""

from __future__ import annotations

import base64
import binascii


def encode_base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def decode_base64(text: str | bytes) -> bytes:
    """Decode base64 as Secret Manager users write it: whitespace and missing padding
    are tolerated, any other stray character is an error (ValueError)."""
    raw = text.encode("ascii", "strict") if isinstance(text, str) else text
    compact = b"".join(raw.split())
    compact += b"=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as exc:
        raise ValueError("not valid base64") from exc
