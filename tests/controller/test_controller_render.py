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


TEMPLATED = """\
apiVersion: kubernetes-client.io/v1
kind: ExternalSecret
metadata: {name: hook, namespace: prow}
spec:
  backendType: gcpSecretsManager
  projectId: proj-one
  template:
    metadata:
      labels: {team: infra, token: "{{ data.token }}"}
      annotations: {example.com/static: fixed, example.com/value: "v={{ data.token }}"}
  data:
    - {key: hmac, name: token, property: value}
"""


def test_render_redacts_templated_labels_and_annotations_and_the_data_hash(
    emulator: SecretManagerEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "-f", write(tmp_path, TEMPLATED)]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    metadata = yaml.safe_load(out)["metadata"]
    assert metadata["labels"] == {"team": "infra", "token": "<redacted, 12 bytes>",
                                  "app.kubernetes.io/managed-by": "kes"}
    assert metadata["annotations"] == {
        "example.com/static": "fixed", "example.com/value": "<redacted, 14 bytes>",
        "externalsecrets.kubernetes-client.io/managed-labels": "team,token",
        "externalsecrets.kubernetes-client.io/managed-annotations":
            "example.com/static,example.com/value",
    }
    assert main(["render", "-f", write(tmp_path, TEMPLATED), "--show-values"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)["metadata"]
    assert shown["labels"]["token"] == "s3cret-token"
    assert "externalsecrets.kubernetes-client.io/data-hash" in shown["annotations"]


HOSTILE_PAYLOADS: list[str | bytes] = [
    b"[" * 30_000, b'{"value": "\\ud800"}', b'{"value": ' + b"9" * 5000 + b"}",
    b"\xff\xfe\x00", b'{"value": {"a": [1e400, -0.0]}}', b'{"value": "' + b"x" * 60_000 + b'"}',
]


@pytest.mark.parametrize("payload", HOSTILE_PAYLOADS, ids=range(len(HOSTILE_PAYLOADS)))
def test_render_never_prints_a_traceback(
    emulator: SecretManagerEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    seed: Any, payload: bytes,
) -> None:
    emulator.seed(seed({"projects/proj-one/secrets/hostile": [payload]}))
    manifest = TEMPLATED.replace("key: hmac", "key: hostile") + (
        "  dataFrom: [hostile]\n"
        "  dataFromWithOptions: [{key: hostile, isBinary: true}]\n"
    )
    manifest = manifest.replace('"v={{ data.token }}"', '"{{ data.token | fromjson | toyaml }}"')
    code = main(["render", "-f", write(tmp_path, manifest), "--show-values"])
    err = capsys.readouterr().err
    assert code in (0, 1) and "Traceback" not in err
    assert code == 0 or err.startswith("kes render: ExternalSecret prow/hook: spec.")


def test_render_refuses_a_placeholder_project_before_reading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write(tmp_path, MANIFEST)
    assert main(["render", "-f", manifest, "--project", "YOUR_PROJECT"]) == 1
    assert capsys.readouterr().err == (
        "kes render: --project='YOUR_PROJECT' is a placeholder: set the GCP project of "
        "ExternalSecrets without projectId, or leave it unset\n"
    )
