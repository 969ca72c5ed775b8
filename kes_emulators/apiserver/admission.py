"""Per-kind defaulting and validation of writes, with the real server's field messages.

Longer than most modules: it is a table of the built-in kinds' own rules, one short
function per kind, the way kube-apiserver keeps them beside each other.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

from kes_emulators.apiserver import auth, models, selectors, typed
from kes_emulators.apiserver import schema as crd_schema
from kes_emulators.apiserver.errors import ApiError, Cause, qualified
from kes_emulators.apiserver.resources import CRD_KEY, ResourceType
from kes_emulators.apiserver.store import Obj
from kes_emulators.apiserver.views import compile_jsonpath
from kes_emulators.apiserver.workloads import admit_workload

MAX_DATA_BYTES = 1024 * 1024
MAX_ANNOTATION_BYTES = 256 * 1024
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_REDACTED = "<secret contents redacted>"
CRD_GROUP = "apiextensions.k8s.io"

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


def _path_segment_errors(name: str, prefix: bool) -> list[str]:
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name]


def _name_errors(rtype: ResourceType, name: str, prefix: bool) -> list[str]:
    """The kind's name rule; a `generateName` prefix is checked with a trailing '-' allowed.
    RBAC kinds and core v1 Events only need a path segment (events.k8s.io: a subdomain)."""
    if rtype.group == "rbac.authorization.k8s.io" or (rtype.group, rtype.plural) == (
            "", "events"):
        return _path_segment_errors(name, prefix)
    if prefix and name.endswith("-"):
        name = name[:-1] + "a"
    if rtype.plural == "namespaces":
        if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
            return ["a lowercase RFC 1123 label must consist of lower case alphanumeric "
                    "characters or '-', and must start and end with an alphanumeric character "
                    "(e.g. 'my-name',  or '123-abc', regex used for validation is "
                    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]
        return []
    return selectors.dns1123_subdomain_errors(name)


def validate_name(rtype: ResourceType, name: str) -> list[Cause]:
    """Names as the real server checks them: DNS labels for namespaces, path segments for
    RBAC kinds (which allow `system:...`) and core Events, DNS subdomains otherwise."""
    return [invalid_value("metadata.name", name, why) for why in _name_errors(rtype, name, False)]


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


# ObjectMeta's field types were checked when the request was decoded (objects.py).


def _validate_annotations(annotations: Mapping[str, str]) -> list[Cause]:
    causes = [invalid_value("metadata.annotations", key, why) for key in annotations
              for why in selectors.qualified_name_errors(key.lower())]
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > MAX_ANNOTATION_BYTES:
        causes.append(Cause("FieldValueTooLong",
                            f"Too long: may not be more than {MAX_ANNOTATION_BYTES} bytes",
                            "metadata.annotations"))
    return causes


def _go_bool_pointer(value: Any) -> str:
    return "(*bool)(nil)" if value is None else f"(*bool)({str(bool(value)).lower()})"


def _go_owner_references(refs: list[dict[str, Any]]) -> str:
    """The references as Go's %#v prints them (pointers shown by their value)."""
    shown = [
        f'v1.OwnerReference{{APIVersion:{selectors.go_quote(str(r.get("apiVersion", "")))}, '
        f'Kind:{selectors.go_quote(str(r.get("kind", "")))}, '
        f'Name:{selectors.go_quote(str(r.get("name", "")))}, '
        f'UID:{selectors.go_quote(str(r.get("uid", "")))}, '
        f'Controller:{_go_bool_pointer(r.get("controller"))}, '
        f'BlockOwnerDeletion:{_go_bool_pointer(r.get("blockOwnerDeletion"))}}}'
        for r in refs]
    return "[]v1.OwnerReference{" + ", ".join(shown) + "}"


def _api_version_has_version(api_version: str) -> bool:
    parts = api_version.split("/")
    return len(parts) <= 2 and bool(parts[-1])


def _validate_owner_references(refs: list[dict[str, Any]]) -> list[Cause]:
    field = "metadata.ownerReferences"
    causes: list[Cause] = []
    first_controller = ""
    for ref in refs:
        api_version, kind = ref.get("apiVersion") or "", ref.get("kind") or ""
        if not _api_version_has_version(api_version):
            causes.append(invalid_value(f"{field}.apiVersion", api_version,
                                        "version must not be empty"))
        for key in ("kind", "name", "uid"):
            if not ref.get(key):
                causes.append(invalid_value(f"{field}.{key}", ref.get(key) or "",
                                            f"{key} must not be empty"))
        if api_version == "v1" and kind == "Event":
            causes.append(Cause("FieldValueInvalid", "Invalid value: /v1, Kind=Event is "
                                "disallowed from being an owner", field))
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name') or ''}"
            if first_controller:
                causes.append(Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_go_owner_references(refs)}: Only one reference can have "
                    f'Controller set to true. Found "true" in references for {first_controller} '
                    f"and {current}", field))
            else:
                first_controller = current
    return causes


def _validate_finalizers(finalizers: list[str]) -> list[Cause]:
    field = "metadata.finalizers"
    causes = [invalid_value(field, f, why) for f in finalizers
              for why in selectors.qualified_name_errors(f)]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        shown = "[]string{" + ", ".join(selectors.go_quote(f) for f in finalizers) + "}"
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {shown}: finalizer orphan "
                            "and foregroundDeletion cannot be both set", field))
    return causes


def validate_metadata(rtype: ResourceType, meta: Mapping[str, Any]) -> list[Cause]:
    """ObjectMeta rules every kind shares (apimachinery's ValidateObjectMetaAccessor), on
    create and update alike. The name itself is checked by `validate_name` on create."""
    causes: list[Cause] = []
    generate_name = meta.get("generateName")
    if generate_name:
        causes += [invalid_value("metadata.generateName", generate_name, why)
                   for why in _name_errors(rtype, generate_name, True)]
    return (causes + validate_labels(meta.get("labels"))
            + _validate_annotations(meta.get("annotations") or {})
            + _validate_owner_references(meta.get("ownerReferences") or [])
            + _validate_finalizers(meta.get("finalizers") or []))


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


def base64_error_offset(text: str) -> int | None:
    """Where Go's base64.StdEncoding (which decodes Secret data) rejects `text`: the byte
    offset its `illegal base64 data at input byte N` names, or None if it decodes.
    Like Go, line breaks are skipped and padding is required."""
    src = text.encode()
    end = len(src)
    at = 0
    while True:
        taken = 0
        while taken < 4:
            if at == end:
                return None if taken == 0 else at - taken
            char = src[at]
            at += 1
            if char in _BASE64_ALPHABET:
                taken += 1
            elif char in b"\r\n":
                continue
            elif char != ord("=") or taken < 2:
                return at - 1
            else:
                if taken == 2:  # a second '=' must follow
                    while at < end and src[at] in b"\r\n":
                        at += 1
                    if at == end:
                        return end
                    if src[at] != ord("="):
                        return at - 1
                    at += 1
                while at < end and src[at] in b"\r\n":
                    at += 1
                return at if at < end else None


def _go_json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "array" if isinstance(value, list) else "object"


def _decode_secret_data(data: Any) -> dict[str, bytes]:
    """Decode `data` as the server's JSON decoder does before any validation: a value that
    is not base64 fails the whole request (400, or 422 on field `patch` for a PATCH)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        _undecodable(f"json: cannot unmarshal {_go_json_type(data)} into Go struct field "
                     "Secret.data of type map[string][]uint8")
    decoded: dict[str, bytes] = {}
    for key, value in data.items():
        if value is None:
            decoded[key] = b""
            continue
        if not isinstance(value, str):
            _undecodable(f"json: cannot unmarshal {_go_json_type(value)} into Go struct field "
                         "Secret.data of type []uint8")
        offset = base64_error_offset(value)
        if offset is not None:
            _undecodable(f"illegal base64 data at input byte {offset}")
        decoded[key] = base64.b64decode(value.replace("\r", "").replace("\n", ""))
    return decoded


def _undecodable(why: str) -> NoReturn:
    if auth.requested_verb() == "patch":
        # The real server echoes the patched object here; the emulator keeps it out.
        raise ApiError(422, f' "" is invalid: patch: Invalid value: "{_REDACTED}": {why}',
                       details={"causes": [{"reason": "FieldValueInvalid",
                                            "message": f'Invalid value: "{_REDACTED}": {why}',
                                            "field": "patch"}]})
    raise ApiError(400, f'Secret in version "v1" cannot be handled as a Secret: {why}')


# Go's wording for the JSON syntax errors Python's decoder reports.
_GO_JSON_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes":
        "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
    "Extra data": "after top-level value",
    "Invalid control character at": "in string literal",
}


def _go_json_error(raw: bytes) -> str | None:
    """Why Go's json.Unmarshal into a map rejects `raw`, in Go's words, or None."""
    text = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            return "unexpected end of JSON input"
        context = _GO_JSON_CONTEXT.get(exc.msg, "looking for beginning of value")
        return f"invalid character {text[exc.pos]!r} {context}"
    if value is None or isinstance(value, dict):  # null leaves the map empty
        return None
    return (f"json: cannot unmarshal {_go_json_type(value)} into Go value of type "
            "map[string]interface {}")


def _secret_type_causes(obj: Obj, data: Mapping[str, bytes]) -> list[Cause]:
    """The keys each well-known Secret type requires (ValidateSecret)."""
    kind = obj.get("type")
    if kind == "kubernetes.io/service-account-token":
        annotations = obj["metadata"].get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            return [required("metadata.annotations[kubernetes.io/service-account.name]")]
        return []
    if kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            return [required(f"data[{key}]")]
        why = _go_json_error(data[key])
        return [invalid_value(f"data[{key}]", _REDACTED, why)] if why else []
    if kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            return [required("data[username]"), required("data[password]")]
        return []
    if kind == "kubernetes.io/ssh-auth":
        return [] if data.get("ssh-privatekey") else [required("data[ssh-privatekey]")]
    if kind == "kubernetes.io/tls":
        return [required(f"data[{key}]") for key in ("tls.crt", "tls.key") if key not in data]
    return []


def admit_secret(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    decoded = _decode_secret_data(obj.get("data"))
    string_data = obj.pop("stringData", None)
    if string_data:
        if not isinstance(string_data, dict):
            return [invalid_value("stringData", str(string_data), "must be a map of strings")]
        for key, value in string_data.items():
            decoded[key] = str(value).encode()
    if decoded:  # stored as the server re-encodes it: canonical base64, no line breaks
        obj["data"] = {key: base64.b64encode(value).decode() for key, value in decoded.items()}
    causes = _validate_keys("data", obj.get("data"))
    if sum(len(value) for value in decoded.values()) > MAX_DATA_BYTES:
        causes.append(Cause("FieldValueTooLong",
                            f"Too long: may not be more than {MAX_DATA_BYTES} bytes", "data"))
    obj.setdefault("type", "Opaque")
    causes += _secret_type_causes(obj, decoded)
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
                            f"Too long: may not be more than {MAX_DATA_BYTES} bytes", ""))
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


def _cel_rules(schema: Any, path: str) -> Iterator[str]:
    """Field paths of the `x-kubernetes-validations` in an openAPIV3Schema."""
    if not isinstance(schema, dict):
        return
    if schema.get("x-kubernetes-validations"):
        yield f"{path}.x-kubernetes-validations"
    for name, sub in (schema.get("properties") or {}).items():
        yield from _cel_rules(sub, f"{path}.properties[{name}]")
    for keyword in ("items", "additionalProperties", "not"):
        yield from _cel_rules(schema.get(keyword), f"{path}.{keyword}")
    for keyword in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(keyword) or ()):
            yield from _cel_rules(sub, f"{path}.{keyword}[{i}]")


def _refuse_cel(obj: Obj) -> None:
    """CEL rules are not evaluated here, so a CRD using them is refused (once, here) rather
    than served with objects the real server would reject."""
    rules = (path for i, version in enumerate(obj["spec"]["versions"])
             for path in _cel_rules((version.get("schema") or {}).get("openAPIV3Schema"),
                                    f"spec.versions[{i}].schema.openAPIV3Schema"))
    path = next(rules, None)
    if path is not None:
        name = obj["metadata"]["name"]
        raise ApiError(501, f'{qualified("customresourcedefinitions", CRD_GROUP)} "{name}": '
                            f"{path}: CEL validation rules are not emulated by the kes API "
                            "server; remove them to serve this CRD here",
                       details={"name": name, "group": CRD_GROUP,
                                "kind": "customresourcedefinitions"})


def admit_crd(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    causes = _crd_causes(obj)
    if causes:
        return causes
    _refuse_cel(obj)
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
    (CRD_GROUP, "customresourcedefinitions"): admit_crd,
}


def admit(rtype: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    """Default and validate `obj` (a fresh copy, mutated in place) against its kind's rules."""
    if rtype.builtin and rtype.group == "rbac.authorization.k8s.io":
        auth.confirm_rbac_write(rtype.plural, obj, old)
    causes = validate_metadata(rtype, obj["metadata"])
    if not rtype.builtin:
        return causes + admit_custom(rtype, obj, old)
    if rtype.model and rtype.storage_key != CRD_KEY:  # CRDs: `admit_crd` says it better
        causes += typed.validate(models.structural(rtype.model), obj)
    if rtype.generation:
        causes += admit_workload(rtype, obj, old)
    return causes + _BY_KEY.get(rtype.storage_key, _no_checks)(rtype, obj, old)
