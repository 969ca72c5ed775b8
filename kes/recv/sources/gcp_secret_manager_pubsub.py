"""GCPSecretManagerPubSub: Secret Manager's event notifications, pushed by Pub/Sub.

A push subscription with an authentication service account sends each message with
`Authorization: Bearer <ID token>`. The token is verified with google-auth against
Google's published certificates (signature, expiry), and then its `iss` must be
Google's, its `aud` the endpoint's `audience`, its `email` the endpoint's
`serviceAccount` and `email_verified` true: checking the audience alone would let
any Google-issued token in. Version events, SECRET_UPDATE and SECRET_DELETE refresh
the ExternalSecrets that use the secret; TOPIC_CONFIGURED and every other message
is acknowledged, so Pub/Sub does not redeliver it forever.

Options: `audience` and `serviceAccount` (required), `certsUrl` (Google's by
default), `projectNumbers` (project number to id: events may name a secret's project
by number, ExternalSecrets by id; an unmapped number matches the secret id in any
project).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from google.auth import exceptions as google_exceptions
from google.auth import jwt

from kes.names import BadName, SecretName
from kes.recv.config import EndpointConfig
from kes.recv.source import (
    Delivery,
    Options,
    SecretUsers,
    Source,
    Verdict,
    accepted,
    ignored,
    malformed,
    read_key,
    route_digest,
    unauthorized,
    unavailable,
)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CLOCK_SKEW = 10
"""Seconds of clock difference allowed on `iat` and `exp`."""
REFRESHING_EVENTS = frozenset({"SECRET_UPDATE", "SECRET_DELETE"})
REFRESHING_PREFIX = "SECRET_VERSION_"
DEFAULT_CACHE_SECONDS = 300.0
MIN_REFETCH_SECONDS = 10.0
"""An unknown key id fetches the certificates again at most this often: tokens with
made-up key ids must not turn the receiver into a stream of requests to Google."""
_MAX_AGE = re.compile(r"max-age=(\d+)")


class CertsUnavailable(Exception):
    """The certificates could not be fetched."""


class GoogleCerts:
    """Google's signing certificates, cached as long as Google says they may be."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic,
                 min_refetch: float = MIN_REFETCH_SECONDS) -> None:
        self._url = url
        self._clock = clock
        self._min_refetch = min_refetch
        self._certs: dict[str, str] = {}
        self._expires = -float("inf")
        self._fetched = -float("inf")
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    def _usable(self, key_id: str | None) -> bool:
        now = self._clock()
        if now >= self._expires:
            return False
        return key_id in self._certs or now - self._fetched < self._min_refetch

    async def for_key(self, key_id: str | None) -> Mapping[str, str]:
        if not self._usable(key_id):
            async with self._lock:
                if not self._usable(key_id):  # another delivery may have fetched meanwhile
                    await self._fetch()
        return self._certs

    async def _fetch(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._fetched = self._clock()
        try:
            async with self._session.get(self._url) as response:
                response.raise_for_status()
                certs = await response.json(content_type=None)
                cache_control = response.headers.get("Cache-Control", "")
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise CertsUnavailable(f"{self._url}: {type(e).__name__}") from None
        if not isinstance(certs, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in certs.items()
        ):
            raise CertsUnavailable(f"{self._url}: not a map of key ids to certificates")
        match = _MAX_AGE.search(cache_control)
        self._certs = certs
        self._expires = self._fetched + (float(match[1]) if match else DEFAULT_CACHE_SECONDS)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _bearer(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def event_verdict(body: bytes, project_numbers: Mapping[str, str]) -> Verdict:
    """What an authenticated push envelope asks for."""
    try:
        envelope: Any = json.loads(body)
    except ValueError:
        return malformed("bad_envelope")
    message = envelope.get("message") if isinstance(envelope, dict) else None
    attributes = message.get("attributes") if isinstance(message, dict) else None
    if not isinstance(attributes, dict):
        return malformed("bad_envelope")
    event = attributes.get("eventType")
    if event == "TOPIC_CONFIGURED":
        return ignored("topic_configured")
    if not isinstance(event, str) or not (
        event in REFRESHING_EVENTS or event.startswith(REFRESHING_PREFIX)
    ):
        return ignored("event_ignored")
    try:
        secret = SecretName.parse(str(attributes.get("secretId")))
    except BadName:
        return ignored("bad_secret_id")
    if secret.project in project_numbers:
        return accepted(event, SecretUsers(SecretName(
            project_numbers[secret.project], secret.secret, secret.location)))
    return accepted(event, SecretUsers(secret, any_project=secret.project.isdigit()))


class GCPSecretManagerPubSub:
    def __init__(self, audience: str, service_account: str, certs: GoogleCerts,
                 project_numbers: Mapping[str, str]) -> None:
        self._audience = audience
        self._service_account = service_account
        self._certs = certs
        self._project_numbers = dict(project_numbers)

    async def verify(self, delivery: Delivery) -> Verdict:
        token = _bearer(delivery.headers.get("Authorization"))
        if token is None:
            return unauthorized("no_token")
        try:
            header = jwt.decode_header(token)
        except (ValueError, google_exceptions.GoogleAuthError):
            return unauthorized("bad_token")
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            return unauthorized("bad_token")
        key_id = header.get("kid")
        try:
            certs = await self._certs.for_key(key_id if isinstance(key_id, str) else None)
        except CertsUnavailable:
            return unavailable("certs_unavailable")
        try:
            claims = jwt.decode(token, certs=certs, clock_skew_in_seconds=CLOCK_SKEW)
        except (ValueError, google_exceptions.GoogleAuthError):
            return unauthorized("bad_token")
        if claims.get("iss") not in ISSUERS:
            return unauthorized("wrong_issuer")
        if claims.get("aud") != self._audience:
            return unauthorized("wrong_audience")
        if claims.get("email") != self._service_account or claims.get("email_verified") is not True:
            return unauthorized("wrong_identity")
        return event_verdict(delivery.body, self._project_numbers)

    async def close(self) -> None:
        await self._certs.close()


def build(endpoint: EndpointConfig) -> tuple[str, Source]:
    options = Options(endpoint)
    source = GCPSecretManagerPubSub(
        audience=options.text("audience"),
        service_account=options.text("serviceAccount"),
        certs=GoogleCerts(options.text("certsUrl", default=GOOGLE_CERTS_URL)),
        project_numbers=options.text_map("projectNumbers"),
    )
    options.done()
    return route_digest(read_key(endpoint)), source
