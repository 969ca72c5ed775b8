"""kopf wiring: watch events become cache updates and, when they matter, sync requests.

Only `@kopf.on.event` handlers: kopf keeps no state on the objects (no finalizers,
no progress annotations), so watching costs the cluster no writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from kes.api import ANNOTATION_PREFIX, GROUP, PLURAL, VERSION
from kes.controller.cache import Change, ClusterCache, key_of, owner_key
from kes.controller.manifest import data_drifted
from kes.controller.poller import Poller
from kes.controller.settings import ControllerSettings


class EventHandlers:
    """What each watch event does; kopf-free so lists at startup can reuse it."""

    def __init__(self, cache: ClusterCache, poller: Poller) -> None:
        self._cache = cache
        self._poller = poller

    def externalsecret(self, event_type: str | None, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            change = self._cache.remove_externalsecret(obj)
        else:
            change = self._cache.upsert_externalsecret(obj)
        if change is Change.SPEC:
            self._poller.reschedule()
            self._poller.request(key_of(obj), refetch=True)
        elif change is Change.REMOVED:
            self._poller.forget(key_of(obj))

    def secret(self, event_type: str | None, obj: dict[str, Any]) -> None:
        # DELETED also arrives when a Secret leaves the label selector (someone removed
        # the managed-by label): either way the Secret kes wrote is gone from its view.
        deleted = event_type == "DELETED"
        if deleted:
            self._cache.remove_secret(obj)
        else:
            self._cache.upsert_secret(obj)
        owner = owner_key(obj)
        if owner is None or owner not in self._cache.externalsecrets:
            return
        # The hash annotation catches edits to data even before this process wrote the
        # Secret (after a restart); the last written manifest catches everything else.
        if (not deleted and data_drifted(obj)) or self._poller.drifted(
            owner, None if deleted else obj
        ):
            self._poller.request(owner, refetch=False)

    def namespace(self, event_type: str | None, obj: Mapping[str, Any]) -> None:
        name = obj["metadata"]["name"]
        annotations = {
            k: v
            for k, v in (obj["metadata"].get("annotations") or {}).items()
            if k.startswith(ANNOTATION_PREFIX)
        }
        if event_type == "DELETED":
            self._cache.namespaces.pop(name, None)
            return
        if self._cache.set_namespace(name, annotations):
            for key in list(self._cache.in_namespace(name)):
                self._poller.request(key, refetch=False)


def build_registry(
    handlers: EventHandlers,
    settings: ControllerSettings,
    login: Callable[..., Awaitable[kopf.ConnectionInfo]],
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    # `async def`: kopf runs plain functions in a thread pool, and the cache and the
    # poller's wake-up event belong to the event loop.
    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def on_externalsecret(event: kopf.RawEvent, **_: Any) -> None:
        handlers.externalsecret(event.get("type"), dict(event["object"]))

    # No `labels=` filter: the server-side selector (kopf settings) already narrows the
    # watch, and a client-side filter would drop the DELETED event of a Secret whose
    # managed-by label was removed, leaving the cache stale and the label unrepaired.
    @kopf.on.event("", "v1", "secrets", registry=registry)
    async def on_secret(event: kopf.RawEvent, **_: Any) -> None:
        handlers.secret(event.get("type"), dict(event["object"]))

    if settings.enforce_namespace_annotations:

        @kopf.on.event("", "v1", "namespaces", registry=registry)
        async def on_namespace(type: str | None, body: kopf.Body, **_: Any) -> None:
            handlers.namespace(type, dict(body))

    kopf.on.login(registry=registry)(login)
    return registry
