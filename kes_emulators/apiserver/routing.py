"""Turn a method and URL into request attributes, as the real server's request info does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kes_emulators.apiserver.params import is_true
from kes_emulators.apiserver.rbac import RequestAttributes
from kes_emulators.apiserver.selectors import SelectorError, parse_field_selector

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}


class _AnyField(frozenset[str]):
    """Every field label: request info reads the selector before the resource is known."""

    def __contains__(self, item: object) -> bool:
        return True


@dataclass(frozen=True)
class Route:
    """A parsed request. For resource requests `namespace` is None when the URL names none."""

    verb: str
    path: str
    resource_request: bool
    group: str = ""
    version: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    namespace: str | None = None
    too_deep: bool = False
    selected_name: str = ""  # a list or watch narrowed to one object by its field selector
    accept: str = ""

    def attributes(self) -> RequestAttributes:
        return RequestAttributes(
            verb=self.verb,
            api_group=self.group,
            resource=self.resource,
            subresource=self.subresource,
            name=self.name or self.selected_name,
            namespace=self.namespace or "",
            path=self.path,
            resource_request=self.resource_request,
        )

    @property
    def counted_resource(self) -> str:
        """What request counters file this under: `secrets`, `secrets/status`, or the path."""
        if not self.resource_request:
            return self.path
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _is_path_segment(name: str) -> bool:
    return name not in (".", "..") and "/" not in name and "%" not in name


def _selected_name(field_selector: str) -> str:
    """The name a `metadata.name=X` (or `==`) field selector pins a list or watch to, which
    authorizes it as a request for that object (so `resourceNames` rules apply); "" if none.
    An unparsable selector names nothing here; the list itself answers 400 for it."""
    try:
        selector = parse_field_selector(field_selector, _AnyField())
    except SelectorError:
        return ""
    for term in selector.terms:
        if term.field == "metadata.name" and not term.negated:
            return term.value if _is_path_segment(term.value) else ""
    return ""


def route(method: str, path: str, query: Mapping[str, str], accept: str = "") -> Route:
    parts = [p for p in path.split("/") if p]
    method = method.upper()
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Route(verb=method.lower(), path=path, resource_request=False, accept=accept)
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    namespace = None
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    narrowed = ""
    if method in ("GET", "HEAD"):
        verb = "get" if name else "list"
        if not name and not legacy_watch:
            narrowed = _selected_name(query.get("fieldSelector", ""))
        if legacy_watch or is_true(query.get("watch")):
            verb = "watch"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, "")
        if method == "DELETE":
            verb = "delete" if name else "deletecollection"
        verb = verb or method.lower()
    return Route(
        verb=verb, path=path, resource_request=True, group=group, version=version,
        resource=resource, name=name, subresource=subresource, namespace=namespace,
        too_deep=len(rest) > 3 or not resource, selected_name=narrowed,
    )
