"""Typed readers for configuration values, shared by every command's flags and
environment variables, so that `true`, `30s` or `:8080` mean the same everywhere.

Each reader takes the setting's name for its message and raises ConfigError, which
the commands turn into one line on stderr and exit code 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TypeVar

from kes.errors import KesError

T = TypeVar("T")

# Go's strconv.ParseBool words (Prow's flags) plus the yes/no/on/off of env files.
_TRUE = frozenset({"1", "t", "true", "yes", "on"})
_FALSE = frozenset({"0", "f", "false", "no", "off"})


class ConfigError(KesError):
    """A flag or environment variable has a value kes cannot use."""


def parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={text!r} is not a boolean (use true/false, 1/0, yes/no)")


def positive_number(name: str, text: str) -> float:
    """A finite number above zero: NaN, infinity and 0 would stall or hammer a loop."""
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name}={text!r} must be a finite number greater than zero")
    return number


def positive_int(name: str, text: str) -> int:
    if not text.strip().isdigit() or int(text) <= 0:
        raise ConfigError(f"{name}={text!r} must be a whole number greater than zero")
    return int(text)


def port(name: str, text: str) -> int:
    if not text.strip().isdigit() or not 0 <= int(text) <= 65535:
        raise ConfigError(f"{name}={text!r} is not a TCP port (0-65535)")
    return int(text)


def listen_address(name: str, text: str) -> tuple[str, int]:
    """`host:port`, `:port` (every interface, as Go servers read it) or `[v6]:port`."""
    host, colon, port_text = text.strip().rpartition(":")
    if not colon:
        raise ConfigError(f"{name}={text!r} is not an address such as :8080 or 127.0.0.1:8080")
    host = host.removeprefix("[").removesuffix("]")
    return host or "0.0.0.0", port(name, port_text)


def non_empty(name: str, text: str) -> str:
    if not text.strip():
        raise ConfigError(f"{name} must not be empty")
    return text.strip()


def read_env(env: Mapping[str, str], name: str, convert: Callable[[str, str], T],
             default: T) -> T:
    """The variable through `convert`, or `default` when unset or blank."""
    raw = env.get(name)
    return default if raw is None or raw.strip() == "" else convert(name, raw)
