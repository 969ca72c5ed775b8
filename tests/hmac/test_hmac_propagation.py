"""Waiting for the cluster, read through the `kubernetes` client from the API server
emulator; the test plays the controller by writing the ExternalSecret status and Secret."""

import asyncio
import base64
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kes.hmac.propagation import ExternalSecretPropagation, PropagationTimeout
from kes.kube import Cluster as KubeCluster
from kes.kube import Kube, load_cluster
from kes.names import SecretVersionName
from kes_emulators.apiserver import ApiServer

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE, NAME = "prow", "hmac-tokens"
VERSION = SecretVersionName("prow-project", "hmac-tokens", "2")
POLL, GRACE, TIMEOUT = 2.0, 60.0, 30.0
JSON = "application/json"
ROTATE_AFTER = "2025-06-01T00:00:00Z"
START = {"foo/bar": "old-bar", "foo/baz": "old-baz", "qux": "old-qux"}
CONFIG = {"foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER, "qux": ROTATE_AFTER}


def external_secret() -> dict:
    return {
        "apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"backendType": "gcpSecretsManager", "projectId": "prow-project",
                 "data": [{"key": "hmac-tokens", "name": "hmac", "version": "latest"}]},
    }


def client_of(kubeconfig: Path) -> k8s.ApiClient:
    """The test's own hand on the cluster: the official client."""
    return k8s_config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture
async def apiserver(tmp_path):
    server = ApiServer()
    await server.start()
    crd = yaml.safe_load((ROOT / "crds" / "externalsecret.yaml").read_text())
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    server.load([crd, namespace, external_secret()])
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    server.api = client_of(kubeconfig)
    yield server
    server.api.close()
    await server.stop()


class Cluster:
    """Plays the controller and the clock: each sleep lets time pass and may sync."""

    def __init__(self, api) -> None:
        self.api = api
        self.now = 0.0
        self.sleeps: list[float] = []
        self.steps: list = []  # what the "controller" does at each sleep, in order

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.steps:
            await asyncio.to_thread(self.steps.pop(0))

    def write_status(self, resolved: SecretVersionName) -> None:
        self.write_status_of(NAME, resolved)

    def write_status_of(self, name: str, resolved: SecretVersionName) -> None:
        k8s.CustomObjectsApi(self.api).patch_namespaced_custom_object_status(
            "kubernetes-client.io", "v1", NAMESPACE, "externalsecrets", name,
            {"status": {"versions": [{"key": str(resolved.secret_name.version("latest")),
                                      "resolved": str(resolved)}]}},
        )

    def write_secret(self, data: bytes) -> None:
        body = k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=NAME, namespace=NAMESPACE),
            data={"hmac": base64.b64encode(data).decode()},
        )
        core = k8s.CoreV1Api(self.api)
        try:
            core.replace_namespaced_secret(NAME, NAMESPACE, body, _headers={"Content-Type": JSON})
        except k8s.exceptions.ApiException as err:
            assert err.status == 404
            core.create_namespaced_secret(NAMESPACE, body, _headers={"Content-Type": JSON})

    def propagation(self) -> ExternalSecretPropagation:
        return ExternalSecretPropagation(
            Kube(KubeCluster(self.api.configuration)), NAMESPACE, NAME, grace=GRACE,
            timeout=TIMEOUT, poll_interval=POLL, sleep=self.sleep, clock=self.clock,
        )


async def test_waits_for_the_status_then_the_secret_then_the_grace(apiserver) -> None:
    cluster = Cluster(apiserver.api)
    cluster.steps = [
        lambda: cluster.write_status(VERSION),
        lambda: cluster.write_secret(b"foo/bar:\n- value: tok-new\n"),
    ]
    await cluster.propagation().wait(VERSION, {"tok-new"})
    assert cluster.sleeps == [POLL, POLL, GRACE]


async def test_the_project_may_be_spelled_as_a_number(apiserver) -> None:
    cluster = Cluster(apiserver.api)
    numbered = SecretVersionName("123456789", "hmac-tokens", "2")
    await asyncio.to_thread(cluster.write_status, numbered)
    await asyncio.to_thread(cluster.write_secret, b"tok-new")
    await cluster.propagation().wait(VERSION, {"tok-new"})
    assert cluster.sleeps == [GRACE]


async def test_an_older_version_in_the_status_is_not_enough(apiserver) -> None:
    cluster = Cluster(apiserver.api)
    await asyncio.to_thread(cluster.write_status, VERSION.secret_name.version("1"))
    await asyncio.to_thread(cluster.write_secret, b"tok-new")
    with pytest.raises(PropagationTimeout) as caught:
        await cluster.propagation().wait(VERSION, {"tok-new"})
    message = str(caught.value)
    assert f"ExternalSecret {NAMESPACE}/{NAME} status.versions does not report" in message
    assert "secrets/hmac-tokens/versions/2" in message and "tok-new" not in message
    assert cluster.sleeps == [POLL] * int(TIMEOUT / POLL)


async def test_a_secret_without_the_new_tokens_times_out(apiserver) -> None:
    cluster = Cluster(apiserver.api)
    await asyncio.to_thread(cluster.write_status, VERSION)
    await asyncio.to_thread(cluster.write_secret, b"tok-old")
    with pytest.raises(PropagationTimeout, match="does not hold the new tokens"):
        await cluster.propagation().wait(VERSION, {"tok-new", "tok-old"})


async def test_a_missing_external_secret_is_named(apiserver) -> None:
    cluster = Cluster(apiserver.api)
    propagation = cluster.propagation()
    propagation.name = "absent"
    with pytest.raises(PropagationTimeout, match="ExternalSecret prow/absent does not exist"):
        await propagation.wait(VERSION, {"tok"})


async def test_job_timeout_touches_no_hook_and_a_rerun_converges(apiserver, harness) -> None:
    await harness.setup(START)
    cluster = Cluster(apiserver.api)
    with pytest.raises(PropagationTimeout, match="; no webhook was changed$"):
        await harness.job(CONFIG, propagation=cluster.propagation()).run()
    assert harness.github.writes == 0
    assert harness.gsm_emulator.counters.calls["AddSecretVersion"] == 1  # staged only
    await harness.assert_every_hook_verifies()

    async def sync_latest() -> None:
        """What the controller does: serve the latest version into the Secret."""
        value = await harness.gsm.access(VERSION.secret_name.version("latest"))
        await asyncio.to_thread(cluster.write_secret, value.data)
        await asyncio.to_thread(cluster.write_status, value.name)

    class SyncingCluster(Cluster):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            await sync_latest()

    syncing = SyncingCluster(apiserver.api)
    report = await harness.job(CONFIG, propagation=syncing.propagation()).run()
    assert report.ok
    # One wait before the hooks (poll, grace) and one before destroying (poll, grace).
    assert syncing.sleeps == [POLL, GRACE, POLL, GRACE]
    await harness.assert_converged(CONFIG)


async def test_a_timeout_before_destroying_says_the_hooks_are_done(apiserver, harness) -> None:
    await harness.setup(START)
    synced: list[SecretVersionName] = []

    class SyncsOnce(Cluster):
        """Serves the staged version, then nothing more."""

        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            if not synced:
                value = await harness.gsm.access(VERSION.secret_name.version("latest"))
                await asyncio.to_thread(self.write_secret, value.data)
                await asyncio.to_thread(self.write_status, value.name)
                synced.append(value.name)

    cluster = SyncsOnce(apiserver.api)
    with pytest.raises(PropagationTimeout) as caught:
        await harness.job(CONFIG, propagation=cluster.propagation()).run()
    assert str(caught.value).endswith(
        "; the hooks are done, and a later run destroys the superseded versions"
    )
    assert "no webhook was changed" not in str(caught.value)
    assert harness.github.writes == 4  # one delete, one create, two edits
    assert len(await harness.readable_versions()) == 3
    await harness.propagation.wait(synced[0], ())  # the receiver holds what was served
    await harness.assert_every_hook_verifies()


async def test_an_unreachable_cluster_times_out_with_a_clear_message() -> None:
    configuration = k8s.Configuration(host="http://127.0.0.1:1")
    configuration.retries = 0
    with k8s.ApiClient(configuration) as api:
        cluster = Cluster(api)
        with pytest.raises(PropagationTimeout, match=r"prow/hmac-tokens could not be read \("):
            await cluster.propagation().wait(VERSION, {"tok"})
    assert cluster.sleeps == [POLL] * int(TIMEOUT / POLL)


async def test_the_example_rbac_is_enough_and_no_more(tmp_path) -> None:
    server = ApiServer(rbac=True)
    await server.start()
    try:
        crd = yaml.safe_load((ROOT / "crds" / "externalsecret.yaml").read_text())
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        es = external_secret()
        es["metadata"]["name"] = "hmac-token"
        rbac = list(yaml.safe_load_all((ROOT / "config" / "hmac" / "rbac.yaml").read_text()))
        secret = {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "hmac-token", "namespace": NAMESPACE},
                  "data": {"hmac": base64.b64encode(b"tok-new").decode()}}
        other = {"apiVersion": "v1", "kind": "Secret",
                 "metadata": {"name": "other", "namespace": NAMESPACE}}
        await asyncio.to_thread(server.load, [crd, namespace, es, *rbac, secret, other])
        token = await asyncio.to_thread(
            server.create_service_account_token, "test-pods", "kes-hmac"
        )
        kubeconfig = server.write_kubeconfig(tmp_path / "job.kubeconfig", token)
        admin = client_of(server.write_kubeconfig(tmp_path / "admin.kubeconfig"))
        cluster = Cluster(admin)
        await asyncio.to_thread(cluster.write_status_of, "hmac-token", VERSION)
        job_api = client_of(kubeconfig)
        waiting = ExternalSecretPropagation(
            Kube(load_cluster(str(kubeconfig))), NAMESPACE, "hmac-token", grace=0, timeout=0,
            sleep=cluster.sleep, clock=cluster.clock,
        )
        await waiting.wait(VERSION, {"tok-new"})
        with pytest.raises(k8s.exceptions.ApiException) as caught:
            await asyncio.to_thread(k8s.CoreV1Api(job_api).read_namespaced_secret,
                                    "other", NAMESPACE)
        assert caught.value.status == 403
        job_api.close()
        admin.close()
    finally:
        await server.stop()
