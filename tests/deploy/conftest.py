"""A fresh emulated cluster per test, with RBAC on and HTTPS (kubectl sends tokens over
TLS only), as a real one has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServer(rbac=True, tls=True).background() as server:
        yield server


@pytest.fixture
def admin(api: ApiServer, tmp_path: Path) -> Path:
    (tmp_path / "admin").mkdir()
    return api.write_kubeconfig(tmp_path / "admin" / "kubeconfig")


@pytest.fixture
def gsm() -> Iterator[SecretManagerEmulator]:
    with SecretManagerEmulator().background() as emulator:
        yield emulator
