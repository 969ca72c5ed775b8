"""Who holds the Lease: pure checks of expiry and identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kes.controller.leader import held_by_other

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def lease(holder: str | None, renewed: datetime, duration: int = 15) -> dict[str, object]:
    return {
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "renewTime": renewed.isoformat(),
        }
    }


def test_a_fresh_lease_of_another_holder_blocks() -> None:
    assert held_by_other(lease("other", NOW - timedelta(seconds=14)), "me", NOW)


def test_an_expired_released_or_own_lease_does_not() -> None:
    assert not held_by_other(lease("other", NOW - timedelta(seconds=15)), "me", NOW)
    assert not held_by_other(lease(None, NOW), "me", NOW)
    assert not held_by_other(lease("me", NOW), "me", NOW)


def test_both_time_formats_are_read() -> None:
    spec = lease("other", NOW)
    spec["spec"]["renewTime"] = "2026-01-01T11:59:59.500000Z"  # type: ignore[index]
    assert held_by_other(spec, "me", NOW)
