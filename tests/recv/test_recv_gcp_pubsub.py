"""GCPSecretManagerPubSub: the push's OIDC token, verified with google-auth against the
emulated Google issuer's certificates over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from multidict import CIMultiDict

from kes.names import SecretName
from kes.recv.source import Delivery, SecretUsers
from kes.recv.sources.gcp_secret_manager_pubsub import (
    MIN_REFETCH_SECONDS,
    GCPSecretManagerPubSub,
    GoogleCerts,
)
from kes_emulators.google_oidc import GoogleTokenIssuer

AUDIENCE = "https://recv.example.com/hook/abc"
SA = "gsm-push@proj.iam.gserviceaccount.com"
ENVELOPE = json.dumps({
    "message": {"attributes": {"eventType": "SECRET_VERSION_ADD",
                               "secretId": "projects/proj/secrets/db",
                               "versionId": "projects/proj/secrets/db/versions/2"},
                "data": "", "messageId": "1"},
    "subscription": "projects/proj/subscriptions/kes-recv",
}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def issuer() -> AsyncIterator[GoogleTokenIssuer]:
    issuer = GoogleTokenIssuer()
    await issuer.start()
    yield issuer
    await issuer.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def source(issuer: GoogleTokenIssuer, clock: Clock) -> AsyncIterator[Any]:
    source = GCPSecretManagerPubSub(AUDIENCE, SA, GoogleCerts(issuer.certs_url, clock), {})
    yield source
    await source.close()


def push(token: str | None, body: bytes = ENVELOPE, scheme: str = "Bearer") -> Delivery:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    return Delivery(CIMultiDict(headers), body)


async def test_a_genuine_push_refreshes_the_secrets_users(
    source: Any, issuer: GoogleTokenIssuer
) -> None:
    verdict = await source.verify(push(issuer.mint(AUDIENCE, SA)))
    assert (verdict.status, verdict.reason) == (202, "SECRET_VERSION_ADD")
    assert verdict.target == SecretUsers(SecretName("proj", "db"))


@pytest.mark.parametrize(("mint", "reason"), [
    # Another Google-issued token for another audience: the CVE-2026-40109 case.
    ({"audience": "https://elsewhere.example.com/"}, "wrong_audience"),
    ({"email": "someone@proj.iam.gserviceaccount.com"}, "wrong_identity"),
    ({"email_verified": False}, "wrong_identity"),
    ({"issuer": "https://evil.example.com"}, "wrong_issuer"),
    ({"issued_at": time.time() - 7200}, "bad_token"),  # expired an hour ago
    ({"issued_at": time.time() + 600}, "bad_token"),  # issued in the future
])
async def test_tokens_for_someone_else_are_refused(
    source: Any, issuer: GoogleTokenIssuer, mint: dict[str, Any], reason: str
) -> None:
    kwargs = {"audience": AUDIENCE, "email": SA, **mint}
    audience, email = kwargs.pop("audience"), kwargs.pop("email")
    verdict = await source.verify(push(issuer.mint(audience, email, **kwargs)))
    assert (verdict.status, verdict.reason) == (401, reason)


async def test_forged_and_tampered_tokens_are_refused(
    source: Any, issuer: GoogleTokenIssuer
) -> None:
    stranger = GoogleTokenIssuer()  # a key Google never published
    good = issuer.mint(AUDIENCE, SA)
    head, claims, signature = good.split(".")
    tampered = ".".join([head, claims[:-4] + ("AAAA" if claims[-4:] != "AAAA" else "BBBB"),
                         signature])
    for token in (stranger.mint(AUDIENCE, SA), tampered, "not-a-jwt", good + "x"):
        verdict = await source.verify(push(token))
        assert (verdict.status, verdict.result) == (401, "unauthorized"), token
    for delivery in (push(None), push(good, scheme="Basic"), push("")):
        assert (await source.verify(delivery)).reason == "no_token"


async def test_an_unsigned_alg_none_token_is_refused(
    source: Any, issuer: GoogleTokenIssuer
) -> None:
    head, claims, _ = issuer.mint(AUDIENCE, SA).split(".")
    verdict = await source.verify(push(f"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}."))
    assert (verdict.status, verdict.reason) == (401, "bad_token")


async def test_an_authenticated_body_that_is_no_envelope_is_malformed(
    source: Any, issuer: GoogleTokenIssuer
) -> None:
    verdict = await source.verify(push(issuer.mint(AUDIENCE, SA), b"{}"))
    assert (verdict.status, verdict.reason) == (400, "bad_envelope")


async def test_certificates_are_fetched_once_while_fresh(
    source: Any, issuer: GoogleTokenIssuer, clock: Clock
) -> None:
    for _ in range(20):
        assert (await source.verify(push(issuer.mint(AUDIENCE, SA)))).status == 202
    assert issuer.certs_served == 1
    clock.now += 21600  # the max-age the issuer sent
    assert (await source.verify(push(issuer.mint(AUDIENCE, SA)))).status == 202
    assert issuer.certs_served == 2


async def test_a_new_signing_key_is_fetched_and_made_up_ones_are_throttled(
    source: Any, issuer: GoogleTokenIssuer, clock: Clock
) -> None:
    assert (await source.verify(push(issuer.mint(AUDIENCE, SA)))).status == 202
    issuer.rotate()
    stranger = GoogleTokenIssuer()
    for _ in range(5):  # unknown key ids within the window fetch nothing
        assert (await source.verify(push(stranger.mint(AUDIENCE, SA)))).status == 401
        assert (await source.verify(push(issuer.mint(AUDIENCE, SA)))).status == 401
    assert issuer.certs_served == 1
    clock.now += MIN_REFETCH_SECONDS
    assert (await source.verify(push(issuer.mint(AUDIENCE, SA)))).status == 202
    assert issuer.certs_served == 2


async def test_unreachable_certificates_answer_503_so_pubsub_retries(
    issuer: GoogleTokenIssuer, unused_tcp_port: int
) -> None:
    source = GCPSecretManagerPubSub(
        AUDIENCE, SA, GoogleCerts(f"http://127.0.0.1:{unused_tcp_port}/certs"), {})
    try:
        verdict = await source.verify(push(issuer.mint(AUDIENCE, SA)))
    finally:
        await source.close()
    assert (verdict.status, verdict.reason) == (503, "certs_unavailable")
