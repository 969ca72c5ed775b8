"""The Secret kes wants, and what it takes to get there from what the cluster holds.

Pure: the writer and the drift check both ask `plan_write`, so "is there anything
to do" has one answer everywhere. The cluster's side is a `SecretState`: a Secret's
metadata, type and a digest of its data. The controller keeps one per managed
Secret, so it compares Secrets without holding their values.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from kes.api import (
    DATA_HASH_ANNOTATION,
    MANAGED_ANNOTATIONS_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MANAGED_LABELS_ANNOTATION,
)
from kes.codecs import encode_base64
from kes.kube import Key
from kes.render import DesiredSecret

# Annotations kes removes again when the template no longer asks for them.
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


def _decoded(data: Mapping[str, Any] | None) -> dict[str, bytes] | None:
    """A Secret's data as bytes; None if it is not valid base64 (then it differs)."""
    try:
        return {
            key: base64.b64decode(value or "", validate=True) for key, value in (data or {}).items()
        }
    except (binascii.Error, ValueError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class SecretState:
    """A Secret as the controller remembers it: everything but the values."""

    metadata: Mapping[str, Any] = field(repr=False)
    """Without managedFields; what an update must carry over."""
    type: str
    immutable: bool
    data_hash: str | None = field(repr=False)
    """Of the data it holds; None when that data does not decode (so it differs)."""

    @classmethod
    def of(cls, secret: Mapping[str, Any]) -> SecretState:
        meta = {k: v for k, v in (secret.get("metadata") or {}).items() if k != "managedFields"}
        decoded = _decoded(secret.get("data"))
        return cls(
            metadata=meta,
            type=str(secret.get("type") or "Opaque"),
            immutable=secret.get("immutable") is True,
            data_hash=None if decoded is None else data_hash(decoded),
        )

    @property
    def key(self) -> Key:
        return self.metadata.get("namespace") or "", self.metadata["name"]

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))

    @property
    def resource_version(self) -> str:
        return str(self.metadata.get("resourceVersion", ""))

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.metadata.get("annotations") or {}

    def owned_by(self, owner_uid: str) -> bool:
        return any(
            ref.get("uid") == owner_uid and ref.get("controller") is True
            for ref in self.metadata.get("ownerReferences") or ()
        )

    @property
    def owner(self) -> Key | None:
        """The ExternalSecret controlling this Secret, by name in its namespace."""
        for ref in self.metadata.get("ownerReferences") or ():
            if ref.get("kind") == "ExternalSecret" and ref.get("controller") is True:
                return self.key[0], ref["name"]
        return None

    @property
    def data_drifted(self) -> bool:
        """Whether the data no longer hashes to what kes last wrote into it; this catches
        edits even before this process wrote the Secret (after a restart)."""
        written = self.annotations.get(DATA_HASH_ANNOTATION)
        return written is not None and written != self.data_hash


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
        "data": {k: encode_base64(v) for k, v in desired.data.items()},
    }


def without_data(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the controller remembers of a manifest it wrote: the data's hash stays in
    the metadata, so drift checks need no values."""
    return {k: v for k, v in manifest.items() if k != "data"}


def _owner_uid(manifest: Mapping[str, Any]) -> str:
    uid: str = manifest["metadata"]["ownerReferences"][0]["uid"]
    return uid


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


def plan_write(manifest: Mapping[str, Any], actual: SecretState | None) -> Plan:
    """What it takes to bring `actual` to `manifest` (a manifest with or without data)."""
    if actual is None:
        return Plan.CREATE
    if not actual.owned_by(_owner_uid(manifest)):
        return Plan.NOT_OWNED
    if actual.type != manifest["type"]:
        return Plan.REPLACE
    meta, wanted_meta = actual.metadata, manifest["metadata"]
    if (
        actual.data_hash == wanted_meta["annotations"][DATA_HASH_ANNOTATION]
        and _contains(meta.get("labels"), wanted_meta["labels"])
        and _contains(meta.get("annotations"), wanted_meta["annotations"])
        and not stale_keys(meta, wanted_meta, "labels")
        and not stale_keys(meta, wanted_meta, "annotations")
    ):
        return Plan.NOTHING
    if actual.immutable:
        return Plan.REPLACE
    return Plan.UPDATE


def merge_for_update(manifest: Mapping[str, Any], actual: SecretState) -> dict[str, Any]:
    """The full object to PUT: ours where we own it, the rest as the cluster has it."""
    meta = copy.deepcopy(dict(actual.metadata))
    wanted = manifest["metadata"]
    for field_name in ("labels", "annotations"):
        stale = stale_keys(meta, wanted, field_name)
        kept = {k: v for k, v in (meta.get(field_name) or {}).items() if k not in stale}
        meta[field_name] = {**kept, **wanted[field_name]}
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
