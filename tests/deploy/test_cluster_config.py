"""config/cluster applies on a fresh cluster in one go, re-applies without a change, and
its optional parts apply cleanly; what it deploys is what the docs promise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kes.config import ConfigError
from kes.controller.settings import ControllerSettings, settings_from_env
from kes_emulators.apiserver import ApiServer
from tests.support.cluster import CLUSTER, container_env, find, kubectl, render, write_overlay

KINDS = [  # what one `kubectl apply -k config/cluster` creates, in kustomize's order
    "namespace/kes-system",
    "customresourcedefinition.apiextensions.k8s.io/externalsecrets.kubernetes-client.io",
    "serviceaccount/kes-controller",
    "role.rbac.authorization.k8s.io/kes-controller-leader-election",
    "clusterrole.rbac.authorization.k8s.io/kes-controller",
    "rolebinding.rbac.authorization.k8s.io/kes-controller-leader-election",
    "clusterrolebinding.rbac.authorization.k8s.io/kes-controller",
    "configmap/kes-controller-settings-",
    "service/kes-controller-metrics",
    "deployment.apps/kes-controller",
    "poddisruptionbudget.policy/kes-controller",
    "networkpolicy.networking.k8s.io/kes-controller",
]


def applied(output: str) -> list[tuple[str, str]]:
    """`kubectl apply` lines as (object, what happened), the ConfigMap's hash cut off."""
    lines = [line.rsplit(" ", 1) for line in output.splitlines()]
    return [(o.rsplit("-", 1)[0] + "-" if o.startswith("configmap/") else o, what)
            for o, what in lines]


def versions(admin: Path) -> dict[str, str]:
    """Every object kes deployed, by kind and name, with its resourceVersion."""
    kinds = "namespaces,customresourcedefinitions,clusterroles,clusterrolebindings"
    namespaced = ("serviceaccounts,roles,rolebindings,configmaps,services,deployments,"
                  "poddisruptionbudgets,networkpolicies")
    found: dict[str, str] = {}
    for args in ([kinds], ["-n", "kes-system", namespaced]):
        listed = yaml.safe_load(kubectl(admin, "get", *args, "-o", "yaml").stdout)
        for item in listed["items"]:
            found[f"{item['kind']}/{item['metadata']['name']}"] = \
                item["metadata"]["resourceVersion"]
    return found


def test_one_apply_on_a_fresh_cluster_then_a_reapply_that_changes_nothing(
    admin: Path,
) -> None:
    first = kubectl(admin, "apply", "-k", "config/cluster")
    assert applied(first.stdout) == [(kind, "created") for kind in KINDS]
    assert first.stderr == ""
    before = versions(admin)
    second = kubectl(admin, "apply", "-k", "config/cluster")
    assert applied(second.stdout) == [(kind, "unchanged") for kind in KINDS]
    assert second.stderr == ""
    assert versions(admin) == before


@pytest.mark.parametrize("components", [
    ["namespaced"], ["namespace-annotations"], ["namespaced", "namespace-annotations"],
])
def test_each_component_applies_cleanly(
    admin: Path, tmp_path: Path, components: list[str]
) -> None:
    kubectl(admin, "create", "namespace", "team-a")  # a team's namespace, not kes's
    overlay = write_overlay(tmp_path / "overlay", components)
    first = kubectl(admin, "apply", "-k", str(overlay))
    assert {what for _, what in applied(first.stdout)} == {"created"}
    assert first.stderr == ""
    second = kubectl(admin, "apply", "-k", str(overlay))
    assert {what for _, what in applied(second.stdout)} == {"unchanged"}


def test_the_namespaced_component_binds_the_controller_in_its_namespaces_only(
    admin: Path, tmp_path: Path
) -> None:
    objects = render(write_overlay(tmp_path / "overlay", ["namespaced"]))
    bindings = [(o["kind"], o["metadata"].get("namespace"), o["roleRef"]["name"])
                for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert sorted(bindings) == [
        ("RoleBinding", "kes-system", "kes-controller-leader-election"),
        ("RoleBinding", "team-a", "kes-controller"),
    ]
    env = container_env(objects, "kes-controller-0")
    assert env["WATCHED_NAMESPACES"] == "team-a"


def test_one_image_reference_set_in_kustomization(admin: Path) -> None:
    kustomization = yaml.safe_load((CLUSTER / "kustomization.yaml").read_text())
    [image] = kustomization["images"]
    objects = render(CLUSTER)
    containers = [c for o in objects if o["kind"] == "Deployment"
                  for c in o["spec"]["template"]["spec"]["containers"]]
    assert [c["image"] for c in containers] == [f"{image['newName']}:{image['newTag']}"]
    # Every Deployment in config/ names the image only by the name images: replaces.
    mentions = {line.strip() for p in (CLUSTER.parent).rglob("*.yaml")
                if "kind: Deployment" in p.read_text()
                for line in p.read_text().splitlines() if line.strip().startswith("image:")}
    assert mentions == {f"image: {image['name']}"}


def test_the_shipped_placeholder_stops_the_controller_until_it_is_set(admin: Path) -> None:
    env = container_env(render(CLUSTER), "kes-controller-0")
    with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT='YOUR_PROJECT' is a placeholder"):
        settings_from_env(env)


def test_two_replicas_spread_over_nodes_with_one_disruption_at_a_time(admin: Path) -> None:
    objects = render(CLUSTER)
    deployment = find(objects, "Deployment")
    pods = deployment["spec"]["template"]
    labels = pods["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 2
    [by_node] = [c for c in pods["spec"]["topologySpreadConstraints"]
                 if c["topologyKey"] == "kubernetes.io/hostname"]
    assert by_node["whenUnsatisfiable"] == "DoNotSchedule" and by_node["maxSkew"] == 1
    assert by_node["labelSelector"]["matchLabels"].items() <= labels.items()
    budget = find(objects, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] == 1
    policy = find(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    [container] = pods["spec"]["containers"]
    assert [p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]] == \
        [p["name"] for p in container["ports"]]


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What Pod Security `restricted` refuses in a pod spec (fidelity-and-limits.md)."""
    spec = pod.get("spec", pod)  # a pod template, or a Prow job's pod spec
    pod_context = spec.get("securityContext", {})
    problems = []
    for container in spec.get("initContainers", []) + spec["containers"]:
        context = {**pod_context, **container.get("securityContext", {})}
        name = container.get("name", container.get("image"))
        if context.get("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation")
        if context.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: capabilities.drop")
        if context.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile")
    return problems


def test_the_namespace_enforces_restricted_and_every_pod_meets_it(tmp_path: Path) -> None:
    objects = render(write_overlay(tmp_path / "overlay", ["recv"]))
    labels = find(objects, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    templates = [o["spec"]["template"] for o in objects if o["kind"] == "Deployment"]
    for postsubmit in (CLUSTER.parent / "hmac" / "postsubmit.yaml",
                       CLUSTER.parent / "deploy" / "postsubmit.yaml"):
        jobs = yaml.safe_load(postsubmit.read_text())["postsubmits"]
        templates += [job["spec"] for repo in jobs.values() for job in repo]
    assert len(templates) == 4  # controller, recv, and the two jobs
    assert [restricted_violations(t) for t in templates] == [[], [], [], []]


def test_the_controller_is_refused_what_it_was_not_granted(api: ApiServer, admin: Path) -> None:
    """The emulated server enforces RBAC for these tests: a service account without a
    binding is refused (so the RBAC tests below prove something)."""
    kubectl(admin, "apply", "-k", "config/cluster")
    token = api.create_service_account_token("kes-system", "kes-controller")
    controller = api.write_kubeconfig(admin.parent / "controller.kubeconfig", token)
    refused = kubectl(controller, "get", "configmaps", "-n", "kes-system", check=False)
    assert refused.returncode == 1 and "Forbidden" in refused.stderr


def test_the_leader_election_role_names_the_lease_the_controller_takes() -> None:
    """kustomize rewrites a rule's resourceNames that match a generated object's name."""
    role = find(render(CLUSTER), "Role", "kes-controller-leader-election")
    named = [name for rule in role["rules"] for name in rule.get("resourceNames", [])]
    assert named == [ControllerSettings().lease_name]
