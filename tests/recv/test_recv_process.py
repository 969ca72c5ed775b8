"""`kes recv` as a user starts it: exit codes, messages, a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from kes_emulators.apiserver import ApiServer
from tests.recv.conftest import CRD
from tests.support.waiting import wait_for


def recv(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kes", "recv", *args], capture_output=True,
                          text=True, timeout=timeout,
                          env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"})


def test_a_bad_config_stops_the_start_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("secret-key-bytes")
    config = tmp_path / "recv.yaml"
    config.write_text(yaml.safe_dump({"kesRecvVersion": 1, "endpoints": [
        {"source": "GitHub", "keyPath": "k"}, {"source": "DockerHub", "keyPath": "k"}]}))
    result = recv("--config", str(config), "--kubeconfig", str(tmp_path / "none"))
    assert result.returncode == 2
    assert result.stderr == (f"kes recv: {config}: endpoints[1]: the same route as "
                             "endpoints[0] (the same key file contents, or the same name): "
                             "one would hide the other\n")


def test_a_bad_listen_address_is_a_usage_error(tmp_path: Path) -> None:
    result = recv("--config", "x", "--listen", "8080")
    assert result.returncode == 2
    assert "--listen='8080' is not an address such as :8080" in result.stderr


def test_a_cluster_without_the_crd_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("key")
    (tmp_path / "recv.yaml").write_text("fluxRecvVersion: 1\nendpoints: [{source: GitHub, "
                                        "keyPath: k}]\n")
    with ApiServer().background() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        result = recv("--config", str(tmp_path / "recv.yaml"), "--listen", "127.0.0.1:0",
                      "--kubeconfig", str(kubeconfig))
    assert result.returncode == 1
    assert "list externalsecrets: HTTP 404" in result.stderr
    assert "crds/externalsecret.yaml" in result.stderr


def test_sigterm_stops_the_receiver_cleanly(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("key")
    (tmp_path / "recv.yaml").write_text("kesRecvVersion: 1\nendpoints: [{source: DockerHub, "
                                        "keyPath: k}]\n")
    log = tmp_path / "recv.log"
    with ApiServer().background() as api, log.open("w") as stderr:
        api.load([CRD])
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        process = subprocess.Popen(
            [sys.executable, "-m", "kes", "recv", "--config", str(tmp_path / "recv.yaml"),
             "--listen", "127.0.0.1:0", "--kubeconfig", str(kubeconfig)],
            stderr=stderr, stdout=subprocess.DEVNULL)
        try:
            wait_for(lambda: "watching ExternalSecrets" in log.read_text(), "the start")
            wait_for(lambda: api.open_watches() >= 1, "the watch")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert "key" not in log.read_text().replace('"key_path"', "")
