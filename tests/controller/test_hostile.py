"""Every tenant is hostile: what one ExternalSecret holds stays in its own status.

One real `kes controller` process serves the module. Each attack lands in its own
namespace while a canary ExternalSecret in another namespace keeps syncing: after
each attack the controller is still running, /healthz answers within a second, a
new canary version reaches the canary's Secret within its interval (plus a fixed
slack for a loaded machine), the hostile object reports its own ERROR, and the
controller with its render workers stays under the Deployment's memory limit.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from bench import procfs
from kes.api import MANAGED_LABELS_ANNOTATION, REQUESTED_AT_ANNOTATION
from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator
from tests.support.processes import controller_process, http_get, served_port

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "proj-one"
CANARY_INTERVAL = 5.0
"""The shortest refreshInterval kes allows by default."""
SLACK = 4.0
"""Seconds beyond its interval a canary version may take on a loaded test machine."""
MEMORY_LIMIT = 512 * 1024 * 1024
"""The controller's container limit in config/cluster."""
MANY = 2000
JSON_56K = json.dumps({f"k{i}": f"{i:050d}" for i in range(1000)})  # about 56 KB


def seed() -> dict[str, Any]:
    secrets: dict[str, str | bytes] = {
        "canary": '{"value": "c1"}',
        "deep": "[" * 30_000 + "]" * 30_000,
        "json56k": JSON_56K,
        "big60k": "x" * 60_000,
        "db": '{"password": "pw1"}',
    }
    secrets.update({f"many-{i}": f'{{"v": "{i}"}}' for i in range(MANY)})
    return {"secrets": [
        {"name": f"projects/{PROJECT}/secrets/{name}", "versions": [{"data": value}]}
        for name, value in secrets.items()
    ]}


@dataclass
class Cluster:
    api: ApiServer
    gsm: SecretManagerEmulator
    custom: k8s.CustomObjectsApi
    core: k8s.CoreV1Api
    pid: int
    health: str
    canary_generation: int = 1

    def apply(self, name: str, namespace: str, spec: dict[str, Any]) -> None:
        self.core.create_namespace({"metadata": {"name": namespace}})
        body = {"apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"backendType": "gcpSecretsManager", "projectId": PROJECT, **spec}}
        self.custom.create_namespaced_custom_object(
            "kubernetes-client.io", "v1", namespace, "externalsecrets", body)

    def status(self, name: str, namespace: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(
            "kubernetes-client.io", "v1", namespace, "externalsecrets", name)
        status: dict[str, Any] = obj.get("status") or {}
        return status

    def wait_status(self, name: str, namespace: str, prefix: str,
                    timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(name, namespace)
            if str(status.get("status", "")).startswith(prefix):
                return status
            assert time.monotonic() < deadline, f"{namespace}/{name} never reported {prefix}"
            time.sleep(0.1)

    def canary_value(self) -> bytes | None:
        try:
            secret = self.core.read_namespaced_secret("canary", "canary")
        except k8s.exceptions.ApiException:
            return None
        return base64.b64decode((secret.data or {}).get("value", ""))

    def check_healthy(self) -> None:
        """Up, answering /healthz within a second, the canary syncing in time, and
        under the memory limit."""
        assert procfs.family(self.pid)  # still running
        assert http_get(self.health, timeout=1.0) == (200, "ok")
        self.canary_generation += 1
        value = f"c{self.canary_generation}".encode()
        self.gsm.store.add_version(f"projects/{PROJECT}/secrets/canary",
                                   b'{"value": "' + value + b'"}', None)
        deadline = time.monotonic() + CANARY_INTERVAL + SLACK
        while self.canary_value() != value:
            assert time.monotonic() < deadline, "the canary missed its interval"
            time.sleep(0.05)
        assert procfs.family_rss_bytes(self.pid) < MEMORY_LIMIT


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("hostile")
    crd = yaml.safe_load((ROOT / "crds" / "externalsecret.yaml").read_text())
    with ApiServer().background() as api, SecretManagerEmulator().background() as gsm:
        api.load([crd])
        gsm.seed(seed())
        kubeconfig = str(api.write_kubeconfig(workdir / "kubeconfig"))
        client = k8s_config.new_client_from_config(kubeconfig)
        log = workdir / "controller.log"
        with controller_process(
            kubeconfig, gsm.address, log, POLLER_INTERVAL_MILLISECONDS="60000",
            RENDER_CPU_SECONDS="1",
            RENDER_TIMEOUT_SECONDS="5", LOG_LEVEL="info",
        ) as process:
            deadline = time.monotonic() + 30
            while (port := served_port(log)) is None:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the controller did not start"
                time.sleep(0.05)
            found = Cluster(api, gsm, k8s.CustomObjectsApi(client), k8s.CoreV1Api(client),
                            process.pid, f"http://127.0.0.1:{port}/healthz")
            found.apply("canary", "canary", {
                "refreshInterval": f"{CANARY_INTERVAL:g}s",
                "data": [{"key": "canary", "name": "value", "property": "value"}]})
            found.wait_status("canary", "canary", "SUCCESS")
            yield found
            assert process.poll() is None, "the controller died"
            assert "Traceback" not in log.read_text()


def template(**string_data: str) -> dict[str, Any]:
    return {"data": [{"key": "db", "name": "password", "property": "password"}],
            "template": {"stringData": string_data}}


SLOW = ("{% set text = 'a ' * 500000 %}{% for i in range(400) %}"
        "{{ text | wordcount }}{% endfor %}")

ATTACKS: dict[str, tuple[dict[str, Any], str]] = {
    # (spec, what its status must say)
    "refresh-interval-of-400-digits": (
        {"refreshInterval": "9" * 400 + "h",
         "data": [{"key": "db", "name": "password", "property": "password"}]},
        "spec.refreshInterval"),
    "template-of-3000-nested-parentheses": (
        template(x="{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"), "stringData[x]"),
    "json-of-30000-nested-arrays": (
        {"data": [{"key": "deep", "name": "x", "property": "a"}]}, "spec.data[0]"),
    "property-path-of-6-kb": (
        {"data": [{"key": "db", "name": "x", "property": "a." * 3000 + "b"}]},
        "spec.data[0].property"),
    "template-taking-minutes-of-cpu": (template(n=SLOW), "limit of"),  # CPU or wall time
    "5000-entries-naming-one-60-kb-secret": (
        {"data": [{"key": "big60k", "name": f"k{i}"} for i in range(5000)]}, "1048576"),
    "200-templates-of-a-megabyte": (
        template(**{f"t{i}": "{{ 'x' * 1000000 }}" for i in range(200)}), "stringData[t"),
    "a-template-writing-an-object-repr": (template(x="{{ data }}"), "stringData[x]"),
    "a-template-setting-kes-bookkeeping": (
        {"data": [{"key": "db", "name": "password", "property": "password"}],
         "template": {"metadata": {"annotations": {MANAGED_LABELS_ANNOTATION: "x"}}}},
        "annotations"),
    "a-300-kb-key-name": ({"data": [{"key": "k" * 300_000, "name": "x"}]}, "spec.data[0]"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_hostile_externalsecret_fails_alone(cluster: Cluster, attack: str) -> None:
    spec, said = ATTACKS[attack]
    cluster.apply("hostile", attack, spec)
    status = cluster.wait_status("hostile", attack, "ERROR, ")
    assert said in status["status"]
    assert len(status["status"]) < 2_000  # messages are bounded, whatever they quote
    cluster.check_healthy()


def test_five_thousand_properties_of_one_payload_sync(cluster: Cluster) -> None:
    """Legal and large: one 56 KB JSON parsed once for 5,000 entries."""
    spec = {"data": [{"key": "json56k", "name": f"e{i}", "property": f"k{i % 1000}"}
                     for i in range(5000)]}
    cluster.apply("wide", "wide", spec)
    cluster.wait_status("wide", "wide", "SUCCESS")
    secret = cluster.core.read_namespaced_secret("wide", "wide")
    assert len(secret.data) == 5000
    cluster.check_healthy()


def test_a_requested_at_storm_on_thousands_of_versions_starves_nobody(cluster: Cluster) -> None:
    spec = {"data": [{"key": f"many-{i}", "name": f"k{i}", "property": "v"}
                     for i in range(MANY)]}
    cluster.apply("storm", "storm", spec)
    cluster.wait_status("storm", "storm", "SUCCESS")
    stop = threading.Event()

    def bump() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            patch = {"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: str(count)}}}
            cluster.custom.patch_namespaced_custom_object(
                "kubernetes-client.io", "v1", "storm", "externalsecrets", "storm", patch)
            stop.wait(0.2)

    accesses = cluster.gsm.counters.calls["AccessSecretVersion"]
    bumper = threading.Thread(target=bump)
    bumper.start()
    started = time.monotonic()
    try:
        for _ in range(3):
            cluster.check_healthy()
    finally:
        stop.set()
        bumper.join()
    elapsed = time.monotonic() - started
    # Bumped five times a second, fresh values were read at most once per 5 s interval.
    refetches = (cluster.gsm.counters.calls["AccessSecretVersion"] - accesses) / MANY
    assert refetches <= elapsed / CANARY_INTERVAL + 2


def wait_until(probe: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
