"""The one thing the receiver does to the cluster: a new `requested-at` annotation on
an ExternalSecret (a JSON merge patch), which makes the controller sync it at once.

Bursts are coalesced: each ExternalSecret is patched at most once per
`min_interval`; a request inside that window is served by one patch at its end,
however many requests came. Patches run on a few workers so a burst for hundreds
of ExternalSecrets does not hold hundreds of connections. A patch that fails for a
reason that may pass (no answer, 429, 5xx) is tried again a few times; an
ExternalSecret deleted meanwhile (404) is forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from kes.api import REQUESTED_AT_ANNOTATION
from kes.kube import EXTERNALSECRETS, Key, Kube, KubeError

log = logging.getLogger("kes.recv")

MIN_INTERVAL = 1.0
WORKERS = 8
RETRY_DELAYS = (0.5, 1.0, 2.0)
"""Seconds before each retry of a patch that failed for a reason that may pass."""

Count = Callable[[str], None]
"""Counts each request's fate: requested, coalesced, patched, gone, retried, failed."""


def _no_count(result: str) -> None:
    """The default: nothing is counted."""


def _retryable(error: KubeError) -> bool:
    return error.status in (0, 429) or error.status >= 500


class Refresher:
    def __init__(self, kube: Kube, *, count: Count = _no_count,
                 min_interval: float = MIN_INTERVAL, workers: int = WORKERS,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._retry_delays = retry_delays
        self._count = count
        self._min_interval = min_interval
        self._workers_wanted = workers
        self._clock = clock
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._waiting: set[Key] = set()
        """Queued or timed: a further request for these is already served."""
        self._last: dict[Key, float] = {}
        self._attempts: dict[Key, int] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._busy = 0
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._workers_wanted)]

    async def stop(self) -> None:
        """Patches already queued are sent; those waiting for their window are dropped
        (the controller's polling still covers them)."""
        for timer in self._timers:
            timer.cancel()
        if self._timers:
            log.info("refreshes dropped at stop", extra={"count": len(self._timers)})
        self._timers.clear()
        await self._queue.join()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until every refresh asked for so far was patched or given up."""
        while self._waiting or self._busy:
            await asyncio.sleep(0.01)

    def refresh(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self._count("requested")
            if key in self._waiting:
                self._count("coalesced")
                continue
            last = self._last.get(key)
            self._schedule(key, 0.0 if last is None else last + self._min_interval - self._clock())

    def _schedule(self, key: Key, delay: float) -> None:
        self._waiting.add(key)
        if delay <= 0:
            self._queue.put_nowait(key)
            return
        loop = asyncio.get_running_loop()

        def due() -> None:
            self._timers.discard(timer)
            self._queue.put_nowait(key)

        timer = loop.call_later(delay, due)
        self._timers.add(timer)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._busy += 1
            try:
                self._waiting.discard(key)
                started = self._last[key] = self._clock()
                await self._patch(key)
                # Forget the window once it is over, so the map holds only recent keys.
                asyncio.get_running_loop().call_later(self._min_interval, self._forget, key,
                                                      started)
            finally:
                self._busy -= 1
                self._queue.task_done()

    def _forget(self, key: Key, started: float) -> None:
        if self._last.get(key) == started:
            del self._last[key]

    async def _patch(self, key: Key) -> None:
        namespace, name = key
        stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        patch = {"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: stamp}}}
        try:
            await self._kube.merge_patch(EXTERNALSECRETS, namespace, name, patch)
        except KubeError as e:
            if e.not_found:
                self._count("gone")
            elif _retryable(e) and self._attempts.get(key, 0) < len(self._retry_delays):
                attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
                self._count("retried")
                if key not in self._waiting:
                    self._schedule(key, self._retry_delays[attempt - 1])
                return
            else:
                self._count("failed")
                log.error("refresh failed", extra={"externalsecret": f"{namespace}/{name}",
                                                   "error": str(e)})
        else:
            self._count("patched")
        self._attempts.pop(key, None)
