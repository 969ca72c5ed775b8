"""The one interface every webhook source implements, and what a source answers.

A source gets the request's headers and raw body and returns a `Verdict`: the HTTP
status, the metric labels (result, reason) and, for a genuine event that means
ExternalSecrets may be stale, what to refresh. It never writes the response body
for a refusal: the server answers every 400 and 401 the same way, so a sender
learns nothing about which check failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kes.names import SecretName
from kes.recv.config import EndpointConfig, RecvConfigError


@dataclass(frozen=True)
class Delivery:
    headers: Mapping[str, str]
    """Case-insensitive, as HTTP headers are."""
    body: bytes


@dataclass(frozen=True)
class Selected:
    """Refresh the ExternalSecrets the endpoint's `refresh` scope selects."""


@dataclass(frozen=True)
class SecretUsers:
    """Refresh the ExternalSecrets (within the endpoint's scope) that use this secret;
    `any_project`: its project is a number the index cannot tell from an id."""

    secret: SecretName
    any_project: bool = False


Target = Selected | SecretUsers


@dataclass(frozen=True)
class Verdict:
    status: int
    result: str
    """accepted, ignored, unauthorized, malformed or unavailable: the metric's `result`."""
    reason: str
    """What decided it (push, ping, bad_signature, ...): the metric's `reason`."""
    target: Target | None = None
    text: str = "ok"
    """The body of a 2xx answer."""


def accepted(reason: str, target: Target) -> Verdict:
    return Verdict(202, "accepted", reason, target)


def ignored(reason: str, text: str = "ok") -> Verdict:
    return Verdict(200, "ignored", reason, text=text)


def unauthorized(reason: str) -> Verdict:
    return Verdict(401, "unauthorized", reason)


def malformed(reason: str) -> Verdict:
    return Verdict(400, "malformed", reason)


def unavailable(reason: str) -> Verdict:
    """The receiver cannot decide now (a dependency failed): the sender should retry."""
    return Verdict(503, "unavailable", reason)


class Source(Protocol):
    async def verify(self, delivery: Delivery) -> Verdict: ...

    async def close(self) -> None: ...


def route_digest(key: bytes) -> str:
    """flux-recv's route: the hex SHA-256 of the key file's bytes (a newline counts)."""
    return hashlib.sha256(key).hexdigest()


def read_key(endpoint: EndpointConfig) -> bytes:
    try:
        key = endpoint.key_path.read_bytes()
    except OSError as e:
        raise RecvConfigError(
            f"{endpoint.where}.keyPath: cannot read {endpoint.key_path}: {e.strerror}"
        ) from None
    if not key:
        raise RecvConfigError(f"{endpoint.where}.keyPath: {endpoint.key_path} is empty")
    return key


class Options:
    """Reads a source's own fields of one endpoint; `done()` refuses any left unread."""

    def __init__(self, endpoint: EndpointConfig) -> None:
        self._endpoint = endpoint
        self._unread = set(endpoint.options)

    def _take(self, name: str) -> Any:
        self._unread.discard(name)
        return self._endpoint.options.get(name)

    def error(self, name: str, message: str) -> RecvConfigError:
        return RecvConfigError(f"{self._endpoint.where}.{name}: {message}")

    def text(self, name: str, *, default: str | None = None) -> str:
        value = self._take(name)
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value:
            raise self.error(name, f"required for {self._endpoint.source}: a non-empty string")
        return value

    def text_map(self, name: str) -> dict[str, str]:
        value = self._take(name) or {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str | int) and isinstance(v, str) for k, v in value.items()
        ):
            raise self.error(name, "must be a mapping of strings")
        return {str(k): v for k, v in value.items()}

    def done(self) -> None:
        if self._unread:
            raise self.error(
                sorted(self._unread)[0], f"unknown field for source {self._endpoint.source}"
            )
