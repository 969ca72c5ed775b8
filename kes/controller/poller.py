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
from collections.abc import Callable
from dataclasses import dataclass

from kes.controller.cache import ClusterCache, Record
from kes.controller.fetch import Fetcher, FetchResult
from kes.controller.metrics import ControllerMetrics
from kes.controller.reconcile import Reconciler
from kes.controller.schedule import Requests, Schedule, plan_cycle, poll_intervals
from kes.controller.settings import ControllerSettings
from kes.gsm import SecretValue
from kes.kube import Key
from kes.names import SecretVersionName
from kes.spec import ExternalSecretSpec

log = logging.getLogger("kes.controller")

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
        reconciler: Reconciler,
        metrics: ControllerMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._cache = cache
        self._fetcher = fetcher
        self._reconciler = reconciler
        self._metrics = metrics
        self._clock = clock
        self._schedule = Schedule(settings.max_backoff)
        self._results: dict[SecretVersionName, FetchResult] = {}
        self._requests = Requests()
        self._wake = asyncio.Event()
        self._cycle_lock = asyncio.Lock()
        self._schedule_stale = False
        self.cycles = 0

    # ---- requests from the watches -------------------------------------------------

    def request(self, key: Key, refetch: bool) -> None:
        """refetch: the spec or requested-at changed, which also retries a Secret that
        was found foreign."""
        record = self._cache.records.get(key)
        if refetch and record is not None:
            record.foreign = None
        (self._requests.refetch if refetch else self._requests.resync).add(key)
        self._wake.set()

    def forget(self, key: Key) -> None:
        """An ExternalSecret is gone: its series go, and the versions only it used."""
        self._metrics.forget(*key)
        self.reschedule()

    @property
    def idle(self) -> bool:
        """No cycle running and none asked for."""
        return not self._cycle_lock.locked() and not self._requests

    def failures(self, version_name: SecretVersionName) -> int:
        """Failed fetches in a row of a polled version (it backs off meanwhile)."""
        return self._schedule.failures(version_name)

    def interval_of(self, spec: ExternalSecretSpec) -> float:
        if spec.refresh_interval is None:
            return self._settings.poll_interval
        if 0 < spec.refresh_interval < self._settings.min_refresh_interval:
            return self._settings.min_refresh_interval
        return spec.refresh_interval

    def _note_clamp(self, record: Record, spec: ExternalSecretSpec) -> None:
        """Say once per resource that its refreshInterval was raised to the minimum."""
        if record.clamp_noted or self.interval_of(spec) == spec.refresh_interval:
            return
        if spec.refresh_interval is None or spec.refresh_interval == 0:
            return
        record.clamp_noted = True
        log.warning(
            "refreshInterval below the minimum",
            extra={
                "externalsecret": "/".join(record.key),
                "refresh_interval_seconds": spec.refresh_interval,
                "used_seconds": self._settings.min_refresh_interval,
            },
        )

    def reschedule(self) -> None:
        """The set of ExternalSecrets changed: recompute the schedule before the next wait."""
        self._schedule_stale = True
        self._wake.set()

    def _refresh_schedule(self) -> None:
        """Poll each version at the shortest interval among the resources using it."""
        if not self._schedule_stale:
            return
        self._schedule_stale = False
        uses: list[tuple[float, frozenset[SecretVersionName]]] = []
        if not self._settings.disable_polling:
            for record in self._cache.records.values():
                if record.spec is None or self.interval_of(record.spec) <= 0:
                    continue
                self._note_clamp(record, record.spec)
                uses.append((self.interval_of(record.spec), record.versions))
        self._schedule.set_intervals(poll_intervals(uses), self._clock())
        for name in self._results.keys() - set(self._cache.versions):
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
            records = self._cache.records
            versions_of = {key: r.versions for key, r in records.items()}
            polled = [
                key
                for key, r in records.items()
                if r.spec is not None
                and self.interval_of(r.spec) > 0
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
                record = records.get(key)
                if record is None:
                    return
                async with slots:
                    try:
                        await self._reconciler.sync(record, self._results)
                    except Exception:  # a bug with one object must not stop the others
                        log.exception("sync failed", extra={"externalsecret": "/".join(key)})

            await asyncio.gather(*(sync(key) for key in sorted(plan.sync)))
            self.cycles += 1
            self._metrics.cycle_fetches.inc(len(plan.fetch))
            self._metrics.cycle_seconds.observe(time.perf_counter() - started)
            if plan.fetch or plan.sync:
                log.debug("cycle", extra={"fetched": len(plan.fetch), "synced": len(plan.sync)})
            return CycleReport(len(plan.fetch), len(plan.sync))
