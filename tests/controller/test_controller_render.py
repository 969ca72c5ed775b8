"""`kes render`: the Secret a manifest would produce, from the emulator, no cluster."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kes.cli import main
from kes_emulators.gsm import SecretManagerEmulator

MANIFEST = """\
apiVersion: kubernetes-client.io/v1
kind: ExternalSecret
metadata: {name: hook, namespace: prow}
spec:
  backendType: gcpSecretsManager
  projectId: proj-one
  template:
    metadata: {labels: {team: infra}}
  data:
    - {key: hmac, name: token, property: value}
    - {key: blob, name: blob.bin, version: 1}
"""


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, seed: Any) -> Iterator[SecretManagerEmulator]:
    with SecretManagerEmulator().background() as emulator:
        emulator.seed(
            seed(
                {
                    "projects/proj-one/secrets/hmac": ['{"value": "s3cret-token"}'],
                    "projects/proj-one/secrets/blob": [b"\x00\xff\x10"],
                }
            )
        )
        monkeypatch.setenv("SECRET_MANAGER_EMULATOR_HOST", emulator.address)
        yield emulator


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "es.yaml"
    path.write_text(text)
    return str(path)


def test_render_redacts_values_by_default(
    emulator: SecretManagerEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "-f", write(tmp_path, MANIFEST)]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out and base64.b64encode(b"s3cret-token").decode() not in out
    secret = yaml.safe_load(out)
    assert secret["metadata"]["name"] == "hook"
    assert secret["metadata"]["namespace"] == "prow"
    assert secret["metadata"]["labels"] == {"team": "infra", "app.kubernetes.io/managed-by": "kes"}
    assert secret["data"] == {"token": "<redacted, 12 bytes>", "blob.bin": "<redacted, 3 bytes>"}
    assert emulator.counters.calls["AccessSecretVersion"] == 2


def test_render_shows_exact_values_when_asked(
    emulator: SecretManagerEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "-f", write(tmp_path, MANIFEST), "--show-values"]) == 0
    secret = yaml.safe_load(capsys.readouterr().out)
    assert base64.b64decode(secret["data"]["token"]) == b"s3cret-token"
    assert base64.b64decode(secret["data"]["blob.bin"]) == b"\x00\xff\x10"


def test_render_errors_exit_1_naming_the_field(
    emulator: SecretManagerEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_spec = MANIFEST.replace("name: token, ", "")
    assert main(["render", "-f", write(tmp_path, bad_spec)]) == 1
    err = capsys.readouterr().err
    assert "ExternalSecret prow/hook" in err and "spec.data[0]" in err

    missing_property = MANIFEST.replace("property: value", "property: nope")
    assert main(["render", "-f", write(tmp_path, missing_property)]) == 1
    err = capsys.readouterr().err
    assert "nope" in err and "s3cret" not in err

    missing_secret = MANIFEST.replace("key: blob", "key: absent")
    assert main(["render", "-f", write(tmp_path, missing_secret)]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_render_without_externalsecrets_is_an_error(
    emulator: SecretManagerEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "-f", write(tmp_path, "kind: ConfigMap\n")]) == 1
    assert "no ExternalSecret found" in capsys.readouterr().err


def test_render_reads_stdin(emulator: SecretManagerEmulator) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kes", "render", "-f", "-"],
        input=f"---\n{MANIFEST}---\n",
        env={**os.environ, "GRPC_VERBOSITY": "NONE"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (secret,) = list(yaml.safe_load_all(result.stdout))
    assert secret["data"]["blob.bin"] == "<redacted, 3 bytes>"
