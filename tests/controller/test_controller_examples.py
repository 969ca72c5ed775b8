"""Every manifest in examples/ syncs against the emulators seeded from
examples/emulator-seed.yaml, the file the README's quick start uses."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml

from kes_emulators.launcher import load_seed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED = EXAMPLES / "emulator-seed.yaml"
TEAM_A = "team-a-token"  # examples/controller-id.yaml: served only with INSTANCE_ID=team-a


def example_objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if path != SEED:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return objects


def test_every_example_reaches_success(
    kube: Any, gsm_hand: Any, start_controller: Any, wait: Any, idle: Any
) -> None:
    gsm_hand.emulator.seed(load_seed(str(SEED))["secretmanager"])
    objects = example_objects()
    assert len(objects) == 10
    for obj in objects:
        kube.apply_es(obj)
    names = [obj["metadata"]["name"] for obj in objects]

    default = start_controller()
    for name in names:
        if name != TEAM_A:
            kube.wait_status(name, "SUCCESS")
    idle(default)
    assert kube.status(TEAM_A) == {}
    assert kube.secret(TEAM_A) is None

    start_controller(instance_id="team-a")
    kube.wait_status(TEAM_A, "SUCCESS")
    assert kube.secret_data(TEAM_A) == {"token": b"team-a-example-token"}

    assert kube.secret_data("github-token") == {"token": b"ghp_example_token_1", "app-id": b"1003"}
    assert kube.secret_data("keystore") == {
        "keystore.jks": base64.b64decode("/u3+7QAAAAIAAAAB"),
        "signing.key": b"signing-key-bytes",
    }
    config = kube.secret_data("app-config")
    assert (config["LOG_LEVEL"], config["TIMEOUT"], config["API_KEY"]) == (
        b"debug",
        b"30",
        b"example-api-key",
    )
    assert config["ca.crt"].startswith(b"-----BEGIN CERTIFICATE-----")
    assert kube.secret_data("legacy") == {"password": b"legacy-example-password"}
    assert kube.secret_data("cross-project")["signing-key"] == b"signing-key-5"
    database = kube.secret_data("database")
    assert (database["password"], database["first-host"], database["port"]) == (
        b"example-db-password",
        b"db-0.internal",
        b"5432",
    )
    assert kube.secret_data("rarely-changing") == {"license": b"EXAMPLE-LICENSE-0001"}
    postgres = kube.secret("postgres")
    assert postgres["type"] == "kubernetes.io/basic-auth"
    assert postgres["metadata"]["labels"]["app"] == "postgres"
    assert kube.secret_data("postgres")["username"] == b"app"
    registry = kube.secret("registry-pull")
    assert registry["type"] == "kubernetes.io/dockerconfigjson"
    pull = json.loads(kube.secret_data("registry-pull")[".dockerconfigjson"])
    assert pull == {"auths": {"registry.example.com": {"auth": "ZXhhbXBsZTpwYXNzd29yZA=="}}}
