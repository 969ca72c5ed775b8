"""Prow's webhook token map: `org/repo`, `org` or `*` to a list of `{value, created_at}`.

A contract between rooms: `kes hmac` writes it to Secret Manager, the controller syncs
it into a Secret, and `kes recv` (or Prow's hook) reads it to check signatures.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kes.errors import KesError

GLOBAL_KEY = "*"
ZERO_TIME = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
"""Go's zero time: what Prow reads for a missing time, and writes for a token of
unknown age."""
_TOKEN_BYTES = 20


def rfc3339(value: Any) -> dt.datetime:
    """An RFC 3339 time with a zone (YAML may already have made it a datetime), in UTC;
    ValueError says what is wrong."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an RFC 3339 time") from None
    if not isinstance(value, dt.datetime):
        raise ValueError("must be an RFC 3339 time such as 2020-03-02T15:00:00Z")
    if value.tzinfo is None:
        raise ValueError("must carry a time zone, such as Z")
    return value.astimezone(dt.UTC)


def format_time(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as Go's time.Time marshals."""
    text = value.astimezone(dt.UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


class TokenMapError(KesError):
    """The stored token map cannot be used; the message names the key, never a value."""


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    created_at: dt.datetime


TokenMap = Mapping[str, tuple[Token, ...]]


def new_token(created_at: dt.datetime) -> Token:
    """20 random bytes, hex encoded, as Prow generates them."""
    return Token(secrets.token_hex(_TOKEN_BYTES), created_at)


def newest(tokens: Iterable[Token]) -> Token:
    """The token a hook should sign with: the latest `created_at` (the first one on ties)."""
    best: Token | None = None
    for token in tokens:
        if best is None or token.created_at > best.created_at:
            best = token
    if best is None:
        raise ValueError("no tokens")
    return best


def parse_token_map(
    data: bytes, *, respect_legacy_global_token: bool, source: str = "the token map"
) -> dict[str, tuple[Token, ...]]:
    """Read the stored text; anything that is not a mapping is one legacy global token.

    Errors start with `source` (the secret version read) and never quote the data.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenMapError(
            f"{source}: not UTF-8 text, so neither a token map nor a legacy token"
        ) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        document = text
    if document is None:
        return {}
    if not isinstance(document, dict):
        if not respect_legacy_global_token:
            raise TokenMapError(
                f"{source}: holds a single legacy global token; set "
                "managed_webhooks.respect_legacy_global_token to true before the first run"
            )
        return {GLOBAL_KEY: (Token(text.strip(), ZERO_TIME),)}
    return {str(key): _parse_list(source, str(key), value) for key, value in document.items()}


def _parse_list(source: str, key: str, value: Any) -> tuple[Token, ...]:
    if not isinstance(value, list) or not value:
        raise TokenMapError(f"{source}: key {key!r}: must be a non-empty list of tokens")
    tokens = []
    for index, item in enumerate(value):
        where = f"{source}: key {key!r}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise TokenMapError(f"{where}: must be a mapping with a string value")
        created_at = item.get("created_at", ZERO_TIME)
        try:
            when = rfc3339(created_at)
        except ValueError as err:
            raise TokenMapError(f"{where}.created_at: not an RFC 3339 time") from err
        tokens.append(Token(item["value"], when))
    return tuple(tokens)


def dump_token_map(tokens: TokenMap) -> bytes:
    """Prow's YAML layout, keys sorted so equal maps give equal bytes."""
    document = {
        key: [{"value": t.value, "created_at": format_time(t.created_at)} for t in tokens[key]]
        for key in sorted(tokens)
    }
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=True).encode()


def token_values(tokens: TokenMap) -> frozenset[str]:
    return frozenset(t.value for key_tokens in tokens.values() for t in key_tokens)
