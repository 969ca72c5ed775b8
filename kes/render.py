"""Spec plus fetched payloads in, the desired Secret out: pure, no I/O.

Follows KES's GCP backend: property paths into JSON payloads, ``isBinary``,
``dataFrom`` explosion, merge order dataFrom < dataFromWithOptions < data, and the
template laid under the generated data (``stringData`` over everything, as the
API server folds it). Values are the bytes KES wrote (kes.js holds the JavaScript
rules they follow). Unlike KES it keeps payload bytes exact and reports every fault
instead of dropping the entry.

Whatever the payloads and the spec hold, rendering raises nothing but RenderError:
JSON nesting, the Secret's total size (Kubernetes' 1 MiB) and every template are
bounded, each value is made only when it ends up in the Secret, and each payload's
JSON is parsed once however many entries read it. Messages never quote a payload.

Longer than most modules: the Secret's size budget runs through every stage
(generated values, templates, annotations), so the stages stay together.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.sandbox import SecurityError
from jsonpath_ng import JSONPath
from jsonpath_ng import parse as parse_jsonpath

from kes.api import KIND
from kes.codecs import decode_base64
from kes.errors import ObjectFieldError, bounded
from kes.js import json as js_json
from kes.js import lodash
from kes.js.number import number_to_string
from kes.js.text import utf8, well_formed
from kes.names import SecretVersionName
from kes.spec import (
    DataFromItem,
    DataItem,
    ExternalSecretSpec,
    SecretTemplate,
    TemplateText,
    secret_key_problem,
)
from kes.template import (
    MAX_VALUE_BYTES,
    OutputTooLarge,
    TemplateRefused,
    TemplateValueError,
    compile_template,
    render_template,
)

MAX_SECRET_BYTES = MAX_VALUE_BYTES
"""All values of one Secret together: Kubernetes refuses a Secret with more data."""
MAX_ANNOTATION_BYTES = 128 * 1024
"""Template annotations, keys and values together: Kubernetes allows 256 KiB of
annotations on an object, and kes's own bookkeeping lists the keys again."""

_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_SHOWN_CHARS = 100  # of a property path or JSON key quoted in a message


class RenderError(ObjectFieldError):
    """Payloads that do not fit the spec; ``key`` is the Secret Manager key or, for a
    template fault, the Secret (or label/annotation) key."""

    kind = KIND

    def __init__(self, object_ref: str, key: str, field: str, message: str) -> None:
        super().__init__(object_ref, field, message)
        self.key = key


class NotJson(ValueError):
    """Bytes that are not a JSON document; the message says why ("is not UTF-8 text")."""


def parse_json(raw: bytes) -> Any:
    """``JSON.parse`` of bytes that must be UTF-8 (KES replaced bad bytes with U+FFFD)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotJson("is not UTF-8 text") from None
    try:
        return js_json.parse(text)
    except js_json.JsonError as exc:
        raise NotJson(str(exc)) from None


class Payload:
    """One fetched secret version: its bytes, and its JSON parsed at most once however
    many entries and renders read it. A pickled Payload carries only the bytes."""

    __slots__ = ("data", "_parsed")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._parsed: tuple[Any, str | None] | None = None

    def json(self) -> Any:
        """The payload as a JSON document; NotJson says why it is not one."""
        if self._parsed is None:
            try:
                self._parsed = (parse_json(self.data), None)
            except NotJson as exc:
                self._parsed = (None, str(exc))
        document, problem = self._parsed
        if problem is not None:
            raise NotJson(problem)
        return document

    def __getstate__(self) -> bytes:
        return self.data

    def __setstate__(self, data: bytes) -> None:
        self.__init__(data)  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Payload(<{len(self.data)} bytes>)"


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
    name: str, namespace: str, spec: ExternalSecretSpec,
    payloads: Mapping[SecretVersionName, Payload],
) -> DesiredSecret:
    """Build the Secret for ``spec``; ``payloads`` holds every ref in ``spec.refs``."""
    object_ref = f"{namespace}/{name}"
    generated = _generate(object_ref, spec, payloads)
    template = spec.template
    context = {"data": _TextValues(generated), "data_b64": _Base64Values(generated)}
    data = _with_template(object_ref, template, generated, context)
    _check_type_keys(object_ref, template.type, data)
    return DesiredSecret(
        name=name,
        namespace=namespace,
        type=template.type,
        labels={key: _label_value(object_ref, key, text, context)
                for key, text in template.labels.items()},
        annotations=_annotations(object_ref, template.annotations, context),
        data=data,
    )


# ---- values from payloads ------------------------------------------------------


def _generate(object_ref: str, spec: ExternalSecretSpec,
              payloads: Mapping[SecretVersionName, Payload]) -> dict[str, bytes]:
    """The generated data: dataFrom, dataFromWithOptions, then data, a later entry
    winning a key. Each value is made only if it wins, and the total checked as it grows."""
    winners: dict[str, tuple[str, str, Callable[[], bytes]]] = {}
    for source in _last_of_each(spec.data_from):
        members = _members(object_ref, source, _payload(object_ref, source, payloads))
        for key, value in members.items():
            winners[key] = (source.key, source.field,
                            functools.partial(_member_value, object_ref, source, key, value))
    for item in spec.data:
        payload = _payload(object_ref, item, payloads)
        winners[item.name] = (item.key, item.field,
                              functools.partial(_extract, object_ref, item, payload))
    generated: dict[str, bytes] = {}
    total = 0
    for name, (secret_key, field, make) in winners.items():
        generated[name] = make()
        total += len(generated[name])
        if total > MAX_SECRET_BYTES:
            raise RenderError(object_ref, secret_key, field, f"secret {secret_key} {_OVER_SECRET}")
    return generated


def _payload(object_ref: str, entry: DataItem | DataFromItem,
             payloads: Mapping[SecretVersionName, Payload]) -> Payload:
    payload = payloads.get(entry.ref)
    if payload is None:
        raise RenderError(object_ref, entry.key, entry.field, f"{entry.ref} was not fetched")
    return payload


def _last_of_each(sources: Iterable[DataFromItem]) -> list[DataFromItem]:
    """The sources in order, each repeated source only where it last appears: a later
    copy of the same version overrides every key an earlier copy set."""
    seen: set[tuple[SecretVersionName, bool]] = set()
    kept = []
    for source in reversed(list(sources)):
        if (source.ref, source.is_binary) not in seen:
            seen.add((source.ref, source.is_binary))
            kept.append(source)
    return kept[::-1]


def _extract(object_ref: str, item: DataItem, payload: Payload) -> bytes:
    """One ``data[]`` entry's value: the payload, or a property of its JSON."""
    value = payload.data
    if item.property is not None:
        value = json_text(_property(object_ref, item, payload))
    if item.is_binary:
        what = f"secret {item.key}" if item.property is None else (
            f"property {_shown(item.property)} of secret {item.key}")
        value = _base64(object_ref, item.key, f"{item.field}.isBinary", value,
                        f"{what} is not valid base64")
    return value


def _property(object_ref: str, item: DataItem, payload: Payload) -> Any:
    assert item.property is not None
    prop, field = item.property, f"{item.field}.property"

    def fault(problem: str) -> RenderError:
        return RenderError(object_ref, item.key, field, problem)

    try:
        document = payload.json()
    except NotJson as exc:
        raise fault(f"secret {item.key} {exc}, so property {_shown(prop)} cannot be read") \
            from None
    found = _lookup(document, prop, fault)
    if len(found) != 1:
        problem = "could not find" if not found else f"found {len(found)} values for"
        raise fault(f"{problem} property {_shown(prop)} in secret {item.key}")
    return found[0]


def _lookup(document: Any, prop: str, fault: Callable[[str], RenderError]) -> list[Any]:
    """Values at ``prop``: a key of the object read whole, else a lodash path (as KES
    read it), or a JSONPath when it starts with ``$.`` or ``$[`` (a kes addition)."""
    if not prop.startswith(("$.", "$[")) or isinstance(document, dict) and prop in document:
        value = lodash.get(document, prop)
        return [] if value is lodash.MISSING else [value]
    path = _compiled_path(prop)
    if path is None:
        raise fault(f"property {_shown(prop)} is not a JSONPath (a property starting with "
                    "$. or $[ is one)")
    try:
        return [match.value for match in path.find(document)]
    except RecursionError:
        raise fault(f"property {_shown(prop)} nests too deeply") from None


@functools.lru_cache(maxsize=1024)
def _compiled_path(prop: str) -> JSONPath | None:
    try:
        return parse_jsonpath(prop)
    except Exception:  # jsonpath-ng's parser raises several kinds; none is kes's concern
        return None


def json_text(value: Any) -> bytes:
    """A JSON value as KES stored it (kv-backend.js ``_toBuffer``): strings as UTF-8,
    numbers and booleans through ``String()``, objects, arrays and null through
    ``JSON.stringify``."""
    if isinstance(value, str):
        return utf8(value)
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int | float):
        return number_to_string(value).encode()
    return js_json.stringify(value).encode()


def _members(object_ref: str, source: DataFromItem, payload: Payload) -> Mapping[str, Any]:
    """A ``dataFrom`` entry's JSON object, each key checked as a Secret key."""
    def fault(why: str) -> RenderError:
        return RenderError(object_ref, source.key, source.field,
                           f"secret {source.key} {why}; dataFrom needs a JSON object")

    try:
        document = payload.json()
    except NotJson as exc:
        raise fault(str(exc)) from None
    if not isinstance(document, js_json.JsObject):
        raise fault(f"is a JSON {_json_kind(document)}")
    if document.repeated is not None:
        raise fault(f"is a JSON object with key {_shown(document.repeated)!r} twice")
    for key in document:
        problem = secret_key_problem(key)
        if problem:
            raise RenderError(object_ref, source.key, source.field,
                              f"JSON key {_shown(key)!r} of secret {source.key} is not a "
                              f"Secret key: {problem}")
    return document


def _member_value(object_ref: str, source: DataFromItem, key: str, value: Any) -> bytes:
    text = json_text(value)
    if not source.is_binary:
        return text
    return _base64(object_ref, source.key, f"{source.field}.isBinary", text,
                   f"value of {key!r} in secret {source.key} is not valid base64")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "array" if isinstance(value, list) else "number"


def _shown(text: str) -> str:
    return bounded(text, _SHOWN_CHARS)


def _base64(object_ref: str, key: str, field: str, value: bytes, message: str) -> bytes:
    try:
        return decode_base64(value)
    except ValueError:
        raise RenderError(object_ref, key, field, message) from None


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
        try:
            document = parse_json(data[json_key])
        except NotJson as exc:
            raise fault(json_key, f"{what}; it {exc}") from None
        if document is not None and not isinstance(document, dict):
            raise fault(json_key, f"{what}; it is a JSON {_json_kind(document)}")


# ---- templates -------------------------------------------------------------------


def _with_template(object_ref: str, template: SecretTemplate, generated: dict[str, bytes],
                   context: Mapping[str, Any]) -> dict[str, bytes]:
    """The generated data with the template: ``template.data`` under it, ``stringData``
    over it, each rendered within the room the Secret has left."""
    over = {**generated}
    total = sum(len(value) for value in generated.values())
    # Replacements first, so that the running total never counts a value it drops.
    for key, text in sorted(template.string_data.items(), key=lambda kv: kv[0] not in over):
        replaced = len(over.get(key, b""))
        over[key] = utf8(_render(object_ref, key, text, context,
                                 MAX_SECRET_BYTES - total + replaced, _OVER_SECRET))
        total += len(over[key]) - replaced
    under: dict[str, bytes] = {}
    for key, text in template.data.items():
        value = _template_base64(object_ref, key, text, context)
        if key in generated:
            continue  # a generated key wins, as in KES's deep merge
        total += len(value)
        if total > MAX_SECRET_BYTES:
            raise RenderError(object_ref, key, text.field, f"template {_OVER_SECRET}")
        under[key] = value
    return {**under, **over}


def _annotations(object_ref: str, annotations: Mapping[str, TemplateText],
                 context: Mapping[str, Any]) -> dict[str, str]:
    rendered: dict[str, str] = {}
    used = 0
    for key, text in annotations.items():
        used += len(key)
        rendered[key] = _render(object_ref, key, text, context, MAX_ANNOTATION_BYTES - used,
                                _OVER_ANNOTATIONS)
        used += len(utf8(rendered[key]))
    return rendered


_OVER_SECRET = (f"would make the Secret's data larger than {MAX_SECRET_BYTES} bytes, the "
                "most Kubernetes stores in a Secret")
_OVER_ANNOTATIONS = f"would make the annotations larger than {MAX_ANNOTATION_BYTES} bytes"


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


def _render(object_ref: str, key: str, text: TemplateText, context: Mapping[str, Any],
            room: int = MAX_VALUE_BYTES, over: str = "") -> str:
    """Render one template string into at most ``room`` bytes (``over`` says what going
    past a room below a value's limit means); the error names the fault, never a value."""
    try:
        compiled = compile_template(text.source)
    except TemplateRefused as exc:
        raise RenderError(object_ref, key, text.field, f"template {exc}") from None
    limit = min(room, MAX_VALUE_BYTES)
    too_large = over if limit < MAX_VALUE_BYTES else (
        f"rendered a value over the limit of {MAX_VALUE_BYTES} bytes")
    try:
        rendered = well_formed(render_template(compiled, context, limit))
    except OutputTooLarge as exc:
        problem = over if limit < MAX_VALUE_BYTES else str(exc)
    except TemplateValueError as exc:
        problem = str(exc)
    except jinja2.UndefinedError:
        keys = ", ".join(bounded(key, _SHOWN_CHARS) for key in context["data"]) or "none"
        problem = f"refers to something undefined (data has keys: {bounded(keys, 1000)})"
    except SecurityError:
        problem = "does something the template sandbox forbids"
    except RecursionError:
        problem = "nests values too deeply"
    except MemoryError:
        problem = "needed more memory than the render worker's limit"
    except Exception as exc:  # any fault in a user's template; its text may quote values
        problem = f"failed with {type(exc).__name__}"
    else:
        if len(rendered.encode()) <= limit:
            return rendered
        problem = too_large
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
