"""An emulated Google token issuer: the OIDC ID tokens Pub/Sub push subscriptions send.

A push subscription with an authentication service account adds
`Authorization: Bearer <JWT>` to each delivery: RS256-signed by Google, its `kid`
naming one of the certificates Google publishes at
https://www.googleapis.com/oauth2/v1/certs (a JSON map of key id to PEM X.509
certificate), with the claims `iss`, `aud`, `azp`, `sub`, `email`, `email_verified`,
`iat` and `exp`. This issuer holds its own RSA keys, mints tokens of that shape and
serves its certificates the same way at `certs_url`, so a receiver verifies them
with google-auth exactly as it would Google's. Tokens are signed here with
`cryptography` directly, not with the library that verifies them.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from kes_emulators.serving import BackgroundLoop

ISSUER = "https://accounts.google.com"
CERTS_PATH = "/oauth2/v1/certs"
CERTS_MAX_AGE = 21600
"""Seconds the certificates may be cached (Google answers with a max-age of hours)."""
TOKEN_LIFETIME = 3600


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class _SigningKey:
    key_id: str
    private: rsa.RSAPrivateKey = field(repr=False)
    certificate_pem: str


def _new_key() -> _SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kes-emulated-google-oauth2")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(private, hashes.SHA256())
    )
    return _SigningKey(
        key_id=uuid.uuid4().hex,
        private=private,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
    )


def subject_of(email: str) -> str:
    """A stable numeric account id for an email, as Google's `sub` and `azp` are."""
    return str(int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big"))


class GoogleTokenIssuer:
    """Mints Google-shaped ID tokens and serves the certificates that verify them.

    `certs_served` counts certificate fetches, for tests of a receiver's cache.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        self._host = host
        self._port = port
        self._clock = clock
        self._keys = [_new_key()]
        self._runner: web.AppRunner | None = None
        self.certs_served = 0
        self.url = ""

    @property
    def certs_url(self) -> str:
        if not self.url:
            raise RuntimeError("the token issuer is not started")
        return self.url + CERTS_PATH

    def mint(
        self,
        audience: str,
        email: str,
        *,
        email_verified: bool = True,
        issuer: str = ISSUER,
        lifetime: float = TOKEN_LIFETIME,
        issued_at: float | None = None,
    ) -> str:
        """An ID token for `email` (a service account) with audience `audience`."""
        now = int(self._clock() if issued_at is None else issued_at)
        subject = subject_of(email)
        claims = {
            "aud": audience,
            "azp": subject,
            "email": email,
            "email_verified": email_verified,
            "exp": now + int(lifetime),
            "iat": now,
            "iss": issuer,
            "sub": subject,
        }
        key = self._keys[-1]
        header = {"alg": "RS256", "kid": key.key_id, "typ": "JWT"}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def rotate(self) -> None:
        """Sign with a new key from now on; the old one is still published, as Google
        publishes the next and the previous key beside the current one."""
        self._keys = [*self._keys[-1:], _new_key()]

    def certificates(self) -> dict[str, str]:
        return {key.key_id: key.certificate_pem for key in self._keys}

    async def _serve_certs(self, _: web.Request) -> web.Response:
        self.certs_served += 1
        return web.json_response(
            self.certificates(), headers={"Cache-Control": f"public, max-age={CERTS_MAX_AGE}"}
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(CERTS_PATH, self._serve_certs)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self.url = f"http://{self._host}:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextmanager
    def background(self) -> Iterator[GoogleTokenIssuer]:
        """Serve from a thread of its own, for synchronous callers."""
        with BackgroundLoop("kes-google-oidc") as loop:
            loop.run(self.start())
            try:
                yield self
            finally:
                loop.run(self.stop())
