"""The image's commands (controller, recv, hmac, render) start as the Deployments run
them: the package as the Docker build installs it, a uid with no passwd entry, no
capabilities, no writable HOME, a read-only root filesystem, a minimal environment
(see tests/support/container.py)."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator
from tests.support.container import Image, build_context, session_folder, shared_image
from tests.support.waiting import wait_for

CRD = Path(__file__).resolve().parents[2] / "crds" / "externalsecret.yaml"
TOKEN_MAP = "projects/proj-one/secrets/db"
EXTERNALSECRET = {
    "apiVersion": "kubernetes-client.io/v1",
    "kind": "ExternalSecret",
    "metadata": {"name": "db", "namespace": "default"},
    "spec": {"backendType": "gcpSecretsManager", "projectId": "proj-one",
             "data": [{"key": "db", "name": "password", "property": "password"}]},
}

@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """Built and installed once per test session, whichever worker comes first."""
    return shared_image(session_folder(tmp_path_factory))


@pytest.fixture(scope="module")
def gsm() -> Iterator[SecretManagerEmulator]:
    with SecretManagerEmulator().background() as emulator:
        emulator.seed({"secrets": [{"name": TOKEN_MAP,
                                    "versions": [{"data": '{"password": "pw1"}'}]}]})
        yield emulator


def test_the_build_context_is_the_package_alone(tmp_path: Path) -> None:
    context = build_context(tmp_path / "context")
    # Docker always sends the Dockerfile and .dockerignore; COPY leaves both out.
    assert sorted(p.name for p in context.iterdir()) == [
        ".dockerignore", "Dockerfile", "README.md", "kes", "pyproject.toml"]
    assert not list(context.rglob("__pycache__"))


def test_the_wheel_holds_kes_only(image: Image) -> None:
    with zipfile.ZipFile(image.wheel) as wheel:
        tops = {name.split("/")[0] for name in wheel.namelist()}
    assert tops == {"kes", f"{image.wheel.name.split('-py3')[0]}.dist-info"}


def test_the_emulators_are_not_installed(image: Image) -> None:
    env = image.environment()
    found = image.run(["python", "-c", "import kes; print(kes.__file__)"], env)
    assert found.stdout.startswith(f"{image.venv}/lib/")  # not the checkout
    missing = image.run(["python", "-c", "import kes_emulators"], env)
    assert missing.returncode == 1
    assert "No module named 'kes_emulators'" in missing.stderr
    emulate = image.run(["kes", "emulate"], env)
    assert emulate.returncode == 2
    assert "the emulators are not installed" in emulate.stderr


def test_kes_hmac_help(image: Image) -> None:
    result = image.run(["kes", "hmac", "--help"], image.environment())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: kes hmac")
    assert result.stderr == ""


def test_kes_render(image: Image, gsm: SecretManagerEmulator) -> None:
    manifest = image.share("render.yaml", yaml.safe_dump(EXTERNALSECRET))
    env = image.environment(SECRET_MANAGER_EMULATOR_HOST=gsm.address)
    result = image.run(["kes", "render", "-f", str(manifest)], env)
    assert result.returncode == 0, result.stderr
    secret = yaml.safe_load(result.stdout)
    assert secret["data"] == {"password": "<redacted, 3 bytes>"}


def test_kes_controller_syncs_an_externalsecret(
    image: Image, gsm: SecretManagerEmulator, tmp_path: Path
) -> None:
    with ApiServer(tls=True).background() as api:
        api.load([yaml.safe_load(CRD.read_text())])
        kubeconfig = shared_kubeconfig(image, api, "kes-controller")
        admin = k8s_config.new_client_from_config(
            str(api.write_kubeconfig(tmp_path / "admin.kubeconfig")))
        env = image.environment(
            SECRET_MANAGER_EMULATOR_HOST=gsm.address,
            METRICS_ADDRESS="127.0.0.1:0",
            LEADER_ELECTION="true",
            POD_NAMESPACE="kes-system",  # no POD_NAME: the hostname names this replica
        )
        log = tmp_path / "controller.log"
        with log.open("wb") as output, image.start(
            ["kes", "controller", "--kubeconfig", str(kubeconfig)], env, output
        ) as process:
            wait_for(lambda: "initial lists done" in log.read_text() or process.poll(),
                     "initial lists")
            assert process.poll() is None, log.read_text()
            k8s.CustomObjectsApi(admin).create_namespaced_custom_object(
                "kubernetes-client.io", "v1", "default", "externalsecrets", EXTERNALSECRET)
            core = k8s.CoreV1Api(admin)
            secret = wait_for(lambda: _secret(core, "db"), "the Secret")
            assert secret.data == {"password": "cHcx"}
            lease = k8s.CoordinationV1Api(admin).read_namespaced_lease(
                "kes-controller", "kes-system")
            assert lease.spec.holder_identity == socket.gethostname()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert [r["message"] for r in records if r["level"] in ("error", "critical")] == []


def test_kes_recv_serves(image: Image, tmp_path: Path) -> None:
    with ApiServer(tls=True).background() as api:
        api.load([yaml.safe_load(CRD.read_text())])
        kubeconfig = shared_kubeconfig(image, api, "kes-recv")
        image.share("recv.key", "a-dockerhub-key-of-at-least-20-bytes")
        config = image.share("recv.yaml", "kesRecvVersion: 1\n"
                             "endpoints: [{source: DockerHub, keyPath: recv.key}]\n")
        log = tmp_path / "recv.log"
        argv = ["kes", "recv", "--config", str(config), "--listen", "127.0.0.1:0",
                "--kubeconfig", str(kubeconfig)]
        with log.open("wb") as output, image.start(argv, image.environment(), output) as process:
            wait_for(lambda: '"watching ExternalSecrets"' in log.read_text() or process.poll(),
                     "the receiver's start")
            assert process.poll() is None, log.read_text()
            [serving] = [json.loads(line) for line in log.read_text().splitlines()
                         if '"serving"' in line]
            with urllib.request.urlopen(f"http://127.0.0.1:{serving['port']}/readyz") as ready:
                assert ready.status == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()


def shared_kubeconfig(image: Image, api: ApiServer, account: str) -> Path:
    """A kubeconfig for the service account kes-system/`account`, which the container
    may read (the CA certificate beside it too)."""
    token = api.create_service_account_token("kes-system", account)
    kubeconfig = api.write_kubeconfig(image.root / f"{account}.kubeconfig", token)
    for path in (kubeconfig, kubeconfig.with_name(kubeconfig.name + ".ca.crt")):
        path.chmod(0o644)
    return kubeconfig


def _secret(core: k8s.CoreV1Api, name: str) -> k8s.V1Secret | None:
    secrets = core.list_namespaced_secret("default", field_selector=f"metadata.name={name}")
    return secrets.items[0] if secrets.items else None
