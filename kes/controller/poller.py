"""The central poller: one loop for every ExternalSecret.

It wakes when a GSM version is due or when a watch event asks for an immediate
sync, runs one cycle (fetch each needed version once, render, compare with the
cache, write only differences), and sleeps again. It runs on its own clock, so a
silent watch cannot stop refreshes, and it reads the cache, so a re-listing watch
costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kes.controller.cache import ClusterCache, Key, Tracked, permission_error
from kes.controller.fetch import Fetcher, FetchResult
from kes.controller.manifest import Owner, Plan, build_secret, plan_write
from kes.controller.metrics import ControllerMetrics
from kes.controller.schedule import Requests, Schedule, plan_cycle
from kes.controller.settings import ControllerSettings
from kes.controller.status import Outcome, Reason, WriteAction, event_for, next_status
from kes.controller.writer import KubeWriter, NotOwnedError, WriteError
from kes.errors import KesError
from kes.gsm import GsmError, SecretValue
from kes.render import render_secret
from kes.spec import ExternalSecretSpec

log = logging.getLogger("kes.controller")

API_VERSION = "kubernetes-client.io/v1"
MAX_CONCURRENT_SYNCS = 8
BATCH_WINDOW = 0.05  # seconds


@dataclass(frozen=True)
class CycleReport:
    fetched: int
    synced: int


class Poller:
    def __init__(
        self,
        settings: ControllerSettings,
        cache: ClusterCache,
        fetcher: Fetcher,
        writer: KubeWriter,
        metrics: ControllerMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._cache = cache
        self._fetcher = fetcher
        self._writer = writer
        self._metrics = metrics
        self._clock = clock
        self._schedule = Schedule(settings.max_backoff)
        self._results: dict[str, FetchResult] = {}
        self._requests = Requests()
        self._wake = asyncio.Event()
        self._manifests: dict[Key, dict[str, Any]] = {}
        self._outcomes: dict[Key, Outcome] = {}
        self._cycle_lock = asyncio.Lock()
        self._schedule_stale = False
        self.cycles = 0

    # ---- requests from the watches -------------------------------------------------

    def request(self, key: Key, refetch: bool) -> None:
        (self._requests.refetch if refetch else self._requests.resync).add(key)
        self._wake.set()

    def forget(self, key: Key) -> None:
        self._manifests.pop(key, None)
        self._outcomes.pop(key, None)
        self._metrics.forget(*key)
        self.reschedule()

    def drifted(self, key: Key, secret: Mapping[str, Any] | None) -> bool:
        """Whether the Secret (None: deleted) no longer matches what was last written."""
        manifest = self._manifests.get(key)
        return manifest is not None and plan_write(manifest, secret) is not Plan.NOTHING

    @property
    def idle(self) -> bool:
        """No cycle running and none asked for."""
        return not self._cycle_lock.locked() and not self._requests

    def failures(self, version_name: str) -> int:
        """Failed fetches in a row of a polled version (it backs off meanwhile)."""
        return self._schedule.failures(version_name)

    def interval_of(self, spec: ExternalSecretSpec) -> float:
        if spec.refresh_interval is None:
            return self._settings.poll_interval
        return spec.refresh_interval

    def reschedule(self) -> None:
        """The set of ExternalSecrets changed: recompute the schedule before the next wait."""
        self._schedule_stale = True
        self._wake.set()

    def _refresh_schedule(self) -> None:
        """Poll each version at the shortest interval among the resources using it."""
        if not self._schedule_stale:
            return
        self._schedule_stale = False
        intervals: dict[str, float] = {}
        if not self._settings.disable_polling:
            for tracked in self._cache.externalsecrets.values():
                if tracked.spec is None or self.interval_of(tracked.spec) <= 0:
                    continue
                interval = self.interval_of(tracked.spec)
                for name in tracked.versions:
                    intervals[name] = min(interval, intervals.get(name, interval))
        self._schedule.set_intervals(intervals, self._clock())
        in_use = {n for t in self._cache.externalsecrets.values() for n in t.versions}
        for name in self._results.keys() - in_use:
            del self._results[name]

    # ---- the loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            self._refresh_schedule()
            next_due = self._schedule.next_due()
            wait = None if next_due is None else next_due - self._clock()
            if not self._requests and (wait is None or wait > 0):
                waiters = {
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                }
                _, pending = await asyncio.wait(
                    waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                continue  # something changed or came due: look again
            if self._requests:
                # Events of one burst (an apply of many objects) share one cycle, so a
                # version they have in common is fetched once.
                await asyncio.sleep(BATCH_WINDOW)
            try:
                await self.run_cycle(self._clock())
            except Exception:
                log.exception("sync cycle failed")

    async def run_cycle(self, now: float) -> CycleReport:
        """Fetch what is due or requested, then sync every resource it affects."""
        async with self._cycle_lock:
            started = time.perf_counter()
            self._refresh_schedule()
            requests, self._requests = self._requests, Requests()
            tracked = self._cache.externalsecrets
            versions_of = {key: t.versions for key, t in tracked.items()}
            polled = [
                key
                for key, t in tracked.items()
                if t.spec is not None
                and self.interval_of(t.spec) > 0
                and not self._settings.disable_polling
            ]
            cached = [
                name for name, result in self._results.items() if isinstance(result, SecretValue)
            ]
            plan = plan_cycle(self._schedule.due(now), requests, versions_of, polled, cached)
            results = await self._fetcher.fetch_all(plan.fetch)
            done = self._clock()
            for name, result in results.items():
                self._results[name] = result
                self._schedule.fetched(name, isinstance(result, SecretValue), done)
            slots = asyncio.Semaphore(MAX_CONCURRENT_SYNCS)

            async def sync(key: Key) -> None:
                async with slots:
                    try:
                        await self._sync(key)
                    except Exception:  # a bug with one object must not stop the others
                        log.exception("sync failed", extra={"externalsecret": "/".join(key)})

            await asyncio.gather(*(sync(key) for key in sorted(plan.sync)))
            self.cycles += 1
            self._metrics.cycle_fetches.inc(len(plan.fetch))
            self._metrics.cycle_seconds.observe(time.perf_counter() - started)
            if plan.fetch or plan.sync:
                log.debug("cycle", extra={"fetched": len(plan.fetch), "synced": len(plan.sync)})
            return CycleReport(len(plan.fetch), len(plan.sync))

    # ---- one ExternalSecret --------------------------------------------------------

    async def _sync(self, key: Key) -> None:
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
        for ref in sorted(spec.refs(), key=lambda r: r.version_name):
            result = self._results.get(ref.version_name)
            if isinstance(result, GsmError):
                return Outcome(Reason.PROVIDER_ERROR, str(result))
            if result is None:
                return Outcome(
                    Reason.PROVIDER_ERROR, f"{ref.version_name} has not been fetched yet"
                )
            payloads[ref] = result.data
            versions.append((ref.version_name, result.name))
        try:
            desired = render_secret(name, namespace, spec, payloads)
        except KesError as e:
            return Outcome(Reason.RENDER_ERROR, str(e))
        manifest = build_secret(desired, Owner(API_VERSION, "ExternalSecret", name, tracked.uid))
        secret_key = (namespace, desired.name)
        try:
            written = await self._writer.apply_secret(manifest, self._cache.secrets.get(secret_key))
        except NotOwnedError as e:
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
