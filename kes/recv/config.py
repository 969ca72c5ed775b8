"""recv.yaml: the receiver's limits and its endpoints.

```yaml
kesRecvVersion: 1          # or fluxRecvVersion: 1, a flux-recv config as it is
maxBodyBytes: 1048576      # up to 25 MiB, GitHub's largest payload
headerTimeout: 10s         # whole request head, and idle keep-alive connections
readTimeout: 10s           # the body
rateLimit: {perSecond: 100, burst: 200}   # per endpoint; an endpoint may set its own
endpoints:
- source: GitHub           # a name from kes.recv.registry
  keyPath: github.key      # relative to this file
  refresh: {namespace: apps, selector: {matchLabels: {team: a}}, names: [db]}
  # ... and the source's own options
```

Parsing is pure and checks every field, naming it in its error. Key files are read
by the sources (registry.build_endpoints), not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kes.errors import KesError
from kes.recv.scope import RefreshScope, ScopeError, parse_scope
from kes.spec import parse_duration

VERSION_KEYS = ("kesRecvVersion", "fluxRecvVersion")
SUPPORTED_VERSION = 1
MAX_BODY_LIMIT = 25 * 1024 * 1024
"""GitHub caps webhook payloads at 25 MB."""
ENDPOINT_FIELDS = ("source", "keyPath", "refresh", "rateLimit")
"""Fields every endpoint has; any other field is an option of its source."""


class RecvConfigError(KesError):
    """A receiver configuration that cannot be served; the message names the field."""


@dataclass(frozen=True)
class RateLimit:
    per_second: float = 100.0
    burst: int = 200


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    header_timeout: float = 10.0
    read_timeout: float = 10.0
    rate_limit: RateLimit = RateLimit()


@dataclass(frozen=True)
class EndpointConfig:
    index: int
    source: str
    key_path: Path
    """Resolved against the config file's folder."""
    refresh: RefreshScope
    rate_limit: RateLimit
    options: Mapping[str, Any] = field(default_factory=dict)
    """The source's own fields, checked by the source."""

    @property
    def where(self) -> str:
        return f"endpoints[{self.index}]"


@dataclass(frozen=True)
class RecvConfig:
    path: Path
    limits: Limits
    endpoints: tuple[EndpointConfig, ...]


def load_config(path: str | Path) -> RecvConfig:
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_bytes())
    except OSError as e:
        raise RecvConfigError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise RecvConfigError(f"{path}: not YAML: {e}") from None
    return parse_config(document, path)


def parse_config(document: Any, path: Path) -> RecvConfig:
    """The configuration in `document`, read from `path` (key paths are relative to it)."""
    try:
        return _parse(document, path)
    except (RecvConfigError, ScopeError) as e:
        raise RecvConfigError(f"{path}: {e}") from None


def _parse(document: Any, path: Path) -> RecvConfig:
    if not isinstance(document, Mapping):
        raise RecvConfigError("must be a mapping with kesRecvVersion and endpoints")
    versions = [key for key in VERSION_KEYS if key in document]
    if len(versions) != 1:
        raise RecvConfigError(f"needs exactly one of {' or '.join(VERSION_KEYS)}")
    version = document[versions[0]]
    if version != SUPPORTED_VERSION or isinstance(version, bool):
        raise RecvConfigError(f"{versions[0]}: {version!r} is not supported; use 1")
    allowed = (versions[0], "maxBodyBytes", "headerTimeout", "readTimeout", "rateLimit",
               "endpoints")
    for key in document:
        if key not in allowed:
            raise RecvConfigError(f"{key}: unknown field; known here: {', '.join(allowed)}")
    defaults = Limits()
    limits = Limits(
        max_body_bytes=_body_limit(document.get("maxBodyBytes", defaults.max_body_bytes)),
        header_timeout=_duration(document.get("headerTimeout"), "headerTimeout",
                                 defaults.header_timeout),
        read_timeout=_duration(document.get("readTimeout"), "readTimeout",
                               defaults.read_timeout),
        rate_limit=_rate_limit(document.get("rateLimit"), "rateLimit", defaults.rate_limit),
    )
    endpoints = document.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        raise RecvConfigError("endpoints: must be a non-empty list")
    return RecvConfig(
        path=path,
        limits=limits,
        endpoints=tuple(_endpoint(i, e, path.parent, limits) for i, e in enumerate(endpoints)),
    )


def _endpoint(index: int, value: Any, folder: Path, limits: Limits) -> EndpointConfig:
    where = f"endpoints[{index}]"
    if not isinstance(value, Mapping):
        raise RecvConfigError(f"{where}: must be a mapping with source and keyPath")
    source = value.get("source")
    if not isinstance(source, str) or not source:
        raise RecvConfigError(f"{where}.source: must be a source name")
    key_path = value.get("keyPath")
    if not isinstance(key_path, str) or not key_path:
        raise RecvConfigError(f"{where}.keyPath: must be a file path")
    return EndpointConfig(
        index=index,
        source=source,
        key_path=folder / key_path,
        refresh=parse_scope(value.get("refresh"), f"{where}.refresh"),
        rate_limit=_rate_limit(value.get("rateLimit"), f"{where}.rateLimit", limits.rate_limit),
        options={k: v for k, v in value.items() if k not in ENDPOINT_FIELDS},
    )


def _body_limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_BODY_LIMIT:
        raise RecvConfigError(
            f"maxBodyBytes: {value!r} must be a whole number from 1 to {MAX_BODY_LIMIT}"
        )
    return value


def _duration(value: Any, where: str, default: float) -> float:
    if value is None:
        return default
    try:
        seconds = parse_duration(value) if isinstance(value, str) else -1.0
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise RecvConfigError(f"{where}: {value!r} is not a duration above zero, such as 10s")
    return seconds


def _rate_limit(value: Any, where: str, default: RateLimit) -> RateLimit:
    if value is None:
        return default
    if not isinstance(value, Mapping):
        raise RecvConfigError(f"{where}: must be a mapping with perSecond and burst")
    for key in value:
        if key not in ("perSecond", "burst"):
            raise RecvConfigError(f"{where}.{key}: unknown field; known here: perSecond, burst")
    per_second = value.get("perSecond", default.per_second)
    if isinstance(per_second, bool) or not isinstance(per_second, int | float) or not (
        0 < per_second < float("inf")
    ):
        raise RecvConfigError(f"{where}.perSecond: {per_second!r} must be a number above zero")
    burst = value.get("burst", max(default.burst, int(per_second)))
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise RecvConfigError(f"{where}.burst: {burst!r} must be a whole number from 1")
    return RateLimit(float(per_second), burst)
