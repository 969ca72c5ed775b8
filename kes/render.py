"""Spec plus fetched payloads in, the desired Secret out: pure, no I/O.

Follows KES's GCP backend: property paths into JSON payloads, ``isBinary``,
``dataFrom`` explosion, merge order dataFrom < dataFromWithOptions < data, and the
template laid under the generated data (``stringData`` over everything, as the
API server folds it). Unlike KES it keeps payload bytes exact and reports every
fault instead of dropping the entry. Messages never quote a payload.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.sandbox import SecurityError
from jsonpath_ng import JSONPath
from jsonpath_ng import parse as parse_jsonpath
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError

from kes.api import KIND
from kes.codecs import decode_base64
from kes.errors import ObjectFieldError
from kes.names import SecretVersionName
from kes.spec import (
    DataFromItem,
    DataItem,
    ExternalSecretSpec,
    TemplateText,
    secret_key_problem,
)
from kes.template import MAX_VALUE_BYTES, TemplateValueError

_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


class RenderError(ObjectFieldError):
    """Payloads that do not fit the spec; ``key`` is the Secret Manager key or, for a
    template fault, the Secret (or label/annotation) key."""

    kind = KIND

    def __init__(self, object_ref: str, key: str, field: str, message: str) -> None:
        super().__init__(object_ref, field, message)
        self.key = key


@dataclass(frozen=True)
class DesiredSecret:
    """The Secret an ExternalSecret asks for, before the controller's own metadata."""

    name: str
    namespace: str
    type: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    data: Mapping[str, bytes] = dataclasses.field(repr=False)


def render_secret(
    name: str, namespace: str, spec: ExternalSecretSpec, payloads: Mapping[SecretVersionName, bytes]
) -> DesiredSecret:
    """Build the Secret for ``spec``; ``payloads`` must hold every ref in ``spec.refs``."""
    object_ref = f"{namespace}/{name}"
    generated: dict[str, bytes] = {}
    for source in spec.data_from:
        generated.update(_explode(object_ref, source, payloads[source.ref]))
    for item in spec.data:
        generated[item.name] = _extract(object_ref, item, payloads[item.ref])

    template = spec.template
    context = {"data": _TextValues(generated), "data_b64": _Base64Values(generated)}
    data = {
        key: _template_base64(object_ref, key, text, context)
        for key, text in template.data.items()
    }
    data.update(generated)
    for key, text in template.string_data.items():
        data[key] = _render(object_ref, key, text, context).encode()
    _check_type_keys(object_ref, template.type, data)
    return DesiredSecret(
        name=name,
        namespace=namespace,
        type=template.type,
        labels={key: _label_value(object_ref, key, text, context)
                for key, text in template.labels.items()},
        annotations={key: _render(object_ref, key, text, context)
                     for key, text in template.annotations.items()},
        data=data,
    )


# ---- Secret types -------------------------------------------------------------


# Keys the API server requires of each built-in Secret type (ValidateSecret): a
# Secret without them would be rejected on every write.
_REQUIRED_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
}
_ONE_OF_KEYS = {"kubernetes.io/basic-auth": ("username", "password")}
_NON_EMPTY_KEYS = {"kubernetes.io/ssh-auth": "ssh-privatekey"}
# Keys whose value must decode as a JSON object (or null), as Go's json.Unmarshal into a map.
_JSON_OBJECT_KEYS = {
    "kubernetes.io/dockerconfigjson": ".dockerconfigjson",
    "kubernetes.io/dockercfg": ".dockercfg",
}


def _check_type_keys(object_ref: str, secret_type: str, data: Mapping[str, bytes]) -> None:
    """Refuse a Secret the API server would reject for its type; never quotes a value."""
    def fault(key: str, message: str) -> RenderError:
        return RenderError(object_ref, key, "spec.template.type",
                           f"{secret_type} Secrets {message}")

    for key in _REQUIRED_KEYS.get(secret_type, ()):
        if key not in data:
            raise fault(key, f"need the key {key}")
    one_of = _ONE_OF_KEYS.get(secret_type)
    if one_of and not data.keys() & set(one_of):
        raise fault(one_of[0], f"need the key {' or '.join(one_of)}")
    non_empty = _NON_EMPTY_KEYS.get(secret_type)
    if non_empty is not None and not data.get(non_empty):
        raise fault(non_empty, f"need the key {non_empty}, not empty")
    json_key = _JSON_OBJECT_KEYS.get(secret_type)
    if json_key is not None:
        what = f"need {json_key} to be a JSON object"
        document = _json(data[json_key], lambda why: fault(json_key, f"{what}; it is {why}"))
        if document is not None and not isinstance(document, dict):
            raise fault(json_key, f"{what}; it is a JSON {_json_kind(document)}")


# ---- values from payloads ------------------------------------------------------


def _extract(object_ref: str, item: DataItem, payload: bytes) -> bytes:
    """One ``data[]`` entry's value: the payload, or a property of its JSON."""
    value = payload
    if item.property is not None:
        prop_field = f"{item.field}.property"
        document = _json(payload, lambda why: RenderError(
            object_ref, item.key, prop_field,
            f"secret {item.key} is {why}, so property {item.property} cannot be read",
        ))
        found = list(_lookup(document, item.property))
        if len(found) != 1:
            problem = "could not find" if not found else f"found {len(found)} values for"
            raise RenderError(object_ref, item.key, prop_field,
                              f"{problem} property {item.property} in secret {item.key}")
        value = json_text(found[0])
    if item.is_binary:
        what = f"secret {item.key}" if item.property is None else (
            f"property {item.property} of secret {item.key}")
        value = _base64(object_ref, item.key, f"{item.field}.isBinary", value,
                        f"{what} is not valid base64")
    return value


def _explode(object_ref: str, source: DataFromItem, payload: bytes) -> dict[str, bytes]:
    """A ``dataFrom`` entry's keys: each top-level key of the payload's JSON object."""
    def fault(why: str) -> RenderError:
        return RenderError(object_ref, source.key, source.field,
                           f"secret {source.key} is {why}; dataFrom needs a JSON object")

    document = _json(payload, fault)
    if not isinstance(document, _Object):
        raise fault(f"a JSON {_json_kind(document)}")
    if document.duplicates:
        raise fault(f"a JSON object with key {document.duplicates[0]!r} twice")
    exploded: dict[str, bytes] = {}
    for key, value in document.items():
        problem = secret_key_problem(key)
        if problem:
            raise RenderError(object_ref, source.key, source.field,
                              f"JSON key {key!r} of secret {source.key} is not a Secret key: "
                              f"{problem}")
        exploded[key] = json_text(value)
        if source.is_binary:
            exploded[key] = _base64(object_ref, source.key, f"{source.field}.isBinary",
                                    exploded[key],
                                    f"value of {key!r} in secret {source.key} is not valid base64")
    return exploded


class _Object(dict[str, Any]):
    """A JSON object that remembers keys it saw more than once."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        counts = Counter(key for key, _ in pairs)
        self.duplicates = [key for key, count in counts.items() if count > 1]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(payload: bytes, fault: Callable[[str], RenderError]) -> Any:
    """Parse strict JSON (no NaN/Infinity, as JSON.parse); ``fault(why)`` makes the error."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise fault("not UTF-8 text") from None
    try:
        return json.loads(text, object_pairs_hook=_Object, parse_constant=_reject_constant)
    except ValueError:
        raise fault("not valid JSON") from None


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds[type(value)]


def _lookup(document: Any, prop: str) -> Iterator[Any]:
    """Values at ``prop``: an exact top-level key wins, else a JSON path (``a.b[0].c``, ``$.a``)."""
    if isinstance(document, dict) and prop in document:
        yield document[prop]
        return
    path = _compiled_path(prop)
    if path is not None:
        yield from (match.value for match in path.find(document))


@functools.lru_cache(maxsize=1024)
def _compiled_path(prop: str) -> JSONPath | None:
    """``prop`` as a JSON path, or None when it is only usable as a literal key."""
    try:
        return parse_jsonpath(prop)
    except (JsonPathLexerError, JsonPathParserError):
        return None


def json_text(value: Any) -> bytes:
    """A JSON value as KES stored it: strings as-is, everything else as compact JSON text."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() \
            and abs(value) < 1e21:
        return str(int(value)).encode()  # JavaScript prints 1.0 as 1
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _base64(object_ref: str, key: str, field: str, value: bytes, message: str) -> bytes:
    try:
        return decode_base64(value)
    except ValueError:
        raise RenderError(object_ref, key, field, message) from None


# ---- templates -------------------------------------------------------------------


class _TextValues(Mapping[str, str]):
    """``data`` in templates: each generated value as text, converted once however
    often a template reads it (a loop may read a large value many times)."""

    def __init__(self, values: Mapping[str, bytes]) -> None:
        self._values = values
        self._texts: dict[str, str] = {}

    def __getitem__(self, key: str) -> str:
        if key not in self._texts:
            self._texts[key] = self._text(key, self._values[key])
        return self._texts[key]

    def _text(self, key: str, value: bytes) -> str:
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise TemplateValueError(
                f"data[{key!r}] is not UTF-8 text; use data_b64[{key!r}]"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class _Base64Values(_TextValues):
    """``data_b64`` in templates: each generated value's exact bytes as base64."""

    def _text(self, key: str, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")


def _render(object_ref: str, key: str, text: TemplateText, context: Mapping[str, Any]) -> str:
    """Render one template string; the error names the fault, never a value."""
    try:
        rendered = text.render(context)
    except TemplateValueError as exc:
        problem = str(exc)
    except jinja2.UndefinedError:
        keys = ", ".join(context["data"]) or "none"
        problem = f"refers to something undefined (data has keys: {keys})"
    except SecurityError:
        problem = "does something the template sandbox forbids"
    except Exception as exc:  # any fault in a user's template; its text may quote values
        problem = f"failed with {type(exc).__name__}"
    else:
        if len(rendered.encode()) <= MAX_VALUE_BYTES:
            return rendered
        problem = f"rendered a value over the limit of {MAX_VALUE_BYTES} bytes"
    raise RenderError(object_ref, key, text.field, f"template {problem}")


def _template_base64(object_ref: str, key: str, text: TemplateText,
                     context: Mapping[str, Any]) -> bytes:
    """``template.data`` renders base64, as a Secret's ``data`` holds."""
    return _base64(object_ref, key, text.field, _render(object_ref, key, text, context).encode(),
                   "rendered text is not base64 (template.data holds base64 as a Secret's "
                   "data does; use stringData for text)")


def _label_value(object_ref: str, key: str, text: TemplateText,
                 context: Mapping[str, Any]) -> str:
    value = _render(object_ref, key, text, context)
    if not _LABEL_VALUE.fullmatch(value):
        raise RenderError(object_ref, key, text.field,
                          "rendered text is not a label value (at most 63 letters, digits, "
                          "'-', '_' or '.', starting and ending with a letter or digit)")
    return value
