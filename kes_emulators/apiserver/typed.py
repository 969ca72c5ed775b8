"""Writes of built-in kinds checked against their schemas (`models.py`), in the order and
words of the real server: decoding first (a value of the wrong JSON type is 400, a
field the kind does not have is dropped, warned about or refused per
`fieldValidation`), then validation (a missing required field or a value outside an
enum is 422, with every cause).

Only what the schemas say is checked, plus the few rules `admission.py` adds per kind;
kube-apiserver's hand-written validation of each kind holds many more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kes_emulators.apiserver import models
from kes_emulators.apiserver import schema as structural
from kes_emulators.apiserver.errors import Cause

Schema = Mapping[str, Any]
_GO_TYPES = {"string": "string", "integer": "int", "number": "float64", "boolean": "bool",
             "array": "slice", "object": "map"}


@dataclass
class Decoded:
    """What decoding found: unknown field paths (already removed from the object) and
    the first value of a wrong type, as Go's decoder reports it."""

    unknown: list[str] = field(default_factory=list)
    type_error: str = ""


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _fits(schema: Schema, value: Any) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        if schema.get("format") == "quantity":
            return isinstance(value, str | int | float) and not isinstance(value, bool)
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    kind = schema.get("type")
    if kind is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return not isinstance(value, bool) and (isinstance(value, int) or (
            isinstance(value, float) and value.is_integer()))
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def decode(schema: Schema, obj: dict[str, Any], skip: frozenset[str] = frozenset()) -> Decoded:
    """Walk `obj` along `schema`, removing unknown fields; `skip` names top-level fields
    another check decodes itself (Secret data, with its own messages)."""
    found = Decoded()
    _decode(schema, obj, "", "", "", found, skip)
    return found


def _decode(schema: Schema, value: Any, path: str, go_path: str, struct: str,
            found: Decoded, skip: frozenset[str]) -> None:
    if value is None or schema.get("x-kubernetes-preserve-unknown-fields"):
        return  # null decodes to the zero value; free-form values take anything
    if not _fits(schema, value):
        if not found.type_error:
            kind = schema.get("type") or "string"
            go_type = (f"v1.{schema[models.MODEL_KEY]}" if models.MODEL_KEY in schema
                       else _GO_TYPES[kind])  # every served built-in kind is a v1 package's
            found.type_error = (f"json: cannot unmarshal {_json_kind(value)} into Go struct "
                                f"field {struct}.{go_path} of type {go_type}")
        return
    if isinstance(value, list):
        items = schema.get("items") or {}
        for i, item in enumerate(value):
            _decode(items, item, f"{path}[{i}]", go_path, struct, found, frozenset())
        return
    if not isinstance(value, dict):
        return
    properties = schema.get("properties")
    if properties is None:  # a map: every key allowed, each value of one schema
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key, item in value.items():
                _decode(extra, item, f"{path}.{key}" if path else key, go_path, struct,
                        found, frozenset())
        return
    struct = schema.get(models.MODEL_KEY, struct)
    for key in list(value):
        child = f"{path}.{key}" if path else key
        if value[key] is None:  # decodes to the field's zero value, which is not stored
            del value[key]
        elif key not in properties:
            found.unknown.append(child)
            del value[key]
        elif key not in skip:
            _decode(properties[key], value[key], child, f"{go_path}.{key}" if go_path else key,
                    struct, found, frozenset())


def validate(schema: Schema, obj: dict[str, Any]) -> list[Cause]:
    """Required fields and enums (types were settled by `decode`). ObjectMeta is left to
    `admission.validate_metadata`, which says it as the real server does."""
    properties = {k: v for k, v in schema["properties"].items() if k != "metadata"}
    body = {k: v for k, v in obj.items() if k != "metadata"}
    required = [k for k in schema.get("required", ()) if k != "metadata"]
    errors = structural.validate_structure(
        dict(schema, properties=properties, required=required), body)
    return [Cause(e.reason, e.message, e.path) for e in errors]
