"""End to end: `kes hmac` writes Secret Manager, the real controller syncs the Secret,
GitHub's signed deliveries verify against the token the Secret holds."""

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kes.cli import main
from kes.controller.settings import ControllerSettings
from kes.gsm import RetryPolicy, SecretManager
from kes.names import SecretName
from kes.tokens import parse_token_map
from kes_emulators.apiserver import ApiServer
from kes_emulators.github import GitHubEmulator
from kes_emulators.gsm import SecretManagerEmulator
from kes_emulators.serving import BackgroundLoop
from tests.support.embedded import BackgroundController

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE, NAME = "prow", "hmac-tokens"
FAST = RetryPolicy(initial=0.01, maximum=0.05, deadline=5.0, jitter=0.0)


class SecretBackedReceiver:
    """A webhook receiver whose tokens are the Secret's, read on every delivery (the
    pod's mounted file, without the kubelet's delay)."""

    def __init__(self, kubeconfig: str) -> None:
        self.core = k8s.CoreV1Api(k8s_config.new_client_from_config(kubeconfig))
        self.results: list[tuple[str, int]] = []
        self.url = ""

    def tokens(self, repo: str) -> list[str]:
        secret = self.core.read_namespaced_secret(NAME, NAMESPACE)
        tokens = parse_token_map(
            base64.b64decode(secret.data["hmac"]), respect_legacy_global_token=True
        )
        return [t.value for t in tokens.get(repo, ())]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        repo = json.loads(body)["repository"]["full_name"]
        expected = [
            "sha256=" + hmac.new(t.encode(), body, hashlib.sha256).hexdigest()
            for t in self.tokens(repo)
        ]
        signature = request.headers["X-Hub-Signature-256"]
        ok = any(hmac.compare_digest(signature, e) for e in expected)
        self.results.append((request.headers["X-GitHub-Event"], 200 if ok else 401))
        return web.Response(status=200 if ok else 401)

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        return runner


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch) -> Iterator[dict]:
    gsm = SecretManagerEmulator()
    github = GitHubEmulator(seed={
        "tokens": {"ghp_e2e": {"user": "bot", "scopes": ["admin:repo_hook"]}},
        "repos": {"foo/bar": {"admins": ["bot"]}},
    })
    with ApiServer().background() as api, gsm.background(), github.background():
        crd = yaml.safe_load((ROOT / "crds" / "externalsecret.yaml").read_text())
        api.load([
            crd,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            {"apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
             "metadata": {"name": NAME, "namespace": NAMESPACE},
             "spec": {"backendType": "gcpSecretsManager", "projectId": "prow-project",
                      "refreshInterval": "100ms",
                      "data": [{"key": "hmac-tokens", "name": "hmac", "version": "latest"}]}},
        ])
        admin = str(api.write_kubeconfig(tmp_path / "admin.kubeconfig"))
        token = api.create_service_account_token("kes-system", "kes-controller")
        controller_config = str(api.write_kubeconfig(tmp_path / "controller.kubeconfig", token))
        receiver = SecretBackedReceiver(admin)
        loop = BackgroundLoop("receiver")
        runner = loop.run(receiver.start())
        settings = ControllerSettings(poll_interval=3600.0, status_refresh=3600.0, max_backoff=0.1)
        with BackgroundController(settings, controller_config, gsm.address, FAST):
            monkeypatch.setenv("SECRET_MANAGER_EMULATOR_HOST", gsm.address)
            (tmp_path / "token").write_text("ghp_e2e")
            yield {"github": github, "gsm": gsm, "receiver": receiver, "kubeconfig": admin,
                   "tmp": tmp_path}
        loop.run(runner.cleanup())
        loop.close()


def run_hmac(cluster: dict, token_created_after: str) -> int:
    config = cluster["tmp"] / "config.yaml"
    config.write_text(yaml.safe_dump({"managed_webhooks": {
        "org_repo_config": {"foo/bar": {"token_created_after": token_created_after}},
    }}))
    return main([
        "hmac", "--config-path", str(config),
        "--github-token-path", str(cluster["tmp"] / "token"),
        "--github-endpoint", cluster["github"].url, "--hook-url", cluster["receiver"].url,
        "--gsm-project", "prow-project", "--gsm-secret", "hmac-tokens", "--dry-run=false",
        "--wait-for-externalsecret", f"{NAMESPACE}/{NAME}", "--kubeconfig", cluster["kubeconfig"],
        "--propagation-grace", "0", "--propagation-timeout", "30",
        "--propagation-poll-interval", "0.05",
    ])


def push(cluster: dict) -> list[int | None]:
    github = cluster["github"]
    return [d.status for d in github.run(github.deliver("foo/bar", "push", {"ref": "main"}))]


def test_onboard_then_rotate_with_the_controller_in_between(cluster) -> None:
    github, receiver = cluster["github"], cluster["receiver"]
    assert run_hmac(cluster, "2020-01-01T00:00:00Z") == 0
    github.run(github.settle())
    assert receiver.results == [("ping", 200)]  # the Secret held the token before the hook
    assert push(cluster) == [200]
    [hook] = github.hooks("foo/bar")
    first = hook.secret
    assert receiver.tokens("foo/bar") == [first]

    time.sleep(0.01)  # token_created_after must be later than the first token, not future
    later = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    assert run_hmac(cluster, later) == 0
    [hook] = github.hooks("foo/bar")
    assert hook.secret != first
    assert push(cluster) == [200]
    # The store and the Secret end with the newest token only; older versions are gone.
    assert receiver.tokens("foo/bar") == [hook.secret]
    assert asyncio.run(readable_versions(cluster["gsm"].address)) == 1


async def readable_versions(address: str) -> int:
    gsm = SecretManager(emulator_host=address, retry=FAST)
    try:
        versions = await gsm.list_versions(SecretName("prow-project", "hmac-tokens"))
    finally:
        await gsm.close()
    return sum(v.state != "DESTROYED" for v in versions)


def test_as_a_github_app_with_a_split_config_and_the_first_endpoint_down(
    cluster, app_key
) -> None:
    """As a Prow deployment runs it: a GitHub App's installation tokens, managed_webhooks
    spread over the main config and a supplemental one, ghproxy (down) before the API."""
    github, receiver, tmp = cluster["github"], cluster["receiver"], cluster["tmp"]
    github.add_repo("foo/baz", admins=["bot"])
    github.add_app(4242, app_key.public_pem, slug="prow-app")
    github.install_app(4242, "foo")
    (tmp / "app.pem").write_text(app_key.private_pem)
    (tmp / "config.yaml").write_text(yaml.safe_dump({"managed_webhooks": {
        "org_repo_config": {"foo/bar": {"token_created_after": "2020-01-01T00:00:00Z"}},
    }}))
    (tmp / "sup" / "team").mkdir(parents=True)
    (tmp / "sup" / "team" / "foo_prowconfig.yaml").write_text(yaml.safe_dump({
        "managed_webhooks": {"org_repo_config": {"foo/baz": {}}},
    }))
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}"
    assert main([
        "hmac", "--config-path", str(tmp / "config.yaml"),
        "--supplemental-prow-config-dir", str(tmp / "sup"),
        "--github-app-id", "4242", "--github-app-private-key-path", str(tmp / "app.pem"),
        "--github-endpoint", down, "--github-endpoint", github.url,
        "--hook-url", receiver.url, "--gsm-project", "prow-project",
        "--gsm-secret", "hmac-tokens", "--dry-run=false",
        "--wait-for-externalsecret", f"{NAMESPACE}/{NAME}", "--kubeconfig", cluster["kubeconfig"],
        "--propagation-grace", "0", "--propagation-timeout", "30",
        "--propagation-poll-interval", "0.05",
    ]) == 0
    github.run(github.settle())
    assert sorted(receiver.results) == [("ping", 200), ("ping", 200)]
    for repo in ("foo/bar", "foo/baz"):
        [hook] = github.hooks(repo)
        assert receiver.tokens(repo) == [hook.secret]
        statuses = [d.status for d in github.run(github.deliver(repo, "push", {"ref": "main"}))]
        assert statuses == [200]
    assert github.calls["POST /app/installations/{installation_id}/access_tokens"] == 1
