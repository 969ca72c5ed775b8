"""kes recv as a component of config/cluster: applied with kubectl on the emulated
cluster with RBAC on, started with its Deployment's arguments and environment under
its service account's token, it turns a delivery into a refresh and is never refused;
without any one verb of its rule, the code that needs it is refused (403)."""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from kes.api import REQUESTED_AT_ANNOTATION
from kes_emulators.apiserver import ApiServer
from tests.support.cluster import (
    CLUSTER,
    Obj,
    container_env,
    find,
    kubectl,
    render,
    started,
    write_overlay,
)
from tests.support.rbac import granted, ids, refused, rules_in, without
from tests.support.waiting import wait_for

RECV = "system:serviceaccount:kes-system:kes-recv"
RECV_RULES = rules_in(CLUSTER.parent / "recv" / "rbac.yaml")
KEY = b"a-dockerhub-key-of-at-least-20-bytes"


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as e:
        return e.code


def run_recv(api: ApiServer, admin: Path, objects: list[Obj], workdir: Path,
             proven: Callable[[], bool] = lambda: False) -> int | None:
    """Start kes recv as its Deployment does, deliver one image push, wait for the
    refresh it asks for, stop it; its exit code, or None once `proven()` holds."""
    deployment = find(objects, "Deployment", "kes-recv")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    (workdir / "key").write_bytes(KEY)
    (workdir / "recv.yaml").write_text(
        "kesRecvVersion: 1\nendpoints: [{source: DockerHub, keyPath: key}]\n")
    token = api.create_service_account_token("kes-system", "kes-recv")
    kubeconfig = api.write_kubeconfig(workdir / "recv.kubeconfig", token)
    # The Deployment's arguments, but the config where the test wrote it, and a free port.
    args = list(container["args"])
    for flag, value in {"--config": str(workdir / "recv.yaml"), "--listen": "127.0.0.1:0"}.items():
        args[args.index(flag) + 1] = value
    env = {**container_env(objects, "kes-recv-0", "kes-recv"), "GRPC_VERBOSITY": "NONE"}
    log = workdir / "recv.log"
    with log.open("wb") as output, started(
        [sys.executable, "-m", "kes", *args, "--kubeconfig", str(kubeconfig)], env, output
    ) as process:
        wait_for(lambda: proven() or '"watching ExternalSecrets"' in log.read_text()
                 or process.poll() is not None, "the receiver's start")
        if proven():
            return None
        [serving] = [json.loads(line) for line in log.read_text().splitlines()
                     if '"serving"' in line]
        url = f"http://127.0.0.1:{serving['port']}/hook/{hashlib.sha256(KEY).hexdigest()}"
        assert post(url, b'{"push_data": {}, "repository": {}}') == 202
        wait_for(lambda: proven() or REQUESTED_AT_ANNOTATION in kubectl(
            admin, "get", "es", "db", "-o", "jsonpath={.metadata.annotations}").stdout,
            "the refresh")
        if proven():
            return None
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=30)


EXTERNALSECRET = {
    "apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
    "metadata": {"name": "db", "namespace": "default"},
    "spec": {"backendType": "gcpSecretsManager", "data": [{"key": "db", "name": "p"}]},
}


def test_the_receiver_works_as_its_service_account_and_is_never_refused(
    api: ApiServer, admin: Path, tmp_path: Path
) -> None:
    kubectl(admin, "apply", "-k", str(write_overlay(tmp_path / "overlay", ["recv"])))
    kubectl(admin, "apply", "-f", "-", stdin=yaml.safe_dump(EXTERNALSECRET))
    # The Deployment and its ConfigMap as the cluster holds them.
    deployed = yaml.safe_load(kubectl(admin, "get", "-n", "kes-system",
                                      "deployments,configmaps", "-o", "yaml").stdout)["items"]
    assert run_recv(api, admin, deployed, tmp_path) == 0
    assert api.call(lambda: api.requests.count(identity=RECV, code=403)) == 0


def test_the_removal_test_covers_every_rule_bound_to_the_receiver(tmp_path: Path) -> None:
    objects = render(write_overlay(tmp_path / "overlay", ["recv"]))
    assert sorted(granted(objects, RECV)) == sorted(RECV_RULES)


@pytest.mark.parametrize(("role", "index", "verb"), RECV_RULES, ids=ids(RECV_RULES))
def test_without_any_one_verb_the_receiver_code_that_needs_it_is_refused(
    api: ApiServer, admin: Path, tmp_path: Path, role: str, index: int, verb: str
) -> None:
    objects = render(write_overlay(tmp_path / "overlay", ["recv"]))
    changed, rule = without(objects, role, index, verb)
    api.load([*changed, EXTERNALSECRET])
    run_recv(api, admin, changed, tmp_path, lambda: refused(api, RECV, [verb], rule))
    assert refused(api, RECV, [verb], rule)
