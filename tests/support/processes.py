"""`kes controller` as a process of its own, as users run it, and a look at its health."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def controller_process(
    kubeconfig: str, gsm_address: str, log: Path, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`kes controller` as a subprocess logging to `log`; killed if a test leaves it running."""
    environment = {
        **os.environ,
        "SECRET_MANAGER_EMULATOR_HOST": gsm_address,
        "METRICS_PORT": "0",
        "GRPC_VERBOSITY": "NONE",
        **env,
    }
    environment.pop("KUBECONFIG", None)
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "kes", "controller", "--kubeconfig", kubeconfig],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def served_port(log: Path) -> int | None:
    """The metrics and health port the controller logged, once it has."""
    for line in log.read_text().splitlines():
        if '"serving metrics and health"' in line:
            port: int = json.loads(line)["port"]
            return port
    return None


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body); status 0 when nothing answered within `timeout`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""
