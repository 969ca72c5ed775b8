"""Status and Event computation: written only on change, Events only on transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kes.controller.manifest import WriteAction
from kes.controller.status import EventNote, Outcome, Reason, event_for, next_status

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
VERSIONS = (("projects/p/secrets/a/versions/latest", "projects/p/secrets/a/versions/3"),)
OK = Outcome(Reason.SYNCED, versions=VERSIONS)


def test_first_success_writes_kes_fields_conditions_and_versions() -> None:
    status = next_status(None, OK, generation=2, now=NOW)
    assert status == {
        "status": "SUCCESS",
        "observedGeneration": 2,
        "lastSync": "2026-01-02T03:04:05Z",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "SecretSynced",
                "message": "Secret is synced",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
                "observedGeneration": 2,
            }
        ],
        "versions": [
            {
                "key": "projects/p/secrets/a/versions/latest",
                "resolved": "projects/p/secrets/a/versions/3",
            }
        ],
    }


def test_same_outcome_writes_nothing_however_old_last_sync_is() -> None:
    first = next_status(None, OK, 2, NOW)
    assert first is not None
    assert next_status(first, OK, 2, NOW + timedelta(seconds=299)) is None
    assert next_status(first, OK, 2, NOW + timedelta(days=30)) is None
    # A change later keeps the condition's transition time when it did not transition.
    newer = Outcome(Reason.SYNCED, versions=(("k", "k/versions/9"),))
    changed = next_status(first, newer, 2, NOW + timedelta(seconds=300))
    assert changed is not None
    assert changed["lastSync"] == "2026-01-02T03:09:05Z"
    assert changed["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_a_new_resolved_version_or_generation_is_written() -> None:
    first = next_status(None, OK, 2, NOW)
    newer = Outcome(Reason.SYNCED, versions=((VERSIONS[0][0], "projects/p/secrets/a/versions/4"),))
    assert next_status(first, newer, 2, NOW) is not None
    assert next_status(first, OK, 3, NOW) is not None


def test_error_keeps_the_versions_the_secret_still_holds() -> None:
    first = next_status(None, OK, 2, NOW)
    failed = Outcome(Reason.PROVIDER_ERROR, "Secret Manager UNAVAILABLE for projects/p/secrets/a")
    status = next_status(first, failed, 2, NOW + timedelta(seconds=1))
    assert status is not None
    assert status["status"] == "ERROR, Secret Manager UNAVAILABLE for projects/p/secrets/a"
    assert status["versions"] == first["versions"]  # type: ignore[index]
    ready = status["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "ProviderError")
    assert ready["lastTransitionTime"] == "2026-01-02T03:04:06Z"
    assert next_status(status, failed, 2, NOW + timedelta(seconds=2)) is None


def test_events_on_writes_and_on_new_failures_only() -> None:
    created = Outcome(Reason.SYNCED, action=WriteAction.CREATED)
    assert event_for(None, created, "db") is None
    assert event_for(created, OK, "db") is None
    updated = Outcome(Reason.SYNCED, action=WriteAction.UPDATED)
    assert event_for(created, updated, "db") == EventNote("Normal", "Updated", "Secret db updated")
    failed = Outcome(Reason.NOT_OWNED, "Secret ns/db exists and is not owned")
    assert event_for(OK, failed, "db") == EventNote("Warning", "NotOwned", failed.message)
    assert event_for(failed, failed, "db") is None
    other = Outcome(Reason.NOT_OWNED, "another message")
    assert event_for(failed, other, "db") is not None
