"""Prow's client-side GitHub throttle: `--github-hourly-tokens` and `--github-allowed-burst`.

A token bucket: `burst` requests may go at once, then one more every hour/`hourly`.
As in Prow, refilling starts only once the time the first burst would have taken
has passed, so the first hour stays within `hourly` requests too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kes.errors import KesError

_HOUR = 3600.0
# Float sums of refills may land a hair below a whole token.
_EPSILON = 1e-9


class ThrottleError(KesError):
    """The two throttle flags do not describe a throttle."""


def check_throttle(hourly_tokens: int, allowed_burst: int) -> tuple[int, int]:
    """Prow's rules for the two flags; returns them with `--github-hourly-tokens=0`
    alone meaning no throttle (the burst is then ignored, as in Prow)."""
    if hourly_tokens < 0 or allowed_burst < 0:
        raise ThrottleError("--github-hourly-tokens and --github-allowed-burst cannot be negative")
    if hourly_tokens == 0:
        return 0, 0
    if allowed_burst == 0:
        raise ThrottleError(
            "--github-hourly-tokens and --github-allowed-burst must be either both higher "
            "than zero or both equal to zero"
        )
    if allowed_burst > hourly_tokens:
        raise ThrottleError("--github-allowed-burst must not be larger than --github-hourly-tokens")
    return hourly_tokens, allowed_burst


class Throttle:
    """Shared by every client of one run; `take()` blocks until a request may go."""

    def __init__(
        self,
        hourly_tokens: int,
        allowed_burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        hourly_tokens, allowed_burst = check_throttle(hourly_tokens, allowed_burst)
        if hourly_tokens == 0:
            raise ThrottleError("a throttle needs --github-hourly-tokens above zero")
        self._period = _HOUR / hourly_tokens
        self._burst = allowed_burst
        self._tokens = float(allowed_burst)
        self._clock = clock
        self._sleep = sleep
        self._refilled_at = clock() + allowed_burst * self._period
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            while True:
                now = self._clock()
                if now > self._refilled_at:
                    gained = (now - self._refilled_at) / self._period
                    self._tokens = min(float(self._burst), self._tokens + gained)
                    self._refilled_at = now
                if self._tokens >= 1 - _EPSILON:
                    self._tokens -= 1
                    return
                wait = max(self._refilled_at - now, 0.0) + (1 - self._tokens) * self._period
                self._sleep(wait)
