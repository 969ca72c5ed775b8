"""Due times and cycle planning: pure, so exact."""

from __future__ import annotations

import pytest

from kes.controller.schedule import (
    Requests,
    Schedule,
    backoff,
    next_slot,
    phase,
    plan_cycle,
    poll_intervals,
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
    schedule.set_intervals({A: 10, B: 10}, now=0)
    fetched = {A: 0, B: 0}
    now = 0.0
    while now < 100:
        now += 0.5
        for name in schedule.due(now):
            fetched[name] += 1
            schedule.fetched(name, ok=True, now=now)
    assert fetched == {A: 10, B: 10}


def test_failures_back_off_and_success_resets() -> None:
    schedule = Schedule(max_backoff=40)
    schedule.set_intervals({A: 10}, now=0)
    first = schedule.next_due()
    assert first is not None
    schedule.fetched(A, ok=False, now=first)
    schedule.fetched(A, ok=False, now=first)
    assert schedule.failures(A) == 2
    assert schedule.next_due() == pytest.approx(first + 20)
    schedule.fetched(A, ok=True, now=first + 20)
    assert schedule.failures(A) == 0
    assert schedule.next_due() == pytest.approx(next_slot(A, 10, first + 20))


def test_set_intervals_drops_unused_versions_and_follows_interval_changes() -> None:
    schedule = Schedule(max_backoff=300)
    schedule.set_intervals({A: 10, B: 10}, now=0)
    schedule.set_intervals({A: 5}, now=0)
    assert schedule.due(1000) == [A]
    assert schedule.next_due() == pytest.approx(next_slot(A, 5, 0))


def test_plan_fetches_each_due_version_once_and_syncs_its_polled_users() -> None:
    versions_of = {
        ("ns", "one"): frozenset({A, B}),
        ("ns", "two"): frozenset({A}),
        ("ns", "three"): frozenset({C}),
        ("ns", "once"): frozenset({A}),
    }
    plan = plan_cycle(
        due_versions=[A],
        requests=Requests(),
        versions_of=versions_of,
        polled=[("ns", "one"), ("ns", "two"), ("ns", "three")],
        cached=[A, B, C],
    )
    assert plan.fetch == {A}
    assert plan.sync == {("ns", "one"), ("ns", "two")}


def test_plan_refetches_requested_resources_and_resyncs_drift_from_cache() -> None:
    versions_of = {("ns", "new"): frozenset({A, B}), ("ns", "drifted"): frozenset({B, C})}
    plan = plan_cycle(
        due_versions=[],
        requests=Requests(refetch={("ns", "new")}, resync={("ns", "drifted")}),
        versions_of=versions_of,
        polled=[],
        cached=[A, B],
    )
    # New: all its versions, fresh. Drifted: only what is not cached (C failed before).
    assert plan.fetch == {A, B, C}
    assert plan.sync == {("ns", "new"), ("ns", "drifted")}


def test_plan_ignores_requests_for_unknown_resources() -> None:
    plan = plan_cycle([], Requests(refetch={("ns", "gone")}), {}, [], [])
    assert plan.fetch == frozenset() and plan.sync == frozenset()


def test_poll_intervals_take_the_shortest_and_stretch_numbered_versions() -> None:
    latest = V("projects/p/secrets/s/versions/latest")
    alias = V("projects/p/secrets/s/versions/current")
    pinned = V("projects/p/secrets/s/versions/7")
    uses = [(60.0, {latest, pinned}), (10.0, {latest, alias}), (20.0, {pinned})]
    assert poll_intervals(uses) == {latest: 10.0, alias: 10.0, pinned: 600.0}
