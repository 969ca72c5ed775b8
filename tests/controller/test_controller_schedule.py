"""Due times and cycle planning: pure, so exact."""

from __future__ import annotations

import pytest

from kes.controller.schedule import (
    Requests,
    Schedule,
    backoff,
    next_slot,
    phase,
    plan_fetch,
    plan_sync,
    poll_interval,
)
from kes.names import SecretVersionName

V = SecretVersionName.parse
A = V("projects/p/secrets/a/versions/latest")
B = V("projects/p/secrets/b/versions/1")
C = V("projects/p/secrets/c/versions/2")


def test_phase_is_deterministic_and_inside_the_interval() -> None:
    assert phase(A, 10) == phase(A, 10)
    assert 0 <= phase(A, 10) < 10
    assert phase(A, 10) != phase(B, 10)


def test_phases_spread_over_the_interval() -> None:
    names = [V(f"projects/p/secrets/s{i}/versions/latest") for i in range(1000)]
    buckets = [0] * 10
    for name in names:
        buckets[int(phase(name, 10))] += 1
    # No tenth of the interval carries more than twice its share of the fetches.
    assert max(buckets) < 200
    assert min(buckets) > 50


def test_next_slot_is_on_the_grid_and_strictly_later() -> None:
    offset = phase(A, 10)
    now = 1000.0
    slot = next_slot(A, 10, now)
    assert now < slot <= now + 10
    assert (slot - offset) / 10 == pytest.approx(round((slot - offset) / 10))
    assert next_slot(A, 10, slot) == pytest.approx(slot + 10)


def test_backoff_doubles_from_the_interval_up_to_the_cap() -> None:
    assert [backoff(10, n, 300) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]
    assert backoff(600, 3, 300) == 600  # never faster than the interval itself


def test_each_version_is_due_once_per_interval() -> None:
    schedule = Schedule(max_backoff=300)
    schedule.set_interval(A, 10, now=0)
    schedule.set_interval(B, 10, now=0)
    fetched = {A: 0, B: 0}
    now = 0.0
    while now < 100:
        now += 0.5
        for name in schedule.due(now):
            fetched[name] += 1
            schedule.fetched(name, ok=True, now=now)
    assert fetched == {A: 10, B: 10}


def test_a_due_version_is_not_due_again_until_fetched() -> None:
    schedule = Schedule(max_backoff=300)
    schedule.set_interval(A, 10, now=0)
    assert schedule.due(1000) == [A]
    assert schedule.due(1000) == []
    assert schedule.next_due() is None
    schedule.fetched(A, ok=True, now=1000)
    assert schedule.next_due() == pytest.approx(next_slot(A, 10, 1000))


def test_failures_back_off_and_success_resets() -> None:
    schedule = Schedule(max_backoff=40)
    schedule.set_interval(A, 10, now=0)
    first = schedule.next_due()
    assert first is not None
    schedule.fetched(A, ok=False, now=first)
    schedule.fetched(A, ok=False, now=first)
    assert schedule.failures(A) == 2
    assert schedule.next_due() == pytest.approx(first + 20)
    schedule.fetched(A, ok=True, now=first + 20)
    assert schedule.failures(A) == 0
    assert schedule.next_due() == pytest.approx(next_slot(A, 10, first + 20))


def test_set_interval_drops_unused_versions_and_follows_interval_changes() -> None:
    schedule = Schedule(max_backoff=300)
    schedule.set_interval(A, 10, now=0)
    schedule.set_interval(B, 10, now=0)
    schedule.set_interval(B, None, now=0)
    schedule.set_interval(A, 5, now=0)
    assert len(schedule) == 1
    assert schedule.next_due() == pytest.approx(next_slot(A, 5, 0))
    assert schedule.due(1000) == [A]


def test_a_thousand_versions_are_found_due_from_a_heap() -> None:
    schedule = Schedule(max_backoff=300)
    names = [V(f"projects/p/secrets/s{i}/versions/latest") for i in range(1000)]
    for name in names:
        schedule.set_interval(name, 10, now=0)
    due = schedule.due(1.0)
    assert due == sorted(n for n in names if phase(n, 10) <= 1.0)
    next_due = schedule.next_due()
    assert next_due is not None and next_due > 1.0


def test_plan_fetch_takes_due_versions_once_and_what_requests_need() -> None:
    versions = {("ns", "new"): {A, B}, ("ns", "drifted"): {B, C}}
    requests = Requests(refetch={("ns", "new")}, resync={("ns", "drifted")})
    # New: all its versions, fresh. Drifted: only what is not cached (C failed before).
    assert plan_fetch([A], requests, lambda k: versions.get(k, set()), cached={A, B}) == {
        A, B, C}
    assert plan_fetch([C], Requests(), lambda k: set(), cached=set()) == {C}


def test_plan_sync_takes_polled_users_of_changed_versions_and_every_asker() -> None:
    users = {A: {("ns", "one"), ("ns", "two"), ("ns", "once")}, B: {("ns", "one")}}
    polled = {("ns", "one"), ("ns", "two"), ("ns", "asked")}
    requests = Requests(resync={("ns", "asked"), ("ns", "gone")})
    sync = plan_sync([A], requests, lambda v: users.get(v, set()), polled.__contains__,
                     lambda key: key != ("ns", "gone"))
    assert sync == {("ns", "one"), ("ns", "two"), ("ns", "asked")}
    assert plan_sync([], Requests(), lambda v: set(), polled.__contains__,
                     lambda key: True) == frozenset()


def test_poll_interval_takes_the_shortest_and_stretches_numbered_versions() -> None:
    latest = V("projects/p/secrets/s/versions/latest")
    pinned = V("projects/p/secrets/s/versions/7")
    assert poll_interval(latest, [60.0, 10.0, 0.0]) == 10.0
    assert poll_interval(pinned, [20.0, 60.0]) == 600.0
    assert poll_interval(latest, [0.0]) is None
    assert poll_interval(latest, []) is None


def test_a_version_taken_before_its_slot_is_not_due_again_at_that_slot() -> None:
    schedule = Schedule(max_backoff=300)
    schedule.set_interval(A, 10, now=0)
    slot = schedule.next_due()
    assert slot is not None
    assert schedule.due(slot + 0.1) == [A]  # a cycle takes what falls due within its tick
    schedule.fetched(A, ok=True, now=slot - 0.05)  # ... and finishes before the slot
    assert schedule.next_due() == pytest.approx(slot + 10)
