"""Builders shared by the spec and render tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from kes.render import DesiredSecret, Payload, RenderError, render_secret
from kes.spec import ExternalSecretSpec, SpecError, parse_external_secret

Manifest = dict[str, Any]

# examples/emulator-seed.yaml seeds `kes emulate`; every other example is an ExternalSecret.
EXAMPLES = sorted(
    path for path in (Path(__file__).resolve().parents[2] / "examples").glob("*.yaml")
    if path.name != "emulator-seed.yaml"
)


@pytest.fixture
def examples() -> list[Path]:
    return EXAMPLES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``example`` runs once per ExternalSecret in examples/."""
    if "example" in metafunc.fixturenames:
        metafunc.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])


def manifest(spec: dict[str, Any] | None = None, **fields: Any) -> Manifest:
    """An ExternalSecret ns/es whose spec is a one-key default overridden by ``fields``."""
    body = {"backendType": "gcpSecretsManager", "data": [{"key": "k", "name": "n"}]}
    body.update(spec or {})
    body.update(fields)
    return {
        "apiVersion": "kubernetes-client.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "es", "namespace": "ns"},
        "spec": body,
    }


@pytest.fixture
def make() -> Callable[..., Manifest]:
    return manifest


@pytest.fixture
def parse() -> Callable[..., ExternalSecretSpec]:
    """Parse a manifest built from spec fields, default project ``demo-project``."""

    def parse_fields(**fields: Any) -> ExternalSecretSpec:
        return parse_external_secret(manifest(**fields), "demo-project")

    return parse_fields


@pytest.fixture
def fails() -> Callable[..., SpecError]:
    """The SpecError that parsing a manifest built from spec fields raises."""

    def raised(**fields: Any) -> SpecError:
        with pytest.raises(SpecError) as caught:
            parse_external_secret(manifest(**fields), "demo-project")
        return caught.value

    return raised


@pytest.fixture
def render() -> Callable[..., DesiredSecret]:
    """Render a manifest built from spec fields with payloads given per secret id
    (``"k"``) or per version (``"k/versions/3"``, which wins)."""

    def render_fields(payloads: Mapping[str, bytes], **fields: Any) -> DesiredSecret:
        spec = parse_external_secret(manifest(**fields), "demo-project")
        by_ref = {
            ref: payloads.get(f"{ref.secret}/versions/{ref.version}", payloads.get(ref.secret))
            for ref in spec.refs
        }
        missing = [str(ref) for ref, payload in by_ref.items() if payload is None]
        assert not missing, f"test gives no payload for {missing}"
        return render_secret("es", "ns", spec,
                             {r: Payload(p) for r, p in by_ref.items() if p is not None})

    return render_fields


@pytest.fixture
def render_fails(render: Callable[..., DesiredSecret]) -> Callable[..., RenderError]:
    """The RenderError that rendering raises, checked to quote no payload."""

    def raised(payloads: Mapping[str, bytes], **fields: Any) -> RenderError:
        with pytest.raises(RenderError) as caught:
            render(payloads, **fields)
        for payload in payloads.values():
            assert_not_leaked(payload, str(caught.value))
        return caught.value

    return raised


SECRET_MARK = "hunter2"  # tests put this into every secret value


def assert_not_leaked(payload: bytes, text: str) -> None:
    """Neither the payload nor a secret value marked with SECRET_MARK appears in ``text``."""
    assert SECRET_MARK not in text, f"message quotes a secret value: {text!r}"
    value = payload.decode("utf-8", "replace")
    assert len(value) < 4 or value not in text, f"message quotes the payload: {text!r}"
