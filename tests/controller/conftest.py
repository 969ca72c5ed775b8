"""Shared builders and emulator fixtures for the controller tests."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from kes.controller.settings import ControllerSettings
from kes.gsm import RetryPolicy, SecretManager
from kes.names import SecretName, SecretVersionName
from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator
from tests.support.embedded import BackgroundController
from tests.support.waiting import wait_for


def make_externalsecret(
    name: str,
    namespace: str = "default",
    *,
    data: list[dict[str, Any]] | None = None,
    uid: str | None = None,
    generation: int = 1,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"backendType": "gcpSecretsManager", "projectId": "proj-one", **spec}
    if data is not None:
        body["data"] = data
    return {
        "apiVersion": "kubernetes-client.io/v1",
        "kind": "ExternalSecret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"uid-{namespace}-{name}",
            "generation": generation,
            "annotations": annotations or {},
        },
        "spec": body,
    }


@pytest.fixture
def es() -> Any:
    return make_externalsecret


FAST_RETRY = RetryPolicy(
    initial=0.01, maximum=0.02, multiplier=2.0, deadline=0.1, jitter=0.0, attempt_timeout=2.0
)


def gsm_seed(values: dict[str, list[str | bytes]]) -> dict[str, Any]:
    """{"projects/p/secrets/s": [v1, v2]} as an emulator seed section."""
    secrets = []
    for name, versions in values.items():
        secrets.append(
            {
                "name": name,
                "versions": [
                    {"base64": base64.b64encode(v).decode()}
                    if isinstance(v, bytes)
                    else {"data": v}
                    for v in versions
                ],
            }
        )
    return {"secrets": secrets}


@pytest.fixture
async def gsm(gsm_emulator: SecretManagerEmulator) -> AsyncIterator[SecretManager]:
    manager = SecretManager(emulator_host=gsm_emulator.address, retry=FAST_RETRY)
    yield manager
    await manager.close()


@pytest.fixture
def seed() -> Any:
    return gsm_seed


# ---- integration: the emulators in background threads, the controller on its own loop ----

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "externalsecret.yaml"
GROUP, VERSION, PLURAL = "kubernetes-client.io", "v1", "externalsecrets"
T = TypeVar("T")


class Kube:
    """The test's own view of the cluster, through the official client."""

    def __init__(self, api: ApiServer, kubeconfig: str) -> None:
        self.api = api
        self.kubeconfig = kubeconfig
        client = k8s_config.new_client_from_config(kubeconfig)
        self.core = k8s.CoreV1Api(client)
        self.custom = k8s.CustomObjectsApi(client)

    def apply_es(self, obj: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in obj.items() if k != "status"}
        body["metadata"] = {
            k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "annotations")
        }
        ns = body["metadata"].get("namespace", "default")
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, body, _headers={"Content-Type": "application/json"}
        )
        return created

    def es(self, name: str, namespace: str = "default") -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
        return found

    def patch_es(self, name: str, patch: dict[str, Any], namespace: str = "default") -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)

    def delete_es(self, name: str, namespace: str = "default") -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def secret(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        try:
            response = self.core.read_namespaced_secret(name, namespace, _preload_content=False)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        body: dict[str, Any] = json.loads(response.data)
        return body

    def secret_data(self, name: str, namespace: str = "default") -> dict[str, bytes] | None:
        secret = self.secret(name, namespace)
        if secret is None:
            return None
        return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}

    def status(self, name: str, namespace: str = "default") -> dict[str, Any]:
        status: dict[str, Any] = self.es(name, namespace).get("status") or {}
        return status

    def wait_status(
        self, name: str, prefix: str, namespace: str = "default", timeout: float = 30.0
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            status = self.status(name, namespace)
            return status if str(status.get("status", "")).startswith(prefix) else None

        return wait_for(probe, f"status {prefix!r} on {namespace}/{name}", timeout)

    def events(self, name: str, namespace: str = "default") -> list[tuple[str, str, str]]:
        response = self.core.list_namespaced_event(namespace, _preload_content=False)
        return [
            (e["type"], e["reason"], e["message"])
            for e in json.loads(response.data)["items"]
            if e["involvedObject"].get("name") == name
        ]

    def requests(
        self, *verbs: str, resource: str | None = None, namespace: str | None = None
    ) -> int:
        """Requests the controller made so far (the test's own are not counted)."""
        api = self.api

        def count() -> int:
            return sum(
                n
                for r, n in api.requests.all().items()
                if r.verb in verbs
                and (resource is None or r.resource == resource)
                and (namespace is None or r.namespace == namespace)
                and r.identity == CONTROLLER_IDENTITY
            )

        return api.call(count)


CONTROLLER_IDENTITY = "system:serviceaccount:kes-system:kes-controller"


@pytest.fixture
def apiserver() -> Iterator[ApiServer]:
    with ApiServer().background() as api:
        api.load([yaml.safe_load(CRD_PATH.read_text())])
        yield api


@pytest.fixture
def gsm_sync() -> Iterator[SecretManagerEmulator]:
    with SecretManagerEmulator().background() as emulator:
        yield emulator


@pytest.fixture
def kube(apiserver: ApiServer, tmp_path: Path) -> Kube:
    admin = apiserver.write_kubeconfig(tmp_path / "admin.kubeconfig")
    return Kube(apiserver, str(admin))


@pytest.fixture
def controller_kubeconfig(apiserver: ApiServer, tmp_path: Path) -> str:
    """The controller authenticates as its service account, so requests tell who sent them."""
    token = apiserver.create_service_account_token("kes-system", "kes-controller")
    return str(apiserver.write_kubeconfig(tmp_path / "controller.kubeconfig", token))


@pytest.fixture
def start_controller(
    controller_kubeconfig: str, gsm_sync: SecretManagerEmulator
) -> Iterator[Callable[..., BackgroundController]]:
    started: list[BackgroundController] = []

    def start(wait_ready: bool = True, **overrides: Any) -> BackgroundController:
        settings = ControllerSettings(
            **{"poll_interval": 3600.0, "status_refresh": 3600.0, "max_backoff": 0.5, **overrides}
        )
        controller = BackgroundController(
            settings, controller_kubeconfig, gsm_sync.address, FAST_RETRY
        )
        started.append(controller)
        controller.start()
        if wait_ready:
            wait_for(lambda: controller.controller.ready.is_set(), "initial lists")
        return controller

    yield start
    for controller in started:
        controller.close()


class Gsm:
    """The test's hand on Secret Manager: the real gateway, against the emulator."""

    def __init__(self, emulator: SecretManagerEmulator) -> None:
        self.emulator = emulator

    def _run(self, action: Callable[[SecretManager], Any]) -> Any:
        async def go() -> Any:
            manager = SecretManager(emulator_host=self.emulator.address, retry=FAST_RETRY)
            try:
                return await action(manager)
            finally:
                await manager.close()

        return asyncio.run(go())

    def seed(self, values: dict[str, list[str | bytes]]) -> None:
        self.emulator.seed(gsm_seed(values))

    def add_version(self, secret: str, data: str | bytes) -> str:
        payload = data.encode() if isinstance(data, str) else data
        return str(self._run(lambda m: m.add_version(SecretName.parse(secret), payload)))

    def disable(self, version: str) -> None:
        self._run(lambda m: m.disable_version(SecretVersionName.parse(version)))

    @property
    def accesses(self) -> int:
        return self.emulator.counters.calls["AccessSecretVersion"]


@pytest.fixture
def gsm_hand(gsm_sync: SecretManagerEmulator) -> Gsm:
    return Gsm(gsm_sync)


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_for


def settle(controller: BackgroundController) -> None:
    """Wait until the controller has no cycle running or pending."""
    wait_for(lambda: controller.read(lambda: controller.controller.poller.idle), "an idle poller")


@pytest.fixture
def idle() -> Callable[[BackgroundController], None]:
    return settle
