"""End to end on the emulators: `kes recv` as a process between Secret Manager's Pub/Sub
pushes, GitHub's signed deliveries and `kes hmac` on one side and the real controller
on the other. The controller polls once an hour: every change below arrives through
the receiver."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from kes.cli import main as kes_main
from kes.controller.settings import ControllerSettings
from kes.gsm import RetryPolicy, SecretManager
from kes.names import SecretName
from kes_emulators.apiserver import ApiServer
from kes_emulators.github import GitHubEmulator
from kes_emulators.google_oidc import GoogleTokenIssuer
from kes_emulators.gsm import SecretManagerEmulator
from kes_emulators.gsm.events import PushAuth
from tests.recv.conftest import (
    AUDIENCE,
    CRD,
    PUSH_SA,
    REQUESTED_AT,
    externalsecret,
    namespace,
    route,
)
from tests.recv.volume import SecretVolume
from tests.support.embedded import BackgroundController
from tests.support.waiting import wait_for

FAST = RetryPolicy(initial=0.01, maximum=0.05, deadline=5.0, jitter=0.0)
GITHUB_HOOK_SECRET = "github-hook-secret"
PUBSUB_KEY = b"pubsub-route-key"
TOPIC = "projects/proj-one/topics/secret-events"
BOT_TOKEN = "ghp_e2e"


def token_es() -> dict[str, Any]:
    """The ExternalSecret syncing kes hmac's token map (as config/hmac has it)."""
    return {
        "apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "hmac-tokens", "namespace": "prow"},
        "spec": {"backendType": "gcpSecretsManager", "projectId": "proj-one",
                 "data": [{"key": "hmac-tokens", "name": "hmac", "version": "latest"}]},
    }


class Kubelet:
    """Mounts the token Secret as a volume, updating it as the kubelet does."""

    def __init__(self, core: k8s.CoreV1Api, volume: SecretVolume) -> None:
        self._core = core
        self.volume = volume
        self._stop = threading.Event()
        self._seen: bytes | None = None
        self._thread = threading.Thread(target=self._sync, daemon=True)
        self._thread.start()

    def _sync(self) -> None:
        while not self._stop.wait(0.02):
            try:
                secret = self._core.read_namespaced_secret("hmac-tokens", "prow")
            except ApiException:
                continue
            data = base64.b64decode((secret.data or {}).get("hmac", ""))
            if data and data != self._seen:
                self.volume.write({"hmac": data})
                self._seen = data

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Cluster:
    api: ApiServer
    gsm: SecretManagerEmulator
    github: GitHubEmulator
    core: k8s.CoreV1Api
    custom: k8s.CustomObjectsApi
    admin: str
    recv_url: str
    recv_log: Path
    tmp: Path

    def secret_value(self, name: str, ns: str = "apps") -> bytes | None:
        try:
            secret = self.core.read_namespaced_secret(name, ns)
        except ApiException:
            return None
        return base64.b64decode((secret.data or {}).get("key0", ""))

    def add_version(self, secret: str, data: bytes) -> None:
        async def add() -> None:
            gsm = SecretManager(emulator_host=self.gsm.address, retry=FAST)
            try:
                await gsm.add_version(SecretName("proj-one", secret), data)
            finally:
                await gsm.close()

        asyncio.run(add())

    def recv_patches(self) -> int:
        return self.api.call(lambda: self.api.requests.count(
            verb="patch", resource="externalsecrets",
            identity="system:serviceaccount:kes-system:kes-recv"))


def _start_recv(tmp: Path, kubeconfig: str, certs_url: str) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp / "github.key").write_text(GITHUB_HOOK_SECRET)
    (tmp / "pubsub.key").write_bytes(PUBSUB_KEY)
    SecretVolume(tmp / "token-volume").write({"hmac": b"{}\n"})
    (tmp / "recv.yaml").write_text(yaml.safe_dump({
        "kesRecvVersion": 1,
        "endpoints": [
            {"source": "GCPSecretManagerPubSub", "keyPath": "pubsub.key",
             "audience": AUDIENCE, "serviceAccount": PUSH_SA, "certsUrl": certs_url},
            {"source": "GitHub", "keyPath": "github.key",
             "refresh": {"namespace": "apps", "selector": {"matchLabels": {"team": "a"}}}},
            {"source": "GitHubProwTokens", "keyPath": "token-volume/hmac", "name": "prow",
             "refresh": {"namespace": "apps", "names": ["web"]}},
        ],
    }))
    log = tmp / "recv.log"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "kes", "recv", "--config", str(tmp / "recv.yaml"),
             "--listen", "127.0.0.1:0", "--kubeconfig", kubeconfig],
            env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    return process, log


def _logged(log: Path, message: str) -> dict[str, Any] | None:
    for line in log.read_text().splitlines():
        record: dict[str, Any] = json.loads(line)
        if record.get("message") == message:
            return record
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("recv-e2e")
    github = GitHubEmulator(seed={
        "tokens": {BOT_TOKEN: {"user": "bot", "scopes": ["admin:repo_hook"]}},
        "repos": {"foo/bar": {"admins": ["bot"]}, "org/app": {"admins": ["bot"]}},
    })
    with GoogleTokenIssuer().background() as issuer, ApiServer().background() as api, \
            github.background():
        api.load([
            CRD, namespace("apps"), namespace("prow"),
            externalsecret("db", "apps", ["db"]),
            externalsecret("cfg", "apps", ["cfg"], {"team": "a"}),
            externalsecret("other-cfg", "apps", ["cfg"], {"team": "b"}),
            token_es(),
        ])
        admin = str(api.write_kubeconfig(tmp / "admin.kubeconfig"))
        recv_config = str(api.write_kubeconfig(
            tmp / "recv.kubeconfig", api.create_service_account_token("kes-system", "kes-recv")))
        controller_config = str(api.write_kubeconfig(
            tmp / "controller.kubeconfig",
            api.create_service_account_token("kes-system", "kes-controller")))
        recv, recv_log = _start_recv(tmp, recv_config, issuer.certs_url)
        try:
            port = wait_for(lambda: (_logged(recv_log, "serving") or {}).get("port"), "recv")
            wait_for(lambda: _logged(recv_log, "ExternalSecrets listed"), "recv's list")
            recv_url = f"http://127.0.0.1:{port}"
            gsm = SecretManagerEmulator(
                notify_url=recv_url + route(PUBSUB_KEY), notify_all_secrets=False,
                push_auth=PushAuth(issuer, PUSH_SA, AUDIENCE))
            with gsm.background():
                gsm.seed({"secrets": [
                    {"name": "projects/proj-one/secrets/db", "topics": [TOPIC],
                     "versions": [{"data": "db-one"}]},
                    {"name": "projects/proj-one/secrets/cfg",  # no topic: no events
                     "versions": [{"data": "cfg-one"}]},
                    {"name": "projects/proj-one/secrets/hmac-tokens", "topics": [TOPIC]},
                ]})
                # Refetches of one ExternalSecret are merged per min_refresh_interval
                # (5 s by default); shorter here so that kes hmac's writes in a row
                # do not each wait for it.
                settings = ControllerSettings(poll_interval=3600.0, status_refresh=3600.0,
                                              max_backoff=3600.0, min_refresh_interval=0.5)
                with BackgroundController(settings, controller_config, gsm.address, FAST):
                    client = k8s_config.new_client_from_config(admin)
                    core = k8s.CoreV1Api(client)
                    yield Cluster(api, gsm, github, core, k8s.CustomObjectsApi(client), admin,
                                  recv_url, recv_log, tmp)
        finally:
            recv.terminate()
            assert recv.wait(timeout=30) == 0


def test_a_new_secret_manager_version_reaches_the_secret_through_recv(cluster: Cluster) -> None:
    wait_for(lambda: cluster.secret_value("db") == b"db-one", "the first sync")
    delivered = cluster.gsm.events.delivered
    cluster.add_version("db", b"db-two")
    wait_for(lambda: cluster.secret_value("db") == b"db-two", "the new version", timeout=10)
    assert cluster.gsm.events.delivered == delivered + 1
    assert cluster.gsm.events.failed == 0
    record = wait_for(lambda: _logged(cluster.recv_log, "delivery"), "the delivery log")
    assert record["reason"] == "SECRET_VERSION_ADD"


def test_a_signed_github_push_refreshes_the_selected_externalsecrets(cluster: Cluster) -> None:
    wait_for(lambda: cluster.secret_value("cfg") == b"cfg-one", "the first sync")
    wait_for(lambda: cluster.secret_value("other-cfg") == b"cfg-one", "the first sync")
    delivered = cluster.gsm.events.delivered
    cluster.add_version("cfg", b"cfg-two")  # no topic on cfg: Secret Manager tells nobody
    assert cluster.gsm.events.delivered == delivered
    assert cluster.secret_value("cfg") == b"cfg-one"
    cluster.github.add_hook("org/app", cluster.recv_url + route(GITHUB_HOOK_SECRET.encode()),
                            GITHUB_HOOK_SECRET)
    deliveries = cluster.github.run(cluster.github.deliver("org/app", "push", {"ref": "main"}))
    assert [d.status for d in deliveries] == [202]
    wait_for(lambda: cluster.secret_value("cfg") == b"cfg-two", "the refreshed Secret")
    # Outside the endpoint's selector: not annotated. (The controller reads a version
    # once for all its readers, so other-cfg may get the new value with cfg's refresh.)
    other = cluster.custom.get_namespaced_custom_object(
        "kubernetes-client.io", "v1", "apps", "externalsecrets", "other-cfg")
    assert REQUESTED_AT not in (other["metadata"].get("annotations") or {})


def run_hmac(cluster: Cluster, token_created_after: str) -> int:
    config = cluster.tmp / "prow-config.yaml"
    config.write_text(yaml.safe_dump({"managed_webhooks": {
        "org_repo_config": {"foo/bar": {"token_created_after": token_created_after}},
    }}))
    (cluster.tmp / "github-token").write_text(BOT_TOKEN)
    return kes_main([
        "hmac", "--config-path", str(config),
        "--github-token-path", str(cluster.tmp / "github-token"),
        "--github-endpoint", cluster.github.url, "--hook-url", cluster.recv_url + "/hook/prow",
        "--gsm-project", "proj-one", "--gsm-secret", "hmac-tokens", "--dry-run=false",
        "--wait-for-externalsecret", "prow/hmac-tokens", "--kubeconfig", cluster.admin,
        # The kubelet stand-in updates the volume within 20 ms of the Secret.
        "--propagation-grace", "0.5", "--propagation-timeout", "30",
        "--propagation-poll-interval", "0.05",
    ])


def test_tokens_from_kes_hmac_reach_recv_and_pruned_ones_are_refused(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_MANAGER_EMULATOR_HOST", cluster.gsm.address)
    github = cluster.github
    kubelet = Kubelet(cluster.core, SecretVolume(cluster.tmp / "token-volume"))
    try:
        assert run_hmac(cluster, "2020-01-01T00:00:00Z") == 0
        github.run(github.settle())
        [ping] = [d for d in github.deliveries if d.event == "ping"]
        assert ping.status == 200  # recv held the new token before the hook existed
        [hook] = github.hooks("foo/bar")
        first = hook.secret
        assert first is not None

        time.sleep(0.01)  # token_created_after: later than the first token, not future
        later = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        assert run_hmac(cluster, later) == 0
        [hook] = github.hooks("foo/bar")
        assert hook.secret not in (None, first)
        wait_for(lambda: first.encode() not in kubelet.volume.path("hmac").read_bytes(),
                 "the pruned map in the volume")
        # A second hook still signing with the pruned token.
        github.add_hook("foo/bar", cluster.recv_url + "/hook/prow", first)
        deliveries = github.run(github.deliver("foo/bar", "push", {"ref": "main"}))
        statuses = {d.hook_id: d.status for d in deliveries}
        assert statuses[hook.id] == 202
        assert sorted(statuses.values()) == [202, 401]
    finally:
        kubelet.stop()
