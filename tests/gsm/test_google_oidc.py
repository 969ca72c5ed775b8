"""The emulated Google token issuer, checked by google-auth's own verification path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.auth import exceptions
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token

from kes_emulators.google_oidc import GoogleTokenIssuer

SA = "push@proj.iam.gserviceaccount.com"


@pytest.fixture
def issuer() -> Iterator[GoogleTokenIssuer]:
    with GoogleTokenIssuer().background() as issuer:
        yield issuer


def verify(issuer: GoogleTokenIssuer, token: str, audience: str = "aud") -> dict[str, object]:
    claims: dict[str, object] = id_token.verify_token(
        token, google_requests.Request(), audience=audience, certs_url=issuer.certs_url
    )
    return claims


def test_tokens_verify_with_the_published_certificates(issuer: GoogleTokenIssuer) -> None:
    claims = verify(issuer, issuer.mint("aud", SA))
    assert (claims["aud"], claims["email"], claims["iss"]) == ("aud", SA, "https://accounts.google.com")
    assert issuer.certs_served == 1


def test_after_a_rotation_both_keys_verify(issuer: GoogleTokenIssuer) -> None:
    before = issuer.mint("aud", SA)
    issuer.rotate()
    after = issuer.mint("aud", SA)
    assert len(issuer.certificates()) == 2
    assert verify(issuer, before)["email"] == verify(issuer, after)["email"] == SA


def test_another_issuers_token_does_not_verify(issuer: GoogleTokenIssuer) -> None:
    stranger = GoogleTokenIssuer()
    with pytest.raises((ValueError, exceptions.GoogleAuthError)):
        verify(issuer, stranger.mint("aud", SA))


def test_expired_and_wrong_audience_tokens_do_not_verify(issuer: GoogleTokenIssuer) -> None:
    with pytest.raises((ValueError, exceptions.GoogleAuthError)):
        verify(issuer, issuer.mint("aud", SA, issued_at=1_000_000_000))
    with pytest.raises((ValueError, exceptions.GoogleAuthError)):
        verify(issuer, issuer.mint("other", SA))
