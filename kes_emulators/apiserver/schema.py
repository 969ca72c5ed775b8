"""CRD structural schemas: pruning, defaulting and validation as apiextensions-apiserver does.

The server decodes a custom object, prunes unknown fields, drops non-nullable nulls,
applies defaults, then validates; errors read exactly like kube-apiserver's 422 causes
(`spec.replicas: Invalid value: "string": spec.replicas in body must be of type
integer: "string"`). CEL rules (`x-kubernetes-validations`) are not evaluated: a schema
using them raises `UnsupportedSchema` rather than letting invalid objects through.

Longer than most modules: pruning, defaulting and validation walk the same schema
tree with the same type rules, so they live beside each other.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from kes_emulators.apiserver.patch import json_equal
from kes_emulators.apiserver.selectors import go_quote

Schema = Mapping[str, Any]

ROOT_FIELDS = ("apiVersion", "kind", "metadata")


class UnsupportedSchema(Exception):
    """The schema uses a feature the emulator does not evaluate."""


@dataclass(frozen=True)
class FieldError:
    """One validation failure, as a `details.causes` entry of a 422 Status.

    `message` is what follows `path: ` in the Status message (e.g. `Required value`).
    """

    path: str
    reason: str
    message: str
    value: Any = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
TYPE_INVALID = "FieldValueTypeInvalid"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
DUPLICATE = "FieldValueDuplicate"

# --- Go-compatible rendering of values in messages ---


def _go_float(value: float) -> str:
    """Go's %v of a float64: shortest digits, exponent form from 1e+06 and below 1e-04."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "0"
    digits = repr(abs(value)).split("e")[0].replace(".", "").strip("0") or "0"
    mantissa, exponent = f"{value:.{len(digits) - 1}e}".split("e")
    exp = int(exponent)
    if exp < -4 or exp >= 6:
        return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _go_gostring(value: Any) -> str:
    """Go's %#v of a decoded JSON value."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        items = ", ".join(f"{go_quote(k)}:{_go_gostring(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + items + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_gostring(v) for v in value) + "}"
    return repr(value)


def _go_value(value: Any) -> str:
    """How field.Error renders a bad value: null reads as the string "null"."""
    return '"null"' if value is None else _go_gostring(value)


def _invalid(path: str, value: Any, detail: str, reason: str = INVALID) -> FieldError:
    return FieldError(path, reason, f"Invalid value: {_go_value(value)}: {detail}", value)


# --- JSON types ---


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _types(schema: Schema) -> list[str]:
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    kind = schema.get("type")
    return [kind] if kind else []


def _type_ok(types: Sequence[str], value: Any) -> bool:
    actual = _json_type(value)
    if actual in types:
        return True
    if actual == "number" and "integer" in types and float(value).is_integer():
        return True
    return actual == "integer" and "number" in types


# --- formats (the ones apiextensions keeps; others are stripped from schemas) ---

_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?{v}[0-9a-fA-F]{3}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
_HOSTNAME = re.compile(
    r"^([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}"
    r"[a-zA-Z0-9])?)*\.?$")
_DURATION = re.compile(r"^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h|d|w))+$|^0$")


def _parses(parser: Callable[[str], object]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            parser(text)
        except ValueError:
            return False
        return True
    return check


def _is_date_time(text: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
                        text):
        return False
    return _parses(lambda t: datetime.fromisoformat(t.replace("z", "Z").replace("t", "T")))(
        text)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_cidr(text: str) -> bool:
    return "/" in text and _parses(lambda t: ipaddress.ip_network(t, strict=False))(text)


def _matches(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda text: compiled.fullmatch(text) is not None


FORMATS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": _matches(r"[0-9a-fA-F]{24}"),
    "uri": _matches(r"[A-Za-z][A-Za-z0-9+.-]*:\S*"),
    "email": _matches(r"[^@\s]+@[^@\s]+"),
    "hostname": lambda t: len(t) <= 255 and _HOSTNAME.match(t) is not None,
    "ipv4": lambda t: _parses(ipaddress.IPv4Address)(t),
    "ipv6": lambda t: _parses(ipaddress.IPv6Address)(t),
    "cidr": _is_cidr,
    "mac": _matches(r"([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}"),
    "uuid": _matches(_UUID.replace("{v}", "[0-9a-fA-F]")),
    "uuid3": _matches(_UUID.replace("{v}", "3")),
    "uuid4": _matches(_UUID.replace("{v}", "4")),
    "uuid5": _matches(_UUID.replace("{v}", "5")),
    "isbn": _matches(r"[0-9]{9}[0-9Xx]|[0-9]{13}"),
    "isbn10": _matches(r"[0-9]{9}[0-9Xx]"),
    "isbn13": _matches(r"[0-9]{13}"),
    "ssn": _matches(r"\d{3}[- ]?\d{2}[- ]?\d{4}"),
    "hexcolor": _matches(r"#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})"),
    "rgbcolor": _matches(r"rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)"),
    "byte": _is_base64,
    "password": lambda _: True,
    "date": lambda t: re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) is not None
    and _parses(date.fromisoformat)(t),
    "duration": lambda t: _DURATION.match(t) is not None,
    "datetime": _is_date_time,
    "date-time": _is_date_time,
}


# --- validation ---


def _walk(schema: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    yield path, schema
    for name, sub in sorted((schema.get("properties") or {}).items()):
        yield from _walk(sub, f"{path}.{name}" if path else name)
    items = schema.get("items")
    if isinstance(items, Mapping):
        yield from _walk(items, f"{path}[*]")
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        yield from _walk(extra, f"{path}.*" if path else "*")
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword) or ():
            yield from _walk(sub, path)
    if isinstance(schema.get("not"), Mapping):
        yield from _walk(schema["not"], path)


def check_supported(schema: Schema) -> None:
    """Raise UnsupportedSchema if the schema relies on CEL validation rules."""
    for path, sub in _walk(schema, ""):
        if sub.get("x-kubernetes-validations"):
            raise UnsupportedSchema(
                f"x-kubernetes-validations (CEL) at {path or '<root>'} is not evaluated by "
                "the emulated API server")


def validate(schema: Schema, obj: Any, old: Mapping[str, Any] | None = None) -> list[FieldError]:
    """Validate a (pruned, defaulted) object against its openAPIV3Schema.

    On an update pass the stored object as `old`: errors in subtrees the update leaves
    unchanged are dropped (validation ratcheting, GA since Kubernetes 1.33). Values
    correlate through properties, map keys and `x-kubernetes-list-type: map|set` items.
    """
    check_supported(schema)
    return _Validator().run(schema, obj, "", _NO_OLD if old is None else old)


def validate_structure(schema: Schema, obj: Any) -> list[FieldError]:
    """`validate` for a schema known to hold no CEL rules (a built-in kind's)."""
    return _Validator().run(schema, obj, "", _NO_OLD)


# Marks a value with no counterpart in the old object.
_NO_OLD = object()


def _error_path(path: str) -> str:
    # apiextensions builds the field path from the validator's name; the root has none.
    return path or "<nil>"


class _Validator:
    """kube-openapi's SchemaValidator: type, composition, string, format, number, array,
    enum, then object checks, each when it applies to the value's kind."""

    def run(self, schema: Schema, value: Any, path: str, old: Any) -> list[FieldError]:
        if old is not _NO_OLD and json_equal(value, old):
            return []
        errors: list[FieldError] = []
        types = _types(schema)
        if value is None:
            if types and not schema.get("nullable"):
                errors.append(_invalid(_error_path(path), "null",
                                       f'{path} in body must be of type {",".join(types)}: '
                                       '"null"', TYPE_INVALID))
            errors.extend(self._enum(schema, value, path))
            return errors
        errors.extend(self._type(schema, types, value, path))
        errors.extend(self._composition(schema, value, path, old))
        if isinstance(value, str):
            errors.extend(self._string(schema, value, path))
        if isinstance(value, int | float) and not isinstance(value, bool):
            errors.extend(self._number(schema, value, path))
        if isinstance(value, list):
            errors.extend(self._array(schema, value, path, old))
        errors.extend(self._enum(schema, value, path))
        if isinstance(value, dict):
            errors.extend(self._object(schema, value, path, old))
        return errors

    def _type(self, schema: Schema, types: list[str], value: Any,
              path: str) -> list[FieldError]:
        if not types:
            return []
        numeric = "integer" in types or "number" in types
        if schema.get("format") and isinstance(value, str | list) and not numeric:
            # kube-openapi leaves formatted strings (and arrays) to the format check.
            return []
        if _type_ok(types, value):
            return []
        actual = _json_type(value)
        return [_invalid(_error_path(path), actual,
                         f'{path} in body must be of type {",".join(types)}: "{actual}"',
                         TYPE_INVALID)]

    def _composition(self, schema: Schema, value: Any, path: str,
                     old: Any) -> list[FieldError]:
        errors: list[FieldError] = []
        if not ("anyOf" in schema or "oneOf" in schema or "allOf" in schema
                or "not" in schema):
            return errors
        quoted = go_quote(path)
        any_of = schema.get("anyOf") or ()
        if any_of:
            results: list[list[FieldError]] = [
                self.run(sub, value, path, old) for sub in any_of]
            if not any(not r for r in results):
                errors.append(_invalid("<nil>", "",
                                       f"{quoted} must validate at least one schema (anyOf)"))
                errors.extend(_closest(results))
        one_of = schema.get("oneOf") or ()
        if one_of:
            results = [self.run(sub, value, path, old) for sub in one_of]
            valid = sum(1 for r in results if not r)
            if valid != 1:
                why = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
                errors.append(_invalid("<nil>", "", f"{quoted} must validate one and only one "
                                                    f"schema (oneOf). {why}"))
                if valid == 0:
                    errors.extend(_closest(results))
        all_of = schema.get("allOf") or ()
        if all_of:
            results = [self.run(sub, value, path, old) for sub in all_of]
            for result in results:
                errors.extend(result)
            passed = sum(1 for r in results if not r)
            if passed != len(results):
                extra = ". None validated" if passed == 0 else ""
                errors.append(_invalid("<nil>", "", f"{quoted} must validate all the schemas "
                                                    f"(allOf){extra}"))
        if isinstance(schema.get("not"), Mapping) and not self.run(schema["not"], value, path, old):
            errors.append(_invalid("<nil>", "", f"{quoted} must not validate the schema (not)"))
        return errors

    def _string(self, schema: Schema, value: str, path: str) -> list[FieldError]:
        errors: list[FieldError] = []
        where = _error_path(path)
        max_length = schema.get("maxLength")
        if max_length is not None and len(value) > max_length:
            unit = "byte" if max_length == 1 else "bytes"
            errors.append(FieldError(where, TOO_LONG,
                                     f"Too long: may not be more than {max_length} {unit}",
                                     value))
        min_length = schema.get("minLength")
        if min_length is not None and len(value) < min_length:
            errors.append(_invalid(where, value,
                                   f"{path} in body should be at least {min_length} chars long"))
        pattern = schema.get("pattern")
        if pattern is not None and re.search(pattern, value) is None:
            errors.append(_invalid(where, value, f"{path} in body should match '{pattern}'"))
        fmt = schema.get("format")
        check = FORMATS.get(fmt) if isinstance(fmt, str) else None
        if check is not None and not check(value):
            errors.append(_invalid(where, value, f"{path} in body must be of type {fmt}: "
                                                 f"{go_quote(value)}", TYPE_INVALID))
        return errors

    def _number(self, schema: Schema, value: float, path: str) -> list[FieldError]:
        errors: list[FieldError] = []
        where = _error_path(path)
        is_int = isinstance(value, int)

        def bound(limit: float) -> str:
            return str(int(limit)) if is_int else _go_float(float(limit))

        multiple = schema.get("multipleOf")
        if multiple is not None and multiple > 0 and not (value / multiple).is_integer():
            errors.append(_invalid(where, value, f"{path} in body should be a multiple of "
                                                 f"{_go_float(float(multiple))}"))
        maximum = schema.get("maximum")
        if maximum is not None:
            exclusive = bool(schema.get("exclusiveMaximum"))
            if value > maximum or (exclusive and value == maximum):
                relation = "less than" if exclusive else "less than or equal to"
                errors.append(_invalid(where, value,
                                       f"{path} in body should be {relation} {bound(maximum)}"))
        minimum = schema.get("minimum")
        if minimum is not None:
            exclusive = bool(schema.get("exclusiveMinimum"))
            if value < minimum or (exclusive and value == minimum):
                relation = "greater than" if exclusive else "greater than or equal to"
                errors.append(_invalid(where, value,
                                       f"{path} in body should be {relation} {bound(minimum)}"))
        return errors

    def _array(self, schema: Schema, value: list[Any], path: str,
               old: Any) -> list[FieldError]:
        errors: list[FieldError] = []
        where = _error_path(path)
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                errors.extend(self.run(items, item, f"{path}[{i}]",
                                       _old_item(schema, item, old)))
        min_items = schema.get("minItems")
        if min_items is not None and len(value) < min_items:
            errors.append(_invalid(where, len(value),
                                   f"{path} in body should have at least {min_items} items"))
        max_items = schema.get("maxItems")
        if max_items is not None and len(value) > max_items:
            errors.append(FieldError(where, TOO_MANY, f"Too many: {len(value)}: must have at "
                                                      f"most {max_items} items", len(value)))
        if schema.get("uniqueItems") and _has_duplicates(value):
            errors.append(_invalid(where, "", f"{path} in body shouldn't contain duplicates"))
        errors.extend(_list_type_errors(schema, value, path))
        return errors

    def _enum(self, schema: Schema, value: Any, path: str) -> list[FieldError]:
        enum = schema.get("enum")
        if not enum or any(json_equal(value, allowed) for allowed in enum):
            return []
        supported = ", ".join(
            go_quote(v if isinstance(v, str) else _json_text(v)) for v in enum)
        return [FieldError(_error_path(path), NOT_SUPPORTED,
                           f"Unsupported value: {_go_value(value)}: supported values: "
                           f"{supported}", value)]

    def _object(self, schema: Schema, value: dict[str, Any], path: str,
                old: Any) -> list[FieldError]:
        errors: list[FieldError] = []
        where = _error_path(path)
        min_props = schema.get("minProperties")
        if min_props is not None and len(value) < min_props:
            return [_invalid(where, len(value),
                             f"{path} in body should have at least {min_props} properties")]
        max_props = schema.get("maxProperties")
        if max_props is not None and len(value) > max_props:
            return [FieldError(where, TOO_MANY, f"Too many: {len(value)}: must have at most "
                                                f"{max_props} items", len(value))]
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in sorted(value):
            if key in properties:
                continue
            if extra is False:
                errors.append(_invalid(where, key, f"{path}.{key} in body is a forbidden "
                                                   "property"))
            elif isinstance(extra, Mapping):
                errors.extend(self.run(extra, value[key], f"{path}.{key}",
                                       _old_member(old, key)))
        for key in sorted(properties):
            if key in value:
                errors.extend(self.run(properties[key], value[key],
                                       f"{path}.{key}" if path else key, _old_member(old, key)))
        for key in schema.get("required") or ():
            if key not in value:
                errors.append(FieldError(f"{path}.{key}" if path else key, REQUIRED,
                                         "Required value"))
        if schema.get("x-kubernetes-embedded-resource"):
            errors.extend(_embedded_resource_errors(value, path))
        return errors


def _embedded_resource_errors(value: dict[str, Any], path: str) -> list[FieldError]:
    """An embedded object needs a non-empty string apiVersion and kind (their syntax and
    the embedded metadata are not checked further)."""
    errors: list[FieldError] = []
    for key in ("apiVersion", "kind"):
        where = f"{path}.{key}" if path else key
        if key not in value:
            errors.append(FieldError(where, REQUIRED, "Required value: must not be empty"))
        elif not isinstance(value[key], str):
            errors.append(_invalid(where, value[key], "must be a string"))
        elif not value[key]:
            errors.append(_invalid(where, "", "must not be empty"))
    return errors


def _old_member(old: Any, key: str) -> Any:
    return old.get(key, _NO_OLD) if isinstance(old, dict) else _NO_OLD


def _old_item(schema: Schema, item: Any, old: Any) -> Any:
    """The old list item a new one correlates with: by map keys or set value; atomic
    lists do not correlate their items."""
    if not isinstance(old, list):
        return _NO_OLD
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        return next((o for o in old if json_equal(o, item)), _NO_OLD)
    if list_type == "map" and isinstance(item, dict):
        keys = list(schema.get("x-kubernetes-list-map-keys") or ())
        for candidate in old:
            if isinstance(candidate, dict) and all(
                    json_equal(candidate.get(k), item.get(k)) for k in keys):
                return candidate
    return _NO_OLD


def _closest(results: list[list[FieldError]]) -> list[FieldError]:
    """The failures of the alternative that came nearest to passing."""
    return min(results, key=len)


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _has_duplicates(values: list[Any]) -> bool:
    return any(json_equal(values[i], values[j])
               for i in range(len(values)) for j in range(i))


def _list_type_errors(schema: Schema, value: list[Any], path: str) -> list[FieldError]:
    """`x-kubernetes-list-type: set|map` uniqueness, checked after schema validation."""
    list_type = schema.get("x-kubernetes-list-type")
    errors: list[FieldError] = []
    if list_type == "set":
        for i, item in enumerate(value):
            if any(json_equal(item, earlier) for earlier in value[:i]):
                errors.append(FieldError(f"{path}[{i}]", DUPLICATE,
                                         f"Duplicate value: {_go_value(item)}", item))
    elif list_type == "map":
        keys = list(schema.get("x-kubernetes-list-map-keys") or ())
        seen: list[dict[str, Any]] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key = {k: item[k] for k in keys if k in item}
            if any(json_equal(key, earlier) for earlier in seen):
                errors.append(FieldError(f"{path}[{i}]", DUPLICATE,
                                         f"Duplicate value: {_go_gostring(key)}", key))
            seen.append(key)
    return errors


# --- pruning ---


def prune(schema: Schema, obj: Any) -> Any:
    """A copy of `obj` without the fields the schema does not know (structural pruning)."""
    return _prune(schema, copy.deepcopy(obj), "", [], root=True)


def unknown_fields(schema: Schema, obj: Any) -> list[str]:
    """The paths `prune` drops, for the server's `unknown field "spec.foo"` warnings."""
    dropped: list[str] = []
    _prune(schema, copy.deepcopy(obj), "", dropped, root=True)
    return dropped


def _prune(schema: Schema, value: Any, path: str, dropped: list[str], root: bool) -> Any:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        keep_meta = root or bool(schema.get("x-kubernetes-embedded-resource"))
        for key in list(value):
            child = f"{path}.{key}" if path else key
            if keep_meta and key in ROOT_FIELDS:
                # Type fields and ObjectMeta are the server's, not the schema's, to prune.
                continue
            if key in properties:
                value[key] = _prune(properties[key], value[key], child, dropped, root=False)
            elif isinstance(extra, Mapping):
                value[key] = _prune(extra, value[key], child, dropped, root=False)
            elif not (preserve or extra is True):
                dropped.append(child)
                del value[key]
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [_prune(items, item, f"{path}[{i}]", dropped, root=False)
                    for i, item in enumerate(value)]
    return value


# --- defaulting ---


def apply_defaults(schema: Schema, obj: Any) -> Any:
    """A copy of `obj` with non-nullable nulls dropped and schema defaults applied."""
    result = copy.deepcopy(obj)
    _drop_nulls(schema, result)
    _default(schema, result)
    return result


def _is_non_nullable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable")


def _drop_nulls(schema: Schema, value: Any) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            sub = properties.get(key) or (extra if isinstance(extra, Mapping) else None)
            if sub is None:
                continue
            if _is_non_nullable_null(value[key], sub) and "default" not in sub:
                del value[key]
            else:
                _drop_nulls(sub, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _drop_nulls(schema["items"], item)


def _default(schema: Schema, value: Any) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if "default" in sub and (key not in value or _is_non_nullable_null(value[key], sub)):
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key in list(value):
            if key in properties:
                _default(properties[key], value[key])
            elif isinstance(extra, Mapping):
                if "default" in extra and _is_non_nullable_null(value[key], extra):
                    value[key] = copy.deepcopy(extra["default"])
                _default(extra, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        items = schema["items"]
        for i, item in enumerate(value):
            if "default" in items and _is_non_nullable_null(item, items):
                value[i] = copy.deepcopy(items["default"])
            _default(items, value[i])
