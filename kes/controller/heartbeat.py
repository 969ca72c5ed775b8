"""Keeping `status.lastSync` fresh without syncing and without bursts.

KES wrote `lastSync` on every poll; kes writes status only when it changes, and
refreshes `lastSync` once per STATUS_REFRESH_SECONDS. Each ExternalSecret's refresh
sits at a fixed phase of that period (from a hash of its name), so ten thousand
objects synced together are refreshed one by one over the period, not all at once;
a rate cap stretches the period where it would mean more writes per second than
STATUS_REFRESH_RATE. The heartbeat runs beside the poller with one write in flight,
so it can never hold up a sync.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kes.controller.cache import ClusterCache
from kes.controller.schedule import Timers, next_slot
from kes.controller.settings import ControllerSettings
from kes.controller.status import iso_time
from kes.controller.waiting import first_of
from kes.controller.writer import SecretWriter
from kes.errors import KesError
from kes.kube import Key

log = logging.getLogger("kes.controller")


class StatusHeartbeat:
    def __init__(
        self,
        settings: ControllerSettings,
        cache: ClusterCache,
        writer: SecretWriter,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._cache = cache
        self._writer = writer
        self._clock = clock
        self._timers = Timers()
        self._wake = asyncio.Event()
        self.written = 0

    def _period(self) -> float:
        """The refresh period, stretched so that the whole cluster stays under the cap."""
        floor = len(self._cache.records) / self._settings.status_refresh_rate
        return max(self._settings.status_refresh, floor)

    def after_write(self, key: Key) -> None:
        """The status of `key` was just written: its next refresh is one slot away."""
        self._timers.at(key, next_slot("/".join(key), self._period(), self._clock()))
        self._wake.set()

    def forget(self, key: Key) -> None:
        self._timers.cancel(key)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            due = self._timers.next_due()
            wait = None if due is None else max(0.0, due - self._clock())
            if wait is None or wait > 0:
                await first_of(self._wake, stop, wait)
                continue
            for key in self._timers.due(self._clock()):
                if stop.is_set():
                    return
                await self._refresh(key)
                # One write at a time, at most STATUS_REFRESH_RATE per second.
                await asyncio.sleep(1 / self._settings.status_refresh_rate)

    async def _refresh(self, key: Key) -> None:
        record = self._cache.records.get(key)
        if record is None or not record.status:
            return
        stamp = iso_time(datetime.now(UTC))
        try:
            written = await self._writer.write_status(*key, {"lastSync": stamp})
        except KesError as e:
            log.warning("lastSync not refreshed",
                        extra={"externalsecret": "/".join(key), "error": str(e)})
        else:
            record.status = dict(written.get("status") or record.status)
            self.written += 1
        self.after_write(key)
