"""The Kubernetes resources kes reads and writes, as values that build their own URLs."""

from __future__ import annotations

from dataclasses import dataclass

from kes import api

Key = tuple[str, str]
"""(namespace, name) of an object; the namespace is "" for cluster-scoped ones."""


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """`/api/v1/namespaces/NS/secrets/NAME/status`, or a cluster-wide list without
        a namespace."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            root += f"/namespaces/{namespace}"
        path = f"{root}/{self.plural}"
        if name is not None:
            path += f"/{name}"
            if subresource is not None:
                path += f"/{subresource}"
        return path

    def counted(self, subresource: str | None = None) -> str:
        """How metrics name requests to it: `secrets`, `externalsecrets/status`."""
        return f"{self.plural}/{subresource}" if subresource else self.plural


EXTERNALSECRETS = Resource(api.GROUP, api.VERSION, api.PLURAL, api.KIND)
SECRETS = Resource("", "v1", "secrets", "Secret")
EVENTS = Resource("", "v1", "events", "Event")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
