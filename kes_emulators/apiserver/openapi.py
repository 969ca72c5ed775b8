"""The OpenAPI documents kube-apiserver publishes: `/openapi/v2` (one Swagger 2.0 JSON
document) and `/openapi/v3` (an index of one OpenAPI 3.0 document per group-version).

They are built from the served types: built-in kinds from the `kubernetes` client's
models (`models.py`), custom resources from their CRD's openAPIV3Schema. kubectl reads
v3 to validate (`fieldValidation` on each PATCH operation makes it validate on the
server), to compute strategic merge patches and for `kubectl explain`; clients such as
KES's load v2 at start. Protobuf renderings are not emulated (406).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from kes_emulators.apiserver import models
from kes_emulators.apiserver.resources import BUILTIN_TYPES, Registry, ResourceType

Schema = dict[str, Any]
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_PRIMITIVES: dict[str, Schema] = {
    INT_OR_STRING: {"type": "string", "format": "int-or-string",
                    "description": "IntOrString is a type that can hold an int32 or a string."},
    QUANTITY: {"type": "string", "description": "Quantity is a fixed-point representation of "
                                                "a number, such as 100m or 1Gi."},
}
PATCH_TYPES = ("application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json")


@cache
def _model_names() -> dict[str, str]:
    """Every model the built-in kinds reach, named once (core kinds come first, so a
    shared type such as PodSpec gets its core name, as upstream's does)."""
    names: dict[str, str] = {}

    def visit(model: str, group: str, version: str) -> None:
        if model in names:
            return
        names[model] = models.openapi_name(model, group, version)
        for item in models.fields(model):
            for nested in models.model_refs(item.type):
                visit(nested, group, version)

    for rtype in BUILTIN_TYPES:
        model = rtype.published_model
        visit(model, rtype.group, rtype.version)
        if hasattr(models.client_models, model + "List"):
            visit(model + "List", rtype.group, rtype.version)
    visit("V1Status", "", "v1")
    return names


def _reference(name: str, v3: bool) -> Schema:
    if v3:
        return {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}
    return {"$ref": f"#/definitions/{name}"}


@dataclass
class _Definitions:
    """The component schemas one document needs, collected as references are made."""

    v3: bool
    schemas: dict[str, Schema] = field(default_factory=dict)

    def model(self, model: str) -> Schema:
        """A reference to a model's definition, adding it (and what it uses) first."""
        name = _model_names()[model]
        if name not in self.schemas:
            self.schemas[name] = {}  # reserved: a model may refer to itself
            self.schemas[name] = self._model_schema(model)
        return _reference(name, self.v3)

    def primitive(self, name: str) -> Schema:
        self.schemas.setdefault(name, dict(_PRIMITIVES[name]))
        return _reference(name, self.v3)

    def _model_schema(self, model: str) -> Schema:
        def ref(type_name: str) -> Schema:
            return self.model(type_name)

        items = models.fields(model)
        properties = {}
        for item in items:
            key = (model, item.name)
            if item.int_or_string or key in models.QUANTITY_FIELDS:
                schema = self.primitive(QUANTITY if key in models.QUANTITY_FIELDS
                                        else INT_OR_STRING)
                if item.description:
                    schema["description"] = item.description
            elif key in models.QUANTITY_MAPS:
                schema = {"type": "object", "additionalProperties": self.primitive(QUANTITY),
                          "description": item.description}
            else:
                schema = models.field_schema(model, item, ref, with_docs=True)
            properties[item.name] = schema
        result: Schema = {"description": models.description(models.model(model)),
                          "type": "object", "properties": properties}
        required = sorted(item.name for item in items if item.required)
        if required:
            result["required"] = required
        return result


def _gvk(rtype: ResourceType) -> list[dict[str, str]]:
    return [{"group": rtype.group, "kind": rtype.kind, "version": rtype.version}]


def _custom_schema(rtype: ResourceType, definitions: _Definitions) -> Schema:
    """A custom resource's definition from its openAPIV3Schema, as apiextensions
    publishes it: metadata is ObjectMeta, apiVersion and kind are described."""
    schema = copy.deepcopy(dict(rtype.schema or {}))
    if not definitions.v3:
        schema = _as_swagger(schema)
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "description": _field_doc("V1Secret",
                                                                            "apiVersion")}
    properties["kind"] = {"type": "string", "description": _field_doc("V1Secret", "kind")}
    properties["metadata"] = dict(definitions.model("V1ObjectMeta"),
                                  description="Standard object's metadata.")
    schema["type"] = "object"
    return schema


def _field_doc(model: str, name: str) -> str:
    return next(item.description for item in models.fields(model) if item.name == name)


_SWAGGER_UNSUPPORTED = ("nullable", "anyOf", "oneOf", "not", "x-kubernetes-validations")


def _as_swagger(schema: Any) -> Any:
    """A structural schema in the subset Swagger 2.0 allows (as the real server prunes
    CRD schemas for v2: no anyOf, oneOf, not or nullable)."""
    if isinstance(schema, dict):
        return {key: _as_swagger(value) if key in ("properties", "items",
                                                   "additionalProperties", "allOf")
                else value for key, value in schema.items() if key not in _SWAGGER_UNSUPPORTED}
    if isinstance(schema, list):
        return [_as_swagger(item) for item in schema]
    return schema


def _type_schema(rtype: ResourceType, definitions: _Definitions) -> tuple[str, Schema]:
    """The name of `rtype`'s definition (added to `definitions`) and a reference to it."""
    if rtype.model:
        reference = definitions.model(rtype.published_model)
        name = _model_names()[rtype.published_model]
    else:
        labels = rtype.group.split(".")
        name = ".".join([*reversed(labels), rtype.version, rtype.kind])
        if name not in definitions.schemas:
            definitions.schemas[name] = _custom_schema(rtype, definitions)
        reference = _reference(name, definitions.v3)
    definition = definitions.schemas[name]
    kinds = definition.setdefault("x-kubernetes-group-version-kind", [])
    for gvk in _gvk(rtype):
        if gvk not in kinds:
            kinds.append(gvk)
    return name, reference


# --- paths ---


def _param(name: str, where: str, description: str, v3: bool, required: bool = False) -> Schema:
    param: Schema = {"name": name, "in": where, "description": description}
    if required:
        param["required"] = True
    if v3:
        param["schema"] = {"type": "string", "uniqueItems": True}
    else:
        param["type"] = "string"
        param["uniqueItems"] = True
    return param


_WRITE_PARAMS = (
    ("dryRun", "When present, indicates that modifications should not be persisted."),
    ("fieldManager", "A name associated with the actor or entity that is making these "
                     "changes."),
    ("fieldValidation", "How the server handles fields the object's schema does not "
                        "declare: Ignore, Warn (the default) or Strict."),
)


def _operation(rtype: ResourceType, action: str, verb: str, scope: str, reference: Schema,
               v3: bool, body_types: Iterable[str] = ()) -> Schema:
    kind_id = rtype.kind
    group_id = "".join(part.capitalize() for part in (rtype.group or "core").split(".")[:1])
    operation: Schema = {
        "operationId": f"{verb}{group_id}{rtype.version.capitalize()}{scope}{kind_id}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rtype)[0],
        "tags": [f"{group_id.lower()}_{rtype.version}"],
    }
    params = []
    if body_types:
        params = [_param(name, "query", text, v3) for name, text in _WRITE_PARAMS]
        if v3:
            operation["requestBody"] = {"required": True, "content": {
                media: {"schema": reference} for media in body_types}}
        else:
            params.insert(0, {"name": "body", "in": "body", "required": True,
                              "schema": reference})
            operation["consumes"] = list(body_types)
    if params:
        operation["parameters"] = params
    if v3:
        operation["responses"] = {"200": {"description": "OK", "content": {
            "application/json": {"schema": reference}}}}
    else:
        operation["responses"] = {"200": {"description": "OK", "schema": reference}}
        operation["produces"] = ["application/json"]
    return operation


def _paths(rtype: ResourceType, reference: Schema, v3: bool) -> dict[str, Schema]:
    prefix = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else f"/api/{rtype.version}"
    namespace = _param("namespace", "path", "object name and auth scope, such as for teams "
                       "and projects", v3, required=True)
    name = _param("name", "path", f"name of the {rtype.kind}", v3, required=True)
    scope = "Namespaced" if rtype.namespaced else ""
    collection = (f"{prefix}/namespaces/{{namespace}}/{rtype.plural}" if rtype.namespaced
                  else f"{prefix}/{rtype.plural}")
    scoped = [namespace] if rtype.namespaced else []
    verbs = set(rtype.verbs)
    json_body = ("application/json", "application/yaml")
    # strategic merge patch is for built-in kinds only, as on the real server
    patch_types = PATCH_TYPES if rtype.builtin else PATCH_TYPES[:2]
    paths: dict[str, Schema] = {}
    ops: Schema = {}
    if "list" in verbs:
        ops["get"] = _operation(rtype, "list", "list", scope, reference, v3)
    if "create" in verbs:
        ops["post"] = _operation(rtype, "post", "create", scope, reference, v3, json_body)
    if "deletecollection" in verbs:
        ops["delete"] = _operation(rtype, "deletecollection", "deleteCollection", scope,
                                   reference, v3)
    if ops:
        paths[collection] = dict(ops, parameters=scoped) if scoped else ops
    item: Schema = {}
    if "get" in verbs:
        item["get"] = _operation(rtype, "get", "read", scope, reference, v3)
    if "update" in verbs:
        item["put"] = _operation(rtype, "put", "replace", scope, reference, v3, json_body)
    if "patch" in verbs:
        item["patch"] = _operation(rtype, "patch", "patch", scope, reference, v3, patch_types)
    if "delete" in verbs:
        item["delete"] = _operation(rtype, "delete", "delete", scope, reference, v3)
    if item:
        paths[f"{collection}/{{name}}"] = dict(item, parameters=[name, *scoped])
    if rtype.namespaced and "list" in verbs:
        paths[f"{prefix}/{rtype.plural}"] = {
            "get": _operation(rtype, "list", "list", "ForAllNamespaces", reference, v3)}
    for sub in rtype.subresources():
        status = {"get": _operation(rtype, "get", "read", scope + sub.capitalize(),
                                    reference, v3),
                  "put": _operation(rtype, "put", "replace", scope + sub.capitalize(),
                                    reference, v3, json_body),
                  "patch": _operation(rtype, "patch", "patch", scope + sub.capitalize(),
                                      reference, v3, patch_types)}
        paths[f"{collection}/{{name}}/{sub}"] = dict(status, parameters=[name, *scoped])
    return paths


# --- documents ---


def _group_version_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _info(title: str) -> Schema:
    return {"title": title, "version": "v1.37.0+kes"}


def _document(types: Iterable[ResourceType], v3: bool) -> Schema:
    definitions = _Definitions(v3)
    paths: dict[str, Schema] = {}
    for rtype in sorted(types, key=lambda t: (t.group, t.version, t.plural)):
        _, reference = _type_schema(rtype, definitions)
        paths.update(_paths(rtype, reference, v3))
    definitions.model("V1Status")
    schemas = dict(sorted(definitions.schemas.items()))
    if v3:
        return {"openapi": "3.0.0", "info": _info("Kubernetes"), "paths": paths,
                "components": {"schemas": schemas}}
    return {"swagger": "2.0", "info": _info("Kubernetes"), "paths": paths,
            "definitions": schemas}


def _signature(types: Iterable[ResourceType]) -> str:
    """What a document depends on: the types it covers and, for custom ones, their schemas."""
    parts = sorted([t.group, t.version, t.plural, t.kind, t.namespaced, list(t.verbs),
                    list(t.subresources()), t.model, t.schema] for t in types)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# Built documents by (signature, version), shared by every server of the process: the
# built-in kinds' documents are built once.
_BUILT: dict[tuple[str, bool], bytes] = {}
_KEEP = 64


def _built(types: list[ResourceType], v3: bool) -> tuple[str, bytes]:
    key = (_signature(types), v3)
    body = _BUILT.get(key)
    if body is None:
        if len(_BUILT) >= _KEEP:
            _BUILT.pop(next(iter(_BUILT)))
        body = _BUILT[key] = _dumps(_document(types, v3))
    return key[0], body


class OpenApi:
    """The documents of a registry's served types, built when first asked for."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _by_group_version(self) -> dict[str, list[ResourceType]]:
        by_gv: dict[str, list[ResourceType]] = {}
        for rtype in self.registry.types():
            by_gv.setdefault(_group_version_path(rtype.group, rtype.version), []).append(rtype)
        return by_gv

    def v2(self) -> bytes:
        return _built(self.registry.types(), v3=False)[1]

    def v3_index(self) -> bytes:
        """Where each group-version's document is; its hash changes with its content."""
        return _dumps({"paths": {
            gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_signature(types).upper()}"}
            for gv, types in sorted(self._by_group_version().items())}})

    def v3(self, group_version: str) -> bytes | None:
        types = self._by_group_version().get(group_version)
        return None if types is None else _built(types, v3=True)[1]


def _dumps(document: Schema) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()
