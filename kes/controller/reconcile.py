"""One ExternalSecret's sync: render from fetched values, write what differs, report.

The poller decides when and with which fetched values; this decides what to write
and what the status says, and keeps on the record what it wrote (for drift checks)
and any Secret found in its way (so a foreign Secret costs nothing until something
changes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from kes.api import API_VERSION, KIND
from kes.controller.cache import ClusterCache, Foreign, Record
from kes.controller.fetch import Fetched
from kes.controller.manifest import (
    Owner,
    Plan,
    SecretState,
    WriteAction,
    build_secret,
    plan_write,
    without_data,
)
from kes.controller.metrics import ControllerMetrics
from kes.controller.scope import permission_error
from kes.controller.settings import ControllerSettings
from kes.controller.status import EventNote, Outcome, Reason, event_for, next_status
from kes.controller.writer import Involved, NotOwnedError, SecretWriter, WriteError
from kes.errors import KesError
from kes.gsm import GsmError
from kes.names import SecretVersionName
from kes.render import DesiredSecret, Payload
from kes.spec import ExternalSecretSpec

log = logging.getLogger("kes.controller")


class Renderer(Protocol):
    """Where rendering happens: worker processes in the controller (render_worker)."""

    async def render(
        self, name: str, namespace: str, spec: ExternalSecretSpec,
        payloads: Mapping[SecretVersionName, Payload],
    ) -> DesiredSecret: ...


def drifted(record: Record, secret: SecretState | None) -> bool:
    """Whether the Secret (None: deleted) no longer matches what was last written."""
    return record.written is not None and plan_write(record.written, secret) is not Plan.NOTHING


class Reconciler:
    def __init__(
        self,
        settings: ControllerSettings,
        cache: ClusterCache,
        writer: SecretWriter,
        renderer: Renderer,
        metrics: ControllerMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._cache = cache
        self._writer = writer
        self._renderer = renderer
        self._metrics = metrics
        self._clock = clock

    async def sync(
        self, record: Record, inputs: Mapping[SecretVersionName, Fetched]
    ) -> Outcome:
        """Render, compare, write what differs, report; never raises for one bad object."""
        outcome = await self._outcome(record, inputs)
        namespace, name = record.key
        try:
            await self._report(record, outcome)
        except KesError as e:
            log.warning(
                "status not written",
                extra={"externalsecret": f"{namespace}/{name}", "error": str(e)},
            )
        return outcome

    async def _outcome(
        self, record: Record, inputs: Mapping[SecretVersionName, Fetched]
    ) -> Outcome:
        if record.spec is None:
            return Outcome(Reason.SPEC_INVALID, str(record.error))
        spec = record.spec
        namespace, name = record.key
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
        for ref in sorted(spec.refs):
            fetched = inputs.get(ref)
            if fetched is None:
                return Outcome(Reason.PROVIDER_ERROR, f"{ref} has not been fetched yet")
            if isinstance(fetched.result, GsmError) or fetched.payload is None:
                return Outcome(Reason.PROVIDER_ERROR, str(fetched.result))
            payloads[ref] = fetched.payload
            versions.append((str(ref), str(fetched.result.name)))
        self._metrics.renders.inc()
        try:
            desired = await self._renderer.render(name, namespace, spec, payloads)
        except KesError as e:
            return Outcome(Reason.RENDER_ERROR, str(e))
        manifest = build_secret(desired, Owner(API_VERSION, KIND, name, record.uid))
        actual = self._cache.secrets.get((namespace, desired.name))
        try:
            if record.foreign is not None:
                still_foreign, actual = await self._recheck(record, desired.name)
                if still_foreign:
                    return Outcome(Reason.NOT_OWNED, record.foreign.message)
            written = await self._writer.apply_secret(manifest, actual)
        except NotOwnedError as e:
            record.foreign = Foreign(
                e.uid, e.resource_version, str(e), self._clock() + self._settings.foreign_recheck
            )
            return Outcome(Reason.NOT_OWNED, str(e))
        except WriteError as e:
            return Outcome(Reason.SYNC_ERROR, str(e))
        record.written = without_data(manifest)
        if written.secret is not None and written.action is not WriteAction.NONE:
            self._cache.upsert_secret(written.secret)
            log.info(
                "secret written",
                extra={"externalsecret": f"{namespace}/{name}", "action": written.action.value},
            )
        return Outcome(Reason.SYNCED, versions=tuple(versions), action=written.action)

    async def report_fight(self, record: Record, wait: float) -> None:
        """Say once that something else keeps changing the Secret and kes keeps putting
        it back, more slowly each time."""
        namespace, name = record.key
        secret = (record.written or {}).get("metadata", {}).get("name", name)
        note = EventNote(
            "Warning", "SecretChangedElsewhere",
            f"Secret {namespace}/{secret} keeps being changed by something else; kes puts "
            f"it back each time, waiting longer between repairs (now {wait:g}s)",
        )
        log.warning("secret keeps being changed elsewhere",
                    extra={"externalsecret": f"{namespace}/{name}"})
        try:
            await self._writer.post_event(
                Involved(namespace, name, record.uid, record.resource_version), note)
        except KesError as e:
            log.warning("event not posted",
                        extra={"externalsecret": f"{namespace}/{name}", "error": str(e)})

    async def _recheck(
        self, record: Record, secret_name: str
    ) -> tuple[bool, SecretState | None]:
        """Whether the foreign Secret is still there unchanged, and the Secret as read.

        Unlabelled Secrets are not watched: between re-checks nothing is sent, then
        one GET tells whether it changed or went away."""
        foreign = record.foreign
        assert foreign is not None
        if self._clock() < foreign.recheck_at:
            return True, None
        actual = await self._writer.read_secret(record.key[0], secret_name)
        if actual is not None and (actual.uid, actual.resource_version) == (
            foreign.uid, foreign.resource_version
        ):
            foreign.recheck_at = self._clock() + self._settings.foreign_recheck
            return True, actual
        record.foreign = None
        return False, actual

    async def _report(self, record: Record, outcome: Outcome) -> None:
        namespace, name = record.key
        previous, record.outcome = record.outcome, outcome
        if not outcome.ok and (previous is None or previous.message != outcome.message):
            log.warning(
                "sync failed",
                extra={
                    "externalsecret": f"{namespace}/{name}",
                    "reason": outcome.reason.value,
                    "error": outcome.message,
                },
            )
        status = next_status(record.status, outcome, record.generation, datetime.now(UTC))
        if status is not None:
            written = await self._writer.write_status(namespace, name, status)
            record.status = dict(written.get("status") or status)
            record.resource_version = str(
                (written.get("metadata") or {}).get("resourceVersion", record.resource_version))
        note = event_for(previous, outcome, name)
        if note is not None:
            involved = Involved(namespace, name, record.uid, record.resource_version)
            await self._writer.post_event(involved, note)
