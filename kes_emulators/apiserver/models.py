"""Schemas of the built-in kinds, derived at run time from the `kubernetes` client's models.

The client is generated from kube-apiserver's own OpenAPI document, and each model
class keeps what the server's schema said of its fields: JSON names (`attribute_map`),
types (`openapi_types`, with int-or-string and free-form values told apart by their
annotations), whether a field is required, and its description. From them come both
the OpenAPI documents the server publishes and the structural schemas writes of
built-in kinds are checked against, without a large generated file in the repository.

What the models do not carry is added here by hand, from the Go types of k8s.io/api:
patch strategies and merge keys (for strategic merge patch), the enums the real
validation enforces for the kinds deployment manifests use, and which string maps hold
resource quantities (which JSON numbers may also spell).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import kubernetes.client.models as client_models

Schema = dict[str, Any]


@dataclass(frozen=True)
class Patch:
    """A list's `patchStrategy` and `patchMergeKey` (None for lists of scalars)."""

    strategy: str
    merge_key: str | None


def _merge(key: str | None) -> Patch:
    return Patch("merge", key)


# (model, JSON field) -> strategy, as the Go struct tags of k8s.io/api declare them.
PATCH_STRATEGIES: dict[tuple[str, str], Patch] = {
    ("V1ObjectMeta", "finalizers"): _merge(None),
    ("V1ObjectMeta", "ownerReferences"): _merge("uid"),
    ("V1PodSpec", "volumes"): Patch("merge,retainKeys", "name"),
    ("V1PodSpec", "initContainers"): _merge("name"),
    ("V1PodSpec", "containers"): _merge("name"),
    ("V1PodSpec", "ephemeralContainers"): _merge("name"),
    ("V1PodSpec", "imagePullSecrets"): _merge("name"),
    ("V1PodSpec", "hostAliases"): _merge("ip"),
    ("V1PodSpec", "topologySpreadConstraints"): _merge("topologyKey"),
    ("V1PodSpec", "schedulingGates"): _merge("name"),
    ("V1PodSpec", "resourceClaims"): Patch("merge,retainKeys", "name"),
    ("V1Container", "ports"): _merge("containerPort"),
    ("V1Container", "env"): _merge("name"),
    ("V1Container", "volumeMounts"): _merge("mountPath"),
    ("V1Container", "volumeDevices"): _merge("devicePath"),
    ("V1EphemeralContainer", "env"): _merge("name"),
    ("V1EphemeralContainer", "volumeMounts"): _merge("mountPath"),
    ("V1EphemeralContainer", "volumeDevices"): _merge("devicePath"),
    ("V1PodStatus", "conditions"): _merge("type"),
    ("V1PodStatus", "podIPs"): _merge("ip"),
    ("V1PodStatus", "hostIPs"): _merge("ip"),
    ("V1ServiceSpec", "ports"): _merge("port"),
    ("V1ServiceAccount", "secrets"): _merge("name"),
    ("V1NamespaceStatus", "conditions"): _merge("type"),
    ("V1DeploymentSpec", "strategy"): Patch("retainKeys", None),
    ("V1DeploymentStatus", "conditions"): _merge("type"),
    ("V1ReplicaSetStatus", "conditions"): _merge("type"),
    ("V1StatefulSetStatus", "conditions"): _merge("type"),
    ("V1DaemonSetStatus", "conditions"): _merge("type"),
    ("V1ReplicationControllerStatus", "conditions"): _merge("type"),
    ("V1JobStatus", "conditions"): _merge("type"),
    ("V1PodDisruptionBudgetStatus", "conditions"): _merge("type"),
    ("V1PersistentVolumeClaimStatus", "conditions"): _merge("type"),
    ("V1ServiceStatus", "conditions"): _merge("type"),
}

_PROTOCOLS = ("SCTP", "TCP", "UDP")
# (model, JSON field) -> the values the real validation accepts (422 NotSupported
# otherwise); only where deployment manifests commonly set them.
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("V1Container", "imagePullPolicy"): ("Always", "IfNotPresent", "Never"),
    ("V1Container", "terminationMessagePolicy"): ("FallbackToLogsOnError", "File"),
    ("V1ContainerPort", "protocol"): _PROTOCOLS,
    ("V1ServicePort", "protocol"): _PROTOCOLS,
    ("V1NetworkPolicyPort", "protocol"): _PROTOCOLS,
    ("V1PodSpec", "restartPolicy"): ("Always", "Never", "OnFailure"),
    ("V1PodSpec", "dnsPolicy"): ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"),
    ("V1ServiceSpec", "type"): ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"),
    ("V1ServiceSpec", "sessionAffinity"): ("ClientIP", "None"),
    ("V1DeploymentStrategy", "type"): ("Recreate", "RollingUpdate"),
    ("V1CronJobSpec", "concurrencyPolicy"): ("Allow", "Forbid", "Replace"),
    ("V1HTTPIngressPath", "pathType"): ("Exact", "ImplementationSpecific", "Prefix"),
    ("V1NetworkPolicySpec", "policyTypes"): ("Egress", "Ingress"),
    ("V1PodDisruptionBudgetSpec", "unhealthyPodEvictionPolicy"): (
        "AlwaysAllow", "IfHealthyBudget"),
    ("V1SeccompProfile", "type"): ("Localhost", "RuntimeDefault", "Unconfined"),
}

# String maps whose values are resource quantities: `cpu: 1` is as good as `cpu: "1"`.
QUANTITY_MAPS = {
    ("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
    ("V1VolumeResourceRequirements", "limits"), ("V1VolumeResourceRequirements", "requests"),
    ("V1PodSpec", "overhead"), ("V1PersistentVolumeSpec", "capacity"),
}
QUANTITY_FIELDS = {("V1EmptyDirVolumeSource", "sizeLimit")}

# Where a model's full OpenAPI name does not follow from the kind that first uses it.
_APIMACHINERY = "io.k8s.apimachinery.pkg.apis.meta.v1"
_SPECIAL_NAMES = {
    "V1ObjectMeta": f"{_APIMACHINERY}.ObjectMeta",
    "V1ListMeta": f"{_APIMACHINERY}.ListMeta",
    "V1LabelSelector": f"{_APIMACHINERY}.LabelSelector",
    "V1LabelSelectorRequirement": f"{_APIMACHINERY}.LabelSelectorRequirement",
    "V1ManagedFieldsEntry": f"{_APIMACHINERY}.ManagedFieldsEntry",
    "V1OwnerReference": f"{_APIMACHINERY}.OwnerReference",
    "V1Condition": f"{_APIMACHINERY}.Condition",
    "V1Status": f"{_APIMACHINERY}.Status",
    "V1StatusDetails": f"{_APIMACHINERY}.StatusDetails",
    "V1StatusCause": f"{_APIMACHINERY}.StatusCause",
    "V1DeleteOptions": f"{_APIMACHINERY}.DeleteOptions",
    "V1Preconditions": f"{_APIMACHINERY}.Preconditions",
}


def model(name: str) -> Any:
    cls = getattr(client_models, name, None)
    if cls is None or not hasattr(cls, "openapi_types"):
        raise KeyError(f"the kubernetes client has no model {name!r}")
    return cls


def short_name(model_name: str) -> str:
    """`V1DeploymentSpec` -> `DeploymentSpec`, `CoreV1Event` -> `Event`."""
    return re.sub(r"^[A-Za-z]*?V\d+(?:alpha\d+|beta\d+)?(?=[A-Z])", "", model_name)


def description(cls: Any) -> str:
    """The model's own description: its docstring before the generated `Attributes:`."""
    text = (cls.__doc__ or "").split("Attributes:")[0]
    return " ".join(text.split())


@dataclass(frozen=True)
class Field:
    """One field of a model, as its JSON spells it."""

    name: str  # JSON name
    type: str  # openapi_types entry: "str", "List[V1Container]", "Dict[str, str]", ...
    required: bool
    description: str
    int_or_string: bool


@cache
def fields(model_name: str) -> tuple[Field, ...]:
    cls = model(model_name)
    result = []
    for attr, type_name in cls.openapi_types.items():
        # keywords and pydantic's own names are fields `var_<name>` (`_exec`: `var_exec`)
        info = cls.model_fields.get(attr) or cls.model_fields["var_" + attr.lstrip("_")]
        annotation = str(info.annotation)
        result.append(Field(
            name=cls.attribute_map[attr], type=type_name, required=info.is_required(),
            description=info.description or "",
            int_or_string=type_name == "object" and "int" in annotation and "str" in annotation))
    return tuple(result)


_LIST = re.compile(r"^List\[(.+)\]$")
_DICT = re.compile(r"^Dict\[str, (.+)\]$")
_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
            "datetime": "string", "date": "string", "bytes": "string"}
# Published in the documents; writes are not checked against them (typed decoding is).
_FORMATS = {"datetime": "date-time", "date": "date", "bytes": "byte"}
MODEL_KEY = "x-kes-go-struct"  # the Go struct an inline schema stands for, for messages
INT_OR_STRING: Schema = {"x-kubernetes-int-or-string": True}
QUANTITY: Schema = {"x-kubernetes-int-or-string": True, "format": "quantity"}
FREE_FORM: Schema = {"x-kubernetes-preserve-unknown-fields": True}


def type_schema(type_name: str, ref: Callable[[str], Schema], with_docs: bool) -> Schema:
    """An openapi_types entry as a schema; `ref` turns a model name into one."""
    if type_name in _SCALARS:
        schema: Schema = {"type": _SCALARS[type_name]}
        if with_docs and type_name in _FORMATS:
            schema["format"] = _FORMATS[type_name]
        return schema
    if type_name == "object":
        return dict(FREE_FORM)
    found = _LIST.match(type_name)
    if found:
        return {"type": "array", "items": type_schema(found.group(1), ref, with_docs)}
    found = _DICT.match(type_name)
    if found:
        return {"type": "object",
                "additionalProperties": type_schema(found.group(1), ref, with_docs)}
    return ref(type_name)


def field_schema(model_name: str, item: Field, ref: Callable[[str], Schema],
                 with_docs: bool) -> Schema:
    """A field's schema with what this module adds to the model: quantities, enums,
    patch strategies; descriptions when `with_docs`."""
    key = (model_name, item.name)
    if item.int_or_string or key in QUANTITY_FIELDS:
        schema = dict(QUANTITY if key in QUANTITY_FIELDS else INT_OR_STRING)
    elif key in QUANTITY_MAPS:
        schema = {"type": "object", "additionalProperties": dict(QUANTITY)}
    else:
        schema = type_schema(item.type, ref, with_docs)
    enum = ENUMS.get(key)
    if enum is not None:
        target = schema["items"] if schema.get("type") == "array" else schema
        target["enum"] = list(enum)
    patch = PATCH_STRATEGIES.get(key)
    if patch is not None:
        schema["x-kubernetes-patch-strategy"] = patch.strategy
        if patch.merge_key:
            schema["x-kubernetes-patch-merge-key"] = patch.merge_key
    if with_docs and item.description:
        schema["description"] = item.description
    return schema


def model_refs(type_name: str) -> list[str]:
    """The model names an openapi_types entry refers to."""
    found = _LIST.match(type_name) or _DICT.match(type_name)
    if found:
        return model_refs(found.group(1))
    return [] if type_name in _SCALARS or type_name == "object" else [type_name]


@cache
def structural(model_name: str) -> Schema:
    """The model as one inline schema, for validating writes: types, required fields and
    enums. A model met again inside itself (only JSONSchemaProps) is left free-form."""
    return _inline(model_name, ())


def _inline(model_name: str, within: tuple[str, ...]) -> Schema:
    if model_name in within:
        return dict(FREE_FORM)

    def ref(name: str) -> Schema:
        return _inline(name, (*within, model_name))

    items = fields(model_name)
    schema: Schema = {"type": "object", MODEL_KEY: short_name(model_name), "properties": {
        item.name: field_schema(model_name, item, ref, with_docs=False) for item in items}}
    required = [item.name for item in items if item.required]
    if required:
        schema["required"] = required
    return schema


def walk_strategies(model_name: str) -> dict[str, Patch]:
    """Every list with a patch strategy under a kind, by field path (list items add no
    segment), as strategic merge patch looks them up."""
    found: dict[str, Patch] = {}

    def visit(name: str, path: str, within: tuple[str, ...]) -> None:
        if name in within:
            return
        for item in fields(name):
            child = f"{path}.{item.name}" if path else item.name
            patch = PATCH_STRATEGIES.get((name, item.name))
            if patch is not None and item.type.startswith("List["):
                found[child] = patch
            for nested in model_refs(item.type):
                visit(nested, child, (*within, name))

    visit(model_name, "", ())
    return found


def openapi_name(model_name: str, group: str, version: str) -> str:
    """The definition name kube-apiserver publishes, e.g. `io.k8s.api.apps.v1.Deployment`."""
    special = _SPECIAL_NAMES.get(model_name)
    if special is not None:
        return special
    if group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}." + short_name(
            model_name)
    package = group.split(".")[0] if group else "core"
    return f"io.k8s.api.{package}.{version}.{short_name(model_name)}"

