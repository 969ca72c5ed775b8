"""Finding the cluster as kubectl does: flag, then $KUBECONFIG, then in-cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kes.kube import ClusterConfigError, load_cluster


def kubeconfig(path: Path) -> str:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "dev", "cluster": {"server": "http://127.0.0.1:6001"}},
                    {"name": "prod", "cluster": {"server": "http://127.0.0.1:6002"}},
                ],
                "users": [
                    {"name": "dev", "user": {"token": "dev-token"}},
                    {"name": "prod", "user": {"token": "prod-token"}},
                ],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "dev", "user": "dev"}},
                    {"name": "prod", "context": {"cluster": "prod", "user": "prod"}},
                ],
                "current-context": "dev",
            }
        )
    )
    return str(path)


def test_flag_then_env_and_context(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config")
    flag = load_cluster(path, env={}).connection()
    assert (flag.server, flag.scheme, flag.token) == (
        "http://127.0.0.1:6001",
        "Bearer",
        "dev-token",
    )
    env = load_cluster(None, "prod", env={"KUBECONFIG": path}).connection()
    assert (env.server, env.token) == ("http://127.0.0.1:6002", "prod-token")


def test_missing_configuration_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterConfigError, match="cannot find the cluster"):
        load_cluster(str(tmp_path / "absent"), env={})
    with pytest.raises(ClusterConfigError, match="cannot find the cluster"):
        load_cluster(kubeconfig(tmp_path / "config"), "staging", env={})
