"""`kes emulate` as a user runs it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from kes_emulators.gsm import SecretManagerEmulator

SEED = """\
secretmanager:
  secrets:
    - name: projects/demo/secrets/seeded
      labels: {team: payments}
      aliases: {stable: 1}
      versions:
        - data: "seeded-text"
        - base64: "AAH/"
          state: DISABLED
"""

# Uses nothing but google-cloud-secret-manager and grpc, as any user's script would.
CLIENT_SCRIPT = """\
import sys
import grpc
from google.api_core import exceptions
from google.cloud import secretmanager
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

channel = grpc.insecure_channel(sys.argv[1])
client = secretmanager.SecretManagerServiceClient(
    transport=SecretManagerServiceGrpcTransport(channel=channel)
)
seeded = "projects/demo/secrets/seeded"
print("seeded stable:", client.access_secret_version(name=seeded + "/versions/stable").payload.data)
try:
    client.access_secret_version(name=seeded + "/versions/2")
except exceptions.FailedPrecondition:
    print("seeded 2: FAILED_PRECONDITION")
secret = client.create_secret(
    parent="projects/demo", secret_id="fresh", secret={"replication": {"automatic": {}}}
)
for data in (b"first", b"second"):
    client.add_secret_version(parent=secret.name, payload={"data": data})
latest = client.access_secret_version(name=secret.name + "/versions/latest")
print("latest:", latest.name, latest.payload.data)
print("v1:", client.access_secret_version(name=secret.name + "/versions/1").payload.data)
client.disable_secret_version(name=secret.name + "/versions/2")
try:
    client.access_secret_version(name=secret.name + "/versions/latest")
except exceptions.FailedPrecondition as error:
    print("disabled:", error.message)
try:
    client.access_secret_version(name="projects/demo/secrets/unknown/versions/latest")
except exceptions.NotFound:
    print("unknown: NOT_FOUND")
"""


def kes(*args: str) -> list[str]:
    return [sys.executable, "-m", "kes", *args]


def test_kes_emulate_serves_a_plain_client_until_sigterm(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    emulate = subprocess.Popen(
        kes("emulate", "--gsm-port", "0", "--seed", str(seed)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert emulate.stdout is not None
        banner = []
        while not banner or not banner[-1].startswith("Press Ctrl-C"):
            line = emulate.stdout.readline()
            assert line, "kes emulate ended before printing its endpoints"
            banner.append(line.strip())
        exports = dict(
            m.groups() for line in banner if (m := re.match(r"export (\w+)=(\S+)$", line))
        )
        address = exports["SECRET_MANAGER_EMULATOR_HOST"]
        assert re.fullmatch(r"127\.0\.0\.1:\d+", address)

        run = subprocess.run(
            [sys.executable, str(script), address], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines() == [
            "seeded stable: b'seeded-text'",
            "seeded 2: FAILED_PRECONDITION",
            "latest: projects/demo/secrets/fresh/versions/2 b'second'",
            "v1: b'first'",
            "disabled: Secret Version [projects/demo/secrets/fresh/versions/2] is in "
            "DISABLED state.",
            "unknown: NOT_FOUND",
        ]
    finally:
        emulate.send_signal(signal.SIGTERM)
        out, err = emulate.communicate(timeout=30)
    assert emulate.returncode == 0, err
    assert out.strip().endswith("kes emulators stopped.")


def test_kes_emulate_rejects_a_bad_seed_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("secretmanager:\n  secrets:\n    - name: projects/p/secrets/s\n"
                    "      versions: [{state: ENABLED}]\n")
    result = subprocess.run(
        kes("emulate", "--seed", str(seed)), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "secretmanager.secrets[0].versions[0]: give exactly one of 'data'" in result.stderr


def test_kes_emulate_names_a_mistyped_seed_field(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("secretmanager:\n  secrets:\n    - name: projects/p/secrets/s\n"
                    "      labels: [team]\n")
    result = subprocess.run(
        kes("emulate", "--seed", str(seed)), capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "kes emulate: secretmanager: secretmanager.secrets[0].labels: must be a mapping, "
        "not list\n"
    )


def test_kes_emulate_refuses_a_port_in_use(unused_tcp_port: int) -> None:
    with SecretManagerEmulator(port=unused_tcp_port).background():
        result = subprocess.run(
            kes("emulate", "--gsm-port", str(unused_tcp_port)),
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 2
    assert f"kes emulate: secretmanager: Failed to bind to address 127.0.0.1:{unused_tcp_port}" in (
        result.stderr
    )
