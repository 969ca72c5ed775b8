"""The lastSync heartbeat: refreshed once per period, spread over it, costing one status
patch and nothing else."""

from __future__ import annotations

from typing import Any

from kes.controller.schedule import phase

DB = [{"key": "db", "name": "password", "property": "password"}]


def test_refreshes_are_spread_evenly_over_the_period() -> None:
    period = 300.0
    buckets = [0] * 10
    for index in range(10_000):
        buckets[int(phase(f"team-{index % 50}/es-{index}", period) // (period / 10))] += 1
    # No tenth of the period carries more than 1.2 times its share of the refreshes.
    assert max(buckets) < 1_200 and min(buckets) > 800


def test_last_sync_is_refreshed_with_one_status_patch_and_nothing_else(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    start_controller(status_refresh=0.3, status_refresh_rate=1000.0)
    for name in ("a", "b"):
        kube.apply_es(es(name, data=DB))
    first = {name: kube.wait_status(name, "SUCCESS")["lastSync"] for name in ("a", "b")}
    writes = kube.requests("create", "update", "delete", resource="secrets")
    accesses = gsm_hand.accesses
    patches = kube.requests("patch", resource="externalsecrets/status")
    # lastSync has one-second resolution: wait until both show a later second.
    wait(lambda: all(kube.status(n)["lastSync"] > first[n] for n in ("a", "b")),
         "lastSync refreshed", timeout=10)
    assert kube.requests("patch", resource="externalsecrets/status") > patches
    assert kube.requests("create", "update", "delete", resource="secrets") == writes
    assert gsm_hand.accesses == accesses
    assert kube.status("a")["status"] == "SUCCESS"
