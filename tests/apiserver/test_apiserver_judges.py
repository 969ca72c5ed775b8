"""Other clients as judges: for three minutes, kubectl's own watch and the `kubernetes`
client's watch without bookmarks follow ExternalSecrets on `kes emulate` while they
change, and must see every change; the emulator must stay idle in between.

The three minutes are the point: the watch that stalled did so after the server's
60 s bookmark interval. Every judge runs at once, in this one test.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, watch

from bench.procfs import cpu_seconds
from kes_emulators.kubectl import find_kubectl
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL, NAMESPACE = "kubernetes-client.io", "v1", "externalsecrets", "default"
DURATION = 180.0
CHANGE_EVERY = 15.0
# An idle emulator costs well under a CPU-second a minute; a watch spinning on a
# zero timeout costs a whole core (180 CPU-seconds here).
CPU_BUDGET_SECONDS = 20.0
Change = tuple[str, str, str]  # (event type, name, resourceVersion)


@pytest.fixture
def emulate(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    kubeconfig = tmp_path / "kubeconfig"
    kes = Path(sys.executable).parent / "kes"
    process = subprocess.Popen([str(kes), "emulate", "--kubeconfig-out", str(kubeconfig)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Press Ctrl-C"):
                break
        else:
            raise AssertionError(f"kes emulate did not start (exit {process.wait()})")
        yield process, kubeconfig
    finally:
        process.terminate()
        process.wait(timeout=30)


def read_kubectl_watch(process: subprocess.Popen[str], seen: list[Change]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        parts = line.split()
        if len(parts) == 3:
            seen.append((parts[0], parts[1], parts[2]))


def follow_with_the_client(kubeconfig: Path, since: str, seen: list[Change],
                           done: threading.Event) -> None:
    """The `kubernetes` client's own watch loop, as a controller without bookmarks uses it."""
    api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))
    follower = watch.Watch()
    try:
        for event in follower.stream(api.list_namespaced_custom_object, GROUP, VERSION,
                                     NAMESPACE, PLURAL, resource_version=since,
                                     allow_watch_bookmarks=False):
            meta = event["object"]["metadata"]
            seen.append((event["type"], meta["name"], meta["resourceVersion"]))
    except Exception:
        if not done.is_set():
            raise
        # the test is over and the server has gone: the watch ends here


@pytest.mark.long
@pytest.mark.timeout(DURATION + 120)
def test_other_clients_follow_every_change_for_three_minutes(
        emulate: tuple[subprocess.Popen[str], Path], tmp_path: Path) -> None:
    server, kubeconfig = emulate
    kubectl = [find_kubectl(), f"--kubeconfig={kubeconfig}", f"--cache-dir={tmp_path / 'cache'}"]
    subprocess.run([*kubectl, "apply", "-f", str(ROOT / "crds" / "externalsecret.yaml")],
                   check=True, capture_output=True, timeout=60)
    wait_for(lambda: subprocess.run([*kubectl, "get", PLURAL], capture_output=True,
                                    timeout=60).returncode == 0, "the CRD to be served", 30)
    api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))
    since = api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)[
        "metadata"]["resourceVersion"]

    kubectl_seen: list[Change] = []
    watcher = subprocess.Popen(
        [*kubectl, "get", PLURAL, "-n", NAMESPACE, "--watch", "--output-watch-events",
         "--no-headers", "-o", "custom-columns=EVENT:.type,NAME:.object.metadata.name,"
                               "RV:.object.metadata.resourceVersion"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    client_seen: list[Change] = []
    done = threading.Event()
    readers = [threading.Thread(target=read_kubectl_watch, args=(watcher, kubectl_seen),
                                daemon=True),
               threading.Thread(target=follow_with_the_client,
                                args=(kubeconfig, since, client_seen, done), daemon=True)]
    for reader in readers:
        reader.start()

    template = yaml.safe_load((ROOT / "examples" / "basic.yaml").read_text())
    made: list[Change] = []
    cpu_before, started = cpu_seconds(server.pid), time.monotonic()
    round_ = 0
    while time.monotonic() - started < DURATION:
        name = f"judge-{round_ // 3}"
        if round_ % 3 == 0:
            body = copy.deepcopy(template)
            body["metadata"] = {"name": name}
            written = api.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                          body)
            made.append(("ADDED", name, written["metadata"]["resourceVersion"]))
        elif round_ % 3 == 1:
            written = api.patch_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, PLURAL, name,
                {"metadata": {"annotations": {"round": str(round_)}}})
            made.append(("MODIFIED", name, written["metadata"]["resourceVersion"]))
        else:
            written = api.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                          name)
            made.append(("DELETED", name, written["metadata"]["resourceVersion"]))
        round_ += 1
        time.sleep(max(0.0, min(CHANGE_EVERY, started + DURATION - time.monotonic())))
    cpu_used = cpu_seconds(server.pid) - cpu_before

    done.set()
    wait_for(lambda: len(kubectl_seen) >= len(made) and len(client_seen) >= len(made),
             f"the judges to catch up: made {made}, kubectl saw {kubectl_seen}, "
             f"the client saw {client_seen}", 30)
    assert watcher.poll() is None, "kubectl's watch ended before the three minutes did"
    watcher.terminate()
    watcher.wait(timeout=30)
    assert kubectl_seen == made
    assert client_seen == made
    assert len(made) >= DURATION // CHANGE_EVERY
    assert cpu_used < CPU_BUDGET_SECONDS, f"the emulator used {cpu_used:.1f} CPU-s while idle"
