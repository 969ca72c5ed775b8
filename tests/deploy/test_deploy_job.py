"""The deploy job (config/deploy): its exact command, run as its service account on a
fresh emulated cluster with RBAC on, deploys kes and changes nothing when run again;
without any one verb of its rules, the deploy is refused."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kes_emulators.apiserver import ApiServer
from tests.support.cluster import CLUSTER, REPO, Obj, kubectl, render
from tests.support.rbac import granted, ids, rules_in, without

DEPLOY = REPO / "config" / "deploy"
DEPLOYER = "system:serviceaccount:test-pods:kes-deployer"
DEPLOYER_RULES = rules_in(DEPLOY / "rbac.yaml")
NAMESPACE_FILE = CLUSTER / "kubernetes-external-secrets_namespace.yaml"
DEPLOYED = {"namespaces", "customresourcedefinitions", "clusterroles", "clusterrolebindings",
            "serviceaccounts", "configmaps", "services", "deployments",
            "poddisruptionbudgets", "networkpolicies", "roles", "rolebindings"}
"""The kinds config/cluster holds."""


def the_job() -> dict[str, Any]:
    postsubmits = yaml.safe_load((DEPLOY / "postsubmit.yaml").read_text())["postsubmits"]
    [job] = [job for jobs in postsubmits.values() for job in jobs]
    return job


def bootstrap(api: ApiServer, admin: Path, rbac: list[Obj]) -> Path:
    """What an admin does once: kes's namespace and the deployer's RBAC; the deployer's
    kubeconfig."""
    kubectl(admin, "create", "namespace", "test-pods")  # Prow's
    kubectl(admin, "apply", "-f", str(NAMESPACE_FILE), "-f", "-",
            stdin=yaml.safe_dump_all(rbac))
    token = api.create_service_account_token("test-pods", "kes-deployer")
    (admin.parent.parent / "deployer").mkdir()
    return api.write_kubeconfig(admin.parent.parent / "deployer" / "kubeconfig", token)


def run_the_job(kubeconfig: Path) -> tuple[int, str, str]:
    """The container's command and arguments, in the checkout, as Prow starts them."""
    [container] = the_job()["spec"]["containers"]
    assert container["command"] == ["kubectl"]
    result = kubectl(kubeconfig, *container["args"], check=False, cwd=REPO)
    return result.returncode, result.stdout, result.stderr


def test_the_job_deploys_kes_then_changes_nothing(api: ApiServer, admin: Path) -> None:
    deployer = bootstrap(api, admin, list(yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text())))
    code, out, err = run_the_job(deployer)
    assert (code, err) == (0, "")
    outcomes = dict(line.rsplit(" ", 1) for line in out.splitlines())
    assert outcomes.pop("namespace/kes-system") == "unchanged"  # the admin created it
    assert set(outcomes.values()) == {"created"} and len(outcomes) == 11
    code, out, err = run_the_job(deployer)
    assert (code, err) == (0, "")
    assert {line.rsplit(" ", 1)[1] for line in out.splitlines()} == {"unchanged"}
    assert api.call(lambda: api.requests.count(identity=DEPLOYER, code=403)) == 0


def test_the_job_runs_on_merges_that_change_config_cluster_one_at_a_time() -> None:
    job = the_job()
    assert job["branches"] == ["^main$"] and job["max_concurrency"] == 1
    changed = re.compile(job["run_if_changed"])
    assert changed.search("config/cluster/kustomization.yaml")
    assert changed.search("config/cluster/components/namespaced/roles.yaml")
    assert not changed.search("docs/deploy.md")
    [account] = [o for o in yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text())
                 if o["kind"] == "ServiceAccount"]
    assert job["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_the_removal_test_covers_every_rule_bound_to_the_deployer() -> None:
    objects = list(yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text()))
    assert sorted(granted(objects, DEPLOYER)) == sorted(DEPLOYER_RULES)
    kinds = {o["kind"].lower() for o in render(CLUSTER)}
    assert {k[:-1] + "ies" if k.endswith("y") else k + "s" for k in kinds} == DEPLOYED


def refused_requests(verb: str, rule: Obj) -> tuple[set[str], set[str]]:
    """The requests (verbs, resources) that fail without `verb` of `rule`. A right held
    only to be granted fails the write of the role that grants it (escalation)."""
    if set(rule["resources"]) & DEPLOYED:
        return {verb}, set(rule["resources"])
    return {"create"}, {"clusterroles", "roles"}


@pytest.mark.parametrize(("role", "index", "verb"), DEPLOYER_RULES, ids=ids(DEPLOYER_RULES))
def test_without_any_one_verb_the_deploy_is_refused(
    api: ApiServer, admin: Path, tmp_path: Path, role: str, index: int, verb: str
) -> None:
    rbac, rule = without(list(yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text())),
                         role, index, verb)
    deployer = bootstrap(api, admin, rbac)
    # A first deploy creates; a second one, with a label added everywhere, patches.
    labelled = tmp_path / "labelled"
    labelled.mkdir()
    (labelled / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [os.path.relpath(CLUSTER, labelled)],
        "labels": [{"pairs": {"example.com/release": "2"}}],
    }))
    for target in ("config/cluster", str(labelled)):
        kubectl(deployer, "apply", "-k", target, check=False)
    verbs, resources = refused_requests(verb, rule)
    assert api.call(lambda: any(
        r.identity == DEPLOYER and r.code == 403 and r.verb in verbs and r.resource in resources
        for r in api.requests.all()))


def test_the_documented_prune_removes_only_what_left_the_folder(
    admin: Path, tmp_path: Path
) -> None:
    page = (REPO / "docs" / "deploy.md").read_text()
    dry_run, prune = [line.strip() for line in page.splitlines()
                      if line.strip().startswith("kubectl apply --prune")]
    kubectl(admin, "apply", "-f", str(CLUSTER / "kubernetes-external-secrets_crd.yaml"))
    folder, elsewhere = tmp_path / "secrets", tmp_path / "elsewhere"
    for name, where, label in [("a", folder, True), ("b", folder, True),
                               ("c", elsewhere, False)]:
        where.mkdir(exist_ok=True)
        labels = {"app.kubernetes.io/part-of": "team-secrets"} if label else {}
        (where / f"{name}.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"backendType": "gcpSecretsManager", "projectId": "team-project",
                     "data": [{"key": "db", "name": "password"}]}}))
        kubectl(admin, "apply", "-f", str(where / f"{name}.yaml"))
    (folder / "b.yaml").unlink()  # removed from git
    shown = kubectl(admin, *dry_run.split()[1:], cwd=tmp_path).stdout
    assert "externalsecret.kubernetes-client.io/b pruned (server dry run)" in shown
    kubectl(admin, *prune.split()[1:], cwd=tmp_path)
    left = kubectl(admin, "get", "es", "-n", "default", "-o", "name").stdout.split()
    assert [name.rsplit("/", 1)[1] for name in left] == ["a", "c"]
