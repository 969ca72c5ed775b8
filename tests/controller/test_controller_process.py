"""The controller as deployed: the CLI process, signals, metrics, health and leader
election (its RBAC is proven in tests/deploy/test_rbac.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kes_emulators.apiserver import ApiServer
from tests.support.processes import controller_process, http_get, served_port

DB = [{"key": "db", "name": "password", "property": "password"}]


def test_kes_controller_process_serves_metrics_and_stops_on_sigterm(
    kube: Any,
    gsm_hand: Any,
    controller_kubeconfig: str,
    es: Any,
    wait: Any,
    tmp_path: Path,
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    stderr_path = tmp_path / "stderr.log"
    with controller_process(
        controller_kubeconfig, gsm_hand.emulator.address, stderr_path,
        POLLER_INTERVAL_MILLISECONDS="1000", LOG_LEVEL="info",
    ) as process:
        port = wait(lambda: served_port(stderr_path), "the metrics port in the log")
        base = f"http://127.0.0.1:{port}"
        wait(lambda: http_get(f"{base}/readyz")[0] == 200, "readiness")
        assert http_get(f"{base}/healthz") == (200, "ok")
        kube.apply_es(es("db", data=DB))
        kube.wait_status("db", "SUCCESS")
        assert kube.secret_data("db") == {"password": b"pw1"}
        # KES's metrics count one call per poll interval: the first after a second.
        state = ('kubernetes_external_secrets_last_sync_call_state{backend="gcpSecretsManager",'
                 'name="db",namespace="default"} 1.0')
        wait(lambda: state in http_get(f"{base}/metrics")[1], "the KES sync metric")
        _, metrics = http_get(f"{base}/metrics")
        assert 'kes_gsm_calls_total{code="OK",method="AccessSecretVersion"}' in metrics
        assert 'kes_kubernetes_requests_total{resource="secrets",verb="create"} 1.0' in metrics
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    lines = [line for line in stderr_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(r["message"] == "initial lists done" for r in records)
    assert any(r["message"] == "secret written" and r["action"] == "created" for r in records)
    assert "pw1" not in stderr_path.read_text()


def test_metrics_and_health_listen_on_metrics_address_only(
    gsm_hand: Any, controller_kubeconfig: str, wait: Any, tmp_path: Path
) -> None:
    stderr_path = tmp_path / "stderr.log"
    with controller_process(
        controller_kubeconfig, gsm_hand.emulator.address, stderr_path,
        METRICS_PORT="", METRICS_ADDRESS="127.0.0.2:0",
    ) as process:
        port = wait(lambda: served_port(stderr_path), "the metrics port in the log")
        assert http_get(f"http://127.0.0.2:{port}/healthz") == (200, "ok")
        assert http_get(f"http://127.0.0.1:{port}/healthz") == (0, "")  # refused
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DISABLE_POLLING", "sometimes", "DISABLE_POLLING='sometimes' is not a boolean"),
        ("GOOGLE_CLOUD_PROJECT", "YOUR_PROJECT",
         "GOOGLE_CLOUD_PROJECT='YOUR_PROJECT' is a placeholder"),
        ("POLLER_INTERVAL_MILLISECONDS", "10", "POLLER_INTERVAL_MILLISECONDS='10' is below 1000"),
        ("GSM_ACCESS_RATE_PER_PROJECT", "inf", "GSM_ACCESS_RATE_PER_PROJECT='inf' must be a "
         "finite number"),
    ],
)
def test_bad_environment_stops_the_start_with_one_line(
    controller_kubeconfig: str, variable: str, value: str, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kes", "controller", "--kubeconfig", controller_kubeconfig],
        env={**os.environ, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"kes controller: {message}")


def test_a_stop_lets_the_running_cycle_finish_its_writes(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    for i in range(5):
        kube.apply_es(es(f"db-{i}", data=DB))
    kube.api.faults.latency = 0.2
    controller = start_controller(wait_ready=False)
    wait(lambda: kube.requests("create", resource="secrets") >= 1, "first write")
    assert controller.stop() is True
    kube.api.faults.latency = 0.0
    for i in range(5):
        assert kube.secret_data(f"db-{i}") == {"password": b"pw1"}
        assert kube.status(f"db-{i}")["status"] == "SUCCESS"


def test_one_leader_at_a_time(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    lease = {"leader_election": True, "lease_namespace": "kes-system"}
    first = start_controller(identity="first", **lease)
    second = start_controller(wait_ready=False, identity="second", **lease)
    wait(lambda: second.controller.standing_by, "second standing by")
    kube.apply_es(es("before", data=DB))
    kube.wait_status("before", "SUCCESS")
    assert second.read(lambda: len(second.controller.cache.records)) == 0
    assert not second.controller.ready.is_set()

    assert first.stop() is True  # releases the Lease
    wait(lambda: second.controller.ready.is_set(), "second takes over")
    kube.apply_es(es("after", data=DB))
    kube.wait_status("after", "SUCCESS")
    holder = kube.api.call(
        lambda: kube.api.store.get(
            ("coordination.k8s.io", "leases"), "kes-system", "kes-controller"
        )
    )
    assert holder["spec"]["holderIdentity"] == "second"


def test_a_leader_that_cannot_renew_in_time_stops_and_a_standby_takes_over(
    kube: Any, gsm_hand: Any, start_controller: Any, es: Any, wait: Any
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    lease = {
        "leader_election": True,
        "lease_namespace": "kes-system",
        "lease_duration": 2.0,
        "renew_deadline": 1.0,
        "retry_period": 0.2,
    }
    first = start_controller(identity="first", **lease)
    second = start_controller(wait_ready=False, identity="second", **lease)
    wait(lambda: second.controller.standing_by, "second standing by")
    kube.api.faults.latency = 1.5  # each renewal now outlasts the renew deadline
    wait(lambda: not first.running, "the first leader to stop")
    kube.api.faults.latency = 0.0
    assert first.stop() is False  # leadership lost: the process would exit 1
    wait(lambda: second.controller.ready.is_set(), "second takes over")
    kube.apply_es(es("after", data=DB))
    kube.wait_status("after", "SUCCESS")
    holder = kube.api.call(
        lambda: kube.api.store.get(
            ("coordination.k8s.io", "leases"), "kes-system", "kes-controller"
        )
    )
    assert (holder["spec"]["holderIdentity"], holder["spec"]["leaseTransitions"]) == ("second", 1)


def test_a_cluster_without_the_crd_stops_the_start_with_a_hint(tmp_path: Path) -> None:
    with ApiServer().background() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        result = subprocess.run(
            [sys.executable, "-m", "kes", "controller", "--kubeconfig", str(kubeconfig)],
            env={**os.environ, "METRICS_PORT": "0", "GRPC_VERBOSITY": "NONE"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    errors = [json.loads(line) for line in result.stderr.splitlines() if '"stopped"' in line]
    assert errors[0]["error"].startswith("list externalsecrets: HTTP 404")
    assert "crds/externalsecret.yaml" in errors[0]["error"]


def test_a_taken_metrics_port_stops_the_start(controller_kubeconfig: str) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "kes", "controller", "--kubeconfig", controller_kubeconfig],
            env={**os.environ, "METRICS_PORT": str(port), "GRPC_VERBOSITY": "NONE"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    stopped = [json.loads(line) for line in result.stderr.splitlines() if '"stopped"' in line]
    assert stopped[0]["error"].startswith(f"cannot serve metrics on port {port}")


def test_sigterm_mid_sync_finishes_the_syncs_in_flight_and_exits_zero(
    kube: Any,
    gsm_hand: Any,
    controller_kubeconfig: str,
    es: Any,
    wait: Any,
    tmp_path: Path,
) -> None:
    gsm_hand.seed({"projects/proj-one/secrets/db": ['{"password": "pw1"}']})
    names = [f"db-{i}" for i in range(40)]
    for name in names:
        kube.apply_es(es(name, data=DB))
    # Every request waits, so the syncs outlast the 5 s kopf gives tasks it cancels.
    kube.api.faults.latency = 0.4
    with controller_process(
        controller_kubeconfig, gsm_hand.emulator.address, tmp_path / "stderr.log"
    ) as process:
        wait(lambda: kube.requests("create", resource="secrets") >= 1, "the first write")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0  # a hang fails here
    kube.api.faults.latency = 0.0
    written = [name for name in names if kube.secret(name) is not None]
    # No sync was cut in half: every Secret written has its status, and nothing more.
    assert written and all(kube.status(name)["status"] == "SUCCESS" for name in written)
    assert all("status" not in kube.status(name) for name in set(names) - set(written))
    # What was left waiting is done by the next controller.
    with controller_process(
        controller_kubeconfig, gsm_hand.emulator.address, tmp_path / "stderr2.log"
    ):
        for name in names:
            kube.wait_status(name, "SUCCESS")
    assert kube.requests("create", resource="secrets") == len(names)
