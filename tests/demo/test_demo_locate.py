"""Where the demo finds kubectl and the CRD, and what it says when they are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from kes_emulators.demo import DemoError, find_checkout
from kes_emulators.kubectl import KubectlMissing, find_kubectl

REPO = Path(__file__).resolve().parents[2]


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_kubectl_next_to_the_interpreter_wins_over_path(tmp_path: Path) -> None:
    beside = executable(tmp_path / "venv" / "bin" / "kubectl")
    executable(tmp_path / "elsewhere" / "kubectl")
    found = find_kubectl(str(tmp_path / "venv" / "bin" / "python"), str(tmp_path / "elsewhere"))
    assert found == str(beside)


def test_kubectl_from_path_when_the_environment_has_none(tmp_path: Path) -> None:
    on_path = executable(tmp_path / "elsewhere" / "kubectl")
    found = find_kubectl(str(tmp_path / "venv" / "bin" / "python"), str(tmp_path / "elsewhere"))
    assert found == str(on_path)


def test_missing_kubectl_names_the_install_step(tmp_path: Path) -> None:
    python = str(tmp_path / "venv" / "bin" / "python")
    with pytest.raises(KubectlMissing) as caught:
        find_kubectl(python, str(tmp_path / "empty"))
    assert str(caught.value) == (
        f"kubectl is needed and was found neither next to {python} nor on PATH; "
        "install it with `pip install 'kes[emulators]'` (`make demo` does)"
    )


def test_the_checkout_holds_the_crd() -> None:
    assert find_checkout() == REPO
    assert (REPO / "crds" / "externalsecret.yaml").is_file()


def test_an_installed_package_without_the_checkout_says_so(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "kes_emulators"
    package.mkdir(parents=True)
    with pytest.raises(DemoError) as caught:
        find_checkout(package)
    assert str(caught.value) == (
        f"crds/externalsecret.yaml is not next to the kes_emulators package ({package}); "
        "run the demo from a source checkout (`make demo`)"
    )
