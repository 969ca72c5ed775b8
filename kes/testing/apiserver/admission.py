"""Per-kind defaulting and validation of writes, with the real server's field messages."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from kes.testing.apiserver import schema as crd_schema
from kes.testing.apiserver import selectors
from kes.testing.apiserver.errors import ApiError, Cause
from kes.testing.apiserver.resources import ResourceType
from kes.testing.apiserver.store import Obj
from kes.testing.apiserver.views import compile_jsonpath

MAX_DATA_BYTES = 1024 * 1024
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")

Admit = Callable[[ResourceType, Obj, "Obj | None"], list[Cause]]


def required(field: str) -> Cause:
    return Cause("FieldValueRequired", "Required value", field)


def invalid_value(field: str, value: Any, why: str) -> Cause:
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {why}", field)


def forbidden(field: str, why: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {why}", field)


def immutable(field: str, value: Any) -> Cause:
    return invalid_value(field, value, "field is immutable")


def validate_name(rtype: ResourceType, name: str) -> list[Cause]:
    """Names as the real server checks them: DNS labels for namespaces, path segments for
    RBAC kinds (which allow `system:...`), DNS subdomains for everything else."""
    if rtype.group == "rbac.authorization.k8s.io":
        if name in (".", "..") or "/" in name or "%" in name:
            return [invalid_value("metadata.name", name, "may not contain '/' or '%'")]
        return []
    if rtype.plural == "namespaces":
        if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
            return [invalid_value(
                "metadata.name", name,
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',"
                "  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")]
        return []
    return [invalid_value("metadata.name", name, why)
            for why in selectors.dns1123_subdomain_errors(name)]


def validate_labels(labels: Any) -> list[Cause]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [invalid_value("metadata.labels", str(labels), "must be a map of strings")]
    causes = []
    for key, value in labels.items():
        causes += [invalid_value("metadata.labels", key, why)
                   for why in selectors.qualified_name_errors(key)]
        if not isinstance(value, str):
            causes.append(invalid_value("metadata.labels", str(value), "must be a string"))
            continue
        causes += [invalid_value("metadata.labels", value, why)
                   for why in selectors.label_value_errors(value)]
    return causes


def _validate_keys(field: str, data: Any) -> list[Cause]:
    if data is None:
        return []
    if not isinstance(data, dict):
        return [invalid_value(field, str(data), "must be a map")]
    return [
        invalid_value(f"{field}[{key}]", key,
                      "a valid config key must consist of alphanumeric characters, '-', '_' or "
                      "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                      "validation is '[-._a-zA-Z0-9]+')")
        for key in data if not _CONFIG_KEY.fullmatch(key)
    ]


def _immutability(obj: Obj, old: Obj | None, fields: tuple[str, ...]) -> list[Cause]:
    if old is None or not old.get("immutable"):
        return []
    causes = []
    if not obj.get("immutable"):
        causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for field in fields:
        if obj.get(field) != old.get(field):
            causes.append(forbidden(field, "field is immutable when `immutable` is set"))
    return causes


def admit_secret(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    string_data = obj.pop("stringData", None)
    data = obj.get("data")
    if string_data:
        if not isinstance(string_data, dict):
            return [invalid_value("stringData", str(string_data), "must be a map of strings")]
        data = dict(data or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data
    causes += _validate_keys("data", data)
    size = 0
    for key, value in (data or {}).items():
        try:
            size += len(base64.b64decode(value or "", validate=True))
        except (binascii.Error, TypeError, ValueError):
            causes.append(invalid_value(f"data[{key}]", "<value omitted>",
                                        "illegal base64 data"))
    if size > MAX_DATA_BYTES:
        causes.append(Cause("FieldValueTooLong",
                            f"Too long: must have at most {MAX_DATA_BYTES} bytes", "data"))
    obj.setdefault("type", "Opaque")
    if old is not None and obj["type"] != old.get("type", "Opaque"):
        causes.append(immutable("type", obj["type"]))
    return causes + _immutability(obj, old, ("data",))


def admit_configmap(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    causes = _validate_keys("data", obj.get("data")) + _validate_keys(
        "binaryData", obj.get("binaryData"))
    size = sum(len(str(v)) for v in (obj.get("data") or {}).values())
    size += sum(len(str(v)) * 3 // 4 for v in (obj.get("binaryData") or {}).values())
    if size > MAX_DATA_BYTES:
        causes.append(Cause("FieldValueTooLong",
                            f"Too long: must have at most {MAX_DATA_BYTES} bytes", ""))
    return causes + _immutability(obj, old, ("data", "binaryData"))


def admit_namespace(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    if old is None:
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    return []


def _crd_causes(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes = []
    names = spec.get("names") or {}
    if not spec.get("group"):
        causes.append(required("spec.group"))
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append(required(f"spec.names.{field}"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(Cause("FieldValueNotSupported",
                            f'Unsupported value: "{spec.get("scope", "")}": supported values: '
                            '"Cluster", "Namespaced"', "spec.scope"))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(required("spec.versions"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(invalid_value("spec.versions", "", "must have exactly one version marked "
                                    "as storage version"))
    for i, version in enumerate(versions):
        if not (version.get("schema") or {}).get("openAPIV3Schema"):
            causes.append(required(f"spec.versions[{i}].schema.openAPIV3Schema"))
        for j, column in enumerate(version.get("additionalPrinterColumns") or ()):
            field = f"spec.versions[{i}].additionalPrinterColumns[{j}].jsonPath"
            try:
                compile_jsonpath(str(column.get("jsonPath", "")))
            except ValueError as exc:
                causes.append(invalid_value(field, column.get("jsonPath", ""), str(exc)))
    expected = f"{names.get('plural')}.{spec.get('group')}"
    if not causes and obj["metadata"]["name"] != expected:
        causes.append(invalid_value("metadata.name", obj["metadata"]["name"],
                                    'must be spec.names.plural+"."+spec.group'))
    return causes


def admit_crd(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    causes = _crd_causes(obj)
    if causes:
        return causes
    spec = obj["spec"]
    if old is not None:
        if spec["group"] != old["spec"]["group"]:
            causes.append(immutable("spec.group", spec["group"]))
        if spec["names"]["plural"] != old["spec"]["names"]["plural"]:
            causes.append(immutable("spec.names.plural", spec["names"]["plural"]))
    names = spec["names"]
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    for version in spec["versions"]:
        version.setdefault("served", True)
    return causes


def crd_status(obj: Obj, now: str) -> dict[str, Any]:
    """The status the CRD controllers settle on at once: names accepted, established."""
    spec = obj["spec"]
    conditions = [
        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
         "message": "no conflicts found", "lastTransitionTime": now},
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
         "message": "the initial names have been accepted", "lastTransitionTime": now},
    ]
    stored = [v["name"] for v in spec["versions"] if v.get("storage")]
    previous = (obj.get("status") or {}).get("storedVersions") or []
    return {
        "conditions": conditions,
        "acceptedNames": dict(spec["names"]),
        "storedVersions": previous + [v for v in stored if v not in previous],
    }


def admit_custom(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    if rtype.schema is None:
        return []
    try:
        crd_schema.check_supported(rtype.schema)
    except crd_schema.UnsupportedSchema as exc:
        raise ApiError(501, f"{rtype.kind}: {exc}") from exc
    pruned = crd_schema.apply_defaults(rtype.schema, crd_schema.prune(rtype.schema, obj))
    if pruned is not obj:
        obj.clear()
        obj.update(pruned)
    errors = crd_schema.validate(rtype.schema, obj, old)  # `old` ratchets unchanged fields
    return [Cause(e.reason, e.message, e.path) for e in errors]


def _no_checks(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    return []


_BY_KEY: dict[tuple[str, str], Admit] = {
    ("", "secrets"): admit_secret,
    ("", "configmaps"): admit_configmap,
    ("", "namespaces"): admit_namespace,
    ("apiextensions.k8s.io", "customresourcedefinitions"): admit_crd,
}


def admit(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    """Default and validate `obj` (a fresh copy, mutated in place) against its kind's rules."""
    check = _BY_KEY.get(rtype.storage_key, _no_checks) if rtype.builtin else admit_custom
    return validate_labels(obj["metadata"].get("labels")) + check(rtype, obj, old)
