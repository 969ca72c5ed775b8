"""ListSecrets and ListSecretVersions: their filter language and their page tokens.

GCP filters follow AIP-160. The emulator evaluates `field:value` (contains, `*` a
wildcard) and `field=value` (equals) terms joined by AND or whitespace. Anything else
GCP accepts (OR, NOT, `-`, parentheses, comparisons) is parsed and answered with
UNIMPLEMENTED naming it; text that is no filter at all is INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kes_emulators.gsm.rpc import RpcError, invalid, unimplemented

MAX_PAGE_SIZE = 25000

_OPERATOR = re.compile(r"<=|>=|!=|[:=<>~]")
_WORD = re.compile(r'[^\s()<>=!:~"]+')
_VALUE = re.compile(r'"[^"]*"|[^\s()"]+')  # whatever follows an operator, up to a space
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*")
_KEYWORDS = ("AND", "OR", "NOT")
_OFFSET = re.compile(r"o:([0-9]{1,9})")

Token = tuple[str, str]  # kind ("(", ")", "op", "word" or "value"), text
Item = TypeVar("Item")


@dataclass(frozen=True)
class Term:
    """One restriction of a filter: `field:value` or `field=value`."""

    field: str
    operator: str
    value: str

    def matches(self, actual: str) -> bool:
        if self.operator == "=":
            return actual == self.value
        pattern = ".*".join(re.escape(part) for part in self.value.split("*"))
        return re.search(pattern, actual, re.IGNORECASE) is not None


def parse_filter(text: str) -> list[Term]:
    """The terms of a filter, all of which must match; raises RpcError otherwise."""
    return _Parser(text).parse()


def check_fields(terms: Sequence[Term], resource: Any, emulated: Collection[str]) -> None:
    """Every term names a field of `resource` (a protobuf class) that the emulator filters on.

    `emulated` holds field names and prefixes such as `labels.`. A field the resource
    has but the emulator does not filter on is UNIMPLEMENTED; any other, INVALID_ARGUMENT.
    """
    descriptor = resource.DESCRIPTOR
    known = set(descriptor.fields_by_name) | {field.json_name for field in descriptor.fields}
    offered = ", ".join(f"{name}KEY" if name.endswith(".") else name for name in emulated)
    for term in terms:
        if term.field in emulated or any(
            prefix.endswith(".") and term.field.startswith(prefix) for prefix in emulated
        ):
            continue
        if term.field.split(".")[0] in known:
            raise unimplemented(
                f"filter field {term.field!r} is not implemented by the Secret Manager "
                f"emulator; it filters a {descriptor.name} on {offered}"
            )
        raise invalid(f"filter field {term.field!r}: a {descriptor.name} has no such field")


class _Parser:
    """Recursive descent over AIP-160: expression = factor {[AND] factor};
    factor = term {OR term}; term = [NOT | -] (field operator value | "(" expression ")")."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize()
        self.position = 0
        self.unsupported: list[str] = []

    def parse(self) -> list[Term]:
        terms = self._expression() if self.tokens else []
        if self.position < len(self.tokens):
            raise self._malformed(f"unexpected {self.tokens[self.position][1]!r}")
        if self.unsupported:
            raise unimplemented(
                f"filter {self.text!r}: {self.unsupported[0]} is not implemented by the "
                "Secret Manager emulator, which takes field:value and field=value terms "
                "joined by AND"
            )
        return terms

    def _tokenize(self) -> list[Token]:
        tokens: list[Token] = []
        position = 0
        after_operator = False
        while position < len(self.text):
            char = self.text[position]
            if char.isspace():
                position += 1
                continue
            if char in "()":
                tokens.append((char, char))
                position += 1
                after_operator = False
                continue
            if after_operator:
                pattern, kind = _VALUE, "value"
            elif _OPERATOR.match(self.text, position):
                pattern, kind = _OPERATOR, "op"
            else:
                pattern, kind = _WORD, "word"
            match = pattern.match(self.text, position)
            if match is None:
                raise self._malformed(f"unexpected {self.text[position:]!r}")
            tokens.append((kind, match.group()))
            position = match.end()
            after_operator = kind == "op"
        return tokens

    def _peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, expected: str) -> Token:
        token = self._peek()
        if token is None:
            raise self._malformed(f"it ends where {expected} should be")
        self.position += 1
        return token

    def _expression(self) -> list[Term]:
        terms = self._factor()
        while (token := self._peek()) is not None and token[0] != ")":
            if token == ("word", "AND"):
                self.position += 1
            terms += self._factor()
        return terms

    def _factor(self) -> list[Term]:
        terms = self._term()
        while self._peek() == ("word", "OR"):
            self.position += 1
            self.unsupported.append("OR")
            terms += self._term()
        return terms

    def _term(self) -> list[Term]:
        if self._peek() == ("word", "NOT"):
            self.position += 1
            self.unsupported.append("NOT")
        kind, field = self._take("a term")
        if kind == "(":
            self.unsupported.append("a parenthesised expression")
            terms = self._expression()
            if self._take("')'")[0] != ")":
                raise self._malformed("a '(' is never closed")
            return terms
        if kind == "word" and field.startswith("-"):
            self.unsupported.append("'-' negation")
            field = field[1:]
        if kind != "word" or field in _KEYWORDS or _FIELD.fullmatch(field) is None:
            raise self._malformed(f"{field!r} is not a field name")
        kind, operator = self._take(f"an operator after {field!r}")
        if kind != "op":
            raise self._malformed(f"{field!r} needs an operator and a value, such as {field}:x")
        if operator == "~":
            raise self._malformed("regular expressions (~) are not supported by the API")
        if operator not in (":", "="):
            self.unsupported.append(f"the comparison {operator!r}")
        kind, value = self._take(f"a value after {field}{operator}")
        if kind != "value":
            raise self._malformed(f"{field}{operator} needs a value")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        return [Term(field, operator, value)]

    def _malformed(self, reason: str) -> RpcError:
        return invalid(f"filter {self.text!r} is malformed: {reason}")


def paginate(items: list[Item], page_size: int, page_token: str) -> tuple[list[Item], str]:
    """One page of `items` and the token for the next ("" after the last)."""
    if page_size < 0:
        raise invalid(f"page_size must not be negative, got {page_size}")
    size = min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    start = _offset(page_token) if page_token else 0
    end = start + size
    token = base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], token


def _offset(page_token: str) -> int:
    try:
        decoded = base64.b64decode(page_token, altchars=b"-_", validate=True).decode("ascii")
    except ValueError:  # bad base64, or not ASCII
        decoded = ""
    match = _OFFSET.fullmatch(decoded)
    if match is None:
        raise invalid(f"page_token {page_token!r} is not one this server issued")
    return int(match[1])
