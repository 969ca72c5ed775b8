"""The deployment configuration as a user applies it: kubectl and kustomize on the
emulated API server, overlays of config/cluster, and `kes controller` started with the
environment its Deployment gives it, under its service account's token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import yaml

from kes_emulators.kubectl import find_kubectl
from tests.support.processes import background

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "config" / "cluster"
PROJECT = "kes-test-project"
"""The project an overlay sets where config/cluster has its placeholder."""
CONTROLLER = "system:serviceaccount:kes-system:kes-controller"

Obj = dict[str, Any]


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True,
            cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """The real kubectl, with HOME (its cache) the kubeconfig's folder."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)}
    return _checked(subprocess.run([find_kubectl(), *args], input=stdin, capture_output=True,
                                   text=True, timeout=120, cwd=cwd, env=env, check=False),
                    check)


def _checked(result: subprocess.CompletedProcess[str], check: bool
             ) -> subprocess.CompletedProcess[str]:
    if check:
        assert result.returncode == 0, f"{' '.join(result.args)}:\n{result.stderr}"
    return result


def render(folder: Path) -> list[Obj]:
    """`kubectl kustomize` of a folder (no cluster needed), as documents."""
    result = subprocess.run([find_kubectl(), "kustomize", str(folder)], capture_output=True,
                            text=True, timeout=60, check=False)
    return [d for d in yaml.safe_load_all(_checked(result, True).stdout) if d]


def component(name: str) -> Path:
    """An optional part of config/cluster: components/NAME, or config/NAME (recv)."""
    inside = CLUSTER / "components" / name
    return inside if inside.is_dir() else CLUSTER.parent / name


def write_overlay(folder: Path, components: Sequence[str] = (),
                  settings: Mapping[str, str] | None = None) -> Path:
    """An overlay of config/cluster, as a user writes one: the base, components, the
    controller's settings merged into its ConfigMap (by default, a real project), and
    the base's `images:` again, for the components' containers (kustomize applies a
    kustomization's images only to what it holds)."""
    folder.mkdir(parents=True, exist_ok=True)
    literals = {"GOOGLE_CLOUD_PROJECT": PROJECT, **(settings or {})}
    base = yaml.safe_load((CLUSTER / "kustomization.yaml").read_text())
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(CLUSTER, folder)],
        "images": base["images"],
        "components": [os.path.relpath(component(c), folder) for c in components],
        "configMapGenerator": [{
            "name": "kes-controller-settings", "namespace": "kes-system", "behavior": "merge",
            "literals": [f"{k}={v}" for k, v in literals.items()],
        }],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return folder


def find(objects: Sequence[Obj], kind: str, name: str | None = None) -> Obj:
    [found] = [o for o in objects
               if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def container_env(objects: Sequence[Obj], pod_name: str,
                  deployment_name: str = "kes-controller") -> dict[str, str]:
    """The environment the kubelet gives the Deployment's container: the ConfigMaps of
    `envFrom`, then `env`, with the pod's name and namespace for its field references."""
    deployment = find(objects, "Deployment", deployment_name)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    pod = {"metadata.name": pod_name, "metadata.namespace": deployment["metadata"]["namespace"]}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        configmap = find(objects, "ConfigMap", source["configMapRef"]["name"])
        env.update(configmap.get("data", {}))
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            env[variable["name"]] = pod[variable["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def controller_argv(objects: Sequence[Obj], kubeconfig: Path) -> list[str]:
    """The container's command line, `kes` being this checkout's."""
    deployment = find(objects, "Deployment", "kes-controller")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return [sys.executable, "-m", "kes", *container["args"], "--kubeconfig", str(kubeconfig)]


@contextmanager
def started(argv: Sequence[str], env: Mapping[str, str], output: IO[bytes]
            ) -> Iterator[subprocess.Popen[bytes]]:
    """A process in the background, its output to `output`; killed if left running."""
    with background(argv, {"PATH": os.environ["PATH"], "HOME": "/", **env}, output,
                    cwd="/") as process:
        yield process
