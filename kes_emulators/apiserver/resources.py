"""The resource types the server knows, built-in and from CRDs, and their discovery documents."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kes_emulators.apiserver.conversion import EVENTS_V1, Converter

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
REVIEW_VERBS = ("create",)

# A kind's field-selector fields beyond metadata.name/namespace; an extractor returns
# every field it supports, empty when the object lacks it, as the real server does.
FieldExtractor = Callable[[Mapping[str, Any]], dict[str, str]]
_INVOLVED_OBJECT_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                           "fieldPath")


def _no_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    return {}


def _secret_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    return {"type": str(obj.get("type", ""))}


def _event_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    involved = obj.get("involvedObject") or {}
    fields = {f"involvedObject.{k}": str(involved.get(k, "")) for k in _INVOLVED_OBJECT_FIELDS}
    fields["reason"] = str(obj.get("reason", ""))
    fields["type"] = str(obj.get("type", ""))
    return fields


def _namespace_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    return {"status.phase": str((obj.get("status") or {}).get("phase", ""))}


@dataclass(frozen=True)
class ResourceType:
    """One resource at one group/version, as a URL names it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    builtin: bool = True
    # custom resources: the openAPIV3Schema of this version and its printer columns
    schema: Mapping[str, Any] | None = None
    printer_columns: tuple[Mapping[str, Any], ...] = ()
    field_extras: FieldExtractor = field(default=_no_fields, compare=False)
    extra_subresources: tuple[str, ...] = ()
    # a resource stored as another (group, plural), converted on the way in and out
    storage: tuple[str, str] | None = None
    converter: Converter | None = field(default=None, compare=False)
    # built-in kinds: the `kubernetes` client model of the stored form (see models.py),
    # of the form this API shows when it differs, and whether spec writes bump generation
    model: str = ""
    shown_model: str = ""
    generation: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def published_model(self) -> str:
        """The model the OpenAPI documents describe this API's objects with."""
        return self.shown_model or self.model

    @property
    def storage_key(self) -> tuple[str, str]:
        """Every version of a resource shares one storage, keyed by group and plural."""
        return self.storage or (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def selectable_fields(self, obj: Mapping[str, Any]) -> dict[str, str]:
        meta = obj.get("metadata") or {}
        fields = {"metadata.name": meta.get("name", "")}
        if self.namespaced:
            fields["metadata.namespace"] = meta.get("namespace", "")
        fields.update(self.field_extras(obj))
        return fields

    def supported_fields(self) -> frozenset[str]:
        return frozenset(self.selectable_fields({"metadata": {}}))

    def discovery_entries(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        entries = [entry]
        for sub in self.subresources():
            entries.append({
                "name": f"{self.plural}/{sub}",
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            })
        return entries

    def subresources(self) -> tuple[str, ...]:
        status = ("status",) if self.status_subresource else ()
        return status + self.extra_subresources


def _core(plural: str, kind: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    return ResourceType("", "v1", plural, kind, namespaced, singular=kind.lower(),
                        model=kw.pop("model", f"V1{kind}"), **kw)


def _rbac(plural: str, kind: str, namespaced: bool) -> ResourceType:
    return ResourceType("rbac.authorization.k8s.io", "v1", plural, kind, namespaced,
                        singular=kind.lower(), model=f"V1{kind}")


def _workload(group: str, plural: str, kind: str, short_names: tuple[str, ...] = (),
              categories: tuple[str, ...] = ("all",), status: bool = True) -> ResourceType:
    """A kind that deployment manifests use: stored and validated, never run."""
    return ResourceType(group, "v1", plural, kind, True, singular=kind.lower(),
                        short_names=short_names, categories=categories,
                        status_subresource=status, model=f"V1{kind}", generation=True)


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short_names=("ns",),
          status_subresource=True, extra_subresources=("finalize",),
          field_extras=_namespace_fields,
          verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _core("secrets", "Secret", field_extras=_secret_fields),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("events", "Event", short_names=("ev",), field_extras=_event_fields,
          model="CoreV1Event"),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _core("services", "Service", short_names=("svc",), categories=("all",),
          status_subresource=True),
    _core("endpoints", "Endpoints", short_names=("ep",)),
    _core("pods", "Pod", short_names=("po",), categories=("all",), status_subresource=True),
    _core("replicationcontrollers", "ReplicationController", short_names=("rc",),
          categories=("all",), status_subresource=True, generation=True),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",),
          status_subresource=True),
    _core("persistentvolumes", "PersistentVolume", namespaced=False, short_names=("pv",),
          status_subresource=True),
    _workload("apps", "deployments", "Deployment", ("deploy",)),
    _workload("apps", "replicasets", "ReplicaSet", ("rs",)),
    _workload("apps", "statefulsets", "StatefulSet", ("sts",)),
    _workload("apps", "daemonsets", "DaemonSet", ("ds",)),
    _workload("batch", "jobs", "Job"),
    _workload("batch", "cronjobs", "CronJob", ("cj",)),
    _workload("policy", "poddisruptionbudgets", "PodDisruptionBudget", ("pdb",), ()),
    _workload("networking.k8s.io", "networkpolicies", "NetworkPolicy", ("netpol",), (),
              status=False),
    _workload("networking.k8s.io", "ingresses", "Ingress", ("ing",), ()),
    ResourceType("events.k8s.io", "v1", "events", "Event", True, singular="event",
                 short_names=("ev",), storage=("", "events"), converter=EVENTS_V1,
                 model="CoreV1Event", shown_model="EventsV1Event"),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, singular="lease",
                 model="V1Lease"),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                 "CustomResourceDefinition", False, singular="customresourcedefinition",
                 short_names=("crd", "crds"), categories=("api-extensions",),
                 status_subresource=True, model="V1CustomResourceDefinition"),
    _rbac("roles", "Role", True),
    _rbac("clusterroles", "ClusterRole", False),
    _rbac("rolebindings", "RoleBinding", True),
    _rbac("clusterrolebindings", "ClusterRoleBinding", False),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews",
                 "SelfSubjectAccessReview", False, singular="selfsubjectaccessreview",
                 verbs=REVIEW_VERBS, model="V1SelfSubjectAccessReview"),
    ResourceType("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview",
                 False, singular="subjectaccessreview", verbs=REVIEW_VERBS,
                 model="V1SubjectAccessReview"),
)

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACES_KEY = ("", "namespaces")


def types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The resource types an (established) CRD serves, one per served version."""
    spec = crd["spec"]
    names = spec["names"]
    kind = names["kind"]
    result = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        result.append(ResourceType(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            kind=kind,
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular") or kind.lower(),
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            status_subresource="status" in subresources,
            builtin=False,
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
        ))
    return result


class Registry:
    """Which resource types are served now; CRDs add and remove theirs."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._by_crd: dict[str, list[ResourceType]] = {}
        for rtype in BUILTIN_TYPES:
            self._add(rtype)

    def _add(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def types(self) -> list[ResourceType]:
        return list(self._types.values())

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def serve_crd(self, crd: Mapping[str, Any]) -> None:
        self.forget_crd(crd["metadata"]["name"])
        types = types_from_crd(crd)
        for rtype in types:
            self._add(rtype)
        self._by_crd[crd["metadata"]["name"]] = types

    def forget_crd(self, crd_name: str) -> None:
        for rtype in self._by_crd.pop(crd_name, []):
            self._types.pop((rtype.group, rtype.version, rtype.plural), None)

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rtype in self._types.values():
            if rtype.api_version == api_version and rtype.kind == kind:
                return rtype
        return None

    def any_version(self, storage_key: tuple[str, str]) -> ResourceType | None:
        """The preferred type of a storage: what GC and namespace cleanup address it by."""
        for rtype in self._types.values():
            if rtype.storage_key == storage_key:
                return rtype
        return None

    # discovery documents

    def _versions_by_group(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for rtype in self._types.values():
            versions = groups.setdefault(rtype.group, [])
            if rtype.version not in versions:
                versions.append(rtype.version)
        return groups

    def api_group_list(self) -> dict[str, Any]:
        groups = []
        for name, versions in self._versions_by_group().items():
            if not name:
                continue
            entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
            groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self._versions_by_group().get(group)
        if not group or not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
                "preferredVersion": entries[0]}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        resources: list[dict[str, Any]] = []
        for rtype in self._types.values():
            if rtype.group == group and rtype.version == version:
                resources.extend(rtype.discovery_entries())
        if not resources:
            return None
        group_version = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                "resources": resources}
