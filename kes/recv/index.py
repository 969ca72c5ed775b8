"""The receiver's view of the ExternalSecrets: their labels and the secrets they use.

Fed by a list at start and then by a watch (through kes.kube.watch), so choosing
which ExternalSecrets an event refreshes reads memory, not the API server. Specs
are parsed with kes.spec to learn their secrets; a spec that does not parse is not
indexed (the controller reports its error). A watch event whose generation did
not change (a status write, an annotation such as the receiver's own) keeps the
parsed secrets and only takes the labels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kes.kube import Key
from kes.names import SecretName
from kes.recv.scope import RefreshScope
from kes.spec import parse_external_secret

log = logging.getLogger("kes.recv")

_SecretId = tuple[str | None, str]
"""(location, secret id): a secret whatever its project is called."""


@dataclass(frozen=True)
class Entry:
    uid: str
    generation: int
    labels: Mapping[str, str]
    secrets: frozenset[SecretName]


class ExternalSecretIndex:
    def __init__(self, default_project: str | None) -> None:
        self._default_project = default_project
        self._entries: dict[Key, Entry] = {}
        self._users: dict[_SecretId, dict[str, set[Key]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def on_event(self, event_type: str | None, obj: Mapping[str, Any]) -> None:
        """A listed object (event_type None) or an ADDED, MODIFIED or DELETED one."""
        meta = obj["metadata"]
        key: Key = (meta.get("namespace") or "", meta["name"])
        if event_type == "DELETED":
            self._set(key, None)
            return
        labels = dict(meta.get("labels") or {})
        generation = int(meta.get("generation") or 0)
        old = self._entries.get(key)
        if old is not None and (old.uid, old.generation) == (meta.get("uid"), generation):
            if old.labels != labels:
                self._entries[key] = replace(old, labels=labels)
            return
        try:
            spec = parse_external_secret(obj, self._default_project)
        except Exception as e:  # a hostile spec must not stop the watch
            log.debug("not indexed", extra={"externalsecret": "/".join(key),
                                            "error": type(e).__name__})
            self._set(key, None)
            return
        secrets = frozenset(ref.secret_name for ref in spec.refs)
        self._set(key, Entry(str(meta.get("uid") or ""), generation, labels, secrets))

    def _set(self, key: Key, entry: Entry | None) -> None:
        old = self._entries.pop(key, None)
        for secret in old.secrets if old else ():
            projects = self._users[(secret.location, secret.secret)]
            projects[secret.project].discard(key)
            if not projects[secret.project]:
                del projects[secret.project]
            if not projects:
                del self._users[(secret.location, secret.secret)]
        if entry is None:
            return
        self._entries[key] = entry
        for secret in entry.secrets:
            projects = self._users.setdefault((secret.location, secret.secret), {})
            projects.setdefault(secret.project, set()).add(key)

    def users_of(self, secret: SecretName, scope: RefreshScope, *,
                 any_project: bool = False) -> list[Key]:
        """The ExternalSecrets in `scope` using `secret` (in any project, if asked)."""
        projects = self._users.get((secret.location, secret.secret), {})
        keys: set[Key]
        if any_project:
            keys = set().union(*projects.values())
        else:
            keys = projects.get(secret.project, set())
        return sorted(key for key in keys if self._in_scope(key, scope))

    def select(self, scope: RefreshScope) -> list[Key]:
        """Every ExternalSecret in `scope`."""
        return sorted(key for key in self._entries if self._in_scope(key, scope))

    def _in_scope(self, key: Key, scope: RefreshScope) -> bool:
        return scope.matches(key[0], key[1], self._entries[key].labels)
