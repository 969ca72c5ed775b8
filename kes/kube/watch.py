"""Watches, with kopf as the engine: list, watch, resume, re-list after 410 Gone.

Only raw event handlers are registered: kopf keeps no state on the objects (no
finalizers, no progress annotations), so watching costs the cluster no writes, and
kopf's own Events, CRD scanning and peering are off (fewer permissions; kes runs its
own leader election).

kopf names its process from the user database unless it is given an identity, and in
a container running as a uid with no passwd entry that lookup raises: kes always
gives one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import kopf

from kes.kube.config import Cluster
from kes.kube.resources import Resource

if TYPE_CHECKING:
    from kopf._core.engines.peering import Identity

EventHandler = Callable[[str | None, dict[str, Any]], None]
"""(event type: ADDED, MODIFIED, DELETED or None for a listed object, the object)."""


@dataclass(frozen=True)
class Watch:
    resource: Resource
    on_event: EventHandler
    label_selector: str | None = None
    """Filtered by the server: a client-side filter would drop the DELETED event of an
    object whose label was removed, and leave the watcher's view stale."""


class _NoDiffBase(kopf.DiffBaseStorage):
    """kes registers raw event handlers only, which need no diff: kopf would otherwise
    deep-copy every object it is sent to compute one, the largest part of its cost per
    event (tens of thousands of events when a large cluster starts)."""

    def build(self, *, body: kopf.Body,
              extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


class _NoProgress(kopf.ProgressStorage):
    """Nor do they have progress to keep: kopf would otherwise read and clean it on the
    object at every event."""

    def fetch(self, *, key: Any, body: kopf.Body) -> None:
        return None

    def store(self, *, key: Any, record: Any, body: kopf.Body, patch: kopf.Patch) -> None:
        return None

    def purge(self, *, key: Any, body: kopf.Body, patch: kopf.Patch) -> None:
        return None

    def touch(self, *, body: kopf.Body, patch: kopf.Patch, value: str | None) -> None:
        return None

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        return essence


def stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """Set `stop` on SIGTERM or SIGINT from now on. kopf installs handlers of its own
    when it starts: pass the returned function as `run_watches`'s `on_started` to take
    them back."""
    loop = asyncio.get_running_loop()

    def take_signals() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

    take_signals()
    return take_signals


def build_registry(cluster: Cluster, watches: Sequence[Watch]) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    for watch in watches:
        _register(registry, watch)

    async def login(**_: Any) -> kopf.ConnectionInfo:
        return cluster.connection()

    kopf.on.login(registry=registry)(login)
    return registry


def _register(registry: kopf.OperatorRegistry, watch: Watch) -> None:
    # `async def`: kopf runs plain functions in a thread pool, and the handlers'
    # state belongs to the event loop.
    async def on_event(event: kopf.RawEvent, **_: Any) -> None:
        watch.on_event(event.get("type"), dict(event["object"]))

    resource = watch.resource
    kopf.on.event(resource.group, resource.version, resource.plural,
                  registry=registry)(on_event)


def _settings(watches: Sequence[Watch]) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.posting.enabled = False
    settings.scanning.disabled = True
    settings.peering.standalone = True
    settings.persistence.diffbase_storage = _NoDiffBase()
    settings.persistence.progress_storage = _NoProgress()
    for watch in watches:
        if watch.label_selector:
            # Keyed (group, version, plural): "v1/secrets" would name a group "v1".
            key = (watch.resource.group, watch.resource.version, watch.resource.plural)
            settings.watching.label_selectors[key] = watch.label_selector
    return settings


async def run_watches(
    cluster: Cluster,
    watches: Sequence[Watch],
    namespaces: Sequence[str],
    stop: asyncio.Future[None],
    on_started: Callable[[], None] = lambda: None,
    identity: str | None = None,
) -> None:
    """Watch until `stop` is resolved; `namespaces` empty watches the whole cluster.

    `identity` names this process to kopf; by default `$POD_NAME`, else the hostname.

    `on_started` runs once kopf has started, after it installed its own signal
    handlers, so a caller can take them back.
    """
    existing = asyncio.all_tasks()
    tasks = await kopf.spawn_tasks(
        registry=build_registry(cluster, watches),
        settings=_settings(watches),
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=True,
        stop_flag=stop,
        identity=cast("Identity", identity or os.environ.get("POD_NAME") or socket.gethostname()),
    )
    on_started()
    await kopf.run_tasks(tasks, ignored=existing)
