"""Decoding rules a write meets before any validation: field types of ObjectMeta and
fields the kind does not declare (`fieldValidation`), as the real server's decoder has them.
"""

from __future__ import annotations

from typing import Any, NoReturn

from kes_emulators.apiserver import auth, errors, models, schema, typed
from kes_emulators.apiserver.errors import ApiError
from kes_emulators.apiserver.resources import ResourceType
from kes_emulators.apiserver.response_warnings import warn
from kes_emulators.apiserver.store import Obj

# Fields whose decoding an admission check does itself, with its own messages.
_DECODED_BY_ADMISSION: dict[tuple[str, str], frozenset[str]] = {
    ("", "secrets"): frozenset({"data"}),
}


class UnknownFields:
    """What a write does with fields its kind does not declare (`fieldValidation`):
    `Ignore` drops them silently, `Warn` (the default) drops them with a response
    warning each, `Strict` rejects the request with 400. Custom resources are pruned by
    their schema; built-in kinds are decoded along theirs (`typed.py`), which drops
    unknown fields at any depth and refuses values of the wrong JSON type."""

    DIRECTIVES = ("Ignore", "Warn", "Strict")

    def __init__(self, directive: str = "Warn") -> None:
        if directive not in self.DIRECTIVES:
            raise errors.bad_request(f'fieldValidation "{directive}" is not supported: '
                                     f'must be one of "Ignore", "Warn", "Strict"')
        self.directive = directive

    def check(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype.model:
            found = typed.decode(models.structural(rtype.model), obj,
                                 _DECODED_BY_ADMISSION.get(rtype.storage_key, frozenset()))
            if found.type_error:
                undecodable(rtype, found.type_error)
            unknown = found.unknown  # already dropped, as typed decoding drops them
        elif self.directive == "Ignore" or rtype.schema is None:
            return  # admission prunes by the schema; nothing to report
        else:
            unknown = sorted(schema.unknown_fields(rtype.schema, obj))
        if unknown and self.directive == "Strict":
            fields = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise errors.bad_request(f'{rtype.kind} in version "{rtype.version}" cannot be '
                                     f'handled as a {rtype.kind}: strict decoding error: '
                                     f'{fields}')
        if self.directive == "Warn":
            for path in unknown:
                warn(f'unknown field "{path}"')


def undecodable(rtype: ResourceType, why: str) -> NoReturn:
    """A body the kind's typed decoding rejects: 400 on create and update; on a patch
    the patched object fails, and the real server answers 422 on field `patch`."""
    if auth.requested_verb() == "patch":
        raise ApiError(422, f'{rtype.kind} "" is invalid: patch: Invalid value: "...": {why}',
                       details={"causes": [{"reason": "FieldValueInvalid",
                                            "message": f'Invalid value: "...": {why}',
                                            "field": "patch"}]})
    raise errors.bad_request(f'{rtype.kind} in version "{rtype.version}" cannot be handled as '
                             f'a {rtype.kind}: {why}')


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
