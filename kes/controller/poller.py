"""The central poller: one loop for every ExternalSecret.

It wakes when a GSM version is due or when a watch event asks for an immediate
sync, runs one cycle (fetch each needed version once, sync the resources whose
inputs changed, write only differences), and sleeps again. It runs on its own
clock, so a silent watch cannot stop refreshes, and it reads the cache, so a
re-listing watch costs nothing. A version fetched again with the same payload
costs its fetch and nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kes.controller.cache import ClusterCache, Record
from kes.controller.fetch import Fetcher, FetchResult, same_result
from kes.controller.heartbeat import StatusHeartbeat
from kes.controller.metrics import ControllerMetrics
from kes.controller.reconcile import Reconciler
from kes.controller.schedule import (
    Requests,
    Schedule,
    Timers,
    backoff,
    plan_fetch,
    plan_sync,
    poll_interval,
)
from kes.controller.settings import ControllerSettings
from kes.controller.status import Reason
from kes.gsm import SecretValue
from kes.kube import Key
from kes.names import SecretVersionName
from kes.spec import ExternalSecretSpec

log = logging.getLogger("kes.controller")

MAX_CONCURRENT_SYNCS = 8
BATCH_WINDOW = 0.05
"""Seconds a watch event waits for others: an apply of many objects shares one cycle,
so a version they have in common is fetched once."""
TICK = 0.1
"""Versions due within this many seconds of each other share one cycle."""


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
        heartbeat: StatusHeartbeat,
        metrics: ControllerMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._cache = cache
        self._fetcher = fetcher
        self._reconciler = reconciler
        self._heartbeat = heartbeat
        self._metrics = metrics
        self._clock = clock
        self._schedule = Schedule(settings.max_backoff)
        self._retries = Timers()
        self._results: dict[SecretVersionName, FetchResult] = {}
        self._requests = Requests()
        self._wake = asyncio.Event()
        self._cycle_lock = asyncio.Lock()
        self.cycles = 0

    # ---- requests from the watches -------------------------------------------------

    def request(self, key: Key, refetch: bool) -> None:
        """refetch: the spec or requested-at changed, which also retries a Secret that
        was found foreign."""
        record = self._cache.records.get(key)
        if refetch and record is not None:
            record.foreign = None
            if record.spec is not None:
                self._note_clamp(record, record.spec)
        (self._requests.refetch if refetch else self._requests.resync).add(key)
        self._wake.set()

    def forget(self, key: Key) -> None:
        """An ExternalSecret is gone: its series go; versions only it used stop being
        polled at the next cycle."""
        self._metrics.forget(*key)
        self._retries.cancel(key)
        self._heartbeat.forget(key)
        self._wake.set()

    @property
    def idle(self) -> bool:
        """No cycle running and none asked for."""
        return not self._cycle_lock.locked() and not self._requests

    @property
    def results(self) -> Mapping[SecretVersionName, FetchResult]:
        """The latest fetch result of every version in use."""
        return self._results

    def failures(self, version_name: SecretVersionName) -> int:
        """Failed fetches in a row of a polled version (it backs off meanwhile)."""
        return self._schedule.failures(version_name)

    def interval_of(self, spec: ExternalSecretSpec) -> float:
        if spec.refresh_interval is None:
            return self._settings.poll_interval
        if 0 < spec.refresh_interval < self._settings.min_refresh_interval:
            return self._settings.min_refresh_interval
        return spec.refresh_interval

    def _polled(self, record: Record | None) -> bool:
        return (
            record is not None
            and record.spec is not None
            and not self._settings.disable_polling
            and self.interval_of(record.spec) > 0
        )

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

    def _refresh_schedule(self, now: float) -> None:
        """Poll each version whose users changed at the shortest interval among them."""
        changed, self._cache.changed_versions = self._cache.changed_versions, set()
        records = self._cache.records
        for version in changed:
            users = [records[key] for key in self._cache.users_of(version)]
            if not users:
                self._results.pop(version, None)
            intervals = [self.interval_of(r.spec) for r in users if r.spec and self._polled(r)]
            self._schedule.set_interval(version, poll_interval(version, intervals), now)

    # ---- the loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            self._refresh_schedule(self._clock())
            next_due = min(
                (t for t in (self._schedule.next_due(), self._retries.next_due()) if t is not None),
                default=None,
            )
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
                await asyncio.sleep(BATCH_WINDOW)
            try:
                await self.run_cycle(self._clock() + TICK)
            except Exception:
                log.exception("sync cycle failed")

    async def run_cycle(self, now: float) -> CycleReport:
        """Fetch what is due by `now` or requested, then sync every resource whose
        inputs changed."""
        async with self._cycle_lock:
            started = time.perf_counter()
            self._refresh_schedule(self._clock())
            requests, self._requests = self._requests, Requests()
            requests.resync.update(self._retries.due(now))
            records = self._cache.records
            due = self._schedule.due(now)
            fetch = plan_fetch(
                due, requests,
                lambda key: records[key].versions if key in records else (),
                self._results,
            )
            try:
                results = await self._fetcher.fetch_all(fetch)
            except BaseException:
                for name in due:  # keep polling them, after a backoff
                    self._schedule.fetched(name, False, self._clock())
                raise
            done, due_now = self._clock(), frozenset(due)
            changed = []
            for name, result in results.items():
                if name in due_now:
                    self._schedule.fetched(name, isinstance(result, SecretValue), done)
                if not same_result(self._results.get(name), result):
                    self._results[name] = result
                    changed.append(name)
            sync = plan_sync(
                changed, requests, self._cache.users_of,
                lambda key: self._polled(records.get(key)), records.__contains__,
            )
            await self._sync_all(sync)
            self.cycles += 1
            self._metrics.cycle_fetches.inc(len(fetch))
            self._metrics.cycle_seconds.observe(time.perf_counter() - started)
            if fetch or sync:
                log.debug("cycle", extra={"fetched": len(fetch), "synced": len(sync)})
            return CycleReport(len(fetch), len(sync))

    def _counted_interval(self, record: Record) -> float:
        """How often KES's sync counter counts this resource while nothing changes: once
        per its poll interval, as KES synced it (never when it is not polled)."""
        if self._settings.disable_polling:
            return 0.0
        if record.spec is None:
            return self._settings.poll_interval
        return self.interval_of(record.spec)

    def _plan_retry(self, record: Record) -> None:
        """A failed write is tried again with a growing wait; a Secret found foreign is
        looked at again when its re-check is due. Other failures wait for a change
        (spec, values, namespace rules), which brings its own sync."""
        reason = record.outcome.reason if record.outcome else None
        interval = (self.interval_of(record.spec) if record.spec else 0) or (
            self._settings.poll_interval)
        if reason is Reason.SYNC_ERROR:
            record.write_failures += 1
            wait = backoff(interval, record.write_failures, self._settings.max_backoff)
            self._retries.at(record.key, self._clock() + wait)
            return
        record.write_failures = 0
        if reason is Reason.NOT_OWNED and record.foreign is not None:
            # Never more often than the resource's own interval.
            when = max(record.foreign.recheck_at, self._clock() + interval)
            self._retries.at(record.key, when)
        else:
            self._retries.cancel(record.key)

    async def _sync_all(self, keys: frozenset[Key]) -> None:
        slots = asyncio.Semaphore(MAX_CONCURRENT_SYNCS)
        records = self._cache.records

        async def sync(key: Key) -> None:
            record = records.get(key)
            if record is None:
                return
            async with slots:
                try:
                    outcome = await self._reconciler.sync(record, self._results)
                except Exception:  # a bug with one object must not stop the others
                    log.exception("sync failed", extra={"externalsecret": "/".join(key)})
                    return
                self._metrics.synced(key, outcome.ok, self._counted_interval(record))
                self._plan_retry(record)
                if record.status:
                    self._heartbeat.after_write(key)

        await asyncio.gather(*(sync(key) for key in sorted(keys)))
