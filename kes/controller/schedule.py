"""When each GSM version is next fetched, and what one sync cycle does.

The unit of cost is a GSM version, not an ExternalSecret: a version is fetched once
per interval (the shortest interval of the ExternalSecrets using it) however many
resources and properties share it. Each version's due times sit at a fixed phase
inside its interval, from a hash of its name, so a large cluster's fetches are
spread over the interval instead of arriving in one burst, and the spread is the
same on every replica and every restart.

A cycle costs what changed: a fetched version whose payload is the same as before
syncs nobody; a changed one syncs exactly the ExternalSecrets that use it.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from kes.kube import Key
from kes.names import SecretVersionName


def phase(name: object, interval: float) -> float:
    """A deterministic offset in [0, interval) for this name (a version, a resource)."""
    digest = hashlib.sha256(str(name).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval


def next_slot(name: object, interval: float, now: float) -> float:
    """The first due time strictly after `now` on this name's grid."""
    offset = phase(name, interval)
    return offset + interval * (math.floor((now - offset) / interval) + 1)


PINNED_INTERVAL_FACTOR = 30
"""A numbered version's data never changes, only its state (disabled, destroyed): it is
read on spec changes and requested-at anyway, so polling it every 30th interval is
enough to notice a disable or destroy."""


def poll_interval(version: SecretVersionName, user_intervals: Iterable[float]) -> float | None:
    """How often to poll `version` given its users' intervals (0: sync once): the
    shortest, times PINNED_INTERVAL_FACTOR for a numbered version; None: not polled."""
    shortest = min((i for i in user_intervals if i > 0), default=None)
    if shortest is None:
        return None
    return shortest * PINNED_INTERVAL_FACTOR if version.pinned else shortest


def backoff(interval: float, failures: int, maximum: float) -> float:
    """Wait after the n-th failure in a row: the interval, doubling, capped."""
    return max(interval, min(maximum, interval * 2 ** (failures - 1)))


@dataclass
class _Entry:
    interval: float
    due: float
    failures: int = 0
    taken: bool = False
    """Reported due and not fetched yet."""


class Schedule:
    """Due times of the polled versions, in a heap: finding what is due costs what is
    due, not what is polled."""

    def __init__(self, max_backoff: float) -> None:
        self._max_backoff = max_backoff
        self._entries: dict[SecretVersionName, _Entry] = {}
        self._heap: list[tuple[float, SecretVersionName]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def _push(self, name: SecretVersionName, entry: _Entry) -> None:
        heapq.heappush(self._heap, (entry.due, name))

    def set_interval(self, name: SecretVersionName, interval: float | None, now: float) -> None:
        """Poll `name` every `interval` seconds from now on; None stops polling it."""
        entry = self._entries.get(name)
        if interval is None:
            self._entries.pop(name, None)
        elif entry is None:
            entry = self._entries[name] = _Entry(interval, next_slot(name, interval, now))
            self._push(name, entry)
        elif entry.interval != interval:
            entry.interval = interval
            if entry.failures == 0:
                entry.due = next_slot(name, interval, now)
                self._push(name, entry)

    def _current(self, due: float, name: SecretVersionName) -> bool:
        """Whether a heap item still stands (items are left behind when due times move)."""
        entry = self._entries.get(name)
        return entry is not None and entry.due == due and not entry.taken

    def due(self, now: float) -> list[SecretVersionName]:
        """Every version due by `now`; each is due again only after `fetched`."""
        found = []
        while self._heap and self._heap[0][0] <= now:
            due, name = heapq.heappop(self._heap)
            if self._current(due, name):
                found.append(name)
                self._entries[name].taken = True
        return sorted(found)

    def next_due(self) -> float | None:
        while self._heap and not self._current(*self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def fetched(self, name: SecretVersionName, ok: bool, now: float) -> None:
        entry = self._entries.get(name)
        if entry is None:
            return
        # A version taken a little before its slot is not due again at that same slot.
        since = max(now, entry.due) if entry.taken else now
        entry.taken = False
        if ok:
            entry.failures = 0
            entry.due = next_slot(name, entry.interval, since)
        else:
            entry.failures += 1
            entry.due = now + backoff(entry.interval, entry.failures, self._max_backoff)
        self._push(name, entry)

    def failures(self, name: SecretVersionName) -> int:
        entry = self._entries.get(name)
        return entry.failures if entry else 0

    def interval(self, name: SecretVersionName) -> float | None:
        entry = self._entries.get(name)
        return entry.interval if entry else None


class Timers:
    """One due time per resource, in a heap: when it is synced again without anything
    having changed (a write that failed, a foreign Secret due for a look), or when its
    status heartbeat is due."""

    def __init__(self) -> None:
        self._at: dict[Key, float] = {}
        self._heap: list[tuple[float, Key]] = []

    def at(self, key: Key, when: float) -> None:
        self._at[key] = when
        heapq.heappush(self._heap, (when, key))

    def cancel(self, key: Key) -> None:
        self._at.pop(key, None)

    def _current(self, when: float, key: Key) -> bool:
        return self._at.get(key) == when

    def due(self, now: float) -> list[Key]:
        found = []
        while self._heap and self._heap[0][0] <= now:
            when, key = heapq.heappop(self._heap)
            if self._current(when, key):
                del self._at[key]
                found.append(key)
        return found

    def next_due(self) -> float | None:
        while self._heap and not self._current(*self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None


@dataclass
class Requests:
    """Immediate syncs asked for since the last cycle."""

    refetch: set[Key] = field(default_factory=set)
    """New or changed spec, or requested-at: their values are read fresh."""
    resync: set[Key] = field(default_factory=set)
    """Secret drifted or namespace rules changed: cached values suffice."""

    def __bool__(self) -> bool:
        return bool(self.refetch or self.resync)


def plan_fetch(
    due: Iterable[SecretVersionName],
    requests: Requests,
    versions_of: Callable[[Key], Collection[SecretVersionName]],
    cached: Collection[SecretVersionName],
) -> frozenset[SecretVersionName]:
    """What one cycle fetches: each due version once, every version of a resource asked
    to refetch, and what a resync needs but does not have."""
    fetch = set(due)
    for key in requests.refetch:
        fetch.update(versions_of(key))
    for key in requests.resync:
        fetch.update(v for v in versions_of(key) if v not in cached)
    return frozenset(fetch)


def plan_sync(
    changed: Iterable[SecretVersionName],
    requests: Requests,
    users_of: Callable[[SecretVersionName], Collection[Key]],
    polled: Callable[[Key], bool],
    known: Callable[[Key], bool],
) -> frozenset[Key]:
    """Who one cycle syncs: the polled users of every version whose payload changed,
    and every known resource that asked."""
    sync = {key for version in changed for key in users_of(version) if polled(key)}
    sync.update(key for key in requests.refetch | requests.resync if known(key))
    return frozenset(sync)
