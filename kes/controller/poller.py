"""The central poller: one schedule of GSM versions for every ExternalSecret, and the
workers that sync them.

The poll loop wakes when a version is due, fetches what is due (each version once,
however many resources and properties share it) and queues the resources using a
version whose payload changed; a version fetched again with the same payload costs
its fetch and nothing more. Watch events, retries and repairs queue resources too.
Workers take resources from the queue in turns by namespace, read fresh values
where asked, render, write what differs and report. The loop runs on its own clock,
so a silent watch cannot stop refreshes, and reads the cache, so a re-listing watch
costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from kes.controller.cache import ClusterCache, Record
from kes.controller.fetch import POLLER, Fetched, Fetcher, FetchResult, same_result
from kes.controller.heartbeat import StatusHeartbeat
from kes.controller.manifest import WriteAction
from kes.controller.metrics import ControllerMetrics
from kes.controller.reconcile import Reconciler
from kes.controller.schedule import Schedule, Timers, backoff, poll_interval
from kes.controller.settings import ControllerSettings
from kes.controller.status import Reason
from kes.controller.waiting import first_of
from kes.controller.workqueue import Ask, WorkQueue
from kes.gsm import SecretValue
from kes.kube import Key
from kes.names import SecretVersionName
from kes.spec import ExternalSecretSpec

log = logging.getLogger("kes.controller")

SYNC_WORKERS = 8
"""Resources synced at once; each holds at most one Kubernetes request at a time."""
TICK = 0.1
"""Versions due within this many seconds of each other share one poll."""
FIGHT = 3
"""Repairs in a row after which something else is clearly fighting kes over a Secret."""
REPAIR_QUIET = 600.0
"""Seconds without a repair after which the next is the first of a new series."""


def repair_backoff(repairs: int, maximum: float) -> float:
    """Wait before the next repair after `repairs` in a row: none, then 1 s, doubling."""
    return 0.0 if repairs == 0 else min(maximum, 2.0 ** (repairs - 1))


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
        self._fetched: dict[SecretVersionName, Fetched] = {}
        self._queue = WorkQueue()
        self._timers = Timers()
        """When a resource is queued again without anything having changed."""
        self._timed_asks: dict[Key, Ask] = {}
        self._wake = asyncio.Event()
        self._polling = False
        self._listed_since: float | None = None
        self.polls = 0
        self.syncs = 0

    # ---- asks from the watches -----------------------------------------------------

    def listing(self) -> None:
        """The start-up lists begin: values fetched from now on are fresh enough for
        every object they list, so thousands of objects sharing a version fetch it once
        however long the lists take."""
        self._listed_since = self._clock()

    def request(self, key: Key, refetch: bool, listed: bool = False) -> None:
        """refetch: the spec or requested-at changed (read fresh values; retry a Secret
        found foreign). Otherwise the cached values suffice (namespace rules changed).

        Fresh values are read at most once per minimum refresh interval for one
        ExternalSecret: asks closer together (a requested-at bumped every second)
        are merged into one at the end of that interval."""
        record = self._cache.records.get(key)
        now = self._clock()
        self._wake.set()  # the versions it uses may need polling now
        if refetch and record is not None:
            record.foreign = None
            if record.spec is not None:
                self._note_clamp(record, record.spec)
            last = record.last_refetch
            if last is not None and now - last < self._settings.min_refresh_interval:
                self._later(key, last + self._settings.min_refresh_interval, Ask(True, now))
                return
            record.last_refetch = now
        if not refetch:
            self._queue.add(key, Ask(False))
            return
        since = self._listed_since if listed and self._listed_since is not None else now
        self._queue.add(key, Ask(True, since))

    def repair(self, key: Key) -> None:
        """Something else changed or deleted the Secret kes wrote: put it back, at once
        the first time, then waiting twice as long each time while it keeps happening
        (so kes and another writer do not fight at full speed)."""
        record = self._cache.records.get(key)
        if record is None:
            return
        now = self._clock()
        if record.repairs and now - record.last_repair > REPAIR_QUIET:
            record.repairs = 0  # the last fight is long over
        wait = repair_backoff(record.repairs, self._settings.max_backoff)
        if record.repairs and now < record.last_repair + wait:
            self._later(key, record.last_repair + wait, Ask(False, repair=True))
            return
        self._queue.add(key, Ask(False, repair=True))

    def forget(self, key: Key) -> None:
        """An ExternalSecret is gone: its series and timers go; versions only it used
        stop being polled at the next look at the schedule."""
        self._metrics.forget(*key)
        self._timers.cancel(key)
        self._timed_asks.pop(key, None)
        self._heartbeat.forget(key)
        self._queue.forget(key)
        self._wake.set()

    def _release(self, keys: Iterable[Key]) -> None:
        """Queue the asks whose time has come."""
        now = self._clock()
        for key in keys:
            ask = self._timed_asks.pop(key, None)
            record = self._cache.records.get(key)
            if ask is None or record is None:
                continue
            if ask.refetch:
                record.last_refetch = now
            self._queue.add(key, ask)

    def _later(self, key: Key, when: float, ask: Ask) -> None:
        """Queue `ask` at `when`; an ask already waiting for `key` is merged into it."""
        waiting = self._timed_asks.get(key)
        if waiting is not None:
            ask.merge(waiting)
        self._timers.at(key, when)
        self._timed_asks[key] = ask
        self._wake.set()

    @property
    def idle(self) -> bool:
        """No poll running and nothing waiting or being synced."""
        return not self._polling and self._queue.idle

    @property
    def results(self) -> Mapping[SecretVersionName, FetchResult]:
        """The latest fetch result of every version in use."""
        return {name: fetched.result for name, fetched in self._fetched.items()}

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
                self._fetched.pop(version, None)
            intervals = [self.interval_of(r.spec) for r in users if r.spec and self._polled(r)]
            self._schedule.set_interval(version, poll_interval(version, intervals), now)

    # ---- values --------------------------------------------------------------------

    async def _read(self, versions: Iterable[SecretVersionName], tenant: str,
                    fresh_after: float, skip: Key | None = None) -> list[SecretVersionName]:
        """Make sure each version's result was fetched no earlier than `fresh_after`;
        queue the polled users (but `skip`) of every version whose payload changed.
        Returns the versions fetched."""
        stale = [v for v in versions
                 if v not in self._fetched or self._fetched[v].started < fresh_after]
        fetched = await asyncio.gather(
            *(self._fetcher.fetch(v, tenant, fresh_after) for v in stale))
        for version, (started, result) in zip(stale, fetched, strict=True):
            old = self._fetched.get(version)
            if old is not None and old.started > started:
                continue  # a newer result landed meanwhile
            self._fetched[version] = Fetched.of(started, result)
            if old is None or not same_result(old.result, result):
                for key in self._cache.users_of(version):
                    if key != skip and self._polled(self._cache.records.get(key)):
                        self._queue.add(key, Ask(False))
        return stale

    # ---- the loops -----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll and sync until `stop`; then finish the syncs in flight and return."""
        workers = [asyncio.ensure_future(self._work(stop)) for _ in range(SYNC_WORKERS)]
        try:
            await self._poll_loop(stop)
        finally:
            # Workers finish the resource they hold (each request is bounded), then end.
            await asyncio.gather(*workers, return_exceptions=True)

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            now = self._clock()
            self._refresh_schedule(now)
            self._release(self._timers.due(now))
            due = [t for t in (self._schedule.next_due(), self._timers.next_due())
                   if t is not None]
            wait = min(due) - now if due else None
            if wait is None or wait > 0:
                await first_of(self._wake, stop, wait)
                continue
            try:
                await self.poll(now + TICK)
            except Exception:
                log.exception("poll failed")

    async def poll(self, now: float) -> int:
        """Fetch every version due by `now` and queue the users of those that changed;
        returns how many were fetched."""
        self._polling = True
        try:
            self._refresh_schedule(self._clock())
            due = self._schedule.due(now)
            try:
                await self._read(due, POLLER, self._clock())
            finally:
                done = self._clock()
                for name in due:
                    fetched = self._fetched.get(name)
                    ok = fetched is not None and isinstance(fetched.result, SecretValue)
                    self._schedule.fetched(name, ok, done)
            self._metrics.polled.inc(len(due))
            self.polls += 1
            return len(due)
        finally:
            self._polling = False

    async def _work(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            getting = asyncio.ensure_future(self._queue.get())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                stopping.cancel()
                return
            stopping.cancel()
            key, ask = getting.result()
            try:
                await self._sync(key, ask)
            finally:
                self._queue.done(key)

    async def _sync(self, key: Key, ask: Ask) -> None:
        record = self._cache.records.get(key)
        if record is None:
            return
        started = time.perf_counter()
        try:
            if ask.refetch:
                await self._read(record.versions, key[0], ask.since, skip=key)
            else:
                missing = [v for v in record.versions if v not in self._fetched]
                await self._read(missing, key[0], ask.since, skip=key)
            inputs = {v: self._fetched[v] for v in record.versions if v in self._fetched}
            outcome = await self._reconciler.sync(record, inputs)
        except Exception:  # a bug with one object must not stop the others
            log.exception("sync failed", extra={"externalsecret": "/".join(key)})
            return
        self.syncs += 1
        self._metrics.sync_seconds.observe(time.perf_counter() - started)
        self._metrics.synced(key, outcome.ok, self._counted_interval(record))
        if ask.repair and outcome.ok and outcome.action is not WriteAction.NONE:
            await self._repaired(record)
        self._plan_retry(record)
        if record.status:
            self._heartbeat.after_write(key)

    async def _repaired(self, record: Record) -> None:
        """Count a repair; the third in a row is a fight, said once in an Event."""
        record.repairs += 1
        record.last_repair = self._clock()
        if record.repairs == FIGHT:
            wait = repair_backoff(record.repairs, self._settings.max_backoff)
            await self._reconciler.report_fight(record, wait)

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
        now = self._clock()
        if reason is Reason.SYNC_ERROR:
            record.write_failures += 1
            wait = backoff(interval, record.write_failures, self._settings.max_backoff)
            self._later(record.key, now + wait, Ask(False))
            return
        record.write_failures = 0
        if reason is Reason.NOT_OWNED and record.foreign is not None:
            # Never more often than the resource's own interval.
            when = max(record.foreign.recheck_at, now + interval)
            self._later(record.key, when, Ask(False))
        else:
            self._timers.cancel(record.key)
            self._timed_asks.pop(record.key, None)

    # ---- for tests and benchmarks --------------------------------------------------

    async def run_cycle(self, now: float) -> CycleReport:
        """Poll everything due by `now`, then wait until every sync it caused is done."""
        before = self.syncs
        self._release(self._timers.due(now))
        fetched = await self.poll(now)
        while not self._queue.idle:
            await asyncio.sleep(0.01)
        return CycleReport(fetched, self.syncs - before)
