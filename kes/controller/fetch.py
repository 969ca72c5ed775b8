"""Fetch a set of GSM versions: each once, a bounded number at a time, under a
per-project rate so a large cluster stays inside Secret Manager's access quota."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from kes.gsm import GsmError, RetryPolicy, SecretManager, SecretValue
from kes.names import SecretVersionName

# Retries inside one cycle stay short (a cycle waits for its slowest fetch); a version
# still failing after them is retried by the poller's per-version backoff instead.
CONTROLLER_RETRY = RetryPolicy(initial=0.2, maximum=2.0, deadline=5.0, attempt_timeout=5.0)


class RateLimiter:
    """A token bucket: `rate` acquisitions per second, bursts up to one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1


FetchResult = SecretValue | GsmError


def same_result(old: FetchResult | None, new: FetchResult) -> bool:
    """Whether a fetch found what the previous one did: then nobody needs a sync."""
    if isinstance(old, SecretValue) and isinstance(new, SecretValue):
        return old.name == new.name and old.data == new.data
    if isinstance(old, GsmError) and isinstance(new, GsmError):
        return str(old) == str(new)
    return False


class Fetcher:
    def __init__(self, gsm: SecretManager, max_concurrent: int, rate_per_project: float) -> None:
        self._gsm = gsm
        self._slots = asyncio.Semaphore(max_concurrent)
        self._rate = rate_per_project
        self._limiters: dict[str, RateLimiter] = {}

    def _limiter(self, project: str) -> RateLimiter:
        if project not in self._limiters:
            self._limiters[project] = RateLimiter(self._rate)
        return self._limiters[project]

    async def _one(self, version_name: SecretVersionName) -> FetchResult:
        await self._limiter(version_name.project).acquire()
        async with self._slots:
            try:
                return await self._gsm.access(version_name)
            except GsmError as e:
                return e

    async def fetch_all(
        self, version_names: Iterable[SecretVersionName]
    ) -> dict[SecretVersionName, FetchResult]:
        """Each distinct name is accessed once; failures come back as values."""
        names = sorted(set(version_names))
        results = await asyncio.gather(*(self._one(name) for name in names))
        return dict(zip(names, results, strict=True))
