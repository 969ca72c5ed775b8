"""Repairs and refusals with exact costs: a removed managed-by label, a foreign Secret,
a replacement the API server would reject, template metadata that goes away, and the
refreshInterval floor."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from kes.api import MANAGED_BY_LABEL
from kes.api import REQUESTED_AT_ANNOTATION as REQUESTED_AT
from kes.controller.schedule import next_slot
from kes.names import SecretVersionName

DB = [{"key": "db", "name": "password", "property": "password"}]


def test_a_removed_managed_by_label_is_put_back_and_data_still_repaired(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    start_controller()
    kube.apply_es(es("db", data=DB))
    kube.wait_status("db", "SUCCESS")
    kube.core.patch_namespaced_secret(
        "db", "default", {"metadata": {"labels": {MANAGED_BY_LABEL: None}}}
    )
    wait(
        lambda: (kube.secret("db")["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == "kes",
        "the label put back",
    )
    kube.core.patch_namespaced_secret("db", "default", {"data": {"password": "ZWRpdGVk"}})
    wait(lambda: kube.secret_data("db") == {"password": b"pw1"}, "an edit repaired")


def test_a_foreign_secret_costs_no_requests_until_something_changes(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any, idle: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    kube.core.create_namespaced_secret(
        "default",
        {"metadata": {"name": "db"}, "data": {"k": "dg=="}},
        _headers={"Content-Type": "application/json"},
    )
    controller = start_controller()
    kube.apply_es(es("db", data=DB))
    kube.wait_status("db", "ERROR, ")
    idle(controller)
    assert kube.requests("create", resource="secrets") == 1  # the first, blind create
    assert kube.requests("get", resource="secrets") == 1
    for _ in range(4):  # every version due: each cycle syncs "db" again
        assert controller.full_cycle().synced == 1
    assert kube.requests("create", resource="secrets") == 1
    assert kube.requests("get", resource="secrets") == 1

    kube.core.delete_namespaced_secret("db", "default")
    kube.patch_es("db", {"metadata": {"annotations": {REQUESTED_AT: "1"}}})
    wait(lambda: kube.secret_data("db") == {"password": b"pw1"}, "created once it is gone")
    kube.wait_status("db", "SUCCESS")


def test_a_foreign_secret_is_rechecked_with_a_get_and_never_sent_values(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, idle: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    kube.core.create_namespaced_secret(
        "default",
        {"metadata": {"name": "db"}, "data": {"k": "dg=="}},
        _headers={"Content-Type": "application/json"},
    )
    controller = start_controller(foreign_recheck=1e-9)  # every sync re-checks
    kube.apply_es(es("db", data=DB))
    kube.wait_status("db", "ERROR, ")
    idle(controller)
    for _ in range(3):
        controller.full_cycle()
    assert kube.requests("create", resource="secrets") == 1
    assert kube.requests("get", resource="secrets") == 1 + 3
    kube.core.delete_namespaced_secret("db", "default")
    controller.full_cycle()
    assert kube.secret_data("db") == {"password": b"pw1"}
    assert kube.requests("create", resource="secrets") == 2


def test_a_replacement_the_server_rejects_keeps_the_secret(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any, idle: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    controller = start_controller()
    kube.apply_es(es("db", data=DB))
    kube.wait_status("db", "SUCCESS")
    before = kube.secret("db")
    # A new type means delete + create; 900 long label keys, which kes lists in its
    # managed-labels annotation, take the annotations over the API server's 256 KiB.
    prefix = ".".join(["a" * 60] * 4)
    labels = {f"{prefix}.{i:04d}/{'n' * 63}": "v" for i in range(900)}
    kube.patch_es("db", {"spec": {"template": {"type": "kubernetes.io/basic-auth",
                                               "metadata": {"labels": labels}}}})
    status = kube.wait_status("db", "ERROR, ")
    assert "the replacement was rejected, so the Secret is kept" in status["status"]
    assert "Too long" in status["status"]
    idle(controller)
    assert kube.secret("db") == before
    assert kube.requests("delete", resource="secrets") == 0


def test_template_metadata_removed_from_the_spec_leaves_the_secret(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    start_controller()
    template = {"metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}}}
    kube.apply_es(es("db", data=DB, template=template))
    kube.wait_status("db", "SUCCESS")
    kube.core.patch_namespaced_secret(
        "db", "default", {"metadata": {"labels": {"theirs": "1"}, "annotations": {"t": "2"}}}
    )
    kube.patch_es("db", {"spec": {"template": None}})

    def dropped() -> bool:
        meta = kube.secret("db")["metadata"]
        return "team" not in meta["labels"] and "note" not in meta["annotations"]

    wait(dropped, "template metadata removed")
    meta = kube.secret("db")["metadata"]
    assert meta["labels"] == {"theirs": "1", MANAGED_BY_LABEL: "kes"}
    assert meta["annotations"]["t"] == "2"


def test_refresh_interval_below_the_floor_polls_at_the_floor(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, idle: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    controller = start_controller(min_refresh_interval=3600.0)
    kube.apply_es(es("db", data=DB, refreshInterval="1ms"))
    kube.wait_status("db", "SUCCESS")
    idle(controller)
    calls = gsm_hand.accesses
    poller = controller.controller.poller
    # Due on the one-hour grid, not every millisecond: nothing before its slot.
    slot = next_slot(SecretVersionName("proj-one", "db", "latest"), 3600.0, time.monotonic())
    assert controller.run(lambda: poller.run_cycle(slot - 1)).fetched == 0
    assert controller.run(lambda: poller.run_cycle(slot)).fetched == 1
    assert gsm_hand.accesses == calls + 1


def test_a_competing_writer_meets_a_backoff_and_one_event(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    start_controller(max_backoff=60.0)
    kube.apply_es(es("db", data=DB))
    kube.wait_status("db", "SUCCESS")
    repairs = kube.requests("update", resource="secrets")
    stop = threading.Event()

    def overwrite() -> None:  # another writer, changing the data 20 times a second
        while not stop.is_set():
            with contextlib.suppress(ApiException):
                kube.core.patch_namespaced_secret(
                    "db", "default", {"data": {"password": "b3RoZXI="}})
            stop.wait(0.05)

    writer = threading.Thread(target=overwrite)
    writer.start()
    wait(lambda: kube.requests("update", resource="secrets") - repairs >= 3, "three repairs")
    time.sleep(2.0)
    stop.set()
    writer.join()
    # Repairs at once, then 1 s, 2 s, 4 s apart: three in about five seconds, not 100.
    assert kube.requests("update", resource="secrets") - repairs <= 4
    fights = [e for e in kube.events("db") if e[1] == "SecretChangedElsewhere"]
    assert len(fights) == 1 and fights[0][0] == "Warning"
    assert "keeps being changed by something else" in fights[0][2]
    wait(lambda: kube.secret_data("db") == {"password": b"pw1"}, "the last repair")
