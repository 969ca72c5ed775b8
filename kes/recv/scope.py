"""Which ExternalSecrets an endpoint refreshes: `refresh: {namespace, selector, names}`.

The selector is a Kubernetes LabelSelector (`matchLabels`, `matchExpressions` with
In, NotIn, Exists, DoesNotExist), matched here against the labels the receiver's
index holds, so choosing targets costs the API server nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kes.errors import KesError

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class ScopeError(KesError):
    """A `refresh` section that cannot be read; the message names the field."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        inside = self.key in labels and labels[self.key] in self.values
        return inside if self.operator == "In" else not inside


@dataclass(frozen=True)
class LabelSelector:
    match_labels: Mapping[str, str] = field(default_factory=dict)
    expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            r.matches(labels) for r in self.expressions
        )


@dataclass(frozen=True)
class RefreshScope:
    """Empty fields do not narrow: an empty scope is every ExternalSecret in view."""

    namespace: str | None = None
    selector: LabelSelector | None = None
    names: frozenset[str] = frozenset()

    def matches(self, namespace: str, name: str, labels: Mapping[str, str]) -> bool:
        return (
            (self.namespace is None or namespace == self.namespace)
            and (not self.names or name in self.names)
            and (self.selector is None or self.selector.matches(labels))
        )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ScopeError(f"{where}: must be a mapping")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScopeError(f"{where}: must be a non-empty string")
    return value


def _known(value: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in value:
        if key not in allowed:
            raise ScopeError(f"{where}.{key}: unknown field; known here: {', '.join(allowed)}")


def _requirement(value: Any, where: str) -> Requirement:
    item = _mapping(value, where)
    _known(item, ("key", "operator", "values"), where)
    key = _text(item.get("key"), f"{where}.key")
    operator = item.get("operator")
    if operator not in _OPERATORS:
        raise ScopeError(f"{where}.operator: must be one of {', '.join(_OPERATORS)}")
    values = item.get("values") or []
    if not isinstance(values, list):
        raise ScopeError(f"{where}.values: must be a list of strings")
    texts = frozenset(_text(v, f"{where}.values[{i}]") for i, v in enumerate(values))
    if operator in ("In", "NotIn") and not texts:
        raise ScopeError(f"{where}.values: {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and texts:
        raise ScopeError(f"{where}.values: {operator} takes no values")
    return Requirement(key, str(operator), texts)


def parse_selector(value: Any, where: str) -> LabelSelector:
    selector = _mapping(value, where)
    _known(selector, ("matchLabels", "matchExpressions"), where)
    labels = _mapping(selector.get("matchLabels"), f"{where}.matchLabels")
    match_labels = {
        _text(k, f"{where}.matchLabels"): _label_value(v, f"{where}.matchLabels[{k}]")
        for k, v in labels.items()
    }
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise ScopeError(f"{where}.matchExpressions: must be a list")
    return LabelSelector(
        match_labels,
        tuple(_requirement(e, f"{where}.matchExpressions[{i}]") for i, e in enumerate(expressions)),
    )


def _label_value(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ScopeError(f"{where}: must be a string (quote numbers and booleans)")
    return value


def parse_scope(value: Any, where: str) -> RefreshScope:
    """`refresh:` of one endpoint; absent means every ExternalSecret in view."""
    scope = _mapping(value, where)
    _known(scope, ("namespace", "selector", "names"), where)
    namespace = scope.get("namespace")
    names = scope.get("names") or []
    if not isinstance(names, list):
        raise ScopeError(f"{where}.names: must be a list of names")
    return RefreshScope(
        namespace=None if namespace is None else _text(namespace, f"{where}.namespace"),
        selector=None if scope.get("selector") is None
        else parse_selector(scope["selector"], f"{where}.selector"),
        names=frozenset(_text(n, f"{where}.names[{i}]") for i, n in enumerate(names)),
    )
