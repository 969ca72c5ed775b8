"""The controller's view of the cluster, fed only by lists and watch events.

One `Record` per ExternalSecret holds everything kes knows about it: its parsed spec,
its last outcome, the manifest last written, whether a foreign Secret is in its way.
A sync cycle reads nothing from the API server: it reads this. Each upsert says
whether the change asks for work, so a re-list after a dropped watch (same
generations, same annotations) asks for none. A reverse index tells, for each Secret
Manager version, which ExternalSecrets use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kes.api import KIND, REQUESTED_AT_ANNOTATION
from kes.controller.manifest import SecretState
from kes.controller.status import Outcome
from kes.errors import KesError
from kes.kube import Key
from kes.names import SecretVersionName
from kes.spec import ExternalSecretSpec, controller_id_of, parse_external_secret


class Change(Enum):
    NONE = "none"
    """Nothing the controller acts on (status echoes, re-lists)."""
    SPEC = "spec"
    """New, changed spec or a new requested-at: fetch fresh and sync."""
    REMOVED = "removed"


@dataclass
class Foreign:
    """A Secret found in the way and not owned: kes stays away until something changes."""

    uid: str
    resource_version: str
    message: str
    recheck_at: float


@dataclass(eq=False)
class Record:
    """Everything the controller holds about one ExternalSecret it serves."""

    key: Key
    uid: str
    generation: int
    resource_version: str
    requested_at: str | None
    spec: ExternalSecretSpec | None
    error: str | None
    """Why the spec cannot be served; the message names the field."""
    status: dict[str, Any] = field(default_factory=dict)
    """The status kes last wrote or a watch event last carried, whichever came later;
    a late echo of an older write can replace a newer one, which costs at most one
    redundant status patch."""
    outcome: Outcome | None = None
    """The last sync's result."""
    written: Mapping[str, Any] | None = None
    """The manifest last written or found in place, without its data (for drift checks)."""
    foreign: Foreign | None = None
    clamp_noted: bool = False
    """Whether the log already said that its refreshInterval was raised to the minimum."""
    write_failures: int = 0
    """Failed Secret writes in a row: the next attempt waits longer each time."""
    last_refetch: float | None = None
    """When fresh values were last asked for (requested-at, a new spec): asks closer
    together than the minimum refresh interval are merged into one."""
    repairs: int = 0
    """Repairs in a row of a Secret something else keeps changing; each waits longer."""
    last_repair: float = 0.0

    @property
    def versions(self) -> frozenset[SecretVersionName]:
        return frozenset() if self.spec is None else self.spec.refs


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


def _requested_at(obj: Mapping[str, Any]) -> str | None:
    value = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT_ANNOTATION)
    return value if isinstance(value, str) else None


class ClusterCache:
    def __init__(self, instance_id: str, default_project: str | None) -> None:
        self._instance_id = instance_id
        self._default_project = default_project
        self.records: dict[Key, Record] = {}
        self.secrets: dict[Key, SecretState] = {}
        self.namespaces: dict[str, dict[str, str]] = {}
        self._users: dict[SecretVersionName, set[Key]] = {}
        self._by_namespace: dict[str, set[Key]] = {}
        self.changed_versions: set[SecretVersionName] = set()
        """Versions whose users changed since the poller last looked: their polling
        interval may have changed, or nobody uses them any more."""

    # ---- ExternalSecrets -----------------------------------------------------------

    def handles(self, obj: Mapping[str, Any]) -> bool:
        """INSTANCE_ID and spec.controllerId must be equal (both empty matches)."""
        return controller_id_of(obj) == self._instance_id

    def upsert_externalsecret(self, obj: Mapping[str, Any]) -> Change:
        key = key_of(obj)
        if not self.handles(obj):
            return self._remove(key)
        meta = obj["metadata"]
        generation = int(meta.get("generation") or 0)
        old = self.records.get(key)
        if (
            old is not None
            and old.uid == meta["uid"]
            and old.generation == generation
            and old.requested_at == _requested_at(obj)
        ):
            old.resource_version = str(meta.get("resourceVersion", ""))
            old.status = dict(obj.get("status") or old.status)
            return Change.NONE
        try:
            spec: ExternalSecretSpec | None = parse_external_secret(obj, self._default_project)
            error = None
        except KesError as e:
            spec, error = None, str(e)
        except Exception as e:  # a bug in kes: this object fails, the others go on
            spec, error = None, f"{KIND} {key[0]}/{key[1]}: could not be read ({type(e).__name__})"
        record = Record(
            key=key, uid=meta["uid"], generation=generation,
            resource_version=str(meta.get("resourceVersion", "")),
            requested_at=_requested_at(obj), spec=spec, error=error,
            status=dict(obj.get("status") or {}),
        )
        if old is not None and old.uid == record.uid:
            # The same object: what was written, found and asked stays known.
            record.outcome, record.written = old.outcome, old.written
            record.clamp_noted, record.last_refetch = old.clamp_noted, old.last_refetch
            record.repairs, record.last_repair = old.repairs, old.last_repair
        self._index(old, record)
        self.records[key] = record
        return Change.SPEC

    def remove_externalsecret(self, obj: Mapping[str, Any]) -> Change:
        return self._remove(key_of(obj))

    def _remove(self, key: Key) -> Change:
        old = self.records.pop(key, None)
        if old is None:
            return Change.NONE
        self._index(old, None)
        return Change.REMOVED

    def _index(self, old: Record | None, new: Record | None) -> None:
        key = (old or new).key  # type: ignore[union-attr]
        for version in old.versions if old else ():
            users = self._users[version]
            users.discard(key)
            if not users:
                del self._users[version]
            self.changed_versions.add(version)
        for version in new.versions if new else ():
            self._users.setdefault(version, set()).add(key)
            self.changed_versions.add(version)
        namespace = key[0]
        if new is None:
            in_namespace = self._by_namespace.get(namespace, set())
            in_namespace.discard(key)
            if not in_namespace:
                self._by_namespace.pop(namespace, None)
        else:
            self._by_namespace.setdefault(namespace, set()).add(key)

    def users_of(self, version: SecretVersionName) -> frozenset[Key]:
        """The ExternalSecrets that use this version."""
        return frozenset(self._users.get(version, ()))

    @property
    def versions(self) -> Iterator[SecretVersionName]:
        """Every version some ExternalSecret uses."""
        return iter(self._users)

    def in_namespace(self, namespace: str) -> frozenset[Key]:
        return frozenset(self._by_namespace.get(namespace, ()))

    # ---- managed Secrets and namespaces --------------------------------------------

    def upsert_secret(self, secret: SecretState) -> None:
        self.secrets[secret.key] = secret

    def remove_secret(self, key: Key) -> None:
        self.secrets.pop(key, None)

    def set_namespace(self, name: str, annotations: Mapping[str, str]) -> bool:
        """Record a namespace's annotations; True when they changed."""
        changed = self.namespaces.get(name) != dict(annotations)
        self.namespaces[name] = dict(annotations)
        return changed
