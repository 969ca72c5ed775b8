"""Waiting until a token map version has reached the pods that check signatures.

The controller syncs Secret Manager into a Secret and reports the version it served
in the ExternalSecret's `status.versions`; the kubelet then updates mounted files
within its sync period, which no API shows, hence a grace period on top.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from kes.errors import KesError
from kes.kube import EXTERNALSECRETS, SECRETS, Kube, KubeError
from kes.names import SecretVersionName

Sleep = Callable[[float], Awaitable[None]]


class PropagationTimeout(KesError):
    """A token map version was not seen in the cluster in time; the caller adds what
    that means for the run."""


class Propagation(Protocol):
    def describe(self) -> str: ...

    async def wait(self, version: SecretVersionName, tokens: Collection[str]) -> None:
        """Return once `version` (holding `tokens`) is what the receiver checks against."""


@dataclass
class ExternalSecretPropagation:
    """Polls one ExternalSecret and its Secret (same name) through the Kubernetes API."""

    kube: Kube
    namespace: str
    name: str
    grace: float
    timeout: float
    poll_interval: float = 2.0
    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.monotonic

    def describe(self) -> str:
        return (
            f"waiting for ExternalSecret {self.namespace}/{self.name} to serve each new "
            f"version (timeout {self.timeout:g}s), then {self.grace:g}s for the kubelet"
        )

    async def wait(self, version: SecretVersionName, tokens: Collection[str]) -> None:
        deadline = self.clock() + self.timeout
        while True:
            missing = await self._missing(version, tokens)
            if missing is None:
                break
            if self.clock() >= deadline:
                raise PropagationTimeout(f"after {self.timeout:g}s, {missing}")
            await self.sleep(self.poll_interval)
        await self.sleep(self.grace)

    async def _missing(self, version: SecretVersionName, tokens: Collection[str]) -> str | None:
        """What is not there yet, or None once both the status and the Secret have it."""
        where = f"ExternalSecret {self.namespace}/{self.name}"
        try:
            obj = await self.kube.get(EXTERNALSECRETS, self.namespace, self.name)
        except KubeError as err:
            return f"{where} could not be read ({err})"
        if obj is None:
            return f"{where} does not exist"
        served = [
            entry.get("resolved")
            for entry in (obj.get("status") or {}).get("versions") or []
            if isinstance(entry, dict)
        ]
        if not any(_serves(resolved, version) for resolved in served):
            return f"{where} status.versions does not report {version}"
        try:
            secret = await self.kube.get(SECRETS, self.namespace, self.name)
        except KubeError as err:
            return f"Secret {self.namespace}/{self.name} could not be read ({err})"
        data = (secret or {}).get("data") or {}
        held = b"\n".join(base64.b64decode(v) for v in data.values())
        if not all(token.encode() in held for token in tokens):
            return f"Secret {self.namespace}/{self.name} does not hold the new tokens yet"
        return None


def _serves(resolved: object, version: SecretVersionName) -> bool:
    """Whether a `status.versions[].resolved` entry names `version`."""
    try:
        return isinstance(resolved, str) and SecretVersionName.parse(resolved).same_version(version)
    except ValueError:
        return False
