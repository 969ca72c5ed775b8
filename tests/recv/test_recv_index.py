"""The index of ExternalSecrets, fed event by event as the watch feeds it."""

from __future__ import annotations

from typing import Any

from kes.names import SecretName
from kes.recv.index import ExternalSecretIndex
from kes.recv.scope import LabelSelector, RefreshScope
from tests.recv.conftest import externalsecret

ALL = RefreshScope()


def obj(name: str, namespace: str, keys: list[str], generation: int = 1,
        labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    found = externalsecret(name, namespace, keys, labels)
    found["metadata"].update(uid=f"uid-{namespace}-{name}", generation=generation)
    found["spec"].update(spec)
    return found


def test_users_of_a_secret_by_project_and_location() -> None:
    index = ExternalSecretIndex(default_project="fallback")
    index.on_event(None, obj("a", "n1", ["db", "projects/other-proj/secrets/db"]))
    index.on_event("ADDED", obj("b", "n2", ["db"]))
    index.on_event("ADDED", obj("c", "n2", ["projects/other-proj/locations/eu/secrets/db"]))
    no_project = obj("d", "n3", ["db"])
    del no_project["spec"]["projectId"]
    index.on_event("ADDED", no_project)
    assert index.users_of(SecretName("proj-one", "db"), ALL) == [("n1", "a"), ("n2", "b")]
    assert index.users_of(SecretName("other-proj", "db"), ALL) == [("n1", "a")]
    assert index.users_of(SecretName("other-proj", "db", "eu"), ALL) == [("n2", "c")]
    assert index.users_of(SecretName("fallback", "db"), ALL) == [("n3", "d")]
    assert index.users_of(SecretName("123", "db"), ALL, any_project=True) == [
        ("n1", "a"), ("n2", "b"), ("n3", "d")]
    assert index.users_of(SecretName("proj-one", "db"), RefreshScope(namespace="n2")) == [
        ("n2", "b")]


def test_a_spec_that_does_not_parse_is_not_indexed() -> None:
    index = ExternalSecretIndex(default_project=None)
    index.on_event(None, obj("a", "n", ["db"]))
    index.on_event("MODIFIED", obj("a", "n", ["db"], generation=2, backendType="vault"))
    index.on_event("ADDED", obj("b", "n", ["not a secret id!"]))
    assert len(index) == 0
    assert index.users_of(SecretName("proj-one", "db"), ALL) == []
    assert index.select(ALL) == []


def test_a_same_generation_event_takes_only_the_labels() -> None:
    index = ExternalSecretIndex(default_project=None)
    index.on_event(None, obj("a", "n", ["db"], labels={"team": "x"}))
    team_y = RefreshScope(selector=LabelSelector({"team": "y"}))
    assert index.select(team_y) == []
    # The same generation with another spec cannot happen on a real server; here it shows
    # the spec is not parsed again for a label or annotation change.
    index.on_event("MODIFIED", obj("a", "n", ["web"], labels={"team": "y"}))
    assert index.select(team_y) == [("n", "a")]
    assert index.users_of(SecretName("proj-one", "db"), ALL) == [("n", "a")]
    index.on_event("MODIFIED", obj("a", "n", ["web"], generation=2, labels={"team": "y"}))
    assert index.users_of(SecretName("proj-one", "db"), ALL) == []
    assert index.users_of(SecretName("proj-one", "web"), ALL) == [("n", "a")]
    index.on_event("DELETED", obj("a", "n", ["web"], generation=2))
    assert len(index) == 0
    assert index.users_of(SecretName("proj-one", "web"), ALL) == []
