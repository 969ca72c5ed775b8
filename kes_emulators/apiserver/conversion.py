"""Kinds served by two APIs over one storage: `events.k8s.io/v1` Events are core Events.

The real server stores one Event and converts field names per API; so does this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

# (core v1 field, events.k8s.io/v1 field); every other field is the same in both.
_EVENT_RENAMES = (
    ("message", "note"),
    ("involvedObject", "regarding"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
)


@dataclass(frozen=True)
class Converter:
    """How one API's objects map to the stored form (`to_storage`) and back."""

    to_storage: Callable[[Obj], Obj]
    from_storage: Callable[[Obj], Obj]


def _rename(obj: Obj, pairs: tuple[tuple[str, str], ...], api_version: str) -> Obj:
    renamed = {new: obj[old] for old, new in pairs if old in obj}
    dropped = {old for old, _ in pairs}
    return {**{k: v for k, v in obj.items() if k not in dropped}, **renamed,
            "apiVersion": api_version}


EVENTS_V1 = Converter(
    to_storage=lambda obj: _rename(obj, tuple((b, a) for a, b in _EVENT_RENAMES), "v1"),
    from_storage=lambda obj: _rename(obj, _EVENT_RENAMES, "events.k8s.io/v1"),
)
