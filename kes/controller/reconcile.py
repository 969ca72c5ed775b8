"""One ExternalSecret's sync: render from fetched values, write what differs, report.

The poller decides when and with which fetched values; this decides what to write
and what the status says. It remembers what it last wrote (for drift checks) and
Secrets found in its way (so a foreign Secret costs nothing until something changes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kes.api import API_VERSION, KIND
from kes.controller.cache import ClusterCache, Key, Tracked, permission_error
from kes.controller.fetch import FetchResult
from kes.controller.manifest import Owner, Plan, WriteAction, build_secret, plan_write
from kes.controller.metrics import ControllerMetrics
from kes.controller.settings import ControllerSettings
from kes.controller.status import Outcome, Reason, event_for, next_status
from kes.controller.writer import KubeWriter, NotOwnedError, WriteError
from kes.errors import KesError
from kes.gsm import GsmError
from kes.names import SecretVersionName
from kes.render import render_secret

log = logging.getLogger("kes.controller")


@dataclass
class Foreign:
    """A Secret found in the way and not owned: kes stays away until something changes."""

    uid: str
    resource_version: str
    message: str
    recheck_at: float


class Reconciler:
    def __init__(
        self,
        settings: ControllerSettings,
        cache: ClusterCache,
        writer: KubeWriter,
        metrics: ControllerMetrics,
        results: Mapping[SecretVersionName, FetchResult],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`results`: the poller's latest fetch result per version name (read only)."""
        self._settings = settings
        self._cache = cache
        self._writer = writer
        self._metrics = metrics
        self._results = results
        self._clock = clock
        self._manifests: dict[Key, dict[str, Any]] = {}
        self._outcomes: dict[Key, Outcome] = {}
        self._foreign: dict[Key, Foreign] = {}

    def retry_foreign(self, key: Key) -> None:
        """The spec or requested-at changed: try a Secret found foreign again."""
        self._foreign.pop(key, None)

    def forget(self, key: Key) -> None:
        self._manifests.pop(key, None)
        self._outcomes.pop(key, None)
        self._foreign.pop(key, None)
        self._metrics.forget(*key)

    def drifted(self, key: Key, secret: Mapping[str, Any] | None) -> bool:
        """Whether the Secret (None: deleted) no longer matches what was last written."""
        manifest = self._manifests.get(key)
        return manifest is not None and plan_write(manifest, secret) is not Plan.NOTHING

    async def sync(self, key: Key) -> None:
        """Render, compare, write what differs, report; never raises for one bad object."""
        tracked = self._cache.externalsecrets.get(key)
        if tracked is None:
            return
        outcome = await self._outcome(tracked)
        namespace, name = key
        self._metrics.synced(namespace, name, outcome.ok, time.time())
        try:
            await self._report(tracked, outcome)
        except KesError as e:
            log.warning(
                "status not written",
                extra={"externalsecret": f"{namespace}/{name}", "error": str(e)},
            )

    async def _outcome(self, tracked: Tracked) -> Outcome:
        if tracked.spec is None:
            return Outcome(Reason.SPEC_INVALID, str(tracked.error))
        spec = tracked.spec
        namespace, name = tracked.key
        if self._settings.enforce_namespace_annotations:
            refusal = permission_error(
                spec,
                namespace,
                self._cache.namespaces.get(namespace, {}),
                self._settings.naming_permitted_annotation,
            )
            if refusal:
                return Outcome(Reason.NOT_PERMITTED, refusal)
        payloads = {}
        versions = []
        for ref in sorted(spec.refs()):
            result = self._results.get(ref)
            if isinstance(result, GsmError):
                return Outcome(Reason.PROVIDER_ERROR, str(result))
            if result is None:
                return Outcome(
                    Reason.PROVIDER_ERROR, f"{ref} has not been fetched yet"
                )
            payloads[ref] = result.data
            versions.append((str(ref), str(result.name)))
        try:
            desired = render_secret(name, namespace, spec, payloads)
        except KesError as e:
            return Outcome(Reason.RENDER_ERROR, str(e))
        manifest = build_secret(desired, Owner(API_VERSION, KIND, name, tracked.uid))
        actual = self._cache.secrets.get((namespace, desired.name))
        try:
            foreign = self._foreign.get(tracked.key)
            if foreign is not None:
                still_foreign, actual = await self._recheck(tracked.key, foreign, desired.name)
                if still_foreign:
                    return Outcome(Reason.NOT_OWNED, foreign.message)
            written = await self._writer.apply_secret(manifest, actual)
        except NotOwnedError as e:
            self._foreign[tracked.key] = Foreign(
                e.uid, e.resource_version, str(e), self._clock() + self._settings.foreign_recheck
            )
            return Outcome(Reason.NOT_OWNED, str(e))
        except WriteError as e:
            return Outcome(Reason.SYNC_ERROR, str(e))
        self._manifests[tracked.key] = manifest
        if written.secret is not None and written.action is not WriteAction.NONE:
            self._cache.upsert_secret(written.secret)
            log.info(
                "secret written",
                extra={"externalsecret": f"{namespace}/{name}", "action": written.action.value},
            )
        return Outcome(Reason.SYNCED, versions=tuple(versions), action=written.action)

    async def _recheck(
        self, key: Key, foreign: Foreign, secret_name: str
    ) -> tuple[bool, dict[str, Any] | None]:
        """Whether the foreign Secret is still there unchanged, and the Secret as read.

        Unlabelled Secrets are not watched: between re-checks nothing is sent, then
        one GET tells whether it changed or went away."""
        if self._clock() < foreign.recheck_at:
            return True, None
        actual = await self._writer.read_secret(key[0], secret_name)
        meta = (actual or {}).get("metadata", {})
        if (meta.get("uid"), meta.get("resourceVersion")) == (
            foreign.uid,
            foreign.resource_version,
        ):
            foreign.recheck_at = self._clock() + self._settings.foreign_recheck
            return True, actual
        del self._foreign[key]
        return False, actual

    async def _report(self, tracked: Tracked, outcome: Outcome) -> None:
        namespace, name = tracked.key
        previous = self._outcomes.get(tracked.key)
        self._outcomes[tracked.key] = outcome
        if not outcome.ok and (previous is None or previous.message != outcome.message):
            log.warning(
                "sync failed",
                extra={
                    "externalsecret": f"{namespace}/{name}",
                    "reason": outcome.reason.value,
                    "error": outcome.message,
                },
            )
        status = next_status(
            tracked.status,
            outcome,
            tracked.generation,
            datetime.now(UTC),
            self._settings.status_refresh,
        )
        if status is not None:
            written = await self._writer.write_status(namespace, name, status)
            tracked.status = dict(written.get("status") or status)
        note = event_for(previous, outcome, name)
        if note is not None:
            await self._writer.post_event(tracked.obj, note)
