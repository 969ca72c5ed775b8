"""The work queue: turns by namespace, one wait per key, never two syncs of one key."""

from __future__ import annotations

from kes.controller.workqueue import ANY_TIME, Ask, WorkQueue


def taken(queue: WorkQueue) -> list[tuple[str, str]]:
    order = []
    while (item := queue.take()) is not None:
        order.append(item[0])
        queue.done(item[0])
    return order


def test_namespaces_take_turns() -> None:
    queue = WorkQueue()
    for i in range(1000):
        queue.add(("greedy", f"es-{i}"), Ask(False))
    queue.add(("canary", "es"), Ask(False))
    order = taken(queue)
    assert order[:3] == [("greedy", "es-0"), ("canary", "es"), ("greedy", "es-1")]
    assert len(order) == 1001 and queue.idle


def test_a_key_waits_once_and_its_asks_merge() -> None:
    queue = WorkQueue()
    queue.add(("ns", "a"), Ask(True, since=5.0))
    queue.add(("ns", "a"), Ask(False))  # a resync does not make the refetch fresher
    queue.add(("ns", "a"), Ask(True, since=3.0))
    assert len(queue) == 1
    item = queue.take()
    assert item is not None
    assert item[1] == Ask(True, since=5.0)


def test_a_resync_merged_into_a_refetch_keeps_its_time_and_a_refetch_sets_it() -> None:
    ask = Ask(False)
    ask.merge(Ask(True, since=7.0))
    assert ask == Ask(True, since=7.0)
    resync = Ask(False)
    resync.merge(Ask(False, repair=True))
    assert resync == Ask(False, since=ANY_TIME, repair=True)


def test_a_key_asked_for_while_in_flight_comes_back_when_done() -> None:
    queue = WorkQueue()
    queue.add(("ns", "a"), Ask(False))
    item = queue.take()
    assert item is not None and queue.take() is None
    queue.add(("ns", "a"), Ask(True, since=1.0))
    assert queue.take() is None  # never two syncs of one key at once
    queue.done(("ns", "a"))
    again = queue.take()
    assert again == (("ns", "a"), Ask(True, since=1.0))


def test_a_forgotten_key_is_not_synced() -> None:
    queue = WorkQueue()
    queue.add(("ns", "a"), Ask(False))
    queue.add(("ns", "b"), Ask(False))
    queue.forget(("ns", "a"))
    assert taken(queue) == [("ns", "b")]
