"""The Secret kes wants, and what it takes to get there from what the cluster holds.

Pure: the writer and the drift check both ask `plan_write`, so "is there anything
to do" has one answer everywhere.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from kes.api import (
    DATA_HASH_ANNOTATION,
    MANAGED_ANNOTATIONS_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MANAGED_LABELS_ANNOTATION,
)
from kes.render import DesiredSecret

_BOOKKEEPING = (MANAGED_LABELS_ANNOTATION, MANAGED_ANNOTATIONS_ANNOTATION)


@dataclass(frozen=True)
class Owner:
    """The ExternalSecret a Secret belongs to."""

    api_version: str
    kind: str
    name: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


class WriteAction(StrEnum):
    """What a write did to the Secret."""

    NONE = "none"
    CREATED = "created"
    UPDATED = "updated"
    REPLACED = "replaced"


class Plan(Enum):
    NOTHING = "nothing"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # type changed or Secret immutable: delete, then create
    NOT_OWNED = "not-owned"


def data_hash(data: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for key in sorted(data):
        value = data[key]
        digest.update(f"{len(key)}:{key}:{len(value)}:".encode())
        digest.update(value)
    return digest.hexdigest()


def actual_data(secret: Mapping[str, Any]) -> dict[str, bytes] | None:
    """The Secret's data as bytes; None if it is not valid base64 (then it differs)."""
    try:
        return {
            key: base64.b64decode(value or "", validate=True)
            for key, value in (secret.get("data") or {}).items()
        }
    except (binascii.Error, ValueError, TypeError):
        return None


def data_drifted(secret: Mapping[str, Any]) -> bool:
    """Whether the Secret's data no longer hashes to what kes last wrote into it."""
    written = (secret.get("metadata", {}).get("annotations") or {}).get(DATA_HASH_ANNOTATION)
    if written is None:
        return False
    current = actual_data(secret)
    return current is None or data_hash(current) != written


def build_secret(desired: DesiredSecret, owner: Owner) -> dict[str, Any]:
    labels = {**desired.labels, MANAGED_BY_LABEL: MANAGED_BY}
    annotations = {**desired.annotations, DATA_HASH_ANNOTATION: data_hash(desired.data)}
    if desired.labels:
        annotations[MANAGED_LABELS_ANNOTATION] = ",".join(sorted(desired.labels))
    if desired.annotations:
        annotations[MANAGED_ANNOTATIONS_ANNOTATION] = ",".join(sorted(desired.annotations))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": desired.name,
            "namespace": desired.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner.reference()],
        },
        "type": desired.type,
        "data": {k: base64.b64encode(v).decode("ascii") for k, v in desired.data.items()},
    }


def _owner_uid(manifest: Mapping[str, Any]) -> str:
    uid: str = manifest["metadata"]["ownerReferences"][0]["uid"]
    return uid


def is_owned_by(secret: Mapping[str, Any], owner_uid: str) -> bool:
    return any(
        ref.get("uid") == owner_uid and ref.get("controller") is True
        for ref in secret.get("metadata", {}).get("ownerReferences") or ()
    )


def _contains(actual: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    actual = actual or {}
    return all(actual.get(k) == v for k, v in wanted.items())


def stale_keys(
    actual_meta: Mapping[str, Any], wanted_meta: Mapping[str, Any], field: str
) -> set[str]:
    """Keys of `field` ("labels" or "annotations") kes set earlier and no longer wants."""
    annotations = actual_meta.get("annotations") or {}
    listed = MANAGED_LABELS_ANNOTATION if field == "labels" else MANAGED_ANNOTATIONS_ANNOTATION
    written = {k for k in str(annotations.get(listed, "")).split(",") if k}
    if field == "annotations":
        written.update(_BOOKKEEPING)
    present = actual_meta.get(field) or {}
    return {k for k in written if k in present and k not in wanted_meta[field]}


def plan_write(manifest: Mapping[str, Any], actual: Mapping[str, Any] | None) -> Plan:
    if actual is None:
        return Plan.CREATE
    if not is_owned_by(actual, _owner_uid(manifest)):
        return Plan.NOT_OWNED
    if actual.get("type", "Opaque") != manifest["type"]:
        return Plan.REPLACE
    meta, wanted_meta = actual.get("metadata", {}), manifest["metadata"]
    current = actual_data(actual)
    wanted = {k: base64.b64decode(v) for k, v in manifest["data"].items()}
    if (
        current == wanted
        and _contains(meta.get("labels"), wanted_meta["labels"])
        and _contains(meta.get("annotations"), wanted_meta["annotations"])
        and not stale_keys(meta, wanted_meta, "labels")
        and not stale_keys(meta, wanted_meta, "annotations")
    ):
        return Plan.NOTHING
    if actual.get("immutable") is True:
        return Plan.REPLACE
    return Plan.UPDATE


def merge_for_update(manifest: Mapping[str, Any], actual: Mapping[str, Any]) -> dict[str, Any]:
    """The full object to PUT: ours where we own it, the rest as the cluster has it."""
    meta = copy.deepcopy(dict(actual.get("metadata", {})))
    meta.pop("managedFields", None)
    wanted = manifest["metadata"]
    for field in ("labels", "annotations"):
        stale = stale_keys(meta, wanted, field)
        kept = {k: v for k, v in (meta.get(field) or {}).items() if k not in stale}
        meta[field] = {**kept, **wanted[field]}
    others = [
        ref for ref in meta.get("ownerReferences") or () if ref.get("uid") != _owner_uid(manifest)
    ]
    meta["ownerReferences"] = [*others, *wanted["ownerReferences"]]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": manifest["type"],
        "data": dict(manifest["data"]),
    }
