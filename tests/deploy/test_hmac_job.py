"""The kes-hmac job's manifests (config/hmac) on the emulated cluster with RBAC on: the
job, run with its postsubmit's arguments under its service account's token, rotates a
hook while the controller (deployed from config/cluster) syncs the token map, and is
never refused; without either verb of its Role, the code that needs it is refused."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from kes.tokens import parse_token_map
from kes_emulators.apiserver import ApiServer
from kes_emulators.github import GitHubEmulator
from kes_emulators.gsm import SecretManagerEmulator
from tests.support.cluster import CLUSTER, Obj, kubectl, render, started, write_overlay
from tests.support.rbac import granted, ids, refused, rules_in, without
from tests.support.scenario import ControllerRun
from tests.support.waiting import wait_for

HMAC = CLUSTER.parent / "hmac"
JOB = "system:serviceaccount:test-pods:kes-hmac"
HMAC_RULES = rules_in(HMAC / "rbac.yaml")


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    seed = {"tokens": {"ghp_job": {"user": "bot", "scopes": ["admin:repo_hook"]}},
            "repos": {"foo/bar": {"admins": ["bot"]}}}
    with GitHubEmulator(seed=seed).background() as emulator:
        yield emulator


def hmac_objects(tmp_path: Path) -> list[Obj]:
    """config/hmac, its ExternalSecret refreshed every second instead of 30 (the job waits
    for the sync, and the test should not)."""
    overlay = tmp_path / "hmac-overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [os.path.relpath(HMAC, overlay)],
        "patches": [{"target": {"kind": "ExternalSecret", "name": "hmac-token"},
                     "patch": "- {op: replace, path: /spec/refreshInterval, value: 1s}"}],
    }))
    return render(overlay)


def job_argv(tmp_path: Path, github: GitHubEmulator, kubeconfig: Path) -> list[str]:
    """The postsubmit's command and arguments; where they name Prow's files, GitHub and
    timings, those of the test (a token instead of the App, no grace period)."""
    postsubmits = yaml.safe_load((HMAC / "postsubmit.yaml").read_text())["postsubmits"]
    [job] = [job for jobs in postsubmits.values() for job in jobs]
    [container] = job["spec"]["containers"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"managed_webhooks": {
        "org_repo_config": {"foo/bar": {"token_created_after": "2020-01-01T00:00:00Z"}}}}))
    (tmp_path / "supplemental").mkdir()
    (tmp_path / "token").write_text("ghp_job")
    replaced = {
        "--config-path": [str(tmp_path / "config.yaml")],
        "--supplemental-prow-config-dir": [str(tmp_path / "supplemental")],
        "--github-app-id": [], "--github-app-private-key-path": [],
        "--github-endpoint": [github.url],
        "--hook-url": ["http://127.0.0.1:9/hook"],
        "--propagation-grace": ["0"], "--propagation-timeout": ["60"],
    }
    args: list[str] = []
    for arg in container["args"]:
        flag = arg.split("=", 1)[0]
        if flag not in replaced:
            args.append(arg)
        elif flag not in {a.split("=", 1)[0] for a in args}:  # a repeated flag: once
            args += [f"{flag}={value}" for value in replaced[flag]]
    assert container["command"] == ["kes"]
    return [sys.executable, "-m", "kes", *args, f"--github-token-path={tmp_path / 'token'}",
            "--propagation-poll-interval=0.1", f"--kubeconfig={kubeconfig}"]


def run_job(api: ApiServer, admin: Path, gsm: SecretManagerEmulator, github: GitHubEmulator,
            tmp_path: Path, hmac: Sequence[Obj],
            proven: Callable[[], bool] = lambda: False) -> tuple[int | None, str]:
    """Deploy kes and `hmac` (as the admin), then run the job while the controller runs:
    its exit code and output, or None once `proven()` holds (the job is then stopped)."""
    for namespace in ("prow", "test-pods"):  # Prow's own
        kubectl(admin, "create", "namespace", namespace)
    overlay = write_overlay(tmp_path / "overlay",
                            settings={"MIN_REFRESH_INTERVAL_MILLISECONDS": "1000"})
    kubectl(admin, "apply", "-k", str(overlay))
    kubectl(admin, "apply", "-f", "-", stdin=yaml.safe_dump_all(hmac))
    gsm.seed({"secrets": [{"name": "projects/example-prow/secrets/prow-hmac-tokens"}]})
    token = api.create_service_account_token("test-pods", "kes-hmac")
    kubeconfig = api.write_kubeconfig(tmp_path / "job.kubeconfig", token)
    deployed = yaml.safe_load(kubectl(admin, "get", "-n", "kes-system",
                                      "deployments,configmaps", "-o", "yaml").stdout)["items"]
    log = tmp_path / "job.log"
    with ControllerRun(api, admin, gsm, deployed, "prow", tmp_path).started(), \
            log.open("wb") as output, started(job_argv(tmp_path, github, kubeconfig), {
                "SECRET_MANAGER_EMULATOR_HOST": gsm.address}, output) as job:
        wait_for(lambda: job.poll() is not None or proven(), "the job", timeout=90)
        return (None if job.poll() is None else job.returncode), log.read_text()


def test_the_job_works_as_its_service_account_and_reads_only_its_two_objects(
    api: ApiServer, admin: Path, gsm: SecretManagerEmulator, github: GitHubEmulator,
    tmp_path: Path,
) -> None:
    hmac = hmac_objects(tmp_path)
    account = next(o for o in hmac if o["kind"] == "ServiceAccount")
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == \
        "kes-hmac@example-prow.iam.gserviceaccount.com"
    code, output = run_job(api, admin, gsm, github, tmp_path, hmac)
    assert code == 0, output
    [hook] = github.hooks("foo/bar")
    assert hook.url == "http://127.0.0.1:9/hook"
    synced = json.loads(kubectl(admin, "get", "secret", "-n", "prow", "hmac-token",
                                "-o", "json").stdout)
    tokens = parse_token_map(base64.b64decode(synced["data"]["hmac"]),
                             respect_legacy_global_token=False)
    assert [t.value for t in tokens["foo/bar"]] == [hook.secret]
    requests = api.call(lambda: {(r.verb, r.resource, r.namespace, r.code)
                                 for r in api.requests.all() if r.identity == JOB})
    assert requests == {("get", "externalsecrets", "prow", 200), ("get", "secrets", "prow", 200)}


def test_the_removal_test_covers_every_rule_bound_to_the_job(tmp_path: Path) -> None:
    assert sorted(granted(hmac_objects(tmp_path), JOB)) == sorted(HMAC_RULES)


@pytest.mark.parametrize(("role", "index", "verb"), HMAC_RULES, ids=ids(HMAC_RULES))
def test_without_either_verb_the_job_is_refused_and_changes_no_hook(
    api: ApiServer, admin: Path, gsm: SecretManagerEmulator, github: GitHubEmulator,
    tmp_path: Path, role: str, index: int, verb: str,
) -> None:
    hmac, rule = without(hmac_objects(tmp_path), role, index, verb)
    # A refused read is retried until the propagation timeout; stop the job once it was.
    run_job(api, admin, gsm, github, tmp_path, hmac, lambda: refused(api, JOB, [verb], rule))
    assert refused(api, JOB, [verb], rule)
    assert github.hooks("foo/bar") == []
