"""The template examples render to the Secrets their comments promise."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from kes.render import DesiredSecret, Payload, render_secret
from kes.spec import parse_external_secret

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def render_example(name: str, payloads: dict[str, bytes]) -> DesiredSecret:
    spec = parse_external_secret(yaml.safe_load((EXAMPLES / name).read_text()), None)
    return render_secret("example", "demo", spec, {ref: Payload(payloads[ref.secret])
                                                   for ref in spec.refs})


def test_template_example() -> None:
    secret = render_example("template.yaml", {
        "postgres": json.dumps({"user": "alice", "password": "pw"}).encode(),
    })
    assert secret.type == "kubernetes.io/basic-auth"
    assert secret.labels == {"app": "postgres"}
    assert secret.annotations == {"example.com/user": "alice"}
    assert secret.data == {
        "pgpass": b"db:5432:app:alice:pw",
        "user": b"alice",
        "password": b"pw",
        "username": b"alice",
        "database-url": b"postgres://alice:pw@db:5432/app",
        "config.yaml": b"user: alice\nport: 5432\n\n",
    }


def test_docker_config_example() -> None:
    secret = render_example("docker-config.yaml", {
        "registry-credentials": json.dumps({"auth": "dXNlcjpwYXNz"}).encode(),
    })
    assert secret.type == "kubernetes.io/dockerconfigjson"
    assert json.loads(secret.data[".dockerconfigjson"]) == {
        "auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}}
    }


def test_data_from_example_merge_order() -> None:
    secret = render_example("data-from.yaml", {
        "app-defaults": b'{"LOG_LEVEL": "info", "TIMEOUT": 30}',
        "app-overrides": b'{"LOG_LEVEL": "debug"}',
        "app-certificates": b'{"ca.crt": "Y2VydA=="}',
        "app-api-key": b"key",
    })
    assert secret.data == {"LOG_LEVEL": b"debug", "TIMEOUT": b"30", "ca.crt": b"cert",
                           "API_KEY": b"key"}
