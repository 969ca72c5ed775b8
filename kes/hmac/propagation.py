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
from typing import Any, Protocol

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kes.api import GROUP, PLURAL, VERSION
from kes.errors import KesError
from kes.names import SecretVersionName

Sleep = Callable[[float], Awaitable[None]]


class PropagationTimeout(KesError):
    """A token map version was not seen in the cluster in time; the caller adds what
    that means for the run."""


class Propagation(Protocol):
    def describe(self) -> str: ...

    async def wait(self, version: SecretVersionName, tokens: Collection[str]) -> None:
        """Return once `version` (holding `tokens`) is what the receiver checks against."""


def api_client(kubeconfig: str | None, context: str | None) -> Any:
    """A `kubernetes` ApiClient from a kubeconfig, else the in-cluster service account."""
    if kubeconfig is None and context is None:
        try:
            k8s_config.load_incluster_config()
            return k8s.ApiClient()
        except k8s_config.ConfigException:
            pass
    return k8s_config.new_client_from_config(config_file=kubeconfig, context=context)


@dataclass
class ExternalSecretPropagation:
    """Polls one ExternalSecret and its Secret (same name) through the Kubernetes API."""

    api: Any  # kubernetes.client.ApiClient
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
            missing = await asyncio.to_thread(self._missing, version, tokens)
            if missing is None:
                break
            if self.clock() >= deadline:
                raise PropagationTimeout(f"after {self.timeout:g}s, {missing}")
            await self.sleep(self.poll_interval)
        await self.sleep(self.grace)

    def _missing(self, version: SecretVersionName, tokens: Collection[str]) -> str | None:
        """What is not there yet, or None once both the status and the Secret have it."""
        where = f"ExternalSecret {self.namespace}/{self.name}"
        try:
            obj = k8s.CustomObjectsApi(self.api).get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, self.name
            )
        except ApiException as err:
            return f"{where} could not be read ({err.status} {err.reason})"
        except (HTTPError, OSError) as err:
            return f"{where} could not be read ({type(err).__name__})"
        status = obj.get("status") if isinstance(obj, dict) else None
        served = [
            entry.get("resolved")
            for entry in (status or {}).get("versions") or []
            if isinstance(entry, dict)
        ]
        if not any(_serves(resolved, version) for resolved in served):
            return f"{where} status.versions does not report {version}"
        try:
            secret = k8s.CoreV1Api(self.api).read_namespaced_secret(self.name, self.namespace)
        except ApiException as err:
            return f"Secret {self.namespace}/{self.name} could not be read ({err.status})"
        except (HTTPError, OSError) as err:
            return f"Secret {self.namespace}/{self.name} could not be read ({type(err).__name__})"
        held = b"\n".join(base64.b64decode(v) for v in (secret.data or {}).values())
        if not all(token.encode() in held for token in tokens):
            return f"Secret {self.namespace}/{self.name} does not hold the new tokens yet"
        return None


def _serves(resolved: object, version: SecretVersionName) -> bool:
    """Whether a `status.versions[].resolved` entry names `version`."""
    try:
        return isinstance(resolved, str) and SecretVersionName.parse(resolved).same_version(version)
    except ValueError:
        return False
