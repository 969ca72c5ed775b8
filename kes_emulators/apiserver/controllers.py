"""The cluster's built-in controllers that the API semantics depend on.

Garbage collection (background, foreground, orphan), namespace termination, CRD
cleanup, each namespace's `default` service account and ClusterRole aggregation. They
react to committed events (never a timer) and work through the same write path as
requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from kes_emulators.apiserver import rbac
from kes_emulators.apiserver.objects import CRD_CLEANUP, FOREGROUND, ORPHAN, Objects
from kes_emulators.apiserver.resources import CRD_KEY, NAMESPACES_KEY, Registry, ResourceType
from kes_emulators.apiserver.store import Event, Obj, StorageKey, Store, owner_uids

log = logging.getLogger(__name__)

Work = tuple[str, str]  # (job, uid or name)
CLUSTER_ROLES_KEY = ("rbac.authorization.k8s.io", "clusterroles")


class Controllers:
    def __init__(self, store: Store, registry: Registry, objects: Objects) -> None:
        self.store = store
        self.registry = registry
        self.objects = objects
        self._queue: deque[Work] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        store.listeners.append(self._observe)
        self._jobs: dict[str, Callable[[str], None]] = {
            "owner-gone": self._collect_dependents,
            "check-owners": self._check_owners,
            "orphan": self._orphan,
            "foreground": self._foreground,
            "namespace": self._terminate_namespace,
            "new-namespace": self._default_service_account,
            "crd": self._cleanup_crd,
            "aggregate": self._aggregate_cluster_roles,
        }

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kes-apiserver-gc")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def idle(self) -> None:
        """Return once every change so far has been fully processed; raise if the
        controllers are not running (so a waiter never hangs on a dead task)."""
        task = self._task
        if task is None:
            raise RuntimeError("the controllers run once the server is started")
        while self._queue or not self._idle.is_set():
            if task.done():
                raise RuntimeError(f"the API server's controllers stopped: {_ending(task)}")
            idle = asyncio.ensure_future(self._idle.wait())
            await asyncio.wait({idle, task}, return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()
            await asyncio.sleep(0)

    def _enqueue(self, job: str, ref: str) -> None:
        self._queue.append((job, ref))
        self._idle.clear()
        self._wake.set()

    def _observe(self, event: Event) -> None:
        obj, meta = event.obj, event.obj["metadata"]
        if event.key == CLUSTER_ROLES_KEY:
            self._enqueue("aggregate", meta["name"])
        if event.type == "DELETED":
            self._enqueue("owner-gone", meta["uid"])
            for uid in owner_uids(obj):
                self._enqueue("foreground", uid)
            if meta.get("namespace"):
                self._enqueue("namespace", meta["namespace"])
            if event.key[0] and event.key != CRD_KEY and self.store.get(
                    CRD_KEY, "", f"{event.key[1]}.{event.key[0]}") is not None:
                self._enqueue("crd", f"{event.key[1]}.{event.key[0]}")
            return
        if event.type == "ADDED" and event.key == NAMESPACES_KEY:
            self._enqueue("new-namespace", meta["name"])
        if meta.get("ownerReferences"):
            self._enqueue("check-owners", meta["uid"])
        if meta.get("deletionTimestamp"):
            finalizers = meta.get("finalizers") or ()
            if ORPHAN in finalizers:
                self._enqueue("orphan", meta["uid"])
            if FOREGROUND in finalizers:
                self._enqueue("foreground", meta["uid"])
            if event.key == NAMESPACES_KEY:
                self._enqueue("namespace", meta["name"])
            if event.key == CRD_KEY:
                self._enqueue("crd", meta["name"])

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                job, ref = self._queue.popleft()
                try:
                    self._jobs[job](ref)
                except Exception:  # a failed job must not stop the others, nor hide
                    log.exception("controller job %s on %s failed", job, ref)
                await asyncio.sleep(0)
            self._idle.set()

    # helpers

    def _rtype(self, key: StorageKey) -> ResourceType | None:
        return self.registry.any_version(key)

    def _delete(self, key: StorageKey, obj: Obj, policy: str) -> None:
        rtype = self._rtype(key)
        meta = obj["metadata"]
        if rtype is None or meta.get("deletionTimestamp"):
            return
        self.objects.delete(rtype, meta.get("namespace", ""), meta["name"],
                            {"propagationPolicy": policy}, dry_run=False)

    def _drop_finalizer(self, key: StorageKey, obj: Obj, finalizer: str) -> None:
        rtype = self._rtype(key)
        if rtype is not None:
            remaining = [f for f in obj["metadata"].get("finalizers") or () if f != finalizer]
            self.objects.set_finalizers(rtype, obj, remaining)

    # garbage collection

    def _collect_dependents(self, owner_uid: str) -> None:
        for key, dependent in self.store.dependents(owner_uid):
            self._check_owners(dependent["metadata"]["uid"], key, dependent)

    def _check_owners(self, uid: str, key: StorageKey | None = None,
                      obj: Obj | None = None) -> None:
        """Delete an object whose owners are all gone; drop references to the gone ones."""
        if obj is None or key is None:
            found = self.store.by_uid(uid)
            if found is None:
                return
            key, obj = found
        refs = obj["metadata"].get("ownerReferences") or []
        alive = [ref for ref in refs if self._owner_exists(key, obj, ref)]
        if not alive:
            self._delete(key, obj, "Background")
        elif len(alive) < len(refs):
            rtype = self._rtype(key)
            if rtype is not None:
                self.objects.set_owner_references(rtype, obj, alive)

    def _owner_exists(self, key: StorageKey, dependent: Obj, ref: dict[str, Any]) -> bool:
        """Resolve an owner reference as the real collector does: by apiVersion/kind and
        name, in the dependent's namespace (none for a cluster-scoped owner), then
        compare uids. A reference to a kind nobody serves is kept (the real collector
        retries it) rather than guessed to be gone."""
        owner_type = self.registry.by_kind(str(ref.get("apiVersion", "")),
                                           str(ref.get("kind", "")))
        if owner_type is None:
            log.warning("owner reference to %s %s %r: no served resource has that kind; "
                        "keeping the dependent", ref.get("apiVersion"), ref.get("kind"),
                        ref.get("name"))
            return True
        dependent_type = self._rtype(key)
        if owner_type.namespaced and not (dependent_type and dependent_type.namespaced):
            return False  # a cluster-scoped object cannot be owned by a namespaced one
        namespace = dependent["metadata"].get("namespace", "") if owner_type.namespaced else ""
        owner = self.store.get(owner_type.storage_key, namespace, str(ref.get("name", "")))
        return owner is not None and owner["metadata"]["uid"] == ref.get("uid")

    def _orphan(self, owner_uid: str) -> None:
        found = self.store.by_uid(owner_uid)
        if found is None or ORPHAN not in (found[1]["metadata"].get("finalizers") or ()):
            return
        for key, dependent in self.store.dependents(owner_uid):
            rtype = self._rtype(key)
            if rtype is None:
                continue
            refs = [r for r in dependent["metadata"].get("ownerReferences") or ()
                    if r.get("uid") != owner_uid]
            self.objects.set_owner_references(rtype, dependent, refs)
        found = self.store.by_uid(owner_uid)
        if found is not None:
            self._drop_finalizer(found[0], found[1], ORPHAN)

    def _foreground(self, owner_uid: str) -> None:
        found = self.store.by_uid(owner_uid)
        if found is None or FOREGROUND not in (found[1]["metadata"].get("finalizers") or ()):
            return
        blocking = 0
        for key, dependent in self.store.dependents(owner_uid):
            self._delete(key, dependent, "Foreground")
            if self.store.get(key, dependent["metadata"].get("namespace", ""),
                              dependent["metadata"]["name"]) is None:
                continue
            blocking += any(ref.get("uid") == owner_uid and ref.get("blockOwnerDeletion")
                            for ref in dependent["metadata"].get("ownerReferences") or ())
        if not blocking:
            found = self.store.by_uid(owner_uid)
            if found is not None:
                self._drop_finalizer(found[0], found[1], FOREGROUND)

    # namespaces and CRDs

    def _terminate_namespace(self, name: str) -> None:
        namespace = self.store.get(NAMESPACES_KEY, "", name)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        for key in self.store.namespaced_keys_with_objects(name):
            for obj in list(self.store.items(key, name)):
                self._delete(key, obj, "Background")
        if not self.store.namespaced_keys_with_objects(name):
            namespace = self.store.get(NAMESPACES_KEY, "", name)
            if namespace is not None and (namespace.get("spec") or {}).get("finalizers"):
                self.objects.finish_namespace(namespace)

    def _default_service_account(self, namespace: str) -> None:
        ns = self.store.get(NAMESPACES_KEY, "", namespace)
        rtype = self.registry.lookup("", "v1", "serviceaccounts")
        if ns is None or ns["metadata"].get("deletionTimestamp") or rtype is None:
            return
        if self.store.get(rtype.storage_key, namespace, "default") is None:
            self.objects.create(rtype, namespace, {"metadata": {"name": "default"}},
                                dry_run=False)

    def _cleanup_crd(self, name: str) -> None:
        crd = self.store.get(CRD_KEY, "", name)
        if crd is None or not crd["metadata"].get("deletionTimestamp"):
            return
        key = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
        for obj in list(self.store.items(key, None)):
            self._delete(key, obj, "Background")
        if self.store.count(key) == 0:
            crd = self.store.get(CRD_KEY, "", name)
            if crd is not None and CRD_CLEANUP in (crd["metadata"].get("finalizers") or ()):
                self._drop_finalizer(CRD_KEY, crd, CRD_CLEANUP)

    # RBAC

    def _aggregate_cluster_roles(self, _changed: str) -> None:
        """The clusterrole-aggregation controller: an aggregated ClusterRole's rules are
        the union of the rules of the ClusterRoles its selectors match."""
        rtype = self._rtype(CLUSTER_ROLES_KEY)
        if rtype is None:
            return
        updates = rbac.aggregation_updates(self.store.items(CLUSTER_ROLES_KEY, None))
        for name, rules in updates.items():
            role = self.store.get(CLUSTER_ROLES_KEY, "", name)
            if role is not None:
                self.objects.set_field(rtype, role, "rules", rules)


def _ending(task: asyncio.Task[None]) -> str:
    if task.cancelled():
        return "cancelled"
    return repr(task.exception())
