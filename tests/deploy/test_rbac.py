"""Least privilege, proven for the controller: it runs as its own service account on
the emulated API server with RBAC on, started as its Deployment starts it, and is never
refused; with any one verb of its rules taken away, the code that needs it is refused
(403). So every rule is needed and none is missing. (The hmac and deploy jobs: their
own tests.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator
from tests.support.cluster import CLUSTER, CONTROLLER, kubectl, render, write_overlay
from tests.support.rbac import granted, ids, refused, rules_in, without
from tests.support.scenario import ControllerRun, seed

VARIANTS = {  # components, the namespace the ExternalSecrets live in
    "cluster-wide": ([], "default"),
    "namespaced": (["namespaced"], "team-a"),
    "namespace-annotations": (["namespace-annotations"], "default"),
}
CONTROLLER_RULES = rules_in(CLUSTER / "kubernetes-external-secrets_rbac.yaml",
                            CLUSTER / "components" / "namespace-annotations" / "rbac.yaml")


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_controller_works_as_its_service_account_and_is_never_refused(
    api: ApiServer, admin: Path, gsm: SecretManagerEmulator, tmp_path: Path, variant: str
) -> None:
    components, namespace = VARIANTS[variant]
    kubectl(admin, "create", "namespace", "team-a")
    kubectl(admin, "apply", "-k", str(write_overlay(tmp_path / "overlay", components)))
    # The Deployment and its ConfigMap as the cluster holds them, not as the files say.
    deployed = yaml.safe_load(kubectl(admin, "get", "-n", "kes-system",
                                      "deployments,configmaps", "-o", "yaml").stdout)["items"]
    seed(gsm)
    assert ControllerRun(api, admin, gsm, deployed, namespace, tmp_path).run() == 0
    assert api.call(lambda: api.requests.count(identity=CONTROLLER, code=403)) == 0
    watched = api.call(lambda: {r.resource for r in api.requests.all()
                                if r.identity == CONTROLLER and r.verb == "watch"})
    assert watched == {"externalsecrets", "secrets"} | (
        {"namespaces"} if "annotations" in variant else set())


def test_the_removal_test_covers_every_rule_bound_to_the_controller(tmp_path: Path) -> None:
    objects = render(write_overlay(tmp_path / "overlay", ["namespace-annotations"]))
    assert sorted(granted(objects, CONTROLLER)) == sorted(CONTROLLER_RULES)


@pytest.mark.parametrize(("role", "index", "verb"), CONTROLLER_RULES, ids=ids(CONTROLLER_RULES))
def test_without_any_one_verb_the_controller_code_that_needs_it_is_refused(
    api: ApiServer, admin: Path, gsm: SecretManagerEmulator, tmp_path: Path,
    role: str, index: int, verb: str,
) -> None:
    objects = render(write_overlay(tmp_path / "overlay", ["namespace-annotations"]))
    changed, rule = without(objects, role, index, verb)
    api.load(changed)
    seed(gsm)
    ControllerRun(api, admin, gsm, changed, "default", tmp_path,
                  stop_when=lambda: refused(api, CONTROLLER, [verb], rule)).run()
    assert refused(api, CONTROLLER, [verb], rule)
