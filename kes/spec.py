"""The ExternalSecret API (``kubernetes-client.io/v1``): a manifest in, a checked spec out.

Accepts every field of Kubernetes External Secrets' GCP backend and its deprecated
aliases and checks names the way Secret Manager and Kubernetes do, so that a bad
manifest fails here with the field to fix rather than later against Secret Manager
or the API server. Parsing is cheap and bounded whatever a manifest holds (sizes,
durations and lengths are checked; templates are compiled later, when rendered),
and a parsed spec is plain picklable data.

Longer than most modules: one parser walks the whole API so that every check runs
where the field is read, with its path at hand for the message.
"""

from __future__ import annotations

import functools
import re
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kes.api import BACKEND_TYPE, BOOKKEEPING_ANNOTATIONS, KIND, MANAGED_BY_LABEL
from kes.errors import ObjectFieldError, bounded
from kes.names import SecretVersionName
from kes.template import source_problem

# Every backend KES knew: manifests naming one still apply and get a clear error.
KES_BACKEND_TYPES = (
    "secretsManager",
    "systemManager",
    "vault",
    "azureKeyVault",
    "gcpSecretsManager",
    "alicloudSecretsManager",
    "ibmcloudSecretsManager",
    "akeyless",
)
DEFAULT_VERSION = "latest"
DEFAULT_SECRET_TYPE = "Opaque"
# Types whose Secrets Kubernetes turns into credentials: a template must not mint them.
FORBIDDEN_SECRET_TYPES = frozenset(
    {"kubernetes.io/service-account-token", "bootstrap.kubernetes.io/token"}
)
# The controller sets this label on every Secret it manages, and keeps its own state
# in these annotations: a template setting them could make kes strip others' labels.
RESERVED_LABELS = frozenset({MANAGED_BY_LABEL})
RESERVED_ANNOTATIONS = BOOKKEEPING_ANNOTATIONS
MAX_REFRESH_INTERVAL = 7 * 24 * 3600.0
"""Seconds; a week. Longer intervals are a spec error (spec changes and requested-at
still sync at once), so no interval can overflow the schedule's arithmetic."""
MAX_PROPERTY_CHARS = 1024
"""Longest ``data[].property``: a path can go no deeper than JSON nests (kes.js)."""
_MAX_DURATION_CHARS = 1024
_MAX_NAME_CHARS = 253  # Kubernetes object names
_SHOWN_KEY_CHARS = 100  # of a key quoted in a field path

_SPEC_FIELDS = frozenset(
    {
        "backendType", "projectId", "data", "properties", "dataFrom", "dataFromWithOptions",
        "template", "type", "controllerId", "refreshInterval",
    }
)
_DATA_FIELDS = frozenset({"key", "name", "version", "property", "isBinary"})
_DATA_FROM_FIELDS = frozenset({"key", "version", "isBinary"})
_TEMPLATE_FIELDS = frozenset({"metadata", "type", "data", "stringData"})
_TEMPLATE_METADATA_FIELDS = frozenset({"labels", "annotations"})

_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
# A project id (optionally domain-scoped, "example.com:proj") or a project number.
_PROJECT = re.compile(r"(?:[a-z0-9][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}")
_LOCATION = re.compile(r"[a-z][a-z0-9-]{0,61}[a-z0-9]")
# A version number, "latest", or a version alias.
_VERSION = re.compile(r"[1-9][0-9]{0,18}|[A-Za-z][A-Za-z0-9_-]{0,62}")
_FULL_NAME = re.compile(
    r"projects/(?P<project>[^/]*)(?:/locations/(?P<location>[^/]*))?"
    r"/secrets/(?P<secret>[^/]*)(?:/versions/(?P<version>[^/]*))?"
)
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class SpecError(ObjectFieldError):
    """An ExternalSecret that kes cannot serve as written; ``field`` says where."""

    kind = KIND


@dataclass(frozen=True)
class DataItem:
    """A ``data[]`` entry: one Secret key from one secret version."""

    field: str  # e.g. "spec.data[2]"
    key: str  # as written, for messages
    ref: SecretVersionName
    name: str  # the Secret key it fills
    property: str | None
    is_binary: bool


@dataclass(frozen=True)
class DataFromItem:
    """A ``dataFrom[]`` or ``dataFromWithOptions[]`` entry: a JSON object exploded into keys."""

    field: str
    key: str
    ref: SecretVersionName
    is_binary: bool


@dataclass(frozen=True)
class TemplateText:
    """A template string; compiled (and cached) when rendered, not when parsed."""

    field: str  # e.g. "spec.template.stringData[config.yaml]"
    source: str

    @property
    def static(self) -> bool:
        """Whether the text is used as written (no Jinja2 syntax), so it holds no value."""
        return not any(mark in self.source for mark in ("{{", "{%", "{#"))


@dataclass(frozen=True)
class SecretTemplate:
    """``spec.template``: what kes lays over the Secret it generates."""

    type: str
    labels: Mapping[str, TemplateText]
    annotations: Mapping[str, TemplateText]
    data: Mapping[str, TemplateText]  # renders to base64, as a Secret's data
    string_data: Mapping[str, TemplateText]


@dataclass(frozen=True)
class ExternalSecretSpec:
    """A parsed, checked ExternalSecret spec (backend ``gcpSecretsManager``)."""

    project: str | None  # spec.projectId, else the controller's default project
    data_from: tuple[DataFromItem, ...]  # dataFrom entries, then dataFromWithOptions
    data: tuple[DataItem, ...]
    template: SecretTemplate
    controller_id: str | None
    refresh_interval: float | None  # seconds; 0 = sync once; None = the global interval

    @functools.cached_property
    def refs(self) -> frozenset[SecretVersionName]:
        """Every distinct secret version this ExternalSecret needs."""
        return frozenset(item.ref for item in self.data_from) | {item.ref for item in self.data}


# ---- parsing -----------------------------------------------------------------------


def is_project_id(text: str) -> bool:
    """Whether `text` names a GCP project as projectId may: an id or a project number."""
    return _PROJECT.fullmatch(text) is not None


def parse_external_secret(
    obj: Mapping[str, Any], default_project: str | None
) -> ExternalSecretSpec:
    """Parse an ExternalSecret manifest; ``default_project`` serves keys without a project."""
    return _Parser(obj).parse(default_project)


def _root_of(obj: Mapping[str, Any]) -> tuple[str, Any]:
    """Where the spec is: ``spec``, else KES's deprecated ``secretDescriptor``."""
    if obj.get("spec") is None and obj.get("secretDescriptor") is not None:
        return "secretDescriptor", obj["secretDescriptor"]
    return "spec", obj.get("spec")


def controller_id_of(obj: Mapping[str, Any]) -> str:
    """``controllerId``, read even from a spec that does not parse: it decides which
    controller reports that spec's errors."""
    _, spec = _root_of(obj)
    value = spec.get("controllerId") if isinstance(spec, Mapping) else None
    return value if isinstance(value, str) else ""


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``30s``, ``1h30m``, ``500ms`` or ``0``, else ValueError
    (a number too big for a float gives infinity: bound the result)."""
    if text == "0":
        return 0.0
    if not _DURATION.fullmatch(text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(text))


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` cannot name a key in a Kubernetes Secret, or None if it can."""
    if not key:
        return "must not be empty"
    if len(key) > 253:
        return "must be at most 253 characters"
    if not _SECRET_KEY.fullmatch(key):
        return "must consist of letters, digits, '-', '_' or '.'"
    if key in (".", "..") or key.startswith(".."):
        return "must not be '.' or '..' or start with '..'"
    return None


def _qualified_name_problem(key: str) -> str | None:
    """Why ``key`` cannot be a label or annotation key, or None if it can."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return "prefix must be a DNS subdomain (lowercase letters, digits, '-' and '.')"
    if not _QUALIFIED_NAME.fullmatch(name):
        return ("name must be at most 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


class _ShortRepr(reprlib.Repr):
    """reprlib, with integers too long for Python to write shown by size."""

    def repr_int(self, x: int, level: int) -> str:
        return repr(x) if x.bit_length() <= 128 else f"<a {x.bit_length()}-bit number>"


_SHORT = _ShortRepr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 2, 78, 78


def _show(value: Any) -> str:
    """A short echo of a spec value for a message (specs hold no secret values); its
    cost is bounded however big or deep the value is."""
    return bounded(_SHORT.repr(value), 80)


def _key(key: Any) -> str:
    """A map key as it appears in a field path, cut short if long."""
    return bounded(str(key) if isinstance(key, str) else _show(key), _SHOWN_KEY_CHARS)


class _Parser:
    """Walks one manifest; every error names the object and the field."""

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self.obj = obj
        meta = obj.get("metadata") if isinstance(obj, Mapping) else None
        meta = meta if isinstance(meta, Mapping) else {}
        name, namespace = meta.get("name"), meta.get("namespace")
        shown = bounded(name, _MAX_NAME_CHARS) if isinstance(name, str) and name else "<unnamed>"
        where = bounded(namespace, _MAX_NAME_CHARS) if isinstance(namespace, str) else ""
        self.ref = f"{where}/{shown}" if where else shown
        if not isinstance(obj, Mapping):
            raise self.error("", "must be an object")
        if shown != name:
            raise self.error("metadata.name", "required" if shown == "<unnamed>" else
                             f"must be at most {_MAX_NAME_CHARS} characters")
        if namespace is not None and where != namespace:
            raise self.error("metadata.namespace", f"must be a string of at most "
                             f"{_MAX_NAME_CHARS} characters")
        # Set by parse() from projectId and the default; read when resolving keys.
        self.project: str | None = None
        self.project_field = "spec.projectId"

    def error(self, path: str, message: str) -> SpecError:
        return SpecError(self.ref, path, message)

    # -- small typed readers; None (YAML's empty value) counts as absent --

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(path, "must be an object")
        return value

    def items(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(path, "must be a list")
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.error(path, "must be a string")
        if not value:
            raise self.error(path, "must not be empty")
        return value

    def optional_string(self, value: Any, path: str) -> str | None:
        return None if value is None else self.string(value, path)

    def boolean(self, value: Any, path: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(path, "must be true or false")
        return value

    def known_fields(self, value: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
        for name in value:
            if name not in allowed:
                raise self.error(
                    f"{path}.{_key(name)}",
                    f"unknown field; known here: {', '.join(sorted(allowed))}",
                )

    # -- the spec --

    def parse(self, default_project: str | None) -> ExternalSecretSpec:
        root, spec = self.root()
        self.backend_type(spec.get("backendType"), f"{root}.backendType")
        self.known_fields(spec, _SPEC_FIELDS, root)
        project_id = self.optional_string(spec.get("projectId"), f"{root}.projectId")
        if project_id is not None and not _PROJECT.fullmatch(project_id):
            raise self.error(f"{root}.projectId", f"{_show(project_id)} is not a GCP project id")
        self.project = project_id or default_project
        self.project_field = f"{root}.projectId"

        data_field, data_value = self.alias(spec, root, "data", "properties")
        data = tuple(
            self.data_item(item, f"{root}.{data_field}[{i}]")
            for i, item in enumerate(self.items(data_value, f"{root}.{data_field}"))
        )
        self.no_duplicate_names(data)
        data_from = tuple(
            self.data_from_key(raw, f"{root}.dataFrom[{i}]")
            for i, raw in enumerate(self.items(spec.get("dataFrom"), f"{root}.dataFrom"))
        )
        data_from += tuple(
            self.data_from_item(item, f"{root}.dataFromWithOptions[{i}]")
            for i, item in enumerate(
                self.items(spec.get("dataFromWithOptions"), f"{root}.dataFromWithOptions")
            )
        )
        if not data and not data_from:
            raise self.error(
                root, "needs at least one entry in data, dataFrom or dataFromWithOptions"
            )

        return ExternalSecretSpec(
            project=self.project,
            data_from=data_from,
            data=data,
            template=self.template(spec, root),
            controller_id=self.optional_string(spec.get("controllerId"), f"{root}.controllerId"),
            refresh_interval=self.refresh_interval(spec.get("refreshInterval"),
                                                   f"{root}.refreshInterval"),
        )

    def root(self) -> tuple[str, Mapping[str, Any]]:
        """``spec``, or KES's deprecated ``secretDescriptor`` in its place."""
        if self.obj.get("spec") is not None and self.obj.get("secretDescriptor") is not None:
            raise self.error("secretDescriptor", "set spec or its deprecated alias "
                             "secretDescriptor, not both")
        field, value = _root_of(self.obj)
        if value is None:
            raise self.error("spec", "required")
        return field, self.mapping(value, field)

    def alias(self, spec: Mapping[str, Any], root: str, name: str, old: str) -> tuple[str, Any]:
        """The field ``name`` or its deprecated alias ``old``, whichever is set."""
        if spec.get(name) is not None and spec.get(old) is not None:
            raise self.error(f"{root}.{old}",
                             f"deprecated alias of {root}.{name}; set only one of them")
        return (old, spec[old]) if spec.get(old) is not None else (name, spec.get(name))

    def backend_type(self, value: Any, path: str) -> None:
        if value is None:
            raise self.error(path, f"required; kes serves {BACKEND_TYPE}")
        if value == BACKEND_TYPE:
            return
        known = "a KES backend" if value in KES_BACKEND_TYPES else "not a backend KES knew"
        raise self.error(path, f"{_show(value)} is {known}; kes serves only {BACKEND_TYPE}")

    def data_item(self, value: Any, path: str) -> DataItem:
        item = self.mapping(value, path)
        self.known_fields(item, _DATA_FIELDS, path)
        key = self.string(item.get("key"), f"{path}.key")
        name = self.string(item.get("name"), f"{path}.name")
        problem = secret_key_problem(name)
        if problem:
            raise self.error(f"{path}.name", f"{_show(name)} is not a Secret key: {problem}")
        prop = self.optional_string(item.get("property"), f"{path}.property")
        if prop is not None and len(prop) > MAX_PROPERTY_CHARS:
            raise self.error(f"{path}.property",
                             f"must be at most {MAX_PROPERTY_CHARS} characters")
        return DataItem(
            field=path,
            key=key,
            ref=self.secret_ref(key, item.get("version"), path),
            name=name,
            property=prop,
            is_binary=self.boolean(item.get("isBinary"), f"{path}.isBinary"),
        )

    def data_from_key(self, value: Any, path: str) -> DataFromItem:
        key = self.string(value, path)
        return DataFromItem(path, key, self.secret_ref(key, None, path, key_path=path), False)

    def data_from_item(self, value: Any, path: str) -> DataFromItem:
        item = self.mapping(value, path)
        self.known_fields(item, _DATA_FROM_FIELDS, path)
        key = self.string(item.get("key"), f"{path}.key")
        return DataFromItem(
            field=path,
            key=key,
            ref=self.secret_ref(key, item.get("version"), path),
            is_binary=self.boolean(item.get("isBinary"), f"{path}.isBinary"),
        )

    def no_duplicate_names(self, data: tuple[DataItem, ...]) -> None:
        first: dict[str, str] = {}
        for item in data:
            if item.name in first:
                raise self.error(f"{item.field}.name",
                                 f"{_show(item.name)} is already set by {first[item.name]}.name")
            first[item.name] = item.field

    def secret_ref(self, key: str, version: Any, path: str,
                   key_path: str | None = None) -> SecretVersionName:
        """A key (secret id or full resource name) plus an optional version, resolved."""
        key_path = key_path or f"{path}.key"
        version_path = f"{path}.version"
        requested = self.version(version, version_path)
        if not key.startswith("projects/"):
            if not _SECRET_ID.fullmatch(key):
                raise self.error(key_path, f"{_show(key)} must be a Secret Manager secret id "
                                 "(1-255 letters, digits, '_' or '-') or a full name "
                                 "projects/P/secrets/S")
            if self.project is None:
                raise self.error(self.project_field, "not set and the controller has no default "
                                 "project; set it or use full names projects/P/secrets/S")
            return SecretVersionName(self.project, key, requested or DEFAULT_VERSION)

        match = _FULL_NAME.fullmatch(key)
        if not match:
            raise self.error(key_path, f"{_show(key)} is not a secret name: use "
                             "projects/P/secrets/S or projects/P/locations/L/secrets/S, "
                             "optionally ending in /versions/V")
        project, location, secret, named = match.group("project", "location", "secret", "version")
        if not _PROJECT.fullmatch(project):
            raise self.error(key_path, f"project {_show(project)} is not a GCP project id")
        if location is not None and not _LOCATION.fullmatch(location):
            raise self.error(key_path, f"location {_show(location)} is not a GCP location")
        if not _SECRET_ID.fullmatch(secret):
            raise self.error(key_path, f"secret id {_show(secret)} must be 1-255 letters, "
                             "digits, '_' or '-'")
        if named is not None:
            named = self.version(named, key_path)
            if requested is not None and requested != named:
                raise self.error(version_path, f"{_show(requested)} contradicts the version "
                                 f"{_show(named)} named in the key")
        return SecretVersionName(project, secret, requested or named or DEFAULT_VERSION, location)

    def version(self, value: Any, path: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() < 64:
            value = str(value)
        if not isinstance(value, str) or not _VERSION.fullmatch(value):
            raise self.error(path, f"{_show(value)} is not a version: use a number from 1, "
                             "'latest' or a version alias")
        return value

    def refresh_interval(self, value: Any, path: str) -> float | None:
        """A duration up to MAX_REFRESH_INTERVAL; a bare (unquoted) 0 too, as YAML reads
        ``refreshInterval: 0``."""
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            if value == 0:
                return 0.0
            shown = _show(value)
            raise self.error(path, f"{shown} needs a unit, such as {shown}s or {shown}m "
                             "(a bare number may only be 0, to sync once)")
        text = self.string(value, path)
        try:
            if len(text) > _MAX_DURATION_CHARS:
                raise ValueError("too long")
            seconds = parse_duration(text)
        except ValueError:
            raise self.error(path, f"{_show(text)} is not a duration such as 30s, 1h30m, "
                             "500ms, or 0 to sync once") from None
        if seconds > MAX_REFRESH_INTERVAL:
            raise self.error(path, f"{_show(text)} is longer than the maximum of "
                             f"{MAX_REFRESH_INTERVAL / 3600:g}h (7 days)")
        return seconds

    # -- template --

    def template(self, spec: Mapping[str, Any], root: str) -> SecretTemplate:
        path = f"{root}.template"
        template = self.mapping(spec.get("template"), path)
        self.known_fields(template, _TEMPLATE_FIELDS, path)
        metadata = self.mapping(template.get("metadata"), f"{path}.metadata")
        self.known_fields(metadata, _TEMPLATE_METADATA_FIELDS, f"{path}.metadata")

        labels = self.template_map(metadata.get("labels"), f"{path}.metadata.labels",
                                   _qualified_name_problem)
        annotations = self.template_map(metadata.get("annotations"),
                                         f"{path}.metadata.annotations", _qualified_name_problem)
        for field, keys, reserved_keys in (("labels", labels, RESERVED_LABELS),
                                           ("annotations", annotations, RESERVED_ANNOTATIONS)):
            reserved = sorted(reserved_keys & keys.keys())
            if reserved:
                raise self.error(f"{path}.metadata.{field}[{reserved[0]}]",
                                 "set by the kes controller for its own bookkeeping")
        data = self.template_map(template.get("data"), f"{path}.data", secret_key_problem)
        string_data = self.template_map(template.get("stringData"), f"{path}.stringData",
                                        secret_key_problem)
        both = sorted(data.keys() & string_data.keys())
        if both:
            raise self.error(f"{path}.stringData[{both[0]}]",
                             f"also set in {path}.data; set it once")
        return SecretTemplate(
            type=self.secret_type(template.get("type"), spec.get("type"), root),
            labels=labels,
            annotations=annotations,
            data=data,
            string_data=string_data,
        )

    def secret_type(self, value: Any, legacy: Any, root: str) -> str:
        """``template.type``, or KES's deprecated ``spec.type``, default Opaque."""
        path = f"{root}.template.type"
        if legacy is not None:
            if value is not None and value != legacy:
                raise self.error(f"{root}.type", f"deprecated alias of {path}, which says "
                                 f"{_show(value)}; set only one of them")
            value, path = legacy, f"{root}.type"
        if value is None:
            return DEFAULT_SECRET_TYPE
        secret_type = self.string(value, path)
        if secret_type in FORBIDDEN_SECRET_TYPES:
            raise self.error(path, f"{secret_type} Secrets hold credentials Kubernetes mints; "
                             "kes will not create them")
        return secret_type

    def template_map(self, value: Any, path: str,
                     key_problem: Callable[[str], str | None]) -> dict[str, TemplateText]:
        texts: dict[str, TemplateText] = {}
        for key, source in self.mapping(value, path).items():
            entry = f"{path}[{_key(key)}]"
            problem = key_problem(key) if isinstance(key, str) else "must be a string"
            if problem:
                raise self.error(entry, f"not a valid key: {problem}")
            if not isinstance(source, str):
                raise self.error(entry, "must be a string (quote numbers and booleans)")
            texts[key] = self.template_text(source, entry)
        return texts

    def template_text(self, source: str, path: str) -> TemplateText:
        """Only what is cheap to check: Jinja2 compiles the text when it is rendered."""
        if "<%" in source:
            raise self.error(path, "uses KES's lodash template syntax (<% %>), which kes "
                             "cannot run; rewrite it in Jinja2 (README, section Templates)")
        problem = source_problem(source)
        if problem:
            raise self.error(path, f"template {problem} (README, section Templates)")
        return TemplateText(path, source)
