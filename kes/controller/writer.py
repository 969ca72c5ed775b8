"""Every Kubernetes write the controller makes: Secrets, ExternalSecret status, Events.

The official client is synchronous, so each call runs in a worker thread. A write
that loses a race (409) is re-planned on fresh state, never forced.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kes.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from kes.controller.manifest import Plan, WriteAction, merge_for_update, plan_write
from kes.controller.status import EventNote
from kes.errors import KesError
from kes.spec import FORBIDDEN_SECRET_TYPES

MAX_ATTEMPTS = 5
REQUEST_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds for every Kubernetes request: a hung connection must not hold
a sync slot, or a shutdown, forever."""

T = TypeVar("T")
RequestCounter = Callable[[str, str], None]
"""(verb, resource): counts every request, reads included, for metrics."""


class WriteError(KesError):
    """A Secret could not be written; the message names it and never holds data."""


class NotOwnedError(WriteError):
    """The Secret exists and belongs to something else: kes leaves it alone."""

    def __init__(self, message: str, secret: Mapping[str, Any]) -> None:
        super().__init__(message)
        meta = secret.get("metadata", {})
        self.uid: str = meta.get("uid", "")
        self.resource_version: str = meta.get("resourceVersion", "")


@dataclass(frozen=True)
class WriteResult:
    action: WriteAction
    secret: dict[str, Any] | None = field(repr=False)
    """The Secret as the API server answered it, for the cache (values: never shown)."""


def _body(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data)
    return data


def _reason(e: ApiException) -> str:
    try:
        message = json.loads(e.body or "").get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return f"HTTP {e.status}: {message or e.reason}"


class KubeWriter:
    def __init__(self, api_client: k8s.ApiClient, count: RequestCounter) -> None:
        self._core = k8s.CoreV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)
        self._count = count

    async def _call(
        self, verb: str, resource: str, fn: Callable[..., T], *args: Any, **kw: Any
    ) -> T:
        self._count(verb, resource)
        if verb in ("create", "update"):
            kw["_headers"] = {"Content-Type": "application/json"}
        try:
            return await asyncio.to_thread(
                fn, *args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kw
            )
        except urllib3.exceptions.HTTPError as e:
            raise WriteError(f"{verb} {resource}: the API server cannot be reached: {e}") from None

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret as the API server holds it now, or None; a WriteError on failure."""
        return await self._fresh(namespace, name, f"Secret {namespace}/{name}")

    async def _read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _body(
                await self._call(
                    "get", "secrets", self._core.read_namespaced_secret, name, namespace
                )
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def apply_secret(
        self, manifest: Mapping[str, Any], actual: Mapping[str, Any] | None
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
                return WriteResult(WriteAction.NONE, dict(actual) if actual else None)
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
                    updated = await self._update(
                        namespace, name, merge_for_update(manifest, actual)
                    )
                    return WriteResult(WriteAction.UPDATED, updated)
                if plan is Plan.REPLACE:
                    assert actual is not None
                    await self._check_replacement(namespace, manifest, where)
                    await self._delete(namespace, name, actual)
                    deleted = True
                created = await self._create(namespace, manifest)
                return WriteResult(
                    WriteAction.REPLACED if deleted else WriteAction.CREATED, created
                )
            except ApiException as e:
                if e.status not in (404, 409):
                    raise WriteError(f"{where}: {_reason(e)}") from None
                actual = await self._fresh(namespace, name, where)
        raise WriteError(f"{where}: still conflicting after {MAX_ATTEMPTS} attempts")

    async def _create(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        fn = self._core.create_namespaced_secret
        return _body(await self._call("create", "secrets", fn, namespace, body))

    async def _check_replacement(
        self, namespace: str, manifest: Mapping[str, Any], where: str
    ) -> None:
        """Ask the API server whether the replacement would be accepted before the good
        Secret is deleted (a tls Secret without tls.crt is not). The dry run uses a
        generated name: a dry-run create under the taken name would only answer 409."""
        meta = {k: v for k, v in manifest["metadata"].items() if k != "name"}
        meta["generateName"] = f"{manifest['metadata']['name']}-"
        probe = {**manifest, "metadata": meta}
        fn = self._core.create_namespaced_secret
        try:
            await self._call("create", "secrets", fn, namespace, probe, dry_run="All")
        except ApiException as e:
            if e.status in (400, 422):
                raise WriteError(
                    f"{where}: the replacement was rejected, so the Secret is kept as it "
                    f"is: {_reason(e)}"
                ) from None
            raise

    async def _update(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A full PUT carrying the cached resourceVersion: a stale cache answers 409."""
        fn = self._core.replace_namespaced_secret
        return _body(await self._call("update", "secrets", fn, name, namespace, body))

    async def _delete(self, namespace: str, name: str, actual: Mapping[str, Any]) -> None:
        """Delete exactly the Secret that was planned on: another one answers 409."""
        preconditions = k8s.V1Preconditions(
            uid=actual["metadata"]["uid"], resource_version=actual["metadata"]["resourceVersion"]
        )
        fn = self._core.delete_namespaced_secret
        options = k8s.V1DeleteOptions(preconditions=preconditions)
        await self._call("delete", "secrets", fn, name, namespace, body=options)

    async def _fresh(self, namespace: str, name: str, where: str) -> dict[str, Any] | None:
        try:
            return await self._read_secret(namespace, name)
        except ApiException as e:
            raise WriteError(f"{where}: {_reason(e)}") from None

    async def write_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; answers the whole ExternalSecret."""
        try:
            response = await self._call(
                "patch",
                "externalsecrets/status",
                self._custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": dict(status)},
            )
        except ApiException as e:
            raise WriteError(f"status of ExternalSecret {namespace}/{name}: {_reason(e)}") from None
        return _body(response)

    async def post_event(self, involved: Mapping[str, Any], note: EventNote) -> None:
        meta = involved["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion"),
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
            await self._call(
                "create", "events", self._core.create_namespaced_event, meta["namespace"], event
            )
        except ApiException as e:
            where = f"{meta['namespace']}/{meta['name']}"
            raise WriteError(f"Event for ExternalSecret {where}: {_reason(e)}") from None
