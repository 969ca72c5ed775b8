"""Which ExternalSecrets wait to be synced, served in turns by namespace.

Every sync goes through here: a watch event, a changed version, a retry, a repair.
A key waits at most once (asking again while it waits merges the asks), it is never
synced by two workers at once (asked again while in flight, it comes back when
done), and namespaces take turns, so a namespace with ten thousand waiting objects
delays another namespace's object by one turn, not by ten thousand syncs.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from kes.kube import Key

ANY_TIME = float("-inf")


@dataclass
class Ask:
    refetch: bool
    """Read the values fresh, not from what the poller last fetched."""
    since: float = ANY_TIME
    """With refetch: the values must have been fetched no earlier than this (monotonic
    seconds). Without: any values will do."""
    repair: bool = False
    """Something else changed the Secret kes wrote: this sync puts it back."""

    def merge(self, other: Ask) -> None:
        if other.refetch:
            self.since = max(self.since, other.since) if self.refetch else other.since
        self.refetch = self.refetch or other.refetch
        self.repair = self.repair or other.repair


class WorkQueue:
    def __init__(self) -> None:
        self._waiting: dict[Key, Ask] = {}
        self._by_namespace: dict[str, deque[Key]] = {}
        self._turns: deque[str] = deque()
        self._in_flight: set[Key] = set()
        self._again: dict[Key, Ask] = {}
        self._has_work = asyncio.Event()

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing in flight."""
        return not self._waiting and not self._in_flight

    def add(self, key: Key, ask: Ask) -> None:
        if key in self._in_flight:
            if key in self._again:
                self._again[key].merge(ask)
            else:
                self._again[key] = ask
            return
        if key in self._waiting:
            self._waiting[key].merge(ask)
            return
        self._waiting[key] = ask
        namespace = key[0]
        if namespace not in self._by_namespace:
            self._by_namespace[namespace] = deque()
            self._turns.append(namespace)
        self._by_namespace[namespace].append(key)
        self._has_work.set()

    def take(self) -> tuple[Key, Ask] | None:
        """The next key in namespace turn order, now in flight; None when none waits."""
        if not self._turns:
            return None
        namespace = self._turns.popleft()
        keys = self._by_namespace[namespace]
        key = keys.popleft()
        if keys:
            self._turns.append(namespace)
        else:
            del self._by_namespace[namespace]
        if not self._turns:
            self._has_work.clear()
        self._in_flight.add(key)
        return key, self._waiting.pop(key)

    async def get(self) -> tuple[Key, Ask]:
        while True:
            taken = self.take()
            if taken is not None:
                return taken
            await self._has_work.wait()

    def done(self, key: Key) -> None:
        self._in_flight.discard(key)
        again = self._again.pop(key, None)
        if again is not None:
            self.add(key, again)

    def forget(self, key: Key) -> None:
        """The object is gone: a waiting ask for it is dropped when its turn comes."""
        self._waiting.pop(key, None)
        self._again.pop(key, None)
        namespace = key[0]
        keys = self._by_namespace.get(namespace)
        if keys is not None and key in keys:
            keys.remove(key)
            if not keys:
                del self._by_namespace[namespace]
                self._turns.remove(namespace)
                if not self._turns:
                    self._has_work.clear()
