"""When each GSM version is next fetched, and what one sync cycle does.

The unit of cost is a GSM version, not an ExternalSecret: a version is fetched once
per interval (the shortest interval of the ExternalSecrets using it) however many
resources and properties share it. Each version's due times sit at a fixed phase
inside its interval, from a hash of its name, so a large cluster's fetches are
spread over the interval instead of arriving in one burst, and the spread is the
same on every replica and every restart.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kes.kube import Key
from kes.names import SecretVersionName


def phase(version_name: SecretVersionName, interval: float) -> float:
    """A deterministic offset in [0, interval) for this version."""
    digest = hashlib.sha256(str(version_name).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval


def next_slot(version_name: SecretVersionName, interval: float, now: float) -> float:
    """The first due time strictly after `now` on this version's grid."""
    offset = phase(version_name, interval)
    return offset + interval * (math.floor((now - offset) / interval) + 1)


PINNED_INTERVAL_FACTOR = 30
"""A numbered version's data never changes, only its state (disabled, destroyed): it is
read on spec changes and requested-at anyway, so polling it every 30th interval is
enough to notice a disable or destroy."""


def poll_intervals(
    uses: Iterable[tuple[float, Iterable[SecretVersionName]]],
) -> dict[SecretVersionName, float]:
    """Each version's polling interval from (interval, versions) of the resources using
    it: the shortest, times PINNED_INTERVAL_FACTOR for a numbered version."""
    intervals: dict[SecretVersionName, float] = {}
    for interval, versions in uses:
        for name in versions:
            every = interval * PINNED_INTERVAL_FACTOR if name.pinned else interval
            intervals[name] = min(every, intervals.get(name, every))
    return intervals


def backoff(interval: float, failures: int, maximum: float) -> float:
    """Wait after the n-th failure in a row: the interval, doubling, capped."""
    return max(interval, min(maximum, interval * 2 ** (failures - 1)))


@dataclass
class _Entry:
    interval: float
    due: float
    failures: int = 0


class Schedule:
    """Due times of the GSM versions that are polled."""

    def __init__(self, max_backoff: float) -> None:
        self._max_backoff = max_backoff
        self._entries: dict[SecretVersionName, _Entry] = {}

    def set_intervals(self, intervals: Mapping[SecretVersionName, float], now: float) -> None:
        """Poll exactly these versions at these intervals (seconds, > 0)."""
        for name in self._entries.keys() - intervals.keys():
            del self._entries[name]
        for name, interval in intervals.items():
            entry = self._entries.get(name)
            if entry is None:
                self._entries[name] = _Entry(interval, next_slot(name, interval, now))
            elif entry.interval != interval:
                entry.interval = interval
                if entry.failures == 0:
                    entry.due = next_slot(name, interval, now)

    def due(self, now: float) -> list[SecretVersionName]:
        return sorted(name for name, entry in self._entries.items() if entry.due <= now)

    def next_due(self) -> float | None:
        return min((entry.due for entry in self._entries.values()), default=None)

    def fetched(self, name: SecretVersionName, ok: bool, now: float) -> None:
        entry = self._entries.get(name)
        if entry is None:
            return
        if ok:
            entry.failures = 0
            entry.due = next_slot(name, entry.interval, now)
        else:
            entry.failures += 1
            entry.due = now + backoff(entry.interval, entry.failures, self._max_backoff)

    def failures(self, name: SecretVersionName) -> int:
        entry = self._entries.get(name)
        return entry.failures if entry else 0


@dataclass(frozen=True)
class CyclePlan:
    fetch: frozenset[SecretVersionName]
    """Distinct GSM version names to access this cycle."""
    sync: frozenset[Key]
    """ExternalSecrets to render and compare this cycle."""


@dataclass
class Requests:
    """Immediate syncs asked for since the last cycle."""

    refetch: set[Key] = field(default_factory=set)
    """New or changed spec, or requested-at: their values are read fresh."""
    resync: set[Key] = field(default_factory=set)
    """Secret drifted or namespace rules changed: cached values suffice."""

    def __bool__(self) -> bool:
        return bool(self.refetch or self.resync)


def plan_cycle(
    due_versions: Iterable[SecretVersionName],
    requests: Requests,
    versions_of: Mapping[Key, frozenset[SecretVersionName]],
    polled: Iterable[Key],
    cached: Iterable[SecretVersionName],
) -> CyclePlan:
    """One cycle's work: each needed version once, each affected resource once.

    `versions_of` maps every known ExternalSecret to its versions; `polled` are
    those refreshed by polling (refreshInterval 0 means sync once); `cached` are
    versions whose last fetch succeeded.
    """
    due = set(due_versions)
    have = set(cached)
    fetch = set(due)
    for key in requests.refetch:
        fetch |= versions_of.get(key, frozenset())
    for key in requests.resync:
        fetch |= versions_of.get(key, frozenset()) - have
    sync = {key for key in polled if versions_of.get(key, frozenset()) & due}
    sync |= (requests.refetch | requests.resync) & versions_of.keys()
    return CyclePlan(frozenset(fetch), frozenset(sync))
