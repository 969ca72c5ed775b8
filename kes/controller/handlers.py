"""What each watched or listed object does: update the cache, and ask the poller for
work when it matters. Start-up lists go through the same handlers as watch events.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kes.api import ANNOTATION_PREFIX
from kes.controller.cache import Change, ClusterCache, key_of
from kes.controller.manifest import SecretState
from kes.controller.poller import Poller
from kes.controller.reconcile import drifted

log = logging.getLogger("kes.controller")

Handler = Callable[["EventHandlers", str | None, Mapping[str, Any]], None]


def _contained(handle: Handler) -> Handler:
    """A bug met with one object is logged and costs only that object: start-up lists
    and watches go on with the rest."""

    @functools.wraps(handle)
    def contained(self: EventHandlers, event_type: str | None, obj: Mapping[str, Any]) -> None:
        try:
            handle(self, event_type, obj)
        except Exception:
            meta = obj.get("metadata") or {}
            log.exception("event not handled", extra={
                "object": f"{meta.get('namespace', '')}/{meta.get('name', '')}"})

    return contained


class EventHandlers:
    def __init__(self, cache: ClusterCache, poller: Poller) -> None:
        self._cache = cache
        self._poller = poller

    @_contained
    def externalsecret(self, event_type: str | None, obj: Mapping[str, Any]) -> None:
        if event_type == "DELETED":
            change = self._cache.remove_externalsecret(obj)
        else:
            change = self._cache.upsert_externalsecret(obj)
        if change is Change.SPEC:
            self._poller.request(key_of(obj), refetch=True, listed=event_type is None)
        elif change is Change.REMOVED:
            self._poller.forget(key_of(obj))

    @_contained
    def secret(self, event_type: str | None, obj: Mapping[str, Any]) -> None:
        state = SecretState.of(obj)
        # DELETED also arrives when a Secret leaves the label selector (someone removed
        # the managed-by label): either way the Secret kes wrote is gone from its view.
        deleted = event_type == "DELETED"
        if deleted:
            self._cache.remove_secret(state.key)
        else:
            self._cache.upsert_secret(state)
        owner = state.owner
        record = self._cache.records.get(owner) if owner is not None else None
        if record is None:
            return
        if (not deleted and state.data_drifted) or drifted(record, None if deleted else state):
            self._poller.repair(record.key)

    @_contained
    def namespace(self, event_type: str | None, obj: Mapping[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self._cache.namespaces.pop(name, None)
            return
        annotations = {
            k: v
            for k, v in (obj["metadata"].get("annotations") or {}).items()
            if k.startswith(ANNOTATION_PREFIX)
        }
        if self._cache.set_namespace(name, annotations):
            for key in self._cache.in_namespace(name):
                self._poller.request(key, refetch=False)
