"""`kes demo` as `make demo` runs it: a process of its own, from any directory."""

from __future__ import annotations

import subprocess
import sys

import pytest

# What a reader must see, in this order (whitespace inside a line is normalised).
EXPECTED_IN_ORDER = [
    "1. Start the emulators",
    "2. Store a JSON value in Secret Manager",
    "added projects/kes-demo/secrets/database/versions/1: "
    '{"user": "demo-user", "password": "demo-password-v1"}',
    "3. Install the ExternalSecret CRD",
    "$ kubectl apply -f crds/externalsecret.yaml",
    "customresourcedefinition.apiextensions.k8s.io/externalsecrets.kubernetes-client.io created",
    "4. Start the controller (polling every 1s)",
    "5. Apply an ExternalSecret",
    "externalsecret.kubernetes-client.io/database created",
    "6. The controller syncs it into a Secret",
    "externalsecret.kubernetes-client.io/database condition met",
    "$ kubectl get externalsecrets",
    "NAME STATUS READY LAST SYNC AGE",
    "$ kubectl get secret database --show-labels",
    "NAME TYPE DATA AGE LABELS",
    "projects/kes-demo/secrets/database/versions/latest -> "
    "projects/kes-demo/secrets/database/versions/1",
    "password=demo-password-v1",
    "username=demo-user",
    "7. Roll out a new Secret Manager version",
    "added projects/kes-demo/secrets/database/versions/2: "
    '{"user": "demo-user", "password": "demo-password-v2"}',
    "externalsecret.kubernetes-client.io/database condition met",
    "projects/kes-demo/secrets/database/versions/latest -> "
    "projects/kes-demo/secrets/database/versions/2",
    "password=demo-password-v2",
    "username=demo-user",
    "8. Repair drift: delete the Secret and see it come back",
    'secret "database" deleted from default namespace',
    "secret/database condition met",
    "password=demo-password-v2",
    "9. Stop everything",
    "controller stopped after its last cycle (SIGTERM, exit 0)",
    "controller log: ",
    "emulators stopped, temporary files removed",
    "Done.",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kes", "demo"],
        cwd=tmp_path_factory.mktemp("elsewhere"), capture_output=True, text=True, timeout=180,
    )


def test_demo_exits_zero_and_prints_nothing_on_stderr(
    demo: subprocess.CompletedProcess[str],
) -> None:
    assert (demo.returncode, demo.stderr) == (0, "")


def test_demo_walks_through_every_step_in_order(demo: subprocess.CompletedProcess[str]) -> None:
    lines = [" ".join(line.split()) for line in demo.stdout.splitlines()]
    position = 0
    for expected in EXPECTED_IN_ORDER:
        found = next((i for i in range(position, len(lines)) if expected in lines[i]), None)
        assert found is not None, f"{expected!r} missing after line {position}:\n{demo.stdout}"
        position = found + 1


def test_printer_columns_show_the_synced_externalsecret(
    demo: subprocess.CompletedProcess[str],
) -> None:
    lines = [line.split() for line in demo.stdout.splitlines()]
    header = lines.index(["NAME", "STATUS", "READY", "LAST", "SYNC", "AGE"])
    assert lines[header + 1][:3] == ["database", "SUCCESS", "True"]
    secret_header = lines.index(["NAME", "TYPE", "DATA", "AGE", "LABELS"])
    row = lines[secret_header + 1]
    assert (row[:3], row[-1]) == (["database", "Opaque", "2"], "app.kubernetes.io/managed-by=kes")
