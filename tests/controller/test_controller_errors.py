"""Every kind of failure reaches the status, once as an Event, and touches no Secret."""

from __future__ import annotations

from typing import Any

import pytest

DB = [{"key": "db", "name": "password", "property": "password"}]


def ready(status: dict[str, Any]) -> tuple[str, str]:
    condition = status["conditions"][0]
    return condition["status"], condition["reason"]


@pytest.mark.parametrize(
    ("spec", "reason", "message"),
    [
        (
            {"backendType": "vault", "data": DB},
            "SpecInvalid",
            "ExternalSecret default/bad: spec.backendType",
        ),
        (
            {"data": [{"key": "absent", "name": "x"}]},
            "ProviderError",
            "Secret Manager NOT_FOUND for projects/proj-one/secrets/absent/versions/latest",
        ),
        (
            {"data": [{"key": "db", "name": "x", "property": "nope"}]},
            "RenderError",
            "ExternalSecret default/bad: spec.data[0]",
        ),
        (
            {"data": [{"key": "rotated", "name": "x", "version": 1}]},
            "ProviderError",
            "FAILED_PRECONDITION for projects/proj-one/secrets/rotated/versions/1",
        ),
    ],
)
def test_errors_reach_status_and_one_event(
    kube: Any,
    gsm_hand: Any,
    start_controller: Any,
    es: Any,
    wait: Any,
    spec: dict[str, Any],
    reason: str,
    message: str,
) -> None:
    gsm_hand.seed(
        {
            "projects/proj-one/secrets/db": ['{"password": "pw1"}'],
            "projects/proj-one/secrets/rotated": ["old", "new"],
        }
    )
    gsm_hand.disable("projects/proj-one/secrets/rotated/versions/1")
    controller = start_controller(poll_interval=0.1)
    obj = es("bad")
    obj["spec"] = {"backendType": "gcpSecretsManager", "projectId": "proj-one", **spec}
    kube.apply_es(obj)
    kube.apply_es(es("good", data=DB))  # keeps the poller cycling
    status = kube.wait_status("bad", "ERROR, ")
    assert message in status["status"]
    assert ready(status) == ("False", reason)
    assert status["conditions"][0]["message"] == status["status"].removeprefix("ERROR, ")
    assert kube.secret("bad") is None
    # Several polls later, still one Event: failures are reported on transitions only.
    cycles = controller.read(lambda: controller.controller.poller.polls)
    wait(
        lambda: controller.read(lambda: controller.controller.poller.polls) >= cycles + 3, "polls"
    )
    assert [e for e in kube.events("bad") if e[0] == "Warning"] == [
        ("Warning", reason, status["status"].removeprefix("ERROR, "))
    ]
    assert "pw1" not in str(kube.events("bad")) and "pw1" not in str(status)


def test_a_foreign_secret_is_never_taken_over(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    kube.core.create_namespaced_secret(
        "default",
        {"metadata": {"name": "db", "labels": {"app": "mine"}}, "data": {"k": "dg=="}},
        _headers={"Content-Type": "application/json"},
    )
    before = kube.secret("db")
    start_controller()
    kube.apply_es(es("db", data=DB))
    status = kube.wait_status("db", "ERROR, ")
    assert ready(status) == ("False", "NotOwned")
    assert "Secret default/db exists and is not owned by this ExternalSecret" in status["status"]
    assert kube.secret("db") == before


def test_failure_after_success_keeps_the_secret_and_its_versions(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    start_controller(poll_interval=0.1)
    kube.apply_es(es("db", data=DB))
    good = kube.wait_status("db", "SUCCESS")
    secret = kube.secret("db")
    gsm_hand.add_version("projects/proj-one/secrets/db", "not json")
    status = kube.wait_status("db", "ERROR, ")
    assert ready(status) == ("False", "RenderError")
    assert status["versions"] == good["versions"]
    assert kube.secret("db") == secret  # same resourceVersion: not written
    gsm_hand.add_version("projects/proj-one/secrets/db", '{"password": "pw3"}')
    wait(lambda: kube.secret_data("db") == {"password": b"pw3"}, "recovery")
    recovered = kube.wait_status("db", "SUCCESS")
    assert recovered["versions"][0]["resolved"] == "projects/proj-one/secrets/db/versions/3"


def test_a_failed_secret_write_is_reported_and_retried(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    kube.api.faults.fail_next(1, code=500, verb="create", resource="secrets")
    start_controller(poll_interval=0.1)
    kube.apply_es(es("db", data=DB))
    kube.wait_status("db", "SUCCESS")
    assert kube.secret_data("db") == {"password": b"pw1"}
    warnings = [e for e in kube.events("db") if e[0] == "Warning"]
    assert len(warnings) == 1
    assert warnings[0][1] == "SecretSyncedError"
    assert warnings[0][2].startswith("create Secret default/db: HTTP 500")
