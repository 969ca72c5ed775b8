"""Query parameter parsing shared by routing and the handlers, with the real server's 400s."""

from __future__ import annotations

from collections.abc import Mapping

from kes_emulators.apiserver import errors


def is_true(value: str | None) -> bool:
    """A boolean query parameter as the real server reads it (`true` or `1`)."""
    return value is not None and value.lower() in ("true", "1")


def int_param(query: Mapping[str, str], name: str) -> int:
    text = query.get(name, "")
    try:
        return int(text) if text else 0
    except ValueError as exc:
        raise errors.bad_request(f"invalid {name} {text!r}: must be an integer") from exc


def float_param(query: Mapping[str, str], name: str) -> float:
    text = query.get(name, "")
    try:
        return float(text) if text else 0.0
    except ValueError as exc:
        raise errors.bad_request(f"invalid {name} {text!r}: must be a number") from exc


def parse_rv(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise errors.bad_request(f'invalid resource version "{text}"') from exc
