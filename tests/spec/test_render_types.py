"""Built-in Secret types: the keys the API server requires of each, checked before writing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kes.render import DesiredSecret, RenderError

Render = Callable[..., DesiredSecret]
RenderFails = Callable[..., RenderError]

VALUE = b"hunter2-value"


def secret_with(render: Render, secret_type: str, *keys: str) -> DesiredSecret:
    return render({"v": VALUE}, data=[{"key": "v", "name": key} for key in keys],
                  template={"type": secret_type})


def fault(render_fails: RenderFails, secret_type: str, payload: bytes,
          *keys: str) -> tuple[str, str, str]:
    error = render_fails({"v": payload}, data=[{"key": "v", "name": key} for key in keys],
                         template={"type": secret_type})
    assert error.object_ref == "ns/es"
    return error.key, error.field, error.message


@pytest.mark.parametrize(("secret_type", "keys", "missing"), [
    ("kubernetes.io/tls", ["ca.crt"], "tls.crt"),
    ("kubernetes.io/tls", ["tls.crt"], "tls.key"),
    ("kubernetes.io/dockerconfigjson", ["config.json"], ".dockerconfigjson"),
    ("kubernetes.io/dockercfg", [".dockerconfigjson"], ".dockercfg"),
])
def test_a_type_needs_its_keys(render_fails: RenderFails, secret_type: str, keys: list[str],
                               missing: str) -> None:
    assert fault(render_fails, secret_type, VALUE, *keys) == (
        missing, "spec.template.type", f"{secret_type} Secrets need the key {missing}"
    )


def test_basic_auth_needs_a_username_or_a_password(render: Render,
                                                   render_fails: RenderFails) -> None:
    assert fault(render_fails, "kubernetes.io/basic-auth", VALUE, "user") == (
        "username", "spec.template.type",
        "kubernetes.io/basic-auth Secrets need the key username or password",
    )
    assert secret_with(render, "kubernetes.io/basic-auth", "password").data == {
        "password": VALUE
    }
    assert secret_with(render, "kubernetes.io/basic-auth", "username").data == {
        "username": VALUE
    }


def test_ssh_auth_needs_a_private_key_that_is_not_empty(render_fails: RenderFails) -> None:
    expected = ("ssh-privatekey", "spec.template.type",
                "kubernetes.io/ssh-auth Secrets need the key ssh-privatekey, not empty")
    assert fault(render_fails, "kubernetes.io/ssh-auth", VALUE, "id_rsa") == expected
    assert fault(render_fails, "kubernetes.io/ssh-auth", b"", "ssh-privatekey") == expected


@pytest.mark.parametrize(("payload", "why"), [
    (b"hunter2 not json", "not valid JSON"),
    (b"\xffhunter2", "not UTF-8 text"),
    (b'["hunter2"]', "a JSON array"),
    (b'"hunter2"', "a JSON string"),
])
@pytest.mark.parametrize(("secret_type", "key"), [
    ("kubernetes.io/dockerconfigjson", ".dockerconfigjson"),
    ("kubernetes.io/dockercfg", ".dockercfg"),
])
def test_docker_configs_must_be_json_objects(render_fails: RenderFails, secret_type: str,
                                             key: str, payload: bytes, why: str) -> None:
    assert fault(render_fails, secret_type, payload, key) == (
        key, "spec.template.type", f"{secret_type} Secrets need {key} to be a JSON object; "
                                   f"it is {why}"
    )


@pytest.mark.parametrize(("secret_type", "keys", "payload"), [
    ("kubernetes.io/tls", ["tls.crt", "tls.key"], b""),  # present is enough, as the API server
    ("kubernetes.io/dockerconfigjson", [".dockerconfigjson"], b'{"auths": {}}'),
    ("kubernetes.io/dockercfg", [".dockercfg"], b"null"),  # Go decodes null into an empty map
    ("kubernetes.io/ssh-auth", ["ssh-privatekey"], VALUE),
    ("Opaque", [], VALUE),
    ("example.com/custom", ["anything"], VALUE),
])
def test_secrets_with_their_keys_render(render: Render, secret_type: str, keys: list[str],
                                        payload: bytes) -> None:
    secret = render({"v": payload, "w": b"x"},
                    data=[{"key": "v", "name": key} for key in keys] or [{"key": "w", "name": "w"}],
                    template={"type": secret_type})
    assert secret.type == secret_type


def test_template_keys_count_toward_a_types_keys(render: Render) -> None:
    secret = render({"v": VALUE}, data=[{"key": "v", "name": "tls.crt"}],
                    template={"type": "kubernetes.io/tls", "stringData": {"tls.key": "k"}})
    assert secret.data == {"tls.crt": VALUE, "tls.key": b"k"}
