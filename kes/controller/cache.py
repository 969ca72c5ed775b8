"""The controller's view of the cluster, fed only by lists and watch events.

A sync cycle reads nothing from the API server: it reads this. Each upsert says
whether the change asks for work, so a re-list after a dropped watch (same
generations, same annotations) asks for none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kes.api import PROJECTS_PERMITTED_ANNOTATION, REQUESTED_AT_ANNOTATION
from kes.controller.settings import compile_permitted
from kes.errors import KesError
from kes.names import SecretVersionName
from kes.spec import ExternalSecretSpec, parse_external_secret

Key = tuple[str, str]
"""(namespace, name) of an ExternalSecret."""


class Change(Enum):
    NONE = "none"
    """Nothing the controller acts on (status echoes, re-lists)."""
    SPEC = "spec"
    """New, changed spec or a new requested-at: fetch fresh and sync."""
    REMOVED = "removed"


@dataclass
class Tracked:
    """One ExternalSecret this controller handles."""

    obj: dict[str, Any]
    spec: ExternalSecretSpec | None
    error: KesError | None
    """Why the spec could not be parsed; the message names the field."""
    status: dict[str, Any] = field(default_factory=dict)
    """The status kes last wrote or a watch event last carried, whichever came later;
    a late echo of an older write can replace a newer one, which costs at most one
    redundant status patch."""

    @property
    def key(self) -> Key:
        meta = self.obj["metadata"]
        return meta["namespace"], meta["name"]

    @property
    def generation(self) -> int:
        return int(self.obj["metadata"].get("generation") or 0)

    @property
    def uid(self) -> str:
        uid: str = self.obj["metadata"]["uid"]
        return uid

    @property
    def versions(self) -> frozenset[SecretVersionName]:
        if self.spec is None:
            return frozenset()
        return self.spec.refs()


def _requested_at(obj: Mapping[str, Any]) -> str | None:
    value = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT_ANNOTATION)
    return value if isinstance(value, str) else None


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


def controller_id_of(obj: Mapping[str, Any]) -> str:
    spec = obj.get("spec") or obj.get("secretDescriptor") or {}
    value = spec.get("controllerId") if isinstance(spec, Mapping) else None
    return str(value or "")


def owner_key(secret: Mapping[str, Any]) -> Key | None:
    """The ExternalSecret controlling this Secret, by name in its namespace."""
    meta = secret["metadata"]
    for ref in meta.get("ownerReferences") or ():
        if ref.get("kind") == "ExternalSecret" and ref.get("controller") is True:
            return meta.get("namespace") or "", ref["name"]
    return None


class ClusterCache:
    def __init__(self, instance_id: str, default_project: str | None) -> None:
        self._instance_id = instance_id
        self._default_project = default_project
        self.externalsecrets: dict[Key, Tracked] = {}
        self.secrets: dict[Key, dict[str, Any]] = {}
        self.namespaces: dict[str, dict[str, str]] = {}

    def handles(self, obj: Mapping[str, Any]) -> bool:
        """INSTANCE_ID and spec.controllerId must be equal (both empty matches)."""
        return controller_id_of(obj) == self._instance_id

    def upsert_externalsecret(self, obj: dict[str, Any]) -> Change:
        key = key_of(obj)
        if not self.handles(obj):
            return Change.REMOVED if self.externalsecrets.pop(key, None) else Change.NONE
        old = self.externalsecrets.get(key)
        same_object = old is not None and old.uid == obj["metadata"]["uid"]
        if (
            old is not None
            and same_object
            and old.generation == int(obj["metadata"].get("generation") or 0)
            and _requested_at(old.obj) == _requested_at(obj)
        ):
            old.obj = obj
            old.status = dict(obj.get("status") or old.status)
            return Change.NONE
        try:
            spec: ExternalSecretSpec | None = parse_external_secret(obj, self._default_project)
            error: KesError | None = None
        except KesError as e:
            spec, error = None, e
        self.externalsecrets[key] = Tracked(obj, spec, error, dict(obj.get("status") or {}))
        return Change.SPEC

    def remove_externalsecret(self, obj: Mapping[str, Any]) -> Change:
        return Change.REMOVED if self.externalsecrets.pop(key_of(obj), None) else Change.NONE

    def upsert_secret(self, obj: dict[str, Any]) -> None:
        self.secrets[key_of(obj)] = obj

    def remove_secret(self, obj: Mapping[str, Any]) -> None:
        self.secrets.pop(key_of(obj), None)

    def set_namespace(self, name: str, annotations: Mapping[str, str]) -> bool:
        """Record a namespace's annotations; True when they changed."""
        changed = self.namespaces.get(name) != dict(annotations)
        self.namespaces[name] = dict(annotations)
        return changed

    def in_namespace(self, namespace: str) -> Iterator[Key]:
        return (key for key in self.externalsecrets if key[0] == namespace)


def permission_error(
    spec: ExternalSecretSpec, namespace: str, annotations: Mapping[str, str], key_annotation: str
) -> str | None:
    """Why the namespace's annotations forbid this spec, or None.

    Patterns are searched (not anchored), as KES did: anchor them with ^...$.
    """
    rules = (
        (key_annotation, "key", lambda ref: ref.secret),
        (PROJECTS_PERMITTED_ANNOTATION, "project", lambda ref: ref.project),
    )
    for annotation, what, pick in rules:
        pattern = annotations.get(annotation)
        if pattern is None:
            continue
        try:
            regex: re.Pattern[str] = compile_permitted(pattern, namespace, annotation)
        except KesError as e:
            return str(e)
        for ref in sorted(spec.refs()):
            value = pick(ref)
            if not regex.search(value):
                return (
                    f"{what} {value} is not permitted in namespace {namespace} "
                    f"(annotation {annotation}: {pattern})"
                )
    return None
