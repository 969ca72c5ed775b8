"""Object storage: one resourceVersion counter, event history by time, watch fan-out.

Stored objects are never mutated: every write stores a new dict, so readers may hand
out stored objects without copying them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

StorageKey = tuple[str, str]  # (group, plural)
Obj = dict[str, Any]


@dataclass(frozen=True)
class Event:
    """A committed change; `old` is the previous state of a MODIFIED or DELETED object."""

    type: str
    rv: int
    key: StorageKey
    obj: Obj
    old: Obj | None


class Subscriber(Protocol):
    def offer(self, event: Event) -> None: ...


def owner_uids(obj: Obj) -> list[str]:
    return [ref.get("uid", "") for ref in obj["metadata"].get("ownerReferences") or ()]


# kube-apiserver compacts etcd every 5 minutes by default (--etcd-compaction-interval).
HISTORY_SECONDS = 300.0
# Room for every object of a 100,000-object cluster to change several times in a window.
HISTORY_LIMIT = 1_000_000


class Store:
    """`history_seconds` of events (at most `history_limit`) stay for watches and
    continued lists to resume from; older ones are compacted away, as etcd does."""

    def __init__(self, history_seconds: float = HISTORY_SECONDS,
                 history_limit: int = HISTORY_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if history_seconds < 0 or history_limit < 0:
            raise ValueError("watch history bounds must not be negative")
        self.rv = 0
        self.compacted_rv = 0  # events at or below this rv are no longer in history
        self.history_seconds = history_seconds
        self.history_limit = history_limit
        self._clock = clock
        self._history: deque[Event] = deque()
        self._times: deque[float] = deque()  # when each event of _history was committed
        self._data: dict[StorageKey, dict[str, dict[str, Obj]]] = {}
        self._sorted_names: dict[tuple[StorageKey, str], list[str]] = {}
        self._subscribers: dict[StorageKey, set[Subscriber]] = {}
        self._uids: dict[str, tuple[StorageKey, str, str]] = {}
        self._dependents: dict[str, set[tuple[StorageKey, str, str]]] = {}
        self.listeners: list[Callable[[Event], None]] = []

    # reads

    def get(self, key: StorageKey, namespace: str, name: str) -> Obj | None:
        return self._data.get(key, {}).get(namespace, {}).get(name)

    def items(self, key: StorageKey, namespace: str | None) -> Iterator[Obj]:
        """Objects in (namespace, name) order; all namespaces when `namespace` is None."""
        by_ns = self._data.get(key, {})
        namespaces = sorted(by_ns) if namespace is None else [namespace]
        for ns in namespaces:
            objs = by_ns.get(ns)
            if not objs:
                continue
            names = self._sorted_names.get((key, ns))
            if names is None:
                names = self._sorted_names[(key, ns)] = sorted(objs)
            for name in names:
                yield objs[name]

    def count(self, key: StorageKey, namespace: str | None = None) -> int:
        by_ns = self._data.get(key, {})
        if namespace is not None:
            return len(by_ns.get(namespace, {}))
        return sum(len(objs) for objs in by_ns.values())

    def by_uid(self, uid: str) -> tuple[StorageKey, Obj] | None:
        where = self._uids.get(uid)
        if where is None:
            return None
        obj = self.get(*where)
        return None if obj is None else (where[0], obj)

    def dependents(self, owner_uid: str) -> list[tuple[StorageKey, Obj]]:
        found = []
        for key, ns, name in sorted(self._dependents.get(owner_uid, ())):
            obj = self.get(key, ns, name)
            if obj is not None:
                found.append((key, obj))
        return found

    def namespaced_keys_with_objects(self, namespace: str) -> list[StorageKey]:
        return [key for key, by_ns in self._data.items() if by_ns.get(namespace)]

    # writes

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, key: StorageKey, obj: Obj, old: Obj | None) -> Event:
        """Store `obj` (its metadata.resourceVersion already the new rv) and publish it."""
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        objs = self._data.setdefault(key, {}).setdefault(ns, {})
        if name not in objs:
            self._sorted_names.pop((key, ns), None)
        objs[name] = obj
        self._uids[meta["uid"]] = (key, ns, name)
        if old is not None:
            self._unindex_owners(key, old)
        for uid in owner_uids(obj):
            self._dependents.setdefault(uid, set()).add((key, ns, name))
        return self._publish(Event("MODIFIED" if old else "ADDED", int(meta["resourceVersion"]),
                                   key, obj, old))

    def remove(self, key: StorageKey, obj: Obj, old: Obj) -> Event:
        """Delete `old`; `obj` is its last state carrying the deletion's resourceVersion."""
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        by_ns = self._data[key]
        del by_ns[ns][name]
        if not by_ns[ns]:
            del by_ns[ns]
        self._sorted_names.pop((key, ns), None)
        self._uids.pop(meta["uid"], None)
        self._unindex_owners(key, old)
        return self._publish(Event("DELETED", int(meta["resourceVersion"]), key, obj, old))

    def _unindex_owners(self, key: StorageKey, obj: Obj) -> None:
        meta = obj["metadata"]
        where = (key, meta.get("namespace", ""), meta["name"])
        for uid in owner_uids(obj):
            dependents = self._dependents.get(uid)
            if dependents is not None:
                dependents.discard(where)
                if not dependents:
                    del self._dependents[uid]

    def _publish(self, event: Event) -> Event:
        self._history.append(event)
        self._times.append(self._clock())
        self._expire()
        for subscriber in list(self._subscribers.get(event.key, ())):
            subscriber.offer(event)
        for listener in self.listeners:
            listener(event)
        return event

    # history and subscriptions

    def _expire(self) -> None:
        """Compact the events older than the window, and any beyond the count limit."""
        horizon = self._clock() - self.history_seconds
        history, times = self._history, self._times
        while history and (times[0] < horizon or len(history) > self.history_limit):
            self.compacted_rv = history.popleft().rv
            times.popleft()

    def events_since(self, key: StorageKey, rv: int) -> list[Event] | None:
        """Events after `rv`, or None when some of them were already compacted away."""
        self._expire()
        if rv < self.compacted_rv:
            return None
        found = []
        for event in reversed(self._history):
            if event.rv <= rv:
                break
            if event.key == key:
                found.append(event)
        found.reverse()
        return found

    def items_at(self, key: StorageKey, namespace: str | None, rv: int) -> list[Obj] | None:
        """The objects as they were at `rv`, rebuilt from the history after it (what etcd
        serves a continued list from), or None when that history was compacted away."""
        changes = self.events_since(key, rv)
        if changes is None:
            return None
        first_change: dict[tuple[str, str], Event] = {}
        for event in changes:
            meta = event.obj["metadata"]
            first_change.setdefault((meta.get("namespace", ""), meta["name"]), event)
        objs = [obj for obj in self.items(key, namespace) if (
            obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) not in first_change]
        for (ns, _), event in first_change.items():
            if event.old is not None and namespace in (None, ns):
                objs.append(event.old)  # its state before the first change after rv
        objs.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return objs

    def compact(self) -> None:
        """Forget all history, as etcd compaction would: older rvs then answer 410."""
        self.compacted_rv = self.rv
        self._history.clear()
        self._times.clear()

    def subscribe(self, key: StorageKey, subscriber: Subscriber) -> None:
        self._subscribers.setdefault(key, set()).add(subscriber)

    def unsubscribe(self, key: StorageKey, subscriber: Subscriber) -> None:
        self._subscribers.get(key, set()).discard(subscriber)
