"""Who holds the Lease: expiry is judged by when this replica saw the record change."""

from __future__ import annotations

from typing import Any

from kes.controller.leader import LeaseObserver


def lease(holder: str | None, renewed: str, duration: int = 15) -> dict[str, Any]:
    return {
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "renewTime": renewed}
    }


def test_a_lease_renewed_within_its_duration_blocks() -> None:
    observer = LeaseObserver()
    assert observer.held_by_other(lease("other", "t1"), "me", 100.0)
    assert observer.held_by_other(lease("other", "t1"), "me", 114.9)
    assert observer.held_by_other(lease("other", "t2"), "me", 125.0)  # renewed: clock restarts
    assert observer.held_by_other(lease("other", "t2"), "me", 139.9)
    assert not observer.held_by_other(lease("other", "t2"), "me", 140.0)


def test_the_holders_clock_is_never_compared_with_ours() -> None:
    observer = LeaseObserver()
    # A renewTime far in the past by our clock still counts as fresh when first seen.
    assert observer.held_by_other(lease("other", "1970-01-01T00:00:00.000000Z"), "me", 5.0)


def test_a_released_or_own_lease_does_not_block() -> None:
    observer = LeaseObserver()
    assert not observer.held_by_other(lease(None, "t1"), "me", 0.0)
    assert not observer.held_by_other(lease("me", "t2"), "me", 0.0)
