"""End to end: ExternalSecrets in the emulated API server, values in the GSM emulator,
the real controller (kopf, kubernetes client, GSM client) in between."""

from __future__ import annotations

import base64
import json
from typing import Any

from kes.api import DATA_HASH_ANNOTATION
from kes.controller.manifest import data_hash

ES = "kubernetes-client.io/v1"


def test_create_update_delete(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any, idle: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1", "user": "admin"}']})
    controller = start_controller()
    created = kube.apply_es(
        es("db", data=[{"key": "db", "name": "password", "property": "password"}])
    )

    status = kube.wait_status("db", "SUCCESS")
    secret = kube.secret("db")
    assert kube.secret_data("db") == {"password": b"pw1"}
    meta = secret["metadata"]
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "kes"}
    assert meta["annotations"][DATA_HASH_ANNOTATION] == data_hash({"password": b"pw1"})
    assert meta["ownerReferences"] == [
        {
            "apiVersion": ES,
            "kind": "ExternalSecret",
            "name": "db",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert secret["type"] == "Opaque"
    assert status["observedGeneration"] == created["metadata"]["generation"]
    assert status["versions"] == [
        {
            "key": "projects/proj-one/secrets/db/versions/latest",
            "resolved": "projects/proj-one/secrets/db/versions/1",
        }
    ]
    ready = status["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "True", "SecretSynced")
    idle(controller)
    assert kube.events("db") == []  # a first creation is said by the status alone

    kube.patch_es(
        "db",
        {
            "spec": {
                "data": [
                    {"key": "db", "name": "password", "property": "password"},
                    {"key": "db", "name": "user", "property": "user"},
                ]
            }
        },
    )
    # The status is written after the Secret: wait for the status of generation 2 itself.
    wait(lambda: kube.status("db").get("observedGeneration") == 2, "status of generation 2")
    assert kube.status("db")["status"] == "SUCCESS"
    assert kube.secret_data("db") == {"password": b"pw1", "user": b"admin"}
    idle(controller)
    assert ("Normal", "Updated", "Secret db updated") in kube.events("db")

    kube.delete_es("db")
    kube.api.wait_idle()  # the API server's garbage collector removes the owned Secret
    assert kube.secret("db") is None


def test_every_spec_field(kube: Any, gsm_hand: Any, start_controller: Any, es: Any) -> None:
    config = {"host": "db.internal", "port": 5432, "tls": {"mode": "verify"}, "tags": ["a", "b"]}
    gsm_hand.seed(
        {
            "projects/proj-one/secrets/config": [json.dumps(config)],
            "projects/proj-one/secrets/blob": [b"\x00\x01\xfe\xff", b"second"],
            "projects/proj-one/secrets/encoded": [base64.b64encode(b"\x89PNG\r\n").decode()],
            "projects/proj-two/secrets/other": ['{"dotted.key": "dot", "n": 7}'],
            "projects/default-proj/secrets/plain": ["no project given"],
            "projects/proj-one/secrets/exploded": ['{"A": "1", "B": {"c": true}}'],
            "projects/proj-one/secrets/exploded64": [
                json.dumps({"bin": base64.b64encode(b"\x00\xff").decode()})
            ],
        }
    )
    start_controller(default_project="default-proj")
    full = es(
        "full",
        data=[
            {"key": "config", "name": "host", "property": "host"},
            {"key": "config", "name": "port", "property": "port"},
            {"key": "config", "name": "tls", "property": "tls"},
            {"key": "config", "name": "first-tag", "property": "tags[0]"},
            {"key": "blob", "name": "blob.bin", "version": 1},
            {"key": "blob", "name": "blob-latest", "version": "latest"},
            {"key": "encoded", "name": "image.png", "isBinary": True},
            {"key": "projects/proj-two/secrets/other", "name": "dotted", "property": "dotted.key"},
        ],
        dataFrom=["exploded"],
        dataFromWithOptions=[{"key": "exploded64", "isBinary": True}],
        template={
            "metadata": {"labels": {"team": "db"}, "annotations": {"owner": "{{ 'dba' }}"}},
            "stringData": {"url": "postgres://{{ data.host }}:{{ data.port }}"},
            "data": {"blob-copy": "{{ data_b64['blob.bin'] }}"},
        },
    )
    kube.apply_es(full)
    kube.wait_status("full", "SUCCESS")
    assert kube.secret_data("full") == {
        "host": b"db.internal",
        "port": b"5432",
        "tls": b'{"mode":"verify"}',
        "first-tag": b"a",
        "blob.bin": b"\x00\x01\xfe\xff",
        "blob-latest": b"second",
        "image.png": b"\x89PNG\r\n",
        "dotted": b"dot",
        "A": b"1",
        "B": b'{"c":true}',
        "bin": b"\x00\xff",
        "url": b"postgres://db.internal:5432",
        "blob-copy": b"\x00\x01\xfe\xff",
    }
    meta = kube.secret("full")["metadata"]
    assert meta["labels"]["team"] == "db"
    assert meta["annotations"]["owner"] == "dba"

    # Deprecated aliases, a default project and a typed Secret.
    legacy = {
        "apiVersion": ES,
        "kind": "ExternalSecret",
        "metadata": {"name": "legacy", "namespace": "default"},
        "secretDescriptor": {
            "backendType": "gcpSecretsManager",
            "type": "kubernetes.io/basic-auth",
            "properties": [
                {"key": "plain", "name": "username"},
                {"key": "plain", "name": "password"},
            ],
        },
    }
    kube.apply_es(legacy)
    kube.wait_status("legacy", "SUCCESS")
    assert kube.secret("legacy")["type"] == "kubernetes.io/basic-auth"
    assert kube.secret_data("legacy") == {
        "username": b"no project given",
        "password": b"no project given",
    }


def test_refresh_interval_zero_syncs_once(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/token": ["v1"]})
    start_controller(poll_interval=0.1, min_refresh_interval=0.1)
    kube.apply_es(es("once", data=[{"key": "token", "name": "t"}], refreshInterval="0"))
    kube.apply_es(es("polled", data=[{"key": "token", "name": "t"}], refreshInterval="100ms"))
    kube.wait_status("once", "SUCCESS")
    kube.wait_status("polled", "SUCCESS")
    gsm_hand.add_version("projects/proj-one/secrets/token", "v2")
    wait(lambda: kube.secret_data("polled") == {"t": b"v2"}, "polled refresh")
    # The shared version was fetched for "polled"; "once" is still not re-synced.
    assert kube.secret_data("once") == {"t": b"v1"}
    kube.patch_es(
        "once",
        {"metadata": {"annotations": {"externalsecrets.kubernetes-client.io/requested-at": "1"}}},
    )
    wait(lambda: kube.secret_data("once") == {"t": b"v2"}, "requested refresh")


def test_disable_polling_leaves_only_event_driven_syncs(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any, idle: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/token": ["v1"]})
    controller = start_controller(poll_interval=0.1, disable_polling=True)
    kube.apply_es(es("token", data=[{"key": "token", "name": "t"}]))
    kube.wait_status("token", "SUCCESS")
    idle(controller)
    gsm_hand.add_version("projects/proj-one/secrets/token", "v2")
    calls = gsm_hand.accesses
    report = controller.full_cycle()  # even with every version due, nothing is polled
    assert (report.fetched, report.synced) == (0, 0)
    assert gsm_hand.accesses == calls
    assert kube.secret_data("token") == {"t": b"v1"}
    kube.patch_es(
        "token",
        {"metadata": {"annotations": {"externalsecrets.kubernetes-client.io/requested-at": "1"}}},
    )
    wait(lambda: kube.secret_data("token") == {"t": b"v2"}, "requested refresh")


def test_an_immutable_secret_is_replaced_when_its_data_changes(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, idle: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/token": ["v1"]})
    controller = start_controller()
    kube.apply_es(es("token", data=[{"key": "token", "name": "t"}]))
    kube.wait_status("token", "SUCCESS")
    kube.core.patch_namespaced_secret("token", "default", {"immutable": True})
    first_uid = kube.secret("token")["metadata"]["uid"]
    idle(controller)
    gsm_hand.add_version("projects/proj-one/secrets/token", "v2")
    controller.full_cycle()
    secret = kube.secret("token")
    assert kube.secret_data("token") == {"t": b"v2"}
    assert secret["metadata"]["uid"] != first_uid
    assert kube.requests("delete", resource="secrets") == 1
    assert ("Normal", "Replaced", "Secret token replaced") in kube.events("token")
