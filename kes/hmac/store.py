"""The job's one Secret Manager secret: its `latest` version holds the token map."""

from __future__ import annotations

from dataclasses import dataclass, field

from kes.errors import KesError
from kes.gsm import NotFound, SecretManager
from kes.names import SecretName, SecretVersionName

_LABELS = {"managed-by": "kes-hmac"}


class StoreError(KesError):
    """The token secret is in a state the job must not guess about."""


@dataclass(frozen=True)
class Stored:
    version: SecretVersionName | None  # `latest` as read; None when the secret has no versions
    data: bytes = field(repr=False)
    secret_exists: bool


class TokenStore:
    def __init__(self, gsm: SecretManager, project: str, secret: str) -> None:
        self._gsm = gsm
        self.secret_name = SecretName(project, secret)

    async def read(self) -> Stored:
        """The `latest` version, which must be enabled. Only a secret without any version
        reads as empty: a disabled or destroyed latest version may hide tokens hooks still
        sign with, and starting over from an empty map would drop them."""
        try:
            versions = await self._gsm.list_versions(self.secret_name)
        except NotFound:
            return Stored(None, b"", secret_exists=False)
        if not versions:
            return Stored(None, b"", secret_exists=True)
        latest = versions[0]  # newest first: what `latest` resolves to
        if latest.state != "ENABLED":
            raise StoreError(
                f"{latest.name} is {latest.state}: kes hmac reads the latest version of "
                f"{self.secret_name}; enable it, or add a version holding the current token map"
            )
        value = await self._gsm.access(self.secret_name.version("latest"))
        return Stored(value.name, value.data, secret_exists=True)

    async def create(self) -> None:
        await self._gsm.create_secret(self.secret_name, labels=_LABELS)

    async def write(self, data: bytes) -> SecretVersionName:
        return await self._gsm.add_version(self.secret_name, data)

    async def superseded(self, latest: SecretVersionName) -> list[SecretVersionName]:
        """Versions other than `latest` whose payload can still be read back."""
        return [
            v.name
            for v in await self._gsm.list_versions(self.secret_name)
            if v.state != "DESTROYED" and v.name.version != latest.version
        ]

    async def destroy(self, version: SecretVersionName) -> None:
        await self._gsm.destroy_version(version)
