"""`kes controller` as a process of its own, as users run it, and a look at its health."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def background(argv: Sequence[str], env: Mapping[str, str], stdout: IO[Any] | int,
               stderr: IO[Any] | int = subprocess.STDOUT, cwd: str | None = None
               ) -> Iterator[subprocess.Popen[bytes]]:
    """A process in the background; killed if the test leaves it running."""
    process = subprocess.Popen(list(argv), env=dict(env), stdout=stdout, stderr=stderr, cwd=cwd)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


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
    with log.open("w") as stderr, background(
        [sys.executable, "-m", "kes", "controller", "--kubeconfig", kubeconfig],
        environment, stdout=subprocess.DEVNULL, stderr=stderr,
    ) as process:
        yield process


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
