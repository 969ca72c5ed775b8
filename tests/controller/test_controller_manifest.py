"""The desired Secret and the write plan against what the cluster holds."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from kubernetes.client import Configuration

from kes.api import (
    DATA_HASH_ANNOTATION,
    MANAGED_ANNOTATIONS_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_LABELS_ANNOTATION,
)
from kes.controller.manifest import (
    Owner,
    Plan,
    SecretState,
    WriteAction,
    build_secret,
    data_hash,
    merge_for_update,
    plan_write,
)
from kes.controller.writer import SecretWriter, WriteError, WriteResult
from kes.kube import Cluster, Kube
from kes.render import DesiredSecret

OWNER = Owner("kubernetes-client.io/v1", "ExternalSecret", "db", "uid-1")
DESIRED = DesiredSecret(
    name="db",
    namespace="ns",
    type="Opaque",
    labels={"team": "a"},
    annotations={"note": "x"},
    data={"password": b"\x00\xffbinary", "user": b"admin"},
)


def cluster_copy(manifest: dict[str, Any]) -> dict[str, Any]:
    secret = copy.deepcopy(manifest)
    secret["metadata"].update(uid="secret-uid", resourceVersion="7")
    return secret


def test_build_secret_adds_label_owner_hash_and_exact_bytes() -> None:
    manifest = build_secret(DESIRED, OWNER)
    meta = manifest["metadata"]
    assert meta["labels"] == {"team": "a", MANAGED_BY_LABEL: "kes"}
    assert meta["annotations"] == {
        "note": "x",
        DATA_HASH_ANNOTATION: data_hash(DESIRED.data),
        MANAGED_LABELS_ANNOTATION: "team",
        MANAGED_ANNOTATIONS_ANNOTATION: "note",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "kubernetes-client.io/v1",
            "kind": "ExternalSecret",
            "name": "db",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert base64.b64decode(manifest["data"]["password"]) == b"\x00\xffbinary"
    assert manifest["type"] == "Opaque"


def test_data_hash_depends_on_keys_and_bytes() -> None:
    assert data_hash({"a": b"bc"}) != data_hash({"ab": b"c"})
    assert data_hash({"a": b"1", "b": b"2"}) == data_hash({"b": b"2", "a": b"1"})


def test_plans() -> None:
    manifest = build_secret(DESIRED, OWNER)
    actual = cluster_copy(manifest)
    assert plan_write(manifest, None) is Plan.CREATE
    assert plan_write(manifest, SecretState.of(actual)) is Plan.NOTHING

    edited = cluster_copy(manifest)
    edited["data"]["user"] = base64.b64encode(b"root").decode()
    assert plan_write(manifest, SecretState.of(edited)) is Plan.UPDATE

    label_removed = cluster_copy(manifest)
    del label_removed["metadata"]["labels"]["team"]
    assert plan_write(manifest, SecretState.of(label_removed)) is Plan.UPDATE

    extra_label = cluster_copy(manifest)
    extra_label["metadata"]["labels"]["added-by"] = "someone"
    assert plan_write(manifest, SecretState.of(extra_label)) is Plan.NOTHING

    retyped = cluster_copy(manifest)
    retyped["type"] = "kubernetes.io/tls"
    assert plan_write(manifest, SecretState.of(retyped)) is Plan.REPLACE

    immutable = cluster_copy(edited)
    immutable["immutable"] = True
    assert plan_write(manifest, SecretState.of(immutable)) is Plan.REPLACE

    foreign = cluster_copy(manifest)
    foreign["metadata"]["ownerReferences"] = [{"uid": "other", "controller": True}]
    assert plan_write(manifest, SecretState.of(foreign)) is Plan.NOT_OWNED
    del foreign["metadata"]["ownerReferences"]
    assert plan_write(manifest, SecretState.of(foreign)) is Plan.NOT_OWNED


def test_update_keeps_what_others_added() -> None:
    manifest = build_secret(DESIRED, OWNER)
    actual = cluster_copy(manifest)
    actual["metadata"]["labels"]["added-by"] = "someone"
    actual["metadata"]["ownerReferences"].insert(0, {"uid": "x", "controller": False})
    actual["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    actual["data"] = {"stale": "eA=="}
    body = merge_for_update(manifest, SecretState.of(actual))
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["metadata"]["labels"]["added-by"] == "someone"
    assert "managedFields" not in body["metadata"]
    assert [r["uid"] for r in body["metadata"]["ownerReferences"]] == ["x", "uid-1"]
    assert body["data"] == manifest["data"]
    assert plan_write(manifest, SecretState.of(body)) is Plan.NOTHING


def test_metadata_dropped_from_the_template_is_removed_and_others_kept() -> None:
    actual = cluster_copy(build_secret(DESIRED, OWNER))
    actual["metadata"]["labels"]["added-by"] = "someone"
    actual["metadata"]["annotations"]["their-note"] = "y"
    fewer = build_secret(
        DesiredSecret(
            name="db", namespace="ns", type="Opaque", labels={}, annotations={}, data=DESIRED.data
        ),
        OWNER,
    )
    assert plan_write(fewer, SecretState.of(actual)) is Plan.UPDATE
    body = merge_for_update(fewer, SecretState.of(actual))
    assert body["metadata"]["labels"] == {"added-by": "someone", MANAGED_BY_LABEL: "kes"}
    assert body["metadata"]["annotations"] == {
        "their-note": "y",
        DATA_HASH_ANNOTATION: data_hash(DESIRED.data),
    }
    assert plan_write(fewer, SecretState.of(body)) is Plan.NOTHING


def test_data_drift_is_read_from_the_hash_annotation() -> None:
    secret = cluster_copy(build_secret(DESIRED, OWNER))
    assert not SecretState.of(secret).data_drifted
    secret["data"]["user"] = base64.b64encode(b"root").decode()
    assert SecretState.of(secret).data_drifted
    secret["data"]["user"] = "not base64!"
    assert SecretState.of(secret).data_drifted
    del secret["metadata"]["annotations"][DATA_HASH_ANNOTATION]
    assert not SecretState.of(secret).data_drifted  # not written by kes: nothing to compare with


async def test_the_writer_refuses_credential_minting_types() -> None:
    desired = DesiredSecret(
        name="db",
        namespace="ns",
        type="kubernetes.io/service-account-token",
        labels={},
        annotations={},
        data={},
    )
    requests: list[tuple[str, str]] = []
    kube = Kube(Cluster(Configuration()), lambda verb, resource: requests.append((verb, resource)))
    writer = SecretWriter(kube)
    with pytest.raises(WriteError, match="type kubernetes.io/service-account-token is not allowed"):
        await writer.apply_secret(build_secret(desired, OWNER), None)
    assert requests == []


def test_write_results_do_not_show_the_secret() -> None:
    secret = cluster_copy(build_secret(DESIRED, OWNER))
    shown = repr(WriteResult(WriteAction.CREATED, SecretState.of(secret)))
    assert secret["data"]["user"] not in shown and "admin" not in shown
    assert data_hash(DESIRED.data) not in shown
