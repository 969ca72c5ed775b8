"""Every write the controller makes: Secrets, ExternalSecret status, Events.

A write that loses a race (409) is re-planned on fresh state, never forced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kes.api import API_VERSION, KIND
from kes.controller.manifest import (
    Plan,
    SecretState,
    WriteAction,
    merge_for_update,
    plan_write,
)
from kes.controller.status import EventNote
from kes.errors import KesError
from kes.kube import EVENTS, EXTERNALSECRETS, SECRETS, Kube, KubeError
from kes.spec import FORBIDDEN_SECRET_TYPES

MAX_ATTEMPTS = 5


class WriteError(KesError):
    """A Secret could not be written; the message names it and never holds data."""


class NotOwnedError(WriteError):
    """The Secret exists and belongs to something else: kes leaves it alone."""

    def __init__(self, message: str, secret: SecretState) -> None:
        super().__init__(message)
        self.uid = secret.uid
        self.resource_version = secret.resource_version


@dataclass(frozen=True)
class WriteResult:
    action: WriteAction
    secret: SecretState | None
    """The Secret as the API server answered it, for the cache."""


@dataclass(frozen=True)
class Involved:
    """The ExternalSecret an Event is about."""

    namespace: str
    name: str
    uid: str
    resource_version: str


class SecretWriter:
    def __init__(self, kube: Kube) -> None:
        self._kube = kube

    async def read_secret(self, namespace: str, name: str) -> SecretState | None:
        """The Secret as the API server holds it now, or None; a WriteError on failure."""
        try:
            found = await self._kube.get(SECRETS, namespace, name)
        except KubeError as e:
            raise WriteError(str(e)) from None
        return None if found is None else SecretState.of(found)

    async def apply_secret(
        self, manifest: Mapping[str, Any], actual: SecretState | None
    ) -> WriteResult:
        """Bring the Secret to `manifest`, starting from the cached `actual`."""
        meta = manifest["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        where = f"Secret {namespace}/{name}"
        if manifest["type"] in FORBIDDEN_SECRET_TYPES:
            raise WriteError(f"{where}: type {manifest['type']} is not allowed")
        deleted = False
        for _ in range(MAX_ATTEMPTS):
            plan = plan_write(manifest, actual)
            if plan is Plan.NOTHING:
                return WriteResult(WriteAction.NONE, actual)
            if plan is Plan.NOT_OWNED:
                assert actual is not None
                raise NotOwnedError(
                    f"{where} exists and is not owned by this ExternalSecret; "
                    "kes does not take it over",
                    actual,
                )
            try:
                if plan is Plan.UPDATE:
                    assert actual is not None  # plan_write asks to create a missing Secret
                    body = merge_for_update(manifest, actual)
                    updated = await self._kube.replace(SECRETS, namespace, name, body)
                    return WriteResult(WriteAction.UPDATED, SecretState.of(updated))
                if plan is Plan.REPLACE:
                    assert actual is not None
                    await self._check_replacement(namespace, manifest, where)
                    await self._kube.delete(SECRETS, namespace, name, uid=actual.uid,
                                            resource_version=actual.resource_version)
                    deleted = True
                created = await self._kube.create(SECRETS, namespace, manifest)
                action = WriteAction.REPLACED if deleted else WriteAction.CREATED
                return WriteResult(action, SecretState.of(created))
            except KubeError as e:
                if e.status not in (404, 409):
                    raise WriteError(str(e)) from None
                actual = await self.read_secret(namespace, name)
        raise WriteError(f"{where}: still conflicting after {MAX_ATTEMPTS} attempts")

    async def _check_replacement(
        self, namespace: str, manifest: Mapping[str, Any], where: str
    ) -> None:
        """Ask the API server whether the replacement would be accepted before the good
        Secret is deleted (a tls Secret without tls.crt is not). The dry run uses a
        generated name: a dry-run create under the taken name would only answer 409."""
        meta = {k: v for k, v in manifest["metadata"].items() if k != "name"}
        meta["generateName"] = f"{manifest['metadata']['name']}-"
        probe = {**manifest, "metadata": meta}
        try:
            await self._kube.create(SECRETS, namespace, probe, dry_run=True)
        except KubeError as e:
            if e.status in (400, 422):
                raise WriteError(
                    f"{where}: the replacement was rejected, so the Secret is kept as it "
                    f"is: {e}"
                ) from None
            raise

    async def write_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; answers the whole ExternalSecret."""
        try:
            return await self._kube.merge_patch(
                EXTERNALSECRETS, namespace, name, {"status": dict(status)}, subresource="status"
            )
        except KubeError as e:
            raise WriteError(str(e)) from None

    async def post_event(self, involved: Involved, note: EventNote) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{involved.name}.", "namespace": involved.namespace},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": involved.name,
                "namespace": involved.namespace,
                "uid": involved.uid,
                "resourceVersion": involved.resource_version,
            },
            "type": note.type,
            "reason": note.reason,
            "message": note.message,
            "source": {"component": "kes-controller"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._kube.create(EVENTS, involved.namespace, event)
        except KubeError as e:
            raise WriteError(str(e)) from None
