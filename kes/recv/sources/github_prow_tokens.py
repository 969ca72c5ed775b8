"""GitHubProwTokens: GitHub deliveries checked against Prow's token map.

The key file is the map `kes hmac` writes to Secret Manager and the controller
syncs into a Secret: `org/repo`, `org` or `*` to a list of `{value, created_at}`
(or one bare legacy token). As Prow's hook does, the tokens of the most specific key
present for the event's repository (else its organization) are tried, each of them:
during a rotation the old and the new token are both accepted until `kes hmac`
prunes the old one.

The kubelet updates a mounted Secret in place (a new `..data` folder swapped in by
a rename), so the file is checked on each delivery (one stat) and parsed again only
when it changed; a map that does not parse keeps the previous one in use. The key
changes with every rotation, so the route cannot be its digest: it is
`/hook/<name>`, with `name` from the endpoint.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kes.errors import KesError
from kes.recv.config import EndpointConfig, RecvConfigError
from kes.recv.source import Delivery, Options, Source, Verdict, malformed, unauthorized
from kes.recv.sources.github import EVENT_HEADER, event_verdict, payload_of, signed_by_one_of
from kes.tokens import GLOBAL_KEY, TokenMap, parse_token_map

log = logging.getLogger("kes.recv")

ROUTE_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")
FileSignature = tuple[int, int, int, int]


def _signature(path: Path) -> FileSignature:
    stat = os.stat(path)  # follows the kubelet's symlinks to the file in use now
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


class TokenFile:
    """The token map at `path`, read again whenever the file there changes."""

    def __init__(self, path: Path, where: str) -> None:
        self._path = path
        self._where = where
        self.loads = 0
        try:
            self._seen = _signature(path)
            self._tokens = self._parse(path.read_bytes())
        except OSError as e:
            raise RecvConfigError(f"{where}: cannot read {path}: {e.strerror}") from None
        except KesError as e:
            raise RecvConfigError(f"{where}: {e}") from None

    def _parse(self, data: bytes) -> TokenMap:
        self.loads += 1
        return parse_token_map(data, respect_legacy_global_token=True, source=str(self._path))

    def current(self) -> TokenMap:
        try:
            signature = _signature(self._path)
            if signature != self._seen:
                self._seen = signature
                self._tokens = self._parse(self._path.read_bytes())
                log.info("token map reloaded",
                         extra={"path": str(self._path), "keys": len(self._tokens)})
        except OSError as e:
            log.warning("token map unreadable, the previous one stays in use",
                        extra={"path": str(self._path), "error": e.strerror})
        except KesError as e:
            log.error("token map invalid, the previous one stays in use",
                      extra={"path": str(self._path), "error": str(e)})
        return self._tokens


def owner_of(payload: Mapping[str, Any]) -> str:
    """`org/repo` of the event's repository, else the organization's login."""
    repository = payload.get("repository")
    full_name = repository.get("full_name") if isinstance(repository, Mapping) else None
    if isinstance(full_name, str) and full_name:
        return full_name
    organization = payload.get("organization")
    login = organization.get("login") if isinstance(organization, Mapping) else None
    return login if isinstance(login, str) else ""


def tokens_for(tokens: TokenMap, owner: str) -> tuple[bytes, ...]:
    """Every token of the most specific key present: `org/repo`, `org`, then `*`."""
    for key in (owner, owner.partition("/")[0], GLOBAL_KEY):
        if key and key in tokens:
            return tuple(token.value.encode() for token in tokens[key])
    return ()


class GitHubProwTokens:
    def __init__(self, tokens: TokenFile) -> None:
        self._tokens = tokens

    async def verify(self, delivery: Delivery) -> Verdict:
        # The payload names the repository whose tokens sign it, so it is read first.
        payload = payload_of(delivery)
        if payload is None:
            return malformed("bad_payload")
        keys = tokens_for(self._tokens.current(), owner_of(payload))
        if not signed_by_one_of(delivery, keys):
            return unauthorized("bad_signature")
        event = delivery.headers.get(EVENT_HEADER)
        if not event:
            return malformed("no_event")
        return event_verdict(event)

    async def close(self) -> None:
        return None


def build(endpoint: EndpointConfig) -> tuple[str, Source]:
    options = Options(endpoint)
    name = options.text("name")
    if not ROUTE_NAME.fullmatch(name):
        raise options.error("name", f"{name!r} must be 1-63 letters, digits, '-' or '_'")
    options.done()
    return name, GitHubProwTokens(TokenFile(endpoint.key_path, f"{endpoint.where}.keyPath"))
