"""Every Kubernetes request kes makes outside kopf's watches goes through `Kube`.

One path: an aiohttp session (the client kopf's watches use too) with the cluster's
TLS and credentials as the official client loaded them from the kubeconfig or the
pod's service account. Each request is bounded in time, counted for metrics, its
answer read in full so the connection is reused, and its failure turned into a
KubeError that says what was asked and what the server answered. Measured against
the official client's synchronous requests in worker threads, each request costs
the controller less than half the CPU, which is most of a large cluster's start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from kes.errors import KesError, bounded
from kes.kube.config import Cluster
from kes.kube.resources import Resource

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
"""Seconds to connect and to wait for an answer: a hung connection must not hold a
sync slot, or a shutdown, forever."""
LIST_PAGE = 500
"""Objects per list page, as kubectl asks: a large cluster is read in bounded pieces."""

RequestCounter = Callable[[str, str], None]
"""(verb, resource): counts every request, reads included, for metrics."""
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


def _no_count(verb: str, resource: str) -> None:
    """The default: nothing counts requests."""


class KubeError(KesError):
    """A request that failed; `status` is the HTTP status, 0 when none came back."""

    def __init__(self, what: str, status: int, detail: str) -> None:
        where = f"HTTP {status}: {detail}" if status else (
            f"the API server cannot be reached: {detail}")
        super().__init__(f"{what}: {bounded(where)}")
        self.status = status

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


def _status_message(data: bytes, reason: str) -> str:
    """The `message` of a Status body, else the HTTP reason."""
    try:
        message = json.loads(data).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return str(message or reason)


class Kube:
    """The operations kes uses, on one cluster; safe to share across tasks of one loop."""

    def __init__(self, cluster: Cluster, count: RequestCounter = _no_count) -> None:
        self._cluster = cluster
        self._count = count
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            config = self._cluster.configuration
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._cluster.ssl_context() or False),
                timeout=aiohttp.ClientTimeout(connect=CONNECT_TIMEOUT,
                                              sock_read=READ_TIMEOUT),
                auth=aiohttp.BasicAuth(config.username, config.password or "")
                if config.username else None,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        verb: str,
        resource: Resource,
        method: str,
        path: str,
        what: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = JSON,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """One request; the parsed answer, or KubeError naming `what`."""
        self._count(verb, resource.counted(subresource))
        headers = {"Accept": JSON}
        scheme, token = self._cluster.authorization()
        if token:
            headers["Authorization"] = f"{scheme} {token}"
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        config = self._cluster.configuration
        try:
            async with self._open().request(
                method, config.host + path, params=query, data=data, headers=headers,
                proxy=config.proxy or None,
            ) as response:
                answer = await response.read()
        except (TimeoutError, aiohttp.ClientError) as e:
            raise KubeError(what, 0, str(e) or type(e).__name__) from None
        if not 200 <= response.status <= 299:
            raise KubeError(what, response.status, _status_message(answer, response.reason or ""))
        parsed: dict[str, Any] = json.loads(answer) if answer else {}
        return parsed

    # ---- the operations kes uses --------------------------------------------------

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None) -> list[dict[str, Any]]:
        """Every object, page by page; a page token that expired (410) starts over."""
        where = f" in namespace {namespace}" if namespace else ""
        what = f"list {resource.plural}{where}"
        while True:
            items: list[dict[str, Any]] = []
            token = ""
            try:
                while True:
                    query = [("limit", str(LIST_PAGE))]
                    if label_selector:
                        query.append(("labelSelector", label_selector))
                    if token:
                        query.append(("continue", token))
                    page = await self.request("list", resource, "GET",
                                              resource.path(namespace), what, query=query)
                    items += page.get("items") or []
                    token = (page.get("metadata") or {}).get("continue") or ""
                    if not token:
                        return items
            except KubeError as e:
                if e.status != 410 or not token:
                    raise

    async def get(self, resource: Resource, namespace: str | None,
                  name: str) -> dict[str, Any] | None:
        """The object, or None when there is none."""
        try:
            return await self.request("get", resource, "GET", resource.path(namespace, name),
                                      f"get {resource.kind} {_ref(namespace, name)}")
        except KubeError as e:
            if e.not_found:
                return None
            raise

    async def create(self, resource: Resource, namespace: str | None, body: Mapping[str, Any],
                     *, dry_run: bool = False) -> dict[str, Any]:
        meta = body.get("metadata") or {}
        name = meta.get("name") or f"{meta.get('generateName', '')}*"
        return await self.request(
            "create", resource, "POST", resource.path(namespace),
            f"create {resource.kind} {_ref(namespace, name)}", body=body,
            query=[("dryRun", "All")] if dry_run else None,
        )

    async def replace(self, resource: Resource, namespace: str | None, name: str,
                      body: Mapping[str, Any]) -> dict[str, Any]:
        """A full PUT; the body's resourceVersion makes a stale write answer 409."""
        return await self.request("update", resource, "PUT", resource.path(namespace, name),
                                  f"update {resource.kind} {_ref(namespace, name)}", body=body)

    async def delete(self, resource: Resource, namespace: str | None, name: str, *,
                     uid: str, resource_version: str) -> None:
        """Delete exactly the object seen: another one by the same name answers 409."""
        options = {"apiVersion": "v1", "kind": "DeleteOptions",
                   "preconditions": {"uid": uid, "resourceVersion": resource_version}}
        await self.request("delete", resource, "DELETE", resource.path(namespace, name),
                           f"delete {resource.kind} {_ref(namespace, name)}", body=options)

    async def merge_patch(self, resource: Resource, namespace: str | None, name: str,
                          patch: Mapping[str, Any], *,
                          subresource: str | None = None) -> dict[str, Any]:
        part = f" {subresource}" if subresource else ""
        return await self.request(
            "patch", resource, "PATCH", resource.path(namespace, name, subresource),
            f"patch{part} of {resource.kind} {_ref(namespace, name)}", body=patch,
            content_type=MERGE_PATCH, subresource=subresource,
        )


def _ref(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name
