"""One run of `kes controller` that takes every code path its RBAC rules exist for.

Started as its Deployment starts it (the container's arguments and environment, the
service account's token), it takes the Lease, lists and watches, creates, updates,
repairs and replaces Secrets, meets a Secret it does not own, writes statuses and
Events, and releases the Lease on SIGTERM. `stop_when` ends the run early: a test that
removed a permission stops once the refusal it expects has happened.
"""

from __future__ import annotations

import base64
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator
from tests.support.cluster import Obj, container_env, controller_argv, started
from tests.support.waiting import wait_for

GROUP, VERSION, PLURAL = "kubernetes-client.io", "v1", "externalsecrets"
POD_NAME = "kes-controller-5d8f7c9b4-x2x7q"


def seed(gsm: SecretManagerEmulator) -> None:
    gsm.seed({"secrets": [{"name": "projects/kes-test-project/secrets/db",
                           "versions": [{"data": '{"password": "pw1"}'}]}]})


def externalsecret(name: str, namespace: str, key_name: str = "password",
                   template: dict[str, Any] | None = None) -> Obj:
    spec: Obj = {"backendType": "gcpSecretsManager",  # the project is the default one
                 "data": [{"key": "db", "name": key_name, "property": "password"}]}
    if template:
        spec["template"] = template
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


class ControllerRun:
    def __init__(self, api: ApiServer, admin: Path, gsm: SecretManagerEmulator,
                 objects: Sequence[Obj], namespace: str, workdir: Path,
                 stop_when: Callable[[], bool] = lambda: False) -> None:
        self.namespace = namespace
        self.log = workdir / "controller.log"
        self._stop_when = stop_when
        client = k8s_config.new_client_from_config(str(admin))
        self.core = k8s.CoreV1Api(client)
        self.custom = k8s.CustomObjectsApi(client)
        token = api.create_service_account_token("kes-system", "kes-controller")
        kubeconfig = api.write_kubeconfig(workdir / "controller.kubeconfig", token)
        self.argv = controller_argv(objects, kubeconfig)
        # As the Deployment sets it; only where metrics listen and where Secret Manager
        # is differ on a test machine.
        self.env = {**container_env(objects, POD_NAME), "METRICS_ADDRESS": "127.0.0.1:0",
                    "SECRET_MANAGER_EMULATOR_HOST": gsm.address, "GRPC_VERBOSITY": "NONE"}

    @contextmanager
    def started(self) -> Iterator[subprocess.Popen[bytes]]:
        """The controller process, once its initial lists are done; killed if left running."""
        with self.log.open("wb") as output, started(self.argv, self.env, output) as process:
            wait_for(lambda: "initial lists done" in self.log.read_text()
                     or process.poll() is not None, "the controller's start")
            assert process.poll() is None, self.log.read_text()
            yield process

    def run(self) -> int | None:
        """The whole scenario; the exit code, or None when `stop_when` ended it first."""
        ns = self.namespace
        self.core.create_namespaced_secret(ns, {"metadata": {"name": "taken"},
                                                "stringData": {"owner": "someone else"}})
        with self.log.open("wb") as output, started(self.argv, self.env, output) as process:
            steps: list[tuple[str, Callable[[], Any], Callable[[], bool]]] = [
                ("start", lambda: None, lambda: "initial lists done" in self.log.read_text()),
                ("create", lambda: self._create(externalsecret("db", ns)),
                 lambda: self._data("db") == {"password": b"pw1"}
                 and self._status("db") == "SUCCESS"),
                ("meet a foreign Secret", lambda: self._create(externalsecret("taken", ns)),
                 lambda: "not owned" in self._status("taken")),
                ("repair a deleted Secret", lambda: self.core.delete_namespaced_secret("db", ns),
                 lambda: self._data("db") == {"password": b"pw1"}),
                ("update", lambda: self._patch("db", {"spec": {"data": [
                    {"key": "db", "name": "pass", "property": "password"}]}}),
                 lambda: self._data("db") == {"pass": b"pw1"}
                 and ("Updated", "db") in self._events()),
                ("replace", lambda: self._patch("db", {"spec": {"template": {
                    "type": "example.com/other"}}}),
                 lambda: (self._secret("db") or {}).get("type") == "example.com/other"),
                ("stop", lambda: process.send_signal(signal.SIGTERM),
                 lambda: process.poll() is not None),
            ]
            for what, act, done in steps:
                if self._stop_when():
                    return None
                act()
                if not self._wait(what, done, process):
                    return None
            return process.returncode

    def _wait(self, what: str, done: Callable[[], bool], process: Any) -> bool:
        deadline = time.monotonic() + 20
        while not done():
            if self._stop_when():
                return False
            if time.monotonic() > deadline or process.poll() not in (None, 0):
                raise AssertionError(f"{what}: not done; the controller's log:\n"
                                     f"{self.log.read_text()}")
            time.sleep(0.05)
        return True

    def _create(self, obj: Obj) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, obj)

    def _patch(self, name: str, patch: Obj) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                   name, patch)

    def _status(self, name: str) -> str:
        obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                       PLURAL, name)
        return str((obj.get("status") or {}).get("status", ""))

    def _secret(self, name: str) -> Obj | None:
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return {"type": secret.type, "data": secret.data or {}}

    def _data(self, name: str) -> dict[str, bytes] | None:
        secret = self._secret(name)
        return None if secret is None else {
            k: base64.b64decode(v) for k, v in secret["data"].items()}

    def _events(self) -> set[tuple[str, str]]:
        events = self.core.list_namespaced_event(self.namespace).items
        return {(e.reason, e.involved_object.name) for e in events}
