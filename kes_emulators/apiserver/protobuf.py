"""Decode the Kubernetes protobuf request bodies that kubectl's typed commands send.

kubectl sends `application/vnd.kubernetes.protobuf` for built-in kinds in commands such
as `create secret` and `auth can-i`, and never falls back to JSON. This decodes the few
kinds it is used for here into the JSON shape; any other kind is refused with 415.
"""

from __future__ import annotations

import base64
from typing import Any, Union

from kes_emulators.apiserver.errors import ApiError

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

# A schema maps field numbers to (JSON name, field type). Field types:
# "string", "bytes" (base64 in JSON), "bool", "int", a nested schema,
# ("repeated", type) or ("map", value type) (map keys are always strings here).
FieldType = Union[str, "Schema", tuple[str, Any]]
Schema = dict[int, tuple[str, FieldType]]

_OWNER_REFERENCE: Schema = {
    1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
    5: ("apiVersion", "string"), 6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool"),
}
_OBJECT_META: Schema = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
    11: ("labels", ("map", "string")), 12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("repeated", _OWNER_REFERENCE)),
    14: ("finalizers", ("repeated", "string")),
}
_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
    4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
    7: ("name", "string"),
}
_NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string"), 2: ("verb", "string")}
_REVIEW_SPEC: Schema = {
    1: ("resourceAttributes", _RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES),
    3: ("user", "string"), 4: ("groups", ("repeated", "string")), 6: ("uid", "string"),
}
_POLICY_RULE: Schema = {
    1: ("verbs", ("repeated", "string")), 2: ("apiGroups", ("repeated", "string")),
    3: ("resources", ("repeated", "string")), 4: ("resourceNames", ("repeated", "string")),
    5: ("nonResourceURLs", ("repeated", "string")),
}
_LABEL_SELECTOR: Schema = {
    1: ("matchLabels", ("map", "string")),
    2: ("matchExpressions", ("repeated", {1: ("key", "string"), 2: ("operator", "string"),
                                          3: ("values", ("repeated", "string"))})),
}
_ROLE: Schema = {
    1: ("metadata", _OBJECT_META), 2: ("rules", ("repeated", _POLICY_RULE)),
    3: ("aggregationRule", {1: ("clusterRoleSelectors", ("repeated", _LABEL_SELECTOR))}),
}
_BINDING: Schema = {
    1: ("metadata", _OBJECT_META),
    2: ("subjects", ("repeated", {1: ("kind", "string"), 2: ("apiGroup", "string"),
                                  3: ("name", "string"), 4: ("namespace", "string")})),
    3: ("roleRef", {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")}),
}
_RBAC = "rbac.authorization.k8s.io/v1"
KINDS: dict[tuple[str, str], Schema] = {
    (_RBAC, "Role"): _ROLE,
    (_RBAC, "ClusterRole"): _ROLE,
    (_RBAC, "RoleBinding"): _BINDING,
    (_RBAC, "ClusterRoleBinding"): _BINDING,
    ("v1", "Secret"): {
        1: ("metadata", _OBJECT_META), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
        4: ("stringData", ("map", "string")), 5: ("immutable", "bool"),
    },
    ("v1", "ConfigMap"): {
        1: ("metadata", _OBJECT_META), 2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool"),
    },
    ("v1", "Namespace"): {
        1: ("metadata", _OBJECT_META), 2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
    },
    ("v1", "ServiceAccount"): {
        1: ("metadata", _OBJECT_META), 4: ("automountServiceAccountToken", "bool"),
    },
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", _OBJECT_META), 2: ("spec", _REVIEW_SPEC),
    },
    ("authorization.k8s.io/v1", "SubjectAccessReview"): {
        1: ("metadata", _OBJECT_META), 2: ("spec", _REVIEW_SPEC),
    },
}
_UNKNOWN: Schema = {1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}),
                    2: ("raw", "raw")}


class _Malformed(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _Malformed("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs; length-delimited values stay bytes."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        else:
            raise _Malformed(f"unsupported wire type {wire}")
        fields.append((number, value))
    return fields


def _scalar(kind: FieldType, value: int | bytes) -> Any:
    if kind == "raw":
        return value
    if kind in ("string", "bytes"):
        if not isinstance(value, bytes):
            raise _Malformed("expected a length-delimited field")
        return value.decode() if kind == "string" else base64.b64encode(value).decode()
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return value
    if isinstance(kind, dict):
        if not isinstance(value, bytes):
            raise _Malformed("expected a message")
        return _message(kind, value)
    raise _Malformed(f"unknown field type {kind!r}")


def _message(schema: Schema, data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "repeated":
            obj.setdefault(name, []).append(_scalar(kind[1], value))
        elif isinstance(kind, tuple) and kind[0] == "map":
            if not isinstance(value, bytes):
                raise _Malformed("expected a map entry")
            entry = dict(_fields(value))
            key = entry.get(1, b"")
            if not isinstance(key, bytes):
                raise _Malformed("map key is not a string")
            obj.setdefault(name, {})[key.decode()] = _scalar(kind[1], entry.get(2, b""))
        else:
            decoded = _scalar(kind, value)
            if decoded not in ("", 0, False, {}) or kind == "bool":
                obj[name] = decoded
    return obj


def decode(body: bytes) -> dict[str, Any]:
    """The object a protobuf request body carries, in its JSON form."""
    if not body.startswith(_MAGIC):
        raise ApiError(400, "the protobuf body lacks the k8s envelope prefix")
    try:
        envelope = _message(_UNKNOWN, body[len(_MAGIC):])
        type_meta = envelope.get("typeMeta", {})
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        schema = KINDS.get((api_version, kind))
        if schema is None:
            raise ApiError(415, f"protobuf request bodies are decoded only for "
                                f"{', '.join(k for _, k in KINDS)}; send {kind or 'this kind'} "
                                "as application/json")
        obj = _message(schema, envelope.get("raw", b""))
    except _Malformed as exc:
        raise ApiError(400, f"the protobuf body could not be decoded: {exc}") from exc
    return {"apiVersion": api_version, "kind": kind, **obj}
