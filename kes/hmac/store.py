"""The job's one Secret Manager secret: its latest version holds the token map."""

from __future__ import annotations

from dataclasses import dataclass, field

from kes.gsm import NotFound, SecretManager

_LABELS = {"managed-by": "kes-hmac"}


@dataclass(frozen=True)
class Stored:
    version: str | None  # the latest enabled version, None when there is none
    data: bytes = field(repr=False)
    secret_exists: bool


class TokenStore:
    def __init__(self, gsm: SecretManager, project: str, secret: str) -> None:
        self._gsm = gsm
        self.secret_name = f"projects/{project}/secrets/{secret}"

    async def read(self) -> Stored:
        try:
            versions = await self._gsm.list_versions(self.secret_name)
        except NotFound:
            return Stored(None, b"", secret_exists=False)
        if not any(v.state == "ENABLED" for v in versions):
            return Stored(None, b"", secret_exists=True)
        value = await self._gsm.access(f"{self.secret_name}/versions/latest")
        return Stored(value.name, value.data, secret_exists=True)

    async def create(self) -> None:
        await self._gsm.create_secret(self.secret_name, labels=_LABELS)

    async def write(self, data: bytes) -> str:
        return await self._gsm.add_version(self.secret_name, data)

    async def superseded(self, latest: str) -> list[str]:
        """Versions other than `latest` whose payload can still be read back."""
        number = latest.rsplit("/", 1)[1]
        return [
            v.name
            for v in await self._gsm.list_versions(self.secret_name)
            if v.state != "DESTROYED" and v.name.rsplit("/", 1)[1] != number
        ]

    async def destroy(self, version: str) -> None:
        await self._gsm.destroy_version(version)
