"""`kes demo`: kes's main job end to end on the local emulators, step by step.

Only the services are emulated. kubectl applies the manifests, the controller is
the real `kes controller` process, and the Secret Manager versions are written with
Google's own client. Every value is a demo placeholder, so printing them shows
nothing secret.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
from google.api_core import exceptions as api_exceptions
from google.cloud.secretmanager_v1 import SecretManagerServiceClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

import kes_emulators
from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator
from kes_emulators.kubectl import KubectlMissing, find_kubectl

SECRET = "projects/kes-demo/secrets/database"
VALUES = (
    {"user": "demo-user", "password": "demo-password-v1"},
    {"user": "demo-user", "password": "demo-password-v2"},
)
EXTERNAL_SECRET = """\
apiVersion: kubernetes-client.io/v1
kind: ExternalSecret
metadata:
  name: database
spec:
  backendType: gcpSecretsManager
  projectId: kes-demo
  data:
    - key: database          # the Secret Manager secret, version latest
      name: username         # the key in the Secret
      property: user         # a property of the JSON value
    - key: database
      name: password
      property: password
"""
POLL_INTERVAL = 1.0
WAIT = "20s"  # kubectl wait's own limit
COMMAND_TIMEOUT = 60.0  # any kubectl command, including its wait
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0
# kubectl's view of the Secret's values, decoded.
SECRET_VALUES = '{{range $k, $v := .data}}{{$k}}={{$v | base64decode}}{{"\\n"}}{{end}}'
RESOLVED_VERSIONS = '{range .status.versions[*]}{.key}{" -> "}{.resolved}{"\\n"}{end}'


class DemoError(Exception):
    """A demo step that did not complete; says which and why."""


def find_checkout(package_dir: Path = Path(kes_emulators.__file__).parent) -> Path:
    """The source checkout the demo runs from: it applies the checkout's crds/."""
    checkout = package_dir.parent
    if not (checkout / "crds" / "externalsecret.yaml").is_file():
        raise DemoError(
            f"crds/externalsecret.yaml is not next to the kes_emulators package "
            f"({package_dir}); run the demo from a source checkout (`make demo`)"
        )
    return checkout


class Narrator:
    """Numbered step headings, and indented lines under them."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def step(self, title: str) -> None:
        print(f"\n{next(self._numbers)}. {title}", flush=True)

    def say(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines():
            print(f"   {line}", flush=True)


class Kubectl:
    """kubectl against the emulated cluster; echoes each command and its output."""

    def __init__(self, binary: str, kubeconfig: Path, cache_dir: Path, cwd: Path,
                 narrator: Narrator) -> None:
        self.flags = [f"--kubeconfig={kubeconfig}", f"--cache-dir={cache_dir}"]
        self._binary = binary
        self._cwd = cwd
        self._say = narrator.say

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        shown = shlex.join(("kubectl", *args))
        if stdin is None:
            self._say(f"$ {shown}")
        else:
            self._say(f"$ {shown} <<'EOF'\n{stdin}EOF")
        try:
            result = subprocess.run(
                [self._binary, *self.flags, *args], input=stdin, capture_output=True,
                text=True, cwd=self._cwd, timeout=COMMAND_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise DemoError(f"`{shown}` did not finish within {COMMAND_TIMEOUT:.0f}s") from None
        if result.returncode != 0:
            raise DemoError(f"`{shown}` failed: {result.stderr.strip()}")
        self._say(result.stdout)
        return result.stdout


class SecretManagerWriter:
    """Writes the demo's versions with Google's client, over plaintext gRPC."""

    def __init__(self, address: str) -> None:
        channel = grpc.insecure_channel(address)
        self._client = SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel)
        )

    def add_version(self, value: dict[str, str]) -> tuple[bool, str]:
        """Create the secret if needed and add `value` as a version."""
        project, _, secret_id = SECRET.removeprefix("projects/").partition("/secrets/")
        try:
            self._client.create_secret(request={
                "parent": f"projects/{project}", "secret_id": secret_id,
                "secret": {"replication": {"automatic": {}}, "labels": {"app": "kes-demo"}},
            })
            created = True
        except api_exceptions.AlreadyExists:
            created = False
        version = self._client.add_secret_version(
            request={"parent": SECRET, "payload": {"data": json.dumps(value).encode()}}
        )
        return created, str(version.name)

    def close(self) -> None:
        self._client.transport.close()


def wait_until(probe: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def logged(log_path: Path, message: str) -> bool:
    """Whether the controller's JSON log has a line with this message."""
    for line in log_path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("message") == message:
                return True
        except ValueError:
            continue
    return False


@contextmanager
def controller_process(kubeconfig: Path, gsm_address: str, log_path: Path
                       ) -> Iterator[subprocess.Popen[bytes]]:
    """`kes controller` as a user runs it, its JSON log lines going to `log_path`."""
    env = {
        **os.environ,
        "SECRET_MANAGER_EMULATOR_HOST": gsm_address,
        "POLLER_INTERVAL_MILLISECONDS": str(int(POLL_INTERVAL * 1000)),
        "METRICS_PORT": "0",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kes", "controller", f"--kubeconfig={kubeconfig}"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop_controller(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as the kubelet sends it: the controller finishes its cycle and exits 0."""
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise DemoError(f"the controller did not stop within {STOP_TIMEOUT:.0f}s") from None
    if code != 0:
        raise DemoError(f"the controller exited with {code}")


def run_demo(out: Narrator) -> None:
    try:
        kubectl_binary = find_kubectl()
    except KubectlMissing as error:
        raise DemoError(str(error)) from None
    checkout = find_checkout()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kes-demo-")))

        out.step("Start the emulators")
        api = stack.enter_context(ApiServer(tls=True).background())
        gsm = stack.enter_context(SecretManagerEmulator().background())
        kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
        kubectl = Kubectl(kubectl_binary, kubeconfig, workdir / "kube-cache", checkout, out)
        out.say(f"Kubernetes API server  {api.url}  (HTTPS, admin kubeconfig {kubeconfig})")
        out.say(f"Secret Manager         {gsm.address}  (plaintext gRPC)")
        out.say(f"kubectl below runs as: {kubectl_binary} {' '.join(kubectl.flags)}")

        out.step("Store a JSON value in Secret Manager")
        writer = SecretManagerWriter(gsm.address)
        stack.callback(writer.close)
        created, version = writer.add_version(VALUES[0])
        out.say(f"{'created' if created else 'found'} {SECRET}")
        out.say(f"added {version}: {json.dumps(VALUES[0])}")

        out.step("Install the ExternalSecret CRD")
        kubectl("apply", "-f", "crds/externalsecret.yaml")

        out.step(f"Start the controller (polling every {POLL_INTERVAL:g}s)")
        log_path = workdir / "controller.log"
        controller = stack.enter_context(controller_process(kubeconfig, gsm.address, log_path))
        out.say(f"$ kes controller --kubeconfig={kubeconfig}   (log: {log_path})")
        wait_until(
            lambda: controller.poll() is not None or logged(log_path, "initial lists done"),
            "the controller's initial lists", READY_TIMEOUT,
        )
        if controller.poll() is not None:
            raise DemoError(f"the controller stopped while starting: "
                            f"{log_path.read_text(encoding='utf-8').strip()}")
        out.say("ready: it has listed the ExternalSecrets and the Secrets it manages")

        out.step("Apply an ExternalSecret")
        kubectl("apply", "-f", "-", stdin=EXTERNAL_SECRET)

        out.step("The controller syncs it into a Secret")
        kubectl("wait", "externalsecret/database", "--for=jsonpath={.status.status}=SUCCESS",
                f"--timeout={WAIT}")
        kubectl("get", "externalsecrets")
        kubectl("get", "secret", "database", "--show-labels")
        kubectl("get", "externalsecret", "database", "-o", f"jsonpath={RESOLVED_VERSIONS}")
        kubectl("get", "secret", "database", "-o", f"go-template={SECRET_VALUES}")

        out.step("Roll out a new Secret Manager version: the next poll picks it up")
        _, version = writer.add_version(VALUES[1])
        out.say(f"added {version}: {json.dumps(VALUES[1])}")
        kubectl("wait", "externalsecret/database",
                f"--for=jsonpath={{.status.versions[0].resolved}}={version}", f"--timeout={WAIT}")
        kubectl("get", "externalsecret", "database", "-o", f"jsonpath={RESOLVED_VERSIONS}")
        kubectl("get", "secret", "database", "-o", f"go-template={SECRET_VALUES}")

        out.step("Repair drift: delete the Secret and see it come back")
        kubectl("delete", "secret", "database")
        kubectl("wait", "secret/database", "--for=create", f"--timeout={WAIT}")
        kubectl("get", "secret", "database", "-o", f"go-template={SECRET_VALUES}")

        out.step("Stop everything")
        stop_controller(controller)
        out.say("controller stopped after its last cycle (SIGTERM, exit 0)")
        log = log_path.read_text(encoding="utf-8")
        if any(v in log for value in VALUES for v in value.values()):
            raise DemoError(f"the controller log at {log_path} holds demo values")
        out.say(f"controller log: {len(log.splitlines())} JSON lines, no secret value in them")
    out.say("emulators stopped, temporary files removed")


def run() -> int:
    print("kes demo: an ExternalSecret synced from Secret Manager, on local emulators")
    try:
        run_demo(Narrator())
    except DemoError as error:
        print(f"kes demo: {error}", file=sys.stderr)
        return 1
    print("\nDone.")
    return 0
