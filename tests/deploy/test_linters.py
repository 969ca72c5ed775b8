"""Every manifest kes ships passes kubernetes-validate (strict, the newest Kubernetes it
knows) and checkov (each skip justified where it is made); the Dockerfile passes
hadolint and checkov.

Manifests are linted as kubectl applies them: each kustomization rendered (config/cluster
with and without its components, kes recv's included; config/hmac), the files applied on
their own (the deploy job's RBAC, the receiver's config and Ingress example), and the
pods of the Prow jobs as Prow creates them (their pod spec and the job's annotations).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.cluster import CLUSTER, REPO, Obj, render, write_overlay

CONFIG = REPO / "config"
CUSTOM_KINDS = {"ExternalSecret"}
"""Checked against the CRD by the emulated API server when the tests apply them."""


def prow_job_pods() -> list[Obj]:
    pods = []
    for postsubmits in sorted(CONFIG.glob("*/postsubmit.yaml")):
        for jobs in yaml.safe_load(postsubmits.read_text())["postsubmits"].values():
            for job in jobs:
                spec = job["spec"]
                # Prow names the job's container `test` when the config does not.
                spec["containers"] = [{"name": "test", **c} for c in spec["containers"]]
                pods.append({"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": job["name"], "namespace": "test-pods",
                                          "annotations": job.get("annotations", {})},
                             "spec": spec})
    return pods


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Obj]]:
    folder = tmp_path_factory.mktemp("overlay")
    overlay = write_overlay(folder / "all", ["namespaced", "namespace-annotations", "recv"])
    return {
        "config/cluster": render(CLUSTER),
        "config/cluster with every component": render(overlay),
        "config/hmac": render(CONFIG / "hmac"),
        **{str(path.relative_to(REPO)): [d for d in yaml.safe_load_all(path.read_text()) if d]
           for path in (CONFIG / "deploy" / "rbac.yaml", CONFIG / "recv" / "ingress.yaml",
                        CONFIG / "recv" / "externalsecret.yaml")},
        "Prow jobs": prow_job_pods(),
    }


def test_kubernetes_validate_strict(manifests: dict[str, list[Obj]]) -> None:
    version = kubernetes_validate.latest_version()
    assert version >= "1.37"
    problems = []
    for source, documents in manifests.items():
        for doc in documents:
            if doc["kind"] in CUSTOM_KINDS:
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                problems.append(f"{source}: {doc['kind']}/{doc['metadata']['name']}: {e}")
    assert problems == []
    assert sum(len(d) for d in manifests.values()) >= 30


def checkov() -> str:
    """checkov from its own environment beside this one (the Makefile installs it there:
    its pins conflict with kes's dependencies)."""
    path = Path(sys.prefix) / "checkov" / "bin" / "checkov"
    assert path.is_file(), f"{path} is missing: `make test` installs it"
    return str(path)


def test_checkov_finds_nothing_and_every_skip_says_why(
    manifests: dict[str, list[Obj]], tmp_path: Path
) -> None:
    files = [str(REPO / "Dockerfile")]
    for index, documents in enumerate(manifests.values()):
        path = tmp_path / f"manifests-{index}.yaml"
        path.write_text(yaml.safe_dump_all(documents))
        files.append(str(path))
    # Nothing is fetched: no policies or guidelines from Prisma Cloud, no version check.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    result = subprocess.run(
        [checkov(), "--framework", "kubernetes", "dockerfile", "--skip-download",
         "--output", "json", *[arg for f in files for arg in ("--file", f)]],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path, check=False)
    reports: list[dict[str, Any]] = json.loads(result.stdout)
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})"
              for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    skipped = [c for r in reports for c in r["results"]["skipped_checks"]]
    unexplained = [f"{c['check_id']} {c['resource']}" for c in skipped
                   if len((c["check_result"].get("suppress_comment") or "").strip()) < 20]
    assert skipped and unexplained == []
    assert result.returncode == 0


def test_hadolint() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "hadolint"), "Dockerfile"],
                            capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
