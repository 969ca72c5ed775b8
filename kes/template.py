"""The Jinja2 sandbox ExternalSecret templates run in, and its limits.

Templates run inside the controller, so each is bounded in time and memory by
construction: no macros, recursion or nested loops (refused when compiled), loops
and ``range`` capped, and every operation that can grow a value checked before it
runs. The sandbox rewrites each template's syntax tree so that loops, ``~`` and
every ``{{ }}`` pass through counting guards, and wraps Jinja's own filters so a
filter's output is counted too. Nesting is bounded before Jinja2's recursive parser
and Python's compiler see it. The limits are documented in docs/externalsecret.md,
section Templates.

Values become text the way JavaScript (and so KES) wrote them: numbers by
Number::toString, booleans as ``true``/``false``; anything else written as text (a
list, a mapping, None, a function) is an error, never a Python repr. ``tojson``,
``fromjson`` and ``toyaml`` are JSON.stringify, JSON.parse and js-yaml's safeDump.

This module is longer than most because the guards only make sense together: each
limit is enforced at the one point where a value can grow past it.
"""

from __future__ import annotations

import contextvars
import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.filters
import jinja2.nodes
import jinja2.visitor
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from kes.codecs import decode_base64, encode_base64
from kes.js import json as js_json
from kes.js import yaml as js_yaml
from kes.js.number import number_to_string
from kes.js.text import utf8

MAX_TEMPLATE_CHARS = 65_536  # one template text
MAX_LOOP_NESTING = 1  # a for loop may not hold another
MAX_RANGE = 10_000  # items of one range()
MAX_LOOP_ITERATIONS = 10_000  # per rendered template, all loops together
MAX_VALUE_BYTES = 1_048_576  # any one value; a whole Secret holds at most 1 MiB
MAX_WORK_BYTES = 16 * MAX_VALUE_BYTES  # produced per rendered template, intermediates too
MAX_INT_BITS = 4096  # integer results of * and **
MAX_INDENT = 64  # widths for the indent and tojson filters
MAX_BRACKET_NESTING = 32  # ( [ { inside one another
MAX_SYNTAX_DEPTH = 64  # levels of the parsed template (blocks, operators, filters)

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
# join and urlencode are kes's own (below), so that what they write is text_of each item.
_KEPT_FILTERS = frozenset({
    "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "groupby",
    "indent", "int", "items", "last", "length", "list", "lower", "map", "max", "min",
    "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "sort",
    "string", "title", "trim", "truncate", "unique", "upper", "wordcount",
})
# Filters that write their arguments as text (Jinja2 would use str()), and where those
# arguments are: each goes through text_of first.
_TEXT_ARGUMENTS = {
    "capitalize": (0,), "lower": (0,), "upper": (0,), "title": (0,), "trim": (0,),
    "wordcount": (0,), "indent": (0,), "string": (0,), "replace": (1, 2, 3),
    "truncate": (1,),
}


class TemplateValueError(Exception):
    """A template filter or lookup failed; the message never quotes a value."""


class TemplateLimitError(TemplateValueError):
    """A template went past one of the limits above; the message names the limit."""


class OutputTooLarge(TemplateLimitError):
    """A rendering wrote more than the caller's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"would make a value over the limit of {limit} bytes")
        self.limit = limit


def text_of(value: Any) -> str:
    """``value`` written as text, as JavaScript writes it; TemplateValueError for what
    has no text of its own (kes never writes a Python repr, which may hold a heap
    address and change on every render)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, jinja2.Undefined):
        return str(value)  # StrictUndefined raises UndefinedError here
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_to_string(value)
    if value is None:
        kind = "null (none)"
    elif isinstance(value, Mapping):
        kind = "a mapping"
    elif isinstance(value, list | tuple):
        kind = "a list"
    else:
        kind = f"a {type(value).__name__}"
    raise TemplateValueError(f"cannot write {kind} as text; use tojson or toyaml")


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
    texts = [text_of(part) for part in parts]
    _check_size(sum(len(text) for text in texts))
    return "".join(texts)


def _output(value: Any) -> str:
    """Each ``{{ }}`` as text, so the sandbox's call counts it (a ``{% set %}`` block
    may capture output unseen by the final size check)."""
    return text_of(value)


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

    text_arguments = _TEXT_ARGUMENTS.get(name, ())

    @functools.wraps(run)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if text_arguments:
            args = tuple(text_of(arg) if index in text_arguments else arg
                         for index, arg in enumerate(args))
        if name == "replace":  # (eval_ctx, s, old, new, count)
            _check_replace(*args[1:], **kwargs)
        elif name == "indent":  # (s, width=4, first=False, blank=False)
            width = args[1] if len(args) > 1 else kwargs.get("width", 4)
            _check_indent(width)
            lines = str(args[0]).count("\n") + 1
            _check_size(_size(args[0]) + lines * (_size(width) if isinstance(width, str)
                                                  else width))
        return _charge(run(*args, **kwargs))

    return checked


def _join(eval_ctx: jinja2.nodes.EvalContext, value: Iterable[Any], d: Any = "",
          attribute: str | int | None = None) -> str:
    """Jinja2's join, writing each item with text_of, sized before it joins."""
    items = list(value)
    if attribute is not None:
        get = jinja2.filters.make_attrgetter(eval_ctx.environment, attribute)
        items = [get(item) for item in items]
    texts, separator = [text_of(item) for item in items], text_of(d)
    _check_size(sum(len(text) for text in texts) + len(separator) * max(len(texts) - 1, 0))
    return separator.join(texts)


def _urlencode(value: Any) -> str:
    """Jinja2's urlencode, writing keys and values with text_of."""
    if isinstance(value, Mapping):
        value = {text_of(key): text_of(item) for key, item in value.items()}
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        value = [(text_of(key), text_of(item)) for key, item in value]
    elif not isinstance(value, bytes):
        value = text_of(value)
    return jinja2.filters.do_urlencode(value)


def _b64enc(value: Any) -> str:
    """``Buffer.from(value).toString('base64')``: text as UTF-8, bytes as they are."""
    return encode_base64(value if isinstance(value, bytes) else utf8(text_of(value)))


def _b64dec(value: Any) -> str:
    try:
        raw = decode_base64(text_of(value))
    except ValueError:
        raise TemplateValueError("b64dec: input is not valid base64") from None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise TemplateValueError("b64dec: decoded bytes are not UTF-8 text") from None


def _tojson(value: Any, indent: int | None = None) -> str:
    """``JSON.stringify(value, null, indent)``."""
    _check_indent(indent)
    try:
        return _charge(js_json.stringify(value, indent))
    except js_json.JsonError as exc:
        raise TemplateValueError(f"tojson: {exc}") from None


def _fromjson(value: Any) -> Any:
    """``JSON.parse(value)``: JavaScript's key order, unpaired surrogates kept."""
    try:
        return _charge(js_json.parse(text_of(value)))
    except js_json.JsonError as exc:
        raise TemplateValueError(f"fromjson: input {exc}") from None


def _toyaml(value: Any) -> str:
    """js-yaml's ``safeDump(value)``, as KES templates' ``yaml.dump``."""
    try:
        return _charge(js_yaml.safe_dump(value))
    except ValueError as exc:
        raise TemplateValueError(f"toyaml: {exc}") from None


def _fromyaml(value: Any) -> Any:
    try:
        # YAML aliases can make a small text a huge value ("billion laughs").
        return _charge(yaml.safe_load(text_of(value)))
    except (yaml.YAMLError, ValueError):  # ValueError: an integer too long to read
        raise TemplateValueError("fromyaml: input is not valid YAML") from None
    except RecursionError:
        raise TemplateValueError("fromyaml: input nests too deeply") from None


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
    toyaml=_toyaml, fromyaml=_fromyaml, urlencode=_urlencode,
    join=jinja2.pass_eval_context(_join),
)
TEMPLATES.globals = {
    "range": _range, "dict": dict, _LOOP_GUARD: _loop_items, _CONCAT_GUARD: _concat,
    _OUTPUT_GUARD: _output,
}


class TemplateRefused(ValueError):
    """A template that does not compile or uses what kes does not allow; the message
    says what and where."""


def source_problem(source: str) -> str | None:
    """What makes a template text unusable at a glance: cheap enough for the spec parser."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return f"is longer than the limit of {MAX_TEMPLATE_CHARS} characters"
    return None


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
def compile_template(source: str) -> jinja2.Template:
    """The template for ``source``, compiled once however many ExternalSecrets and
    renders use it; TemplateRefused says why it cannot be used."""
    try:
        problem = source_problem(source)
        if problem:
            raise TemplateRefused(problem)
        _check_brackets(source)
        tree = TEMPLATES.parse(source)
        _check_depth(tree)
        return TEMPLATES.from_string(_guarded(tree))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateRefused(f"line {exc.lineno}: {exc.message}") from None
    except TemplateRefused as exc:
        raise TemplateRefused(f"{exc} (README, section Templates)") from None
    except (RecursionError, SyntaxError, MemoryError):  # Python's own compiler limits
        raise TemplateRefused("nests too deeply to compile (README, section Templates)") \
            from None


def _check_brackets(source: str) -> None:
    """Refuse deep brackets before Jinja2's recursive parser meets them."""
    depth = 0
    for _, token, value in TEMPLATES.lex(source):
        if token == "operator" and value in ("(", "[", "{"):
            depth += 1
            if depth > MAX_BRACKET_NESTING:
                raise TemplateRefused(f"nests brackets more than {MAX_BRACKET_NESTING} deep")
        elif token == "operator" and value in (")", "]", "}"):
            depth -= 1


def _check_depth(tree: jinja2.nodes.Node) -> None:
    """Refuse a deep syntax tree before the guards and Python's compiler walk it."""
    level = [tree]
    for _ in range(MAX_SYNTAX_DEPTH):
        level = [child for node in level for child in node.iter_child_nodes()]
        if not level:
            return
    raise TemplateRefused(f"nests more than {MAX_SYNTAX_DEPTH} levels deep (blocks, "
                          "operators and filters together)")


def render_template(template: jinja2.Template, context: Mapping[str, Any],
                    limit: int = MAX_VALUE_BYTES) -> str:
    """Render within the limits, writing at most ``limit`` characters (OutputTooLarge
    past it); TemplateValueError says what went wrong, never a value."""
    token = _USAGE.set(_Usage())
    try:
        chunks, size = [], 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > min(limit, MAX_VALUE_BYTES):
                raise OutputTooLarge(min(limit, MAX_VALUE_BYTES))
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _USAGE.reset(token)
