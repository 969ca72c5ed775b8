"""Decoding rules a write meets before any validation: field types of ObjectMeta and
fields the kind does not declare (`fieldValidation`), as the real server's decoder has them.
"""

from __future__ import annotations

from typing import Any

from kes_emulators.apiserver import errors, schema
from kes_emulators.apiserver.errors import ApiError
from kes_emulators.apiserver.resources import CRD_KEY, NAMESPACES_KEY, ResourceType
from kes_emulators.apiserver.response_warnings import warn
from kes_emulators.apiserver.store import Obj

_TYPE_FIELDS = {"apiVersion", "kind", "metadata"}
# The top-level fields of the built-in kinds' stored form; a real server's typed decoding
# drops any other.
_BUILTIN_FIELDS: dict[tuple[str, str], set[str]] = {
    NAMESPACES_KEY: {"spec", "status"},
    ("", "secrets"): {"data", "stringData", "type", "immutable"},
    ("", "configmaps"): {"data", "binaryData", "immutable"},
    ("", "serviceaccounts"): {"secrets", "imagePullSecrets", "automountServiceAccountToken"},
    ("", "events"): {"involvedObject", "reason", "message", "source", "firstTimestamp",
                     "lastTimestamp", "count", "type", "eventTime", "series", "action",
                     "related", "reportingComponent", "reportingInstance"},
    ("coordination.k8s.io", "leases"): {"spec"},
    CRD_KEY: {"spec", "status"},
    ("rbac.authorization.k8s.io", "roles"): {"rules"},
    ("rbac.authorization.k8s.io", "clusterroles"): {"rules", "aggregationRule"},
    ("rbac.authorization.k8s.io", "rolebindings"): {"subjects", "roleRef"},
    ("rbac.authorization.k8s.io", "clusterrolebindings"): {"subjects", "roleRef"},
}


class UnknownFields:
    """What a write does with fields its kind does not declare (`fieldValidation`):
    `Ignore` drops them silently, `Warn` (the default) drops them with a response
    warning each, `Strict` rejects the request with 400. Custom resources are pruned by
    their schema; built-in kinds lose unknown top-level fields, as typed decoding does."""

    DIRECTIVES = ("Ignore", "Warn", "Strict")

    def __init__(self, directive: str = "Warn") -> None:
        if directive not in self.DIRECTIVES:
            raise errors.bad_request(f'fieldValidation "{directive}" is not supported: '
                                     f'must be one of "Ignore", "Warn", "Strict"')
        self.directive = directive

    def check(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype.builtin:
            known = _BUILTIN_FIELDS.get(rtype.storage_key)
            found = sorted(k for k in obj if known is not None and k not in known
                           and k not in _TYPE_FIELDS)
        elif self.directive == "Ignore" or rtype.schema is None:
            return  # admission prunes by the schema; nothing to report
        else:
            found = sorted(schema.unknown_fields(rtype.schema, obj))
        if found and self.directive == "Strict":
            fields = ", ".join(f'unknown field "{path}"' for path in found)
            raise errors.bad_request(f'{rtype.kind} in version "{rtype.version}" cannot be '
                                     f'handled as a {rtype.kind}: strict decoding error: '
                                     f'{fields}')
        if rtype.builtin:
            for key in found:
                del obj[key]
        if self.directive == "Warn":
            for path in found:
                warn(f'unknown field "{path}"')


_JSON_TYPES = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
               dict: "object"}
_GO_TYPES = {str: "string", bool: "bool"}
_STRING_MAP = "map[string]string"
_OWNER_FIELDS = {"apiVersion": str, "kind": str, "name": str, "uid": str, "controller": bool,
                 "blockOwnerDeletion": bool}


def check_metadata_types(rtype: ResourceType, meta: dict[str, Any]) -> None:
    """ObjectMeta fields of the wrong JSON type fail decoding (400) on a real server,
    before any validation; everything after may rely on their types."""
    def wrong(value: Any, field: str, go_type: str) -> ApiError:
        return errors.bad_request(
            f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
            f"json: cannot unmarshal {_JSON_TYPES.get(type(value), 'value')} into Go struct "
            f"field ObjectMeta.metadata.{field} of type {go_type}")

    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise wrong(value, field, _STRING_MAP)
        for item in value.values():
            if not isinstance(item, str):
                raise wrong(item, field, "string")
    finalizers = meta.get("finalizers")
    if finalizers is not None:
        if not isinstance(finalizers, list):
            raise wrong(finalizers, "finalizers", "[]string")
        for item in finalizers:
            if not isinstance(item, str):
                raise wrong(item, "finalizers", "string")
    refs = meta.get("ownerReferences")
    if refs is None:
        return
    if not isinstance(refs, list):
        raise wrong(refs, "ownerReferences", "[]v1.OwnerReference")
    for ref in refs:
        if not isinstance(ref, dict):
            raise wrong(ref, "ownerReferences", "v1.OwnerReference")
        for key, expected in _OWNER_FIELDS.items():
            if ref.get(key) is not None and not isinstance(ref[key], expected):
                raise wrong(ref[key], f"ownerReferences.{key}", _GO_TYPES[expected])
