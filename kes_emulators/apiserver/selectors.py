"""Label and field selectors, parsed and matched as the Kubernetes API server does.

Parse errors carry the real server's wording (its 400 BadRequest message), because
clients and people compare them.

Longer than most modules: the selector grammar, its parser and its matcher belong
together, and most of the length is the real server's error wording.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum


class SelectorError(ValueError):
    """A selector the API server would reject with 400 BadRequest."""


# --- label key and value syntax (k8s.io/apimachinery/pkg/util/validation) ---

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RE = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_MAX_NAME = 63
_MAX_SUBDOMAIN = 253


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Same text (including its double spaces) as Go's validation.RegexError.
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def qualified_name_errors(value: str) -> list[str]:
    """Why `value` is not a label key (`[prefix/]name`); empty when it is one."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > _MAX_NAME:
        errs.append("name part " + _max_len_error(_MAX_NAME))
    if not _QUALIFIED_NAME_RE.match(name):
        errs.append("name part " + _regex_error(
            _QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > _MAX_SUBDOMAIN:
        errs.append(_max_len_error(_MAX_SUBDOMAIN))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a label value; empty when it is one."""
    errs: list[str] = []
    if len(value) > _MAX_NAME:
        errs.append(_max_len_error(_MAX_NAME))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def aggregate_messages(messages: Sequence[str]) -> str:
    """Go's error aggregate text: one message bare, several in brackets, repeats once."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def go_quote(text: str) -> str:
    """Go's %q of a string, as field errors print bad values."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _go_string_slice(values: Sequence[str]) -> str:
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


# --- label selectors ---


class Operator(Enum):
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        present = self.key in labels
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        if op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_EQUALS, Operator.NOT_IN):
            return not present or labels[self.key] not in self.values
        have = _parse_int64(labels[self.key]) if present else None
        want = _parse_int64(self.values[0])
        if have is None or want is None:
            return False
        return have > want if op is Operator.GREATER_THAN else have < want


def _parse_int64(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64), None where it fails."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def new_requirement(key: str, operator: Operator, values: Iterable[str]) -> Requirement:
    """A validated requirement, with the errors of Go's labels.NewRequirement."""
    vals = sorted(set(values))
    errs: list[str] = []
    key_errs = qualified_name_errors(key)
    if key_errs:
        errs.append(f'key: Invalid value: {go_quote(key)}: {"; ".join(key_errs)}')
    if operator in (Operator.IN, Operator.NOT_IN) and not vals:
        errs.append(f"values: Invalid value: {_go_string_slice(vals)}: "
                    "for 'in', 'notin' operators, values set can't be empty")
    elif operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS) and len(
            vals) != 1:
        errs.append(f"values: Invalid value: {_go_string_slice(vals)}: "
                    "exact-match compatibility requires one single value")
    elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and vals:
        errs.append(f"values: Invalid value: {_go_string_slice(vals)}: "
                    "values set must be empty for exists and does not exist")
    elif operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(vals) != 1:
            errs.append(f"values: Invalid value: {_go_string_slice(vals)}: "
                        "for 'Gt', 'Lt' operators, exactly one value is required")
        for i, v in enumerate(vals):
            if _parse_int64(v) is None:
                errs.append(f"values[{i}]: Invalid value: {go_quote(v)}: "
                            "for 'Gt', 'Lt' operators, the value must be an integer")
    for i, v in enumerate(vals):
        value_errs = label_value_errors(v)
        if value_errs:
            errs.append(f"values[{i}][{key}]: Invalid value: {go_quote(v)}: "
                        f"{'; '.join(value_errs)}")
    if errs:
        raise SelectorError(aggregate_messages(errs))
    return Requirement(key, operator, tuple(vals))


class _Tok(Enum):
    ERROR = "error"
    END = "end"
    CLOSED_PAR = ")"
    COMMA = ","
    DOES_NOT_EXIST = "!"
    DOUBLE_EQUALS = "=="
    EQUALS = "="
    GREATER_THAN = ">"
    IDENTIFIER = "identifier"
    IN = "in"
    LESS_THAN = "<"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    OPEN_PAR = "("


_SYMBOL_TOKENS = {
    ")": _Tok.CLOSED_PAR, ",": _Tok.COMMA, "!": _Tok.DOES_NOT_EXIST, "==": _Tok.DOUBLE_EQUALS,
    "=": _Tok.EQUALS, ">": _Tok.GREATER_THAN, "<": _Tok.LESS_THAN, "!=": _Tok.NOT_EQUALS,
    "(": _Tok.OPEN_PAR,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_OPERATOR_BY_TOKEN = {
    _Tok.IN: Operator.IN, _Tok.NOT_IN: Operator.NOT_IN, _Tok.EQUALS: Operator.EQUALS,
    _Tok.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS, _Tok.NOT_EQUALS: Operator.NOT_EQUALS,
    _Tok.GREATER_THAN: Operator.GREATER_THAN, _Tok.LESS_THAN: Operator.LESS_THAN,
}


def _lex(text: str) -> list[tuple[_Tok, str]]:
    tokens: list[tuple[_Tok, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append((_Tok.END, ""))
            return tokens
        if text[i] in _SPECIAL:
            # Longest run of special characters that still forms a token.
            best: tuple[_Tok, str] | None = None
            j = i
            while j < n and text[j] in _SPECIAL:
                candidate = text[i:j + 1]
                if candidate in _SYMBOL_TOKENS:
                    best = (_SYMBOL_TOKENS[candidate], candidate)
                elif best is not None:
                    break
                j += 1
            if best is None:
                tokens.append((_Tok.ERROR, f"error expected: keyword found '{text[i:j]}'"))
                i = j
            else:
                tokens.append(best)
                i += len(best[1])
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
            j += 1
        word = text[i:j]
        kind = {"in": _Tok.IN, "notin": _Tok.NOT_IN}.get(word, _Tok.IDENTIFIER)
        tokens.append((kind, word))
        i = j


class _LabelParser:
    """Recursive descent over the token list, mirroring Go's labels.Parser."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def _look(self, values_context: bool = True) -> tuple[_Tok, str]:
        tok, lit = self.tokens[self.pos]
        if values_context and tok in (_Tok.IN, _Tok.NOT_IN):
            tok = _Tok.IDENTIFIER
        return tok, lit

    def _take(self, values_context: bool = True) -> tuple[_Tok, str]:
        item = self._look(values_context)
        if self.pos < len(self.tokens) - 1:
            self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self._look()
            if tok in (_Tok.IDENTIFIER, _Tok.DOES_NOT_EXIST):
                try:
                    requirements.append(self._requirement())
                except SelectorError as exc:
                    raise SelectorError(f"unable to parse requirement: {exc}") from None
                tok, lit = self._take()
                if tok is _Tok.END:
                    return requirements
                if tok is not _Tok.COMMA:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self._look()
                if tok2 not in (_Tok.IDENTIFIER, _Tok.DOES_NOT_EXIST):
                    raise SelectorError(f"found '{lit2}', expected: identifier after ','")
            elif tok is _Tok.END:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> Requirement:
        negated = False
        tok, lit = self._take()
        if tok is _Tok.DOES_NOT_EXIST:
            negated = True
            tok, lit = self._take()
        if tok is not _Tok.IDENTIFIER:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        key_errs = qualified_name_errors(key)
        if key_errs:
            raise SelectorError(f"<nil>: Invalid value: {go_quote(key)}: {'; '.join(key_errs)}")
        if negated or self._look()[0] in (_Tok.END, _Tok.COMMA):
            operator = Operator.DOES_NOT_EXIST if negated else Operator.EXISTS
            return new_requirement(key, operator, ())
        tok, lit = self._take(values_context=False)
        if tok not in _OPERATOR_BY_TOKEN:
            raise SelectorError(f"found '{lit}', expected: '=', '!=', '==', 'in', notin'")
        operator = _OPERATOR_BY_TOKEN[tok]
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self._value_set()
        else:
            values = self._exact_value()
        return new_requirement(key, operator, values)

    def _value_set(self) -> set[str]:
        tok, lit = self._take()
        if tok is not _Tok.OPEN_PAR:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._look()
        if tok is _Tok.CLOSED_PAR:
            self._take()
            return {""}
        if tok not in (_Tok.IDENTIFIER, _Tok.COMMA):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self._identifiers()
        if self._take()[0] is not _Tok.CLOSED_PAR:
            raise SelectorError(f"found '{lit}', expected: ')'")
        return values

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self._take()
            if tok is _Tok.IDENTIFIER:
                values.add(lit)
                tok2, lit2 = self._look()
                if tok2 is _Tok.COMMA:
                    continue
                if tok2 is _Tok.CLOSED_PAR:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok is _Tok.COMMA:
                # "(,", ",," and ",)" stand for the empty value.
                if not values:
                    values.add("")
                tok2, _ = self._look()
                if tok2 is _Tok.CLOSED_PAR:
                    values.add("")
                    return values
                if tok2 is _Tok.COMMA:
                    self._take()
                    values.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        tok, _ = self._look()
        if tok in (_Tok.END, _Tok.COMMA):
            return {""}
        tok, lit = self._take()
        if tok is _Tok.IDENTIFIER:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a `labelSelector` query parameter (`a=b,c in (d,e),!f`)."""
    requirements = _LabelParser(text).parse()
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


_MATCH_OPERATORS = {
    "In": Operator.IN, "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS, "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def label_selector_from_match(
    match_labels: Mapping[str, str] | None,
    match_expressions: Sequence[Mapping[str, object]] | None,
) -> LabelSelector:
    """The selector a `LabelSelector` object (matchLabels, matchExpressions) stands for."""
    requirements = [
        new_requirement(key, Operator.EQUALS, [value])
        for key, value in (match_labels or {}).items()
    ]
    for expr in match_expressions or ():
        op_name = str(expr.get("operator", ""))
        if op_name not in _MATCH_OPERATORS:
            raise SelectorError(f'"{op_name}" is not a valid label selector operator')
        raw_values = expr.get("values") or []
        values = [str(v) for v in raw_values] if isinstance(raw_values, list) else []
        requirements.append(
            new_requirement(str(expr.get("key", "")), _MATCH_OPERATORS[op_name], values))
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# --- field selectors ---


@dataclass(frozen=True)
class FieldTerm:
    field: str
    value: str
    negated: bool

    def matches(self, fields: Mapping[str, str]) -> bool:
        # A field the object lacks compares as the empty string, as in fields.Set.
        equal = fields.get(self.field, "") == self.value
        return not equal if self.negated else equal


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[FieldTerm, ...]

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(t.matches(fields) for t in self.terms)


_FIELD_OPERATORS = ("!=", "==", "=")


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start = 0
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == ",":
            terms.append(text[start:i])
            start = i + 1
        i += 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in _FIELD_OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value):
                raise SelectorError("invalid field selector: invalid escape sequence: \\")
            nxt = value[i + 1]
            if nxt not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{nxt}")
            out.append(nxt)
            i += 2
            continue
        if ch in ",=":
            # Go prints the rune with %v: its code point.
            raise SelectorError(
                f"invalid field selector: unescaped character in value: {ord(ch)}")
        out.append(ch)
        i += 1
    return "".join(out)


def parse_field_selector(text: str, supported: Collection[str]) -> FieldSelector:
    """Parse a `fieldSelector` query parameter; only `supported` fields may be used."""
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, raw = split
        terms.append(FieldTerm(field, _unescape(raw), negated=op == "!="))
    for term in terms:
        if term.field not in supported:
            raise SelectorError(f"field label not supported: {term.field}")
    return FieldSelector(tuple(terms))
