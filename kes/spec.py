"""The ExternalSecret API (``kubernetes-client.io/v1``): a manifest in, a checked spec out.

Accepts every field of Kubernetes External Secrets' GCP backend and its deprecated
aliases, checks names the way Secret Manager and Kubernetes do, and compiles the
Jinja2 templates, so that a bad manifest fails here with the field to fix rather
than later against Secret Manager or the API server.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import dataclasses
import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.visitor
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from kes.api import BACKEND_TYPE, KIND, MANAGED_BY_LABEL
from kes.errors import ObjectFieldError
from kes.names import SecretVersionName

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
# The controller sets this label on every Secret it manages.
RESERVED_LABELS = frozenset({MANAGED_BY_LABEL})

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
    """A template string, compiled when the spec is parsed."""

    field: str  # e.g. "spec.template.stringData[config.yaml]"
    source: str
    compiled: jinja2.Template = dataclasses.field(compare=False, repr=False)

    def render(self, context: Mapping[str, Any]) -> str:
        """Render within the template limits (TemplateValueError names the fault)."""
        return render_template(self.compiled, context)


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

    def refs(self) -> frozenset[SecretVersionName]:
        """Every distinct secret version this ExternalSecret needs."""
        return frozenset(item.ref for item in self.data_from) | {item.ref for item in self.data}


# ---- templates ---------------------------------------------------------------------
# Templates run inside the controller, so each is bounded in time and memory by
# construction: no macros, recursion or nested loops (refused at parse time), loops
# and ``range`` capped, and every operation that can grow a value checked before it
# runs. The limits are documented in the README, section Templates.

MAX_TEMPLATE_CHARS = 65_536  # one template text
MAX_LOOP_NESTING = 1  # a for loop may not hold another
MAX_RANGE = 10_000  # items of one range()
MAX_LOOP_ITERATIONS = 10_000  # per rendered template, all loops together
MAX_VALUE_BYTES = 1_048_576  # any one value; a whole Secret holds at most 1 MiB
MAX_WORK_BYTES = 16 * MAX_VALUE_BYTES  # produced per rendered template, intermediates too
MAX_INT_BITS = 4096  # integer results of * and **
MAX_INDENT = 64  # widths for the indent and tojson filters

# Nodes that kes's templates do not need and that enable unbounded work.
_REFUSED_NODES: tuple[tuple[type[jinja2.nodes.Node], str], ...] = (
    (jinja2.nodes.Macro, "macro"),
    (jinja2.nodes.CallBlock, "call blocks"),
    (jinja2.nodes.Import, "import"),
    (jinja2.nodes.FromImport, "import"),
    (jinja2.nodes.Include, "include"),
    (jinja2.nodes.Extends, "extends"),
    (jinja2.nodes.Block, "block"),
)
# Names the parser gives to the guards it weaves into every template.
_LOOP_GUARD = "__kes_loop"
_CONCAT_GUARD = "__kes_concat"
_OUTPUT_GUARD = "__kes_output"
# String methods that cannot make a value much bigger than it is (replace is checked).
_TEXT_METHODS = frozenset({
    "capitalize", "casefold", "count", "decode", "encode", "endswith", "find", "index",
    "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric",
    "isspace", "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix",
    "removesuffix", "replace", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split",
    "splitlines", "startswith", "strip", "swapcase", "title", "upper",
})
# Jinja2's built-in filters that stay: each runs in time and space linear in its input.
# Dropped: batch, slice, center, format, wordwrap, sum (unbounded or quadratic output),
# random (a Secret would change on every sync), and HTML helpers a Secret has no use for.
_KEPT_FILTERS = frozenset({
    "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "groupby",
    "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
    "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "sort",
    "string", "title", "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
})


class TemplateValueError(Exception):
    """A template filter or lookup failed; the message never quotes a value."""


class TemplateLimitError(TemplateValueError):
    """A template went past one of the limits above; the message names the limit."""


@dataclass
class _Usage:
    """What one rendering has spent so far."""

    iterations: int = 0
    produced: int = 0


_USAGE: contextvars.ContextVar[_Usage] = contextvars.ContextVar("kes_template_usage")


def _size(value: Any, limit: int = MAX_VALUE_BYTES) -> int:
    """About how many bytes ``value`` takes as text, counted up to just past ``limit``."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, bool) or not isinstance(value, int | list | tuple | dict):
        return 1
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    total = 0
    for item in value.items() if isinstance(value, dict) else value:
        total += 1 + _size(item, limit - total)
        if total > limit:
            break
    return total


def _check_size(size: int) -> None:
    if size > MAX_VALUE_BYTES:
        raise TemplateLimitError(f"would make a value over the limit of {MAX_VALUE_BYTES} bytes")


def _charge(value: Any) -> Any:
    """Count a value a template made against the limits; return it."""
    size = _size(value)
    _check_size(size)
    usage = _USAGE.get(None)
    if usage is not None:
        _charge_work(usage, size)
    return value


def _charge_work(usage: _Usage, size: int) -> None:
    usage.produced += size
    if usage.produced > MAX_WORK_BYTES:
        raise TemplateLimitError(f"produced more than the limit of {MAX_WORK_BYTES} bytes")


def _loop_items(iterable: Any, literal_chars: int) -> Iterator[Any]:
    """Every for loop iterates through this, which counts the iterations and the
    literal text each one writes (a ``{% set %}`` block may capture it unseen)."""
    usage = _USAGE.get(None)
    for item in iterable:
        if usage is not None:
            usage.iterations += 1
            if usage.iterations > MAX_LOOP_ITERATIONS:
                raise TemplateLimitError(
                    f"loops ran more than the limit of {MAX_LOOP_ITERATIONS} iterations")
            _charge_work(usage, literal_chars)
        yield item


def _concat(*parts: Any) -> str:
    """The ``~`` operator, sized before it joins (the sandbox's call counts the result)."""
    texts = [str(part) for part in parts]
    _check_size(sum(len(text) for text in texts))
    return "".join(texts)


def _output(value: Any) -> str:
    """Each ``{{ }}`` as text, so the sandbox's call counts it (a ``{% set %}`` block
    may capture output unseen by the final size check)."""
    return str(value)


def _range(*args: int) -> range:
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise TemplateLimitError(f"range has more than the limit of {MAX_RANGE} items")
    return items


def _check_replace(text: str | bytes, old: Any, new: Any, count: Any = None) -> None:
    if isinstance(old, str | bytes) and isinstance(new, str | bytes):
        times = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
        if isinstance(count, int) and count >= 0:
            times = min(times, count)
        _check_size(len(text) + times * max(len(new) - len(old), 0))


def _check_indent(width: Any) -> None:
    size = len(width) if isinstance(width, str) else width
    if isinstance(size, int) and size > MAX_INDENT:
        raise TemplateLimitError(f"indent is wider than the limit of {MAX_INDENT}")


def _checked_filter(name: str, run: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in filter whose result is counted, and checked first where it can grow."""

    @functools.wraps(run)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if name == "join":  # (eval_ctx, value, d="", attribute=None)
            items = list(args[1])
            separator = args[2] if len(args) > 2 else kwargs.get("d", "")
            _check_size(_size(items) + len(str(separator)) * max(len(items) - 1, 0))
            args = (args[0], items, *args[2:])
        elif name == "replace":  # (eval_ctx, s, old, new, count); s is read as text
            _check_replace(str(args[1]), *args[2:], **kwargs)
        elif name == "indent":  # (s, width=4, first=False, blank=False)
            width = args[1] if len(args) > 1 else kwargs.get("width", 4)
            _check_indent(width)
            lines = str(args[0]).count("\n") + 1
            _check_size(_size(args[0]) + lines * (_size(width) if isinstance(width, str)
                                                  else width))
        return _charge(run(*args, **kwargs))

    return checked


def _b64enc(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def _b64dec(value: str) -> str:
    try:
        raw = decode_base64(value)
    except ValueError:
        raise TemplateValueError("b64dec: input is not valid base64") from None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise TemplateValueError("b64dec: decoded bytes are not UTF-8 text") from None


def _plain(value: Any) -> Any:
    """A read-only mapping (such as ``data``) as a dict the encoders understand."""
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not serializable")


def _tojson(value: Any, indent: int | None = None) -> str:
    _check_indent(indent)
    separators = (",", ":") if indent is None else (",", ": ")
    return _charge(json.dumps(value, ensure_ascii=False, indent=indent, separators=separators,
                              default=_plain))


def _fromjson(value: str) -> Any:
    try:
        return _charge(json.loads(value))
    except ValueError:
        raise TemplateValueError("fromjson: input is not valid JSON") from None


def _toyaml(value: Any) -> str:
    if isinstance(value, Mapping) and not isinstance(value, dict):
        value = _plain(value)
    return _charge(yaml.safe_dump(value, sort_keys=False, allow_unicode=True,
                                  default_flow_style=False))


def _fromyaml(value: str) -> Any:
    try:
        # YAML aliases can make a small text a huge value ("billion laughs").
        return _charge(yaml.safe_load(value))
    except yaml.YAMLError:
        raise TemplateValueError("fromyaml: input is not valid YAML") from None


class _TemplateEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with every operator and method call that can grow a value checked."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any,
                   right: Any) -> Any:
        if operator == "%" and isinstance(left, str | bytes):
            raise TemplateLimitError("% formatting of text is not available; use ~")
        if operator == "+" and isinstance(left, str | bytes | list | tuple):
            _check_size(_size(left) + _size(right))
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
                    _check_size(_size(seq) * times)
            if isinstance(left, int) and isinstance(right, int) \
                    and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateLimitError(f"product exceeds the limit of {MAX_INT_BITS} bits")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) \
                and right > 0 and abs(left) > 1 and right * math.log2(abs(left)) > MAX_INT_BITS:
            raise TemplateLimitError(f"power exceeds the limit of {MAX_INT_BITS} bits")
        return _charge(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:
            return None

        def refuse(*args: Any, **kwargs: Any) -> str:  # widths in a format are unbounded
            raise TemplateLimitError(f"str.{value.__name__}() is not available")

        return refuse

    def call(__self, __context: jinja2.runtime.Context, __obj: Any,  # noqa: N805
             *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        method = getattr(__obj, "__name__", "?")
        if isinstance(owner, str | bytes):
            if method not in _TEXT_METHODS:
                raise TemplateLimitError(f"{type(owner).__name__}.{method}() is not available")
            if method == "replace":
                _check_replace(owner, *args, **kwargs)
        if owner is not None and any(
            isinstance(arg, int) and abs(arg) > MAX_VALUE_BYTES
            for arg in (*args, *kwargs.values())
        ):
            raise TemplateLimitError(f"an argument of {method}() exceeds the limit of "
                                     f"{MAX_VALUE_BYTES}")
        return _charge(super().call(__context, __obj, *args, **kwargs))


TEMPLATES = _TemplateEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)
TEMPLATES.filters = {
    name: _checked_filter(name, run) for name, run in TEMPLATES.filters.items()
    if name in _KEPT_FILTERS
}
TEMPLATES.filters.update(
    b64enc=_b64enc, b64dec=_b64dec, tojson=_tojson, fromjson=_fromjson,
    toyaml=_toyaml, fromyaml=_fromyaml,
)
TEMPLATES.globals = {
    "range": _range, "dict": dict, _LOOP_GUARD: _loop_items, _CONCAT_GUARD: _concat,
    _OUTPUT_GUARD: _output,
}


class TemplateRefused(ValueError):
    """A template uses what kes does not allow; the message says what."""


def _guarded(tree: jinja2.nodes.Template) -> jinja2.nodes.Template:
    """Refuse what templates may not use, then route loops and ``~`` through the guards."""
    for node_type, what in _REFUSED_NODES:
        if tree.find(node_type) is not None:
            raise TemplateRefused(f"uses {what}, which templates may not")
    for name in tree.find_all(jinja2.nodes.Name):
        if name.name.startswith("__"):
            raise TemplateRefused(f"uses the reserved name {name.name}")
    for loop in list(tree.find_all(jinja2.nodes.For)):
        if loop.recursive:
            raise TemplateRefused("uses a recursive loop, which templates may not")
        if any(node.find(jinja2.nodes.For) is not None or isinstance(node, jinja2.nodes.For)
               for node in loop.body):
            raise TemplateRefused(f"nests loops; at most {MAX_LOOP_NESTING} level is allowed")
        literal = jinja2.nodes.Const(sum(_literal_chars(node) for node in loop.body))
        loop.iter = _call(_LOOP_GUARD, [loop.iter, literal], loop.iter.lineno)
    return _OperatorGuard().visit(tree)


def _literal_chars(node: jinja2.nodes.Node) -> int:
    """Characters of template text (outside ``{{ }}`` and ``{% %}``) in ``node``."""
    return sum(len(data.data) for data in node.find_all(jinja2.nodes.TemplateData))


def _call(name: str, args: Sequence[jinja2.nodes.Node], lineno: int) -> jinja2.nodes.Call:
    return jinja2.nodes.Call(jinja2.nodes.Name(name, "load"), list(args), [], None, None,
                             lineno=lineno)


class _OperatorGuard(jinja2.visitor.NodeTransformer):
    """Routes ``~`` and every ``{{ }}`` through their guards."""

    def visit_Concat(self, node: jinja2.nodes.Concat) -> jinja2.nodes.Call:  # noqa: N802
        self.generic_visit(node)
        return _call(_CONCAT_GUARD, node.nodes, node.lineno)

    def visit_Output(self, node: jinja2.nodes.Output) -> jinja2.nodes.Output:  # noqa: N802
        self.generic_visit(node)
        node.nodes = [
            child if isinstance(child, jinja2.nodes.TemplateData)
            else _call(_OUTPUT_GUARD, [child], child.lineno)
            for child in node.nodes
        ]
        return node


@functools.lru_cache(maxsize=4096)
def _compile_template(source: str) -> jinja2.Template:
    """The controller re-parses an ExternalSecret on every change: compile each text once."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateRefused(f"is longer than the limit of {MAX_TEMPLATE_CHARS} characters")
    return TEMPLATES.from_string(_guarded(TEMPLATES.parse(source)))


def render_template(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """Render within the limits; TemplateValueError says what went wrong, never a value."""
    token = _USAGE.set(_Usage())
    try:
        chunks, size = [], 0
        for chunk in template.generate(context):
            size += len(chunk)
            _check_size(size)
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _USAGE.reset(token)


def decode_base64(text: str | bytes) -> bytes:
    """Decode base64 as Secret Manager users write it: whitespace and missing padding
    are tolerated, any other stray character is an error (ValueError)."""
    raw = text.encode("ascii", "strict") if isinstance(text, str) else text
    compact = b"".join(raw.split())
    compact += b"=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as exc:
        raise ValueError("not valid base64") from exc


# ---- parsing -----------------------------------------------------------------------


def parse_external_secret(
    obj: Mapping[str, Any], default_project: str | None
) -> ExternalSecretSpec:
    """Parse an ExternalSecret manifest; ``default_project`` serves keys without a project."""
    return _Parser(obj).parse(default_project)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``30s``, ``1h30m``, ``500ms`` or ``0``, else ValueError."""
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


def _show(value: Any) -> str:
    """A short echo of a spec value for a message (specs hold no secret values)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Parser:
    """Walks one manifest; every error names the object and the field."""

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self.obj = obj
        meta = obj.get("metadata") if isinstance(obj, Mapping) else None
        meta = meta if isinstance(meta, Mapping) else {}
        name, namespace = meta.get("name"), meta.get("namespace")
        shown = name if isinstance(name, str) and name else "<unnamed>"
        self.ref = f"{namespace}/{shown}" if namespace else shown
        if shown != name:
            raise self.error("metadata.name", "required")
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
                    f"{path}.{name}", f"unknown field; known here: {', '.join(sorted(allowed))}"
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
        spec, legacy = self.obj.get("spec"), self.obj.get("secretDescriptor")
        if spec is not None and legacy is not None:
            raise self.error("secretDescriptor", "set spec or its deprecated alias "
                             "secretDescriptor, not both")
        if legacy is not None:
            return "secretDescriptor", self.mapping(legacy, "secretDescriptor")
        if spec is None:
            raise self.error("spec", "required")
        return "spec", self.mapping(spec, "spec")

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
        return DataItem(
            field=path,
            key=key,
            ref=self.secret_ref(key, item.get("version"), path),
            name=name,
            property=self.optional_string(item.get("property"), f"{path}.property"),
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
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not _VERSION.fullmatch(value):
            raise self.error(path, f"{_show(value)} is not a version: use a number from 1, "
                             "'latest' or a version alias")
        return value

    def refresh_interval(self, value: Any, path: str) -> float | None:
        """A duration; a bare (unquoted) 0 too, as YAML reads ``refreshInterval: 0``."""
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            if value == 0:
                return 0.0
            raise self.error(path, f"{value} needs a unit, such as {value}s or {value}m "
                             "(a bare number may only be 0, to sync once)")
        text = self.string(value, path)
        try:
            return parse_duration(text)
        except ValueError:
            raise self.error(path, f"{_show(text)} is not a duration such as 30s, 1h30m, "
                             "500ms, or 0 to sync once") from None

    # -- template --

    def template(self, spec: Mapping[str, Any], root: str) -> SecretTemplate:
        path = f"{root}.template"
        template = self.mapping(spec.get("template"), path)
        self.known_fields(template, _TEMPLATE_FIELDS, path)
        metadata = self.mapping(template.get("metadata"), f"{path}.metadata")
        self.known_fields(metadata, _TEMPLATE_METADATA_FIELDS, f"{path}.metadata")

        labels = self.template_map(metadata.get("labels"), f"{path}.metadata.labels",
                                   _qualified_name_problem)
        reserved = sorted(RESERVED_LABELS & labels.keys())
        if reserved:
            raise self.error(f"{path}.metadata.labels[{reserved[0]}]", "set by the kes controller")
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
            annotations=self.template_map(metadata.get("annotations"),
                                          f"{path}.metadata.annotations", _qualified_name_problem),
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
        compiled: dict[str, TemplateText] = {}
        for key, source in self.mapping(value, path).items():
            entry = f"{path}[{key}]"
            problem = key_problem(key) if isinstance(key, str) else "must be a string"
            if problem:
                raise self.error(entry, f"not a valid key: {problem}")
            if not isinstance(source, str):
                raise self.error(entry, "must be a string (quote numbers and booleans)")
            compiled[key] = self.compile(source, entry)
        return compiled

    def compile(self, source: str, path: str) -> TemplateText:
        if "<%" in source:
            raise self.error(path, "uses KES's lodash template syntax (<% %>), which kes "
                             "cannot run; rewrite it in Jinja2 (README, section Templates)")
        try:
            compiled = _compile_template(source)
        except jinja2.TemplateSyntaxError as exc:
            raise self.error(path, f"template line {exc.lineno}: {exc.message}") from None
        except TemplateRefused as exc:
            raise self.error(path, f"template {exc} (README, section Templates)") from None
        return TemplateText(path, source, compiled)
