"""kes as its image runs it, without Docker.

The package is built from exactly the files `docker build .` would send (the checkout
filtered by .dockerignore, as docker-py computes a build context), installed
non-editable into a fresh virtual environment outside the checkout, and run the way
the Deployment runs it: as a uid with no passwd entry, no capabilities, a minimal
environment, HOME=/ (what container runtimes set for such a uid) and a read-only root
filesystem (a private mount namespace). Switching uid and mounting need root, as CI
has.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from docker.utils.build import tar

from tests.support.processes import background

REPO = Path(__file__).resolve().parents[2]
CONTAINER_UID = 65532
"""The uid of the Dockerfile's USER and of the manifests' runAsUser."""

# Run as the Deployment's securityContext runs a container: the root filesystem
# read-only (mounts below it, such as /dev/shm, stay as they are), then the uid and gid
# switched, supplementary groups and every capability dropped, no privilege escalation.
_AS_DEPLOYED = (
    "mount --rbind / / && mount -o remount,bind,ro / && "
    f"exec setpriv --reuid={CONTAINER_UID} --regid={CONTAINER_UID} --clear-groups "
    '--inh-caps=-all --bounding-set=-all --no-new-privs "$@"'
)


def build_context(destination: Path) -> Path:
    """The checkout as a Docker build context: only what .dockerignore lets through."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    exclude = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    archive = tar(str(REPO), exclude=exclude)
    with tarfile.open(fileobj=archive) as context:
        context.extractall(destination, filter="data")
    return destination


def _world_usable(path: Path) -> bool:
    """Whether any uid may run `path`: every folder above it searchable by others."""
    resolved = path.resolve()
    return resolved.is_file() and all(
        p.stat().st_mode & stat.S_IXOTH for p in (resolved, *resolved.parents)
    )


def container_python() -> str:
    """A Python 3 like the running one that a uid with no rights of its own can run (the
    image's is /usr/local/bin/python3): this one when it can, else the system's."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [Path(getattr(sys, "_base_executable", sys.executable)),
                  Path("/usr/local/bin", version),
                  Path("/usr/bin", version)]
    for candidate in candidates:
        if _world_usable(candidate):
            return str(candidate)
    raise AssertionError(f"no {version} that uid {CONTAINER_UID} may run among "
                         f"{[str(c) for c in candidates]}; install Debian's {version}-venv")


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}"
    return result


@dataclass(frozen=True)
class Image:
    """The installed package, in a folder every uid can read."""

    root: Path
    """World-readable: a place for kubeconfigs and manifests the container reads."""
    venv: Path
    wheel: Path

    def environment(self, **variables: str) -> dict[str, str]:
        """A container's environment: the image's PATH, HOME=/ and `variables`."""
        return {"PATH": f"{self.venv}/bin:/usr/bin:/bin", "HOME": "/", **variables}

    def share(self, name: str, text: str) -> Path:
        """Write a file the container may read."""
        path = self.root / name
        path.write_text(text)
        path.chmod(0o644)
        return path

    def command(self, argv: Sequence[str]) -> list[str]:
        return ["unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", _AS_DEPLOYED, "sh", *argv]

    def run(self, argv: Sequence[str], env: Mapping[str, str],
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv), env=dict(env), cwd="/", capture_output=True,
                              text=True, timeout=timeout, check=False)

    @contextmanager
    def start(self, argv: Sequence[str], env: Mapping[str, str],
              output: IO[bytes]) -> Iterator[subprocess.Popen[bytes]]:
        """Run in the background, stdout and stderr to `output`; killed if left running."""
        with background(self.command(argv), env, output, cwd="/") as process:
            yield process


def _constraints(path: Path) -> Path:
    """The versions this test environment runs, so the image test runs the same ones."""
    frozen = _run([sys.executable, "-m", "pip", "list", "--format=freeze",
                   "--exclude-editable"]).stdout
    path.write_text(frozen)
    return path


def _install() -> Image:
    """Build the wheel from the build context and install it into a fresh venv."""
    assert os.geteuid() == 0, (
        "the image test switches to another uid and mounts the root read-only: run it as "
        "root (CI does)")
    try:
        pwd.getpwuid(CONTAINER_UID)
    except KeyError:
        pass
    else:
        raise AssertionError(f"uid {CONTAINER_UID} has a passwd entry here; the test needs "
                             "one without, as in the image")
    root = Path(tempfile.mkdtemp(prefix="kes-image-"))
    try:
        root.chmod(0o755)
        with tempfile.TemporaryDirectory() as work:
            context = build_context(Path(work) / "context")
            _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                  "--wheel-dir", str(root), str(context)])
            constraints = _constraints(Path(work) / "constraints.txt")
            [wheel] = root.glob("kes-*.whl")
            venv = root / "venv"
            _run([container_python(), "-m", "venv", str(venv)])
            _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  "--disable-pip-version-check", "--constraint", str(constraints), str(wheel)])
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Image(root, root / "venv", wheel)


def session_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder every worker of this test session shares (xdist's workers have theirs
    under the controller's)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_image(session: Path) -> Image:
    """The package installed once per test session, by whichever worker asks first.

    It lives outside pytest's folders, which only their owner may enter; the session's
    controller removes it at the end (`remove_shared_image`)."""
    record = session / "kes-image.json"
    with (session / "kes-image.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            image = _install()
            record.write_text(json.dumps({"root": str(image.root), "venv": str(image.venv),
                                          "wheel": str(image.wheel)}))
        paths = json.loads(record.read_text())
    return Image(Path(paths["root"]), Path(paths["venv"]), Path(paths["wheel"]))


def remove_shared_image(session: Path) -> None:
    record = session / "kes-image.json"
    if record.exists():
        shutil.rmtree(json.loads(record.read_text())["root"], ignore_errors=True)
        record.unlink()
