"""The watch cache: which events ask for work, the version index, and the namespace rules."""

from __future__ import annotations

from typing import Any

from kes.api import REQUESTED_AT_ANNOTATION
from kes.controller.cache import Change, ClusterCache
from kes.controller.manifest import SecretState
from kes.controller.scope import permission_error
from kes.names import SecretVersionName
from kes.spec import parse_external_secret

DATA = [{"key": "db", "name": "password", "property": "password"}]


def test_new_changed_and_requested_objects_ask_for_a_fresh_sync(es: Any) -> None:
    cache = ClusterCache(instance_id="", default_project=None)
    assert cache.upsert_externalsecret(es("db", data=DATA)) is Change.SPEC
    # A re-list or a status echo: same generation, same requested-at.
    echo = es("db", data=DATA)
    echo["status"] = {"status": "SUCCESS"}
    assert cache.upsert_externalsecret(echo) is Change.NONE
    assert cache.records[("default", "db")].status == {"status": "SUCCESS"}
    assert cache.upsert_externalsecret(es("db", data=DATA, generation=2)) is Change.SPEC
    asked = es("db", data=DATA, generation=2, annotations={REQUESTED_AT_ANNOTATION: "now"})
    assert cache.upsert_externalsecret(asked) is Change.SPEC
    assert cache.upsert_externalsecret(asked) is Change.NONE
    recreated = es(
        "db", data=DATA, generation=2, uid="other", annotations={REQUESTED_AT_ANNOTATION: "now"}
    )
    assert cache.upsert_externalsecret(recreated) is Change.SPEC
    assert cache.remove_externalsecret(recreated) is Change.REMOVED
    assert cache.remove_externalsecret(recreated) is Change.NONE


def test_bad_spec_is_kept_with_its_error(es: Any) -> None:
    cache = ClusterCache(instance_id="", default_project=None)
    assert cache.upsert_externalsecret(es("bad", data=[{"name": "x"}])) is Change.SPEC
    record = cache.records[("default", "bad")]
    assert record.spec is None
    assert "spec.data[0]" in str(record.error)
    assert record.versions == frozenset()


def test_instance_id_must_equal_controller_id(es: Any) -> None:
    blue = ClusterCache(instance_id="blue", default_project=None)
    plain = ClusterCache(instance_id="", default_project=None)
    mine = es("a", data=DATA, controllerId="blue")
    unset = es("b", data=DATA)
    assert blue.upsert_externalsecret(mine) is Change.SPEC
    assert blue.upsert_externalsecret(unset) is Change.NONE
    assert plain.upsert_externalsecret(mine) is Change.NONE
    assert plain.upsert_externalsecret(unset) is Change.SPEC
    # Moving an object to another controller removes it from this one.
    moved = es("a", data=DATA, controllerId="green", generation=2)
    assert blue.upsert_externalsecret(moved) is Change.REMOVED


def test_the_version_index_follows_adds_changes_and_removals(es: Any) -> None:
    cache = ClusterCache(instance_id="", default_project=None)
    db = SecretVersionName("proj-one", "db", "latest")
    other = SecretVersionName("proj-one", "other", "latest")
    cache.upsert_externalsecret(es("a", data=DATA))
    cache.upsert_externalsecret(es("b", "team-b", data=DATA))
    assert cache.users_of(db) == {("default", "a"), ("team-b", "b")}
    cache.upsert_externalsecret(es("a", data=[{"key": "other", "name": "x"}], generation=2))
    assert cache.users_of(db) == {("team-b", "b")}
    assert cache.users_of(other) == {("default", "a")}
    assert cache.in_namespace("team-b") == {("team-b", "b")}
    cache.remove_externalsecret(es("b", "team-b", data=DATA))
    assert cache.users_of(db) == frozenset()
    assert set(cache.versions) == {other}
    assert cache.in_namespace("team-b") == frozenset()


def test_a_secret_is_kept_without_its_values() -> None:
    state = SecretState.of({
        "metadata": {"name": "s", "namespace": "ns", "managedFields": [{"manager": "x"}]},
        "data": {"password": "aHVudGVyMg=="},
    })
    assert "managedFields" not in state.metadata
    assert "aHVudGVyMg" not in repr(state) and "hunter2" not in repr(state)
    assert state.data_hash is not None and state.type == "Opaque"


def test_owner_key_reads_the_controller_reference() -> None:
    secret = {
        "metadata": {
            "name": "s",
            "namespace": "ns",
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": "rs", "controller": False},
                {"kind": "ExternalSecret", "name": "db", "controller": True},
            ],
        }
    }
    assert SecretState.of(secret).owner == ("ns", "db")
    assert SecretState.of({"metadata": {"name": "s", "namespace": "ns"}}).owner is None


def test_namespace_annotations_restrict_keys_and_projects(es: Any) -> None:
    key_rule = "externalsecrets.kubernetes-client.io/permitted-key-name"
    project_rule = "externalsecrets.kubernetes-client.io/permitted-projects"
    spec = parse_external_secret(
        es("db", "team-a", data=DATA, dataFromWithOptions=[{"key": "team-a-config"}]), None
    )
    assert permission_error(spec, "team-a", {}, key_rule) is None
    assert permission_error(spec, "team-a", {key_rule: "^(db|team-a-.*)$"}, key_rule) is None
    refusal = permission_error(spec, "team-a", {key_rule: "^team-a-"}, key_rule)
    assert refusal == (
        f"key db is not permitted in namespace team-a (annotation {key_rule}: ^team-a-)"
    )
    assert permission_error(spec, "team-a", {project_rule: "^proj-one$"}, key_rule) is None
    refusal = permission_error(spec, "team-a", {project_rule: "^proj-two$"}, key_rule)
    assert refusal is not None and refusal.startswith("project proj-one is not permitted")
    broken = permission_error(spec, "team-a", {project_rule: "("}, key_rule)
    assert broken is not None and "is not a valid regex" in broken


def test_namespace_changes_are_reported_once() -> None:
    cache = ClusterCache(instance_id="", default_project=None)
    assert cache.set_namespace("ns", {"a": "1"}) is True
    assert cache.set_namespace("ns", {"a": "1"}) is False
    assert cache.set_namespace("ns", {"a": "2"}) is True
