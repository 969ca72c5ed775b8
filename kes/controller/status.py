"""What an ExternalSecret's status and Events say after a sync, computed purely.

Status is written only when it changes: the same outcome twice in a row writes
nothing. `lastSync` is kept fresh by the status heartbeat (heartbeat.py), spread over
its period, not by syncs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from kes.controller.manifest import WriteAction


class Reason(StrEnum):
    SYNCED = "SecretSynced"
    SYNC_ERROR = "SecretSyncedError"
    SPEC_INVALID = "SpecInvalid"
    PROVIDER_ERROR = "ProviderError"
    RENDER_ERROR = "RenderError"
    NOT_PERMITTED = "NotPermitted"
    NOT_OWNED = "NotOwned"


@dataclass(frozen=True)
class Outcome:
    """The result of one sync of one ExternalSecret. `message` never holds a value."""

    reason: Reason
    message: str = ""
    versions: tuple[tuple[str, str], ...] = ()
    """(requested version name, resolved version name) of what the Secret now holds."""
    action: WriteAction = WriteAction.NONE

    @property
    def ok(self) -> bool:
        return self.reason is Reason.SYNCED


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ready_condition(
    outcome: Outcome, previous: Mapping[str, Any] | None, now: str, generation: int
) -> dict[str, Any]:
    status = "True" if outcome.ok else "False"
    message = "Secret is synced" if outcome.ok else outcome.message
    unchanged = (
        previous is not None
        and previous.get("status") == status
        and previous.get("reason") == outcome.reason.value
    )
    since = previous.get("lastTransitionTime") if unchanged and previous else None
    return {
        "type": "Ready",
        "status": status,
        "reason": outcome.reason.value,
        "message": message,
        "lastTransitionTime": since or now,
        "observedGeneration": generation,
    }


def _ready_of(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return condition
    return None


def next_status(
    current: Mapping[str, Any] | None,
    outcome: Outcome,
    generation: int,
    now: datetime,
) -> dict[str, Any] | None:
    """The status to write, or None when what the cluster holds already says it."""
    current = current or {}
    stamp = _iso(now)
    # A failed sync leaves the Secret as it was, so the versions it holds stay listed.
    versions = (
        [{"key": key, "resolved": resolved} for key, resolved in outcome.versions]
        if outcome.ok
        else list(current.get("versions") or [])
    )
    status: dict[str, Any] = {
        "status": "SUCCESS" if outcome.ok else f"ERROR, {outcome.message}",
        "observedGeneration": generation,
        "conditions": [_ready_condition(outcome, _ready_of(current), stamp, generation)],
        "versions": versions,
    }
    if {k: current.get(k) for k in status} == status:
        return None
    status["lastSync"] = stamp
    return status


def iso_time(moment: datetime) -> str:
    """A status timestamp, as KES wrote them."""
    return _iso(moment)


@dataclass(frozen=True)
class EventNote:
    type: str  # Normal | Warning
    reason: str
    message: str


def event_for(previous: Outcome | None, outcome: Outcome, secret_name: str) -> EventNote | None:
    """An Event when a Secret's values change (updated, replaced) or a failure is new;
    none for a repeated failure, and none for a first creation: a cluster of thousands
    of ExternalSecrets would otherwise start with thousands of Events saying what the
    status already says."""
    if outcome.ok:
        if outcome.action in (WriteAction.NONE, WriteAction.CREATED):
            return None
        return EventNote(
            "Normal",
            outcome.action.value.capitalize(),
            f"Secret {secret_name} {outcome.action.value}",
        )
    if previous is not None and (previous.reason, previous.message) == (
        outcome.reason,
        outcome.message,
    ):
        return None
    return EventNote("Warning", outcome.reason.value, outcome.message)
