"""Which ExternalSecrets a controller serves: namespaces, instance ids, namespace rules."""

from __future__ import annotations

from typing import Any

DB = [{"key": "db", "name": "password", "property": "password"}]
KEY_RULE = "externalsecrets.kubernetes-client.io/permitted-key-name"
PROJECT_RULE = "externalsecrets.kubernetes-client.io/permitted-projects"


def namespace(kube: Any, name: str, annotations: dict[str, str] | None = None) -> None:
    kube.core.create_namespace(
        {"metadata": {"name": name, "annotations": annotations or {}}},
        _headers={"Content-Type": "application/json"},
    )


def test_watched_namespaces_only(kube: Any, gsm_hand: Any, start_controller: Any, es: Any) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    for ns in ("team-a", "team-b", "team-c"):
        namespace(kube, ns)
    kube.apply_es(es("db", "team-a", data=DB))
    start_controller(watched_namespaces=("team-a", "team-b"))
    kube.apply_es(es("db", "team-b", data=DB))
    kube.apply_es(es("db", "team-c", data=DB))
    kube.wait_status("db", "SUCCESS", namespace="team-a")
    kube.wait_status("db", "SUCCESS", namespace="team-b")
    # team-c's object was created before team-b's synced, and stays untouched.
    assert kube.status("db", "team-c") == {}
    assert kube.secret("db", "team-c") is None
    # Only the watched namespaces are listed, never the whole cluster.
    assert kube.requests("list", resource="externalsecrets", namespace="") == 0
    assert kube.requests("list", resource="externalsecrets", namespace="team-a") >= 1


def test_instance_id_selects_by_controller_id(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    start_controller(instance_id="blue")
    kube.apply_es(es("unset", data=DB))
    kube.apply_es(es("green", data=DB, controllerId="green"))
    kube.apply_es(es("blue", data=DB, controllerId="blue"))
    kube.wait_status("blue", "SUCCESS")
    assert kube.status("unset") == {} and kube.status("green") == {}
    assert kube.secret("unset") is None and kube.secret("green") is None


def test_namespace_annotations_are_enforced_and_followed(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed(
        {
            "projects/proj-one/secrets/db": ['{"password": "pw1"}'],
            "projects/proj-one/secrets/team-a-db": ['{"password": "pw2"}'],
        }
    )
    namespace(kube, "team-a", {KEY_RULE: "^team-a-", PROJECT_RULE: "^proj-one$"})
    start_controller(enforce_namespace_annotations=True)
    kube.apply_es(es("mine", "team-a", data=[{"key": "team-a-db", "name": "p"}]))
    kube.apply_es(es("theirs", "team-a", data=[{"key": "db", "name": "p"}]))
    kube.apply_es(
        es(
            "options",
            "team-a",
            data=[{"key": "team-a-db", "name": "p"}],
            dataFromWithOptions=[{"key": "db"}],
        )
    )
    kube.apply_es(
        es("elsewhere", "team-a", data=[{"key": "team-a-db", "name": "p"}], projectId="proj-two")
    )
    kube.wait_status("mine", "SUCCESS", namespace="team-a")
    for name, value in (
        ("theirs", "key db"),
        ("options", "key db"),
        ("elsewhere", "project proj-two"),
    ):
        status = kube.wait_status(name, "ERROR, ", namespace="team-a")
        assert status["status"].startswith(f"ERROR, {value} is not permitted in namespace team-a")
        assert status["conditions"][0]["reason"] == "NotPermitted"
        assert kube.secret(name, "team-a") is None

    # Loosening the annotation lets the refused object sync, with no change to it.
    kube.core.patch_namespace(
        "team-a", {"metadata": {"annotations": {KEY_RULE: "^(team-a-.*|db)$"}}}
    )
    kube.wait_status("theirs", "SUCCESS", namespace="team-a")
    kube.wait_status("options", "SUCCESS", namespace="team-a")
    assert kube.secret_data("theirs", "team-a") == {"p": b'{"password": "pw1"}'}
