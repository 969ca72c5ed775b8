"""What a sync cycle costs: GSM calls, Kubernetes requests and time, on the emulators.

N ExternalSecrets each read `--keys` properties from GSM secrets drawn from a pool
of K versions. kes fetches each distinct version once per cycle; KES fetched every
key of every resource itself (N * keys) and wrote every status every poll.

    .venv/bin/python bench/controller_bench.py --externalsecrets 1000 --versions 50
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kes.controller.settings import ControllerSettings
from kes.gsm import RetryPolicy
from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator
from tests.support.embedded import BackgroundController

CRD = Path(__file__).resolve().parent.parent / "crds" / "externalsecret.yaml"
PROJECT = "bench-project"
WRITE_VERBS = ("create", "update", "patch", "delete")
READ_VERBS = ("get", "list")


def externalsecret(index: int, versions: int, keys: int) -> dict[str, Any]:
    data = [
        {
            "key": f"shared-{(index + k) % versions}",
            "name": f"value-{k}",
            "property": f"field{k}",
        }
        for k in range(keys)
    ]
    return {
        "apiVersion": "kubernetes-client.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": f"es-{index:05d}", "namespace": "default"},
        "spec": {"backendType": "gcpSecretsManager", "projectId": PROJECT, "data": data},
    }


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the controller did not settle in time")
        time.sleep(0.05)


def requests(api: ApiServer, verbs: tuple[str, ...]) -> int:
    return api.call(lambda: sum(api.requests.count(verb=v) for v in verbs))


def run(n: int, versions: int, keys: int, cycles: int) -> list[tuple[str, str, str]]:
    with ApiServer().background() as api, SecretManagerEmulator().background() as gsm:
        api.load([yaml.safe_load(CRD.read_text())])
        fields = {f"field{k}": f"value {k}" for k in range(keys)}
        gsm.seed(
            {
                "secrets": [
                    {
                        "name": f"projects/{PROJECT}/secrets/shared-{v}",
                        "versions": [{"data": json.dumps(fields)}],
                    }
                    for v in range(versions)
                ]
            }
        )
        api.load([externalsecret(i, versions, keys) for i in range(n)])
        kubeconfig = Path(tempfile.mkdtemp()) / "kubeconfig"
        api.write_kubeconfig(kubeconfig)
        settings = ControllerSettings(poll_interval=3600.0, metrics_port=0)
        started = time.perf_counter()
        with BackgroundController(settings, str(kubeconfig), gsm.address, RetryPolicy()) as ctl:

            def synced() -> int:
                return ctl.read(
                    lambda: sum(
                        1
                        for t in ctl.controller.cache.externalsecrets.values()
                        if t.status.get("status") == "SUCCESS"
                    )
                )

            wait_until(lambda: synced() == n, timeout=600)
            first_sync = time.perf_counter() - started
            first_calls = gsm.counters.calls["AccessSecretVersion"]
            rows = [
                (
                    "first sync (startup)",
                    f"{first_calls}",
                    f"{first_sync:.2f} s; k8s writes {requests(api, WRITE_VERBS)} "
                    "(Secrets, statuses, Events)",
                ),
            ]
            for cycle in range(1, cycles + 1):
                calls = gsm.counters.calls["AccessSecretVersion"]
                writes, reads = requests(api, WRITE_VERBS), requests(api, READ_VERBS)
                began = time.perf_counter()
                ctl.full_cycle()
                took = time.perf_counter() - began
                rows.append(
                    (
                        f"steady cycle {cycle}",
                        f"{gsm.counters.calls['AccessSecretVersion'] - calls}",
                        f"{took:.3f} s; k8s writes {requests(api, WRITE_VERBS) - writes}, "
                        f"reads {requests(api, READ_VERBS) - reads}",
                    )
                )
    rows.append(("KES, per poll (computed)", f"{n * keys}", f"and {n} status writes"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--externalsecrets", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--keys", type=int, default=3, help="properties per ExternalSecret")
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    rows = run(args.externalsecrets, args.versions, args.keys, args.cycles)
    print(
        f"{args.externalsecrets} ExternalSecrets x {args.keys} keys over "
        f"{args.versions} GSM versions"
    )
    widths = [max(len(r[i]) for r in [*rows, ("", "GSM calls", "")]) for i in range(3)]
    print(f"{'':{widths[0]}}  {'GSM calls':>{widths[1]}}  notes")
    for label, calls, notes in rows:
        print(f"{label:{widths[0]}}  {calls:>{widths[1]}}  {notes}")


if __name__ == "__main__":
    main()
