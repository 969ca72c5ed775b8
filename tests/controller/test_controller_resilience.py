"""Exact costs, drift repair, outages and broken watches, counted on the emulators."""

from __future__ import annotations

import base64
from typing import Any

import grpc

from kes.names import SecretVersionName

DB = [{"key": "db", "name": "password", "property": "password"}]
WRITES = ("create", "update", "patch", "delete")
READS = ("get", "list")


def polled(controller: Any) -> int:
    return controller.read(lambda: controller.controller.poller.polls)


def test_n_resources_sharing_k_versions_cost_k_calls_and_no_kubernetes_requests(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, idle: Any
) -> None:
    gsm_hand.seed(
        {
            "projects/proj-one/secrets/a": ['{"x": "1", "y": "2"}'],
            "projects/proj-one/secrets/b": ['{"z": "3"}'],
        }
    )
    items = [
        {"key": "a", "name": "x", "property": "x"},
        {"key": "a", "name": "y", "property": "y"},
        {"key": "b", "name": "z", "property": "z"},
    ]
    for i in range(6):
        kube.apply_es(es(f"es-{i}", data=items))
    controller = start_controller()
    for i in range(6):
        kube.wait_status(f"es-{i}", "SUCCESS")
    idle(controller)
    assert gsm_hand.accesses == 2  # the start-up sync of all six fetched each version once

    calls, writes, reads = gsm_hand.accesses, kube.requests(*WRITES), kube.requests(*READS)
    report = controller.full_cycle()
    assert (report.fetched, report.synced) == (2, 0)  # the same payloads: nothing to sync
    assert gsm_hand.accesses - calls == 2  # K, not N * keys = 18
    assert kube.requests(*WRITES) - writes == 0
    assert kube.requests(*READS) - reads == 0

    # A new GSM version: the next cycle writes each Secret, status and Event once.
    gsm_hand.add_version("projects/proj-one/secrets/b", '{"z": "4"}')
    calls = gsm_hand.accesses
    controller.full_cycle()
    assert gsm_hand.accesses - calls == 2
    assert kube.requests("update", resource="secrets") == 6
    assert kube.requests("patch", resource="externalsecrets/status") == 6 + 6
    assert kube.requests("create", resource="events") == 6  # Updated; creations post none
    assert kube.requests(*READS) - reads == 0
    assert all(kube.secret_data(f"es-{i}")["z"] == b"4" for i in range(6))


def test_drift_is_repaired_from_cache_without_gsm_calls(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    start_controller()
    kube.apply_es(es("db", data=DB))
    kube.wait_status("db", "SUCCESS")
    calls = gsm_hand.accesses

    secret = kube.secret("db")
    secret["data"]["password"] = base64.b64encode(b"tampered").decode()
    kube.core.replace_namespaced_secret(
        "db", "default", secret, _headers={"Content-Type": "application/json"}
    )
    wait(lambda: kube.secret_data("db") == {"password": b"pw1"}, "edited Secret restored")

    kube.core.delete_namespaced_secret("db", "default")
    wait(lambda: kube.secret_data("db") == {"password": b"pw1"}, "deleted Secret recreated")
    assert gsm_hand.accesses == calls


def test_gsm_outage_backs_off_leaves_the_secret_and_recovers(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    gsm_hand.seed({"projects/proj-one/secrets/other": ["fine"]})
    controller = start_controller(poll_interval=0.1)
    kube.apply_es(es("db", data=DB))
    kube.apply_es(es("other", data=[{"key": "other", "name": "v"}], projectId="proj-one"))
    kube.wait_status("db", "SUCCESS")
    secret = kube.secret("db")

    gsm_hand.emulator.faults.error_rate("AccessSecretVersion", grpc.StatusCode.UNAVAILABLE, 1.0)
    status = kube.wait_status("db", "ERROR, ")
    assert status["conditions"][0]["reason"] == "ProviderError"
    assert "UNAVAILABLE" in status["status"]
    # Backing off: failures stop being retried every 100 ms.
    wait(
        lambda: (
            controller.read(
                lambda: controller.controller.poller.failures(
                    SecretVersionName("proj-one", "db", "latest")
                )
            )
            >= 3
        ),
        "three failed attempts",
    )
    assert kube.secret("db") == secret

    gsm_hand.emulator.faults.clear()
    gsm_hand.add_version("projects/proj-one/secrets/db", '{"password": "pw2"}')
    wait(lambda: kube.secret_data("db") == {"password": b"pw2"}, "recovery")
    kube.wait_status("db", "SUCCESS")
    kube.wait_status("other", "SUCCESS")


def test_dropped_and_expired_watches_cost_nothing(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any, idle: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    for i in range(3):
        kube.apply_es(es(f"db-{i}", data=DB))
    controller = start_controller()
    for i in range(3):
        kube.wait_status(f"db-{i}", "SUCCESS")
    idle(controller)
    wait(lambda: kube.api.open_watches() >= 2, "watches open")
    calls, writes = gsm_hand.accesses, kube.requests(*WRITES)
    lists = kube.requests("list")
    cycles = polled(controller)

    kube.api.drop_watches()
    wait(lambda: kube.requests("watch") >= 4, "watches re-established")
    kube.api.compact()
    kube.api.faults.expire_next_watch(2)
    kube.api.drop_watches()
    wait(lambda: kube.requests("list") >= lists + 2, "re-list after 410")
    wait(lambda: kube.api.open_watches() >= 2, "watches open again")
    # Re-listed objects are known: no sync requested, so no cycle ran.
    assert polled(controller) == cycles
    assert gsm_hand.accesses == calls
    assert kube.requests(*WRITES) == writes

    # And the watches still deliver: a new object syncs.
    kube.apply_es(es("after", data=DB))
    kube.wait_status("after", "SUCCESS")


def test_polling_goes_on_when_the_watches_cannot_reconnect(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    start_controller(poll_interval=0.1)
    kube.apply_es(es("db", data=DB))
    kube.wait_status("db", "SUCCESS")
    kube.api.faults.fail_next(10_000, code=500, verb="watch")
    kube.api.drop_watches()
    gsm_hand.add_version("projects/proj-one/secrets/db", '{"password": "pw2"}')
    wait(lambda: kube.secret_data("db") == {"password": b"pw2"}, "refresh by polling")


def test_a_conflict_is_replanned_on_a_fresh_read(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any, idle: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    controller = start_controller()
    kube.apply_es(es("db", data=DB))
    kube.wait_status("db", "SUCCESS")
    idle(controller)
    gets = kube.requests("get", resource="secrets")
    kube.api.faults.fail_next(1, code=409, verb="update", resource="secrets")
    gsm_hand.add_version("projects/proj-one/secrets/db", '{"password": "pw2"}')
    controller.full_cycle()
    assert kube.secret_data("db") == {"password": b"pw2"}
    assert kube.requests("get", resource="secrets") == gets + 1
    assert kube.requests("update", resource="secrets") == 2  # the refused one, then the retry
