"""The API server as `kes emulate` launches it: HTTPS, a kubeconfig, the seed section."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from kes_emulators.launcher import LaunchOptions, launch_kubernetes


async def test_launch_serves_https_with_seed_and_kubeconfig(tmp_path: Path) -> None:
    options = LaunchOptions(kubeconfig_out=str(tmp_path / "kubeconfig"), rbac=True)
    running = await launch_kubernetes(options, [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "team"},
         "stringData": {"k": "v"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
    ])
    try:
        assert running.environment == {"KUBECONFIG": str(tmp_path / "kubeconfig")}
        config = yaml.safe_load((tmp_path / "kubeconfig").read_text())
        cluster = config["clusters"][0]["cluster"]
        token = config["users"][0]["user"]["token"]
        assert "RBAC on" in running.endpoints[0] and cluster["server"] in running.endpoints[0]
        connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(
            cafile=cluster["certificate-authority"]))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(f"{cluster['server']}/api/v1/namespaces/team/secrets/s",
                                   headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 200
                assert (await response.json())["data"] == {"k": "dg=="}
            async with session.get(f"{cluster['server']}/api/v1/secrets") as response:
                assert response.status == 403  # anonymous, with RBAC on
    finally:
        await running.stop()


async def test_launch_rejects_a_seed_that_is_not_a_list(tmp_path: Path) -> None:
    options = LaunchOptions(kubeconfig_out=str(tmp_path / "kubeconfig"))
    with pytest.raises(ValueError, match="must be a list of Kubernetes objects"):
        await launch_kubernetes(options, {"secrets": []})


def test_kes_emulate_reports_a_malformed_seed_entry_and_exits_2(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("kubernetes:\n  - {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
                    "  - not an object\n")
    kes = Path(sys.executable).parent / "kes"
    result = subprocess.run([str(kes), "emulate", "--seed", str(seed)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == ("kes emulate: kubernetes: seed object [1]: must be a "
                                     "mapping (a Kubernetes object), not str")
