"""config/recv as shipped: its config renders into one the receiver serves, and its
RBAC, applied with kubectl to the API server with RBAC on, is enough and no more."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kes.kube import load_cluster
from kes.recv.config import load_config
from kes.recv.main import Receiver
from kes.recv.registry import build_endpoints
from kes.render import Payload, render_secret
from kes.spec import parse_external_secret
from kes_emulators.apiserver import ApiServer
from kes_emulators.kubectl import find_kubectl
from tests.recv.conftest import (
    CRD,
    Harness,
    externalsecret,
    namespace,
    route,
    running,
)
from tests.recv.volume import SecretVolume
from tests.support.waiting import wait_for

CONFIG = Path(__file__).resolve().parents[2] / "config" / "recv"
RECV = "system:serviceaccount:kes-system:kes-recv"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((CONFIG / name).read_text()) if d]


def test_the_shipped_externalsecret_renders_a_config_the_receiver_serves(
    tmp_path: Path,
) -> None:
    [manifest] = documents("externalsecret.yaml")
    spec = parse_external_secret(manifest, None)
    token_map = b"'*':\n- value: global-token\n  created_at: '2026-01-01T00:00:00Z'\n"
    payloads = {ref: Payload(token_map if ref.secret == "prow-hmac-tokens"
                             else ref.secret.encode()) for ref in spec.refs}
    secret = render_secret("kes-recv", "kes-system", spec, payloads)
    SecretVolume(tmp_path).write(secret.data)  # mounted as the Deployment mounts it
    config = load_config(tmp_path / "recv.yaml")
    endpoints = build_endpoints(config)
    assert [e.config.source for e in endpoints] == [
        "GCPSecretManagerPubSub", "GitHub", "GitHubProwTokens"]
    assert endpoints[2].path == "/hook/prow"


def test_the_deployment_has_the_controllers_hardening() -> None:
    [recv] = documents("deployment.yaml")
    [controller] = [d for d in yaml.safe_load_all(
        (CONFIG.parent / "cluster" / "kubernetes-external-secrets_deployment.yaml").read_text())
        if d]
    pod, reference = recv["spec"]["template"]["spec"], controller["spec"]["template"]["spec"]
    assert recv["spec"]["replicas"] == 2
    assert pod["securityContext"] == reference["securityContext"]
    [container], [reference_container] = pod["containers"], reference["containers"]
    assert container["securityContext"] == reference_container["securityContext"]
    assert pod["serviceAccountName"] == "kes-recv"
    assert {v["secret"]["secretName"] for v in pod["volumes"]} == {"kes-recv"}
    assert "subPath" not in container["volumeMounts"][0]  # subPath mounts never update
    [ingress] = documents("ingress.yaml")
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == ["/hook/"]


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServer(tls=True).background() as server:
        server.load([CRD, namespace("kes-system"), namespace("apps"),
                     externalsecret("db", "apps", ["db"])])
        yield server


def test_applied_with_rbac_on_the_receiver_works_and_may_do_nothing_else(
    api: ApiServer, tmp_path: Path
) -> None:
    admin = api.write_kubeconfig(tmp_path / "admin.kubeconfig")
    api.rbac = True
    applied = subprocess.run(
        [find_kubectl(), f"--kubeconfig={admin}", f"--cache-dir={tmp_path / 'cache'}",
         "apply", *[f"--filename={path}" for path in sorted(CONFIG.glob("*.yaml"))
                    if path.name != "kustomization.yaml"]],  # validated against the OpenAPI
        capture_output=True, text=True, timeout=60, check=False)
    assert applied.returncode == 0, applied.stderr
    kinds = {line.split("/")[0] for line in applied.stdout.splitlines()}
    assert kinds == {
        "clusterrole.rbac.authorization.k8s.io", "clusterrolebinding.rbac.authorization.k8s.io",
        "deployment.apps", "externalsecret.kubernetes-client.io", "ingress.networking.k8s.io",
        "networkpolicy.networking.k8s.io", "service", "serviceaccount"}

    token = api.create_service_account_token("kes-system", "kes-recv")
    kubeconfig = api.write_kubeconfig(tmp_path / "recv.kubeconfig", token)
    key = b"dockerhub-key-for-rbac"
    (tmp_path / "k").write_bytes(key)
    (tmp_path / "recv.yaml").write_text(
        "kesRecvVersion: 1\nendpoints: [{source: DockerHub, keyPath: k}]\n")
    config = load_config(tmp_path / "recv.yaml")
    receiver = Receiver(build_endpoints(config), config.limits,
                        load_cluster(str(kubeconfig)), None)
    with running(receiver) as loop:
        wait_for(lambda: api.open_watches() >= 1, "the watch")
        harness = Harness(api, receiver, None, None, None,  # type: ignore[arg-type]
                          receiver.port or 0, loop)
        answer = harness.post(route(key), b'{"push_data": {}, "repository": {}}')
        assert answer.status == 202
        harness.drain()
        assert api.call(lambda: api.requests.count(
            verb="patch", resource="externalsecrets", identity=RECV, code=200)) == 2
        # apps/db, and kes-system/kes-recv that config/recv applied
    assert api.call(lambda: api.requests.count(identity=RECV, code=403)) == 0

    # Anything beyond list, watch and patch of ExternalSecrets is refused.
    import kubernetes

    client = kubernetes.config.new_client_from_config(str(kubeconfig))
    core = kubernetes.client.CoreV1Api(client)
    custom = kubernetes.client.CustomObjectsApi(client)
    refused = [
        lambda: core.list_secret_for_all_namespaces(),
        lambda: core.read_namespaced_secret("any", "apps"),
        lambda: custom.get_namespaced_custom_object(
            "kubernetes-client.io", "v1", "apps", "externalsecrets", "db"),
        lambda: custom.create_namespaced_custom_object(
            "kubernetes-client.io", "v1", "apps", "externalsecrets",
            externalsecret("new", "apps", ["db"])),
        lambda: custom.delete_namespaced_custom_object(
            "kubernetes-client.io", "v1", "apps", "externalsecrets", "db"),
        lambda: custom.patch_namespaced_custom_object_status(
            "kubernetes-client.io", "v1", "apps", "externalsecrets", "db", {"status": {}}),
        lambda: core.list_namespace(),
    ]
    for attempt in refused:
        with pytest.raises(kubernetes.client.ApiException) as raised:
            attempt()
        assert raised.value.status == 403
