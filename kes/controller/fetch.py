"""Fetching GSM versions: each once however many ask at the same time, a bounded number
at a time, under a per-project rate shared out in turns between tenants.

A tenant is a namespace (its requested refreshes and new specs) or the poller. When
one namespace asks for thousands of versions at once, its asks wait their turn
behind one ask of every other namespace instead of in front of all of them, so it
spends the project's Secret Manager quota only as fast as others leave it unused.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from kes.gsm import GsmError, RetryPolicy, SecretManager, SecretValue
from kes.names import SecretVersionName
from kes.render import Payload

# Retries inside one fetch stay short (a sync waits for its slowest fetch); a version
# still failing after them is retried by the poller's per-version backoff instead.
CONTROLLER_RETRY = RetryPolicy(initial=0.2, maximum=2.0, deadline=5.0, attempt_timeout=5.0)
POLLER = ""
"""The tenant of scheduled polls."""


class FairRateLimiter:
    """A token bucket of `rate` per second (bursts up to one second's worth) whose
    waiting callers are served one tenant at a time, in turns."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._rate = rate
        self._sleep = sleep
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}
        self._turns: deque[str] = deque()
        self._dispatcher: asyncio.Task[None] | None = None

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    async def acquire(self, tenant: str) -> None:
        self._refill()
        if not self._turns and self._tokens >= 1:
            self._tokens -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if tenant not in self._waiting:
            self._waiting[tenant] = deque()
            self._turns.append(tenant)
        self._waiting[tenant].append(granted)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.ensure_future(self._dispatch())
        await granted

    async def _dispatch(self) -> None:
        while self._turns:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self._rate)
                continue
            tenant = self._turns.popleft()
            queue = self._waiting[tenant]
            granted = queue.popleft()
            if queue:
                self._turns.append(tenant)
            else:
                del self._waiting[tenant]
            if not granted.done():  # a caller that gave up keeps its token
                self._tokens -= 1
                granted.set_result(None)


FetchResult = SecretValue | GsmError


@dataclass
class Fetched:
    """A version as last fetched: when, what came back, and its payload for rendering
    (one per fetch, so renders share its parsed JSON)."""

    started: float
    result: FetchResult
    payload: Payload | None = field(default=None, repr=False)

    @classmethod
    def of(cls, started: float, result: FetchResult) -> Fetched:
        payload = Payload(result.data) if isinstance(result, SecretValue) else None
        return cls(started, result, payload)


def same_result(old: FetchResult | None, new: FetchResult) -> bool:
    """Whether a fetch found what the previous one did: then nobody needs a sync."""
    if isinstance(old, SecretValue) and isinstance(new, SecretValue):
        return old.name == new.name and old.data == new.data
    if isinstance(old, GsmError) and isinstance(new, GsmError):
        return str(old) == str(new)
    return False


@dataclass
class _Flight:
    started: float
    done: asyncio.Future[FetchResult] = field(repr=False)


class Fetcher:
    def __init__(self, gsm: SecretManager, max_concurrent: int, rate_per_project: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._gsm = gsm
        self._slots = asyncio.Semaphore(max_concurrent)
        self._rate = rate_per_project
        self._clock = clock
        self._limiters: dict[str, FairRateLimiter] = {}
        self._flights: dict[SecretVersionName, _Flight] = {}

    def _limiter(self, project: str) -> FairRateLimiter:
        if project not in self._limiters:
            self._limiters[project] = FairRateLimiter(self._rate, self._clock)
        return self._limiters[project]

    async def _one(self, version_name: SecretVersionName, tenant: str) -> FetchResult:
        await self._limiter(version_name.project).acquire(tenant)
        async with self._slots:
            try:
                return await self._gsm.access(version_name)
            except GsmError as e:
                return e

    async def fetch(self, version_name: SecretVersionName, tenant: str,
                    fresh_after: float) -> tuple[float, FetchResult]:
        """(when the fetch started, its result): a fetch already under way is shared
        when it started no earlier than `fresh_after`."""
        flight = self._flights.get(version_name)
        if flight is None or flight.started < fresh_after:
            flight = _Flight(self._clock(), asyncio.ensure_future(
                self._one(version_name, tenant)))
            self._flights[version_name] = flight
            flight.done.add_done_callback(lambda _: self._land(version_name, flight))
        return flight.started, await asyncio.shield(flight.done)

    def _land(self, version_name: SecretVersionName, flight: _Flight) -> None:
        if self._flights.get(version_name) is flight:
            del self._flights[version_name]

    async def fetch_all(
        self, version_names: Iterable[SecretVersionName], tenant: str = POLLER,
    ) -> dict[SecretVersionName, FetchResult]:
        """Each distinct name once, fresh; failures come back as values."""
        names = sorted(set(version_names))
        now = self._clock()
        results = await asyncio.gather(*(self.fetch(n, tenant, now) for n in names))
        return {name: result for name, (_, result) in zip(names, results, strict=True)}
