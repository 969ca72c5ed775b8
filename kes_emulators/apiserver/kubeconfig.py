"""Kubeconfig files that point kubectl, kopf and the kubernetes client at the server."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def write(path: str | os.PathLike[str], *, url: str, token: str, user: str,
          ca_pem: bytes | None) -> Path:
    """Write a kubeconfig with one cluster, user and context; the CA goes next to it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    cluster: dict[str, object] = {"server": url}
    if ca_pem is not None:
        ca_path = target.with_name(target.name + ".ca.crt")
        ca_path.write_bytes(ca_pem)
        cluster["certificate-authority"] = str(ca_path.resolve())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kes", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "kes", "context": {"cluster": "kes", "user": user,
                                                   "namespace": "default"}}],
        "current-context": "kes",
        "preferences": {},
    }
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(config, out, sort_keys=False)
    return target
