"""OpenAPI v2 and v3, and what kubectl does with them: validation on apply, strategic
merge patches, explain, kustomize and prune on the kinds deployment manifests use."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from kes_emulators.apiserver import ApiServer

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
MANIFESTS = Path(__file__).resolve().parent / "manifests"
PROJECT_CRDS = Path(__file__).resolve().parents[2] / "crds"


@pytest.fixture
def admin(tls_server: ApiServer, tmp_path: Path) -> Path:
    return tls_server.write_kubeconfig(tmp_path / "admin.kubeconfig")


async def test_documents_are_valid_openapi_v2_and_v3(http: Any,
                                                     widget_crd: dict[str, Any]) -> None:
    """What a client that loads the spec at start (KES's kubernetes-client loads v2)
    reads: every document validates against the OpenAPI 2.0 or 3.0 specification."""
    assert (await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                            widget_crd))[0] == 201
    status, v2 = await http.get("/openapi/v2")
    assert status == 200
    validate(v2)
    assert "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}" in v2["paths"]
    status, index = await http.get("/openapi/v3")
    assert status == 200
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/policy/v1",
            "apis/networking.k8s.io/v1", "apis/example.com/v1"} <= set(index["paths"])
    for group_version in ("api/v1", "apis/apps/v1", "apis/example.com/v1"):
        url = index["paths"][group_version]["serverRelativeURL"]
        status, document = await http.get(url)
        assert status == 200
        validate(document)
    widget = document["components"]["schemas"]["com.example.v1.Widget"]
    assert widget["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}]
    assert widget["properties"]["spec"]["required"] == ["size"]


async def test_each_api_of_a_kind_stored_twice_is_described_as_it_shows_it(http: Any) -> None:
    _, index = await http.get("/openapi/v3")
    _, events = await http.get(index["paths"]["apis/events.k8s.io/v1"]["serverRelativeURL"])
    event = events["components"]["schemas"]["io.k8s.api.events.v1.Event"]
    assert "note" in event["properties"] and "message" not in event["properties"]
    _, core = await http.get(index["paths"]["api/v1"]["serverRelativeURL"])
    assert core["components"]["schemas"]["io.k8s.api.core.v1.Event"][
        "x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Event", "version": "v1"}]


async def test_built_in_kinds_are_decoded_at_every_depth(http: Any) -> None:
    leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "holderIdentityy": "b"}}
    async with http.session.post(http.url + leases, json=lease) as response:
        assert response.status == 201
        assert (await response.json())["spec"] == {"holderIdentity": "a"}
        assert response.headers.getall("Warning") == [
            '299 - "unknown field \\"spec.holderIdentityy\\""']
    status, body = await http.post(f"{leases}?fieldValidation=Strict", dict(
        lease, metadata={"name": "m"}))
    assert status == 400 and body["message"].endswith(
        'strict decoding error: unknown field "spec.holderIdentityy"')
    status, body = await http.post(leases, {"metadata": {"name": "n"},
                                            "spec": {"leaseDurationSeconds": "15"}})
    assert status == 400 and body["message"] == (
        'Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal string '
        'into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int')
    status, body = await http.post(leases, {"metadata": {"name": "n"}, "spec": "short"})
    assert status == 400 and body["message"].endswith(
        "json: cannot unmarshal string into Go struct field Lease.spec of type v1.LeaseSpec")


async def test_the_index_hash_follows_a_crds_schema(http: Any,
                                                    widget_crd: dict[str, Any]) -> None:
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    await http.post(crds, widget_crd)
    _, before = await http.get("/openapi/v3")
    patch = [{"op": "add", "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec/"
                                   "properties/shape", "value": {"type": "string"}}]
    status, _ = await http.patch(f"{crds}/widgets.example.com", patch, kind="json")
    assert status == 200
    _, after = await http.get("/openapi/v3")
    changed = {gv for gv in after["paths"]
               if after["paths"][gv] != before["paths"].get(gv)}
    assert changed == {"apis/example.com/v1"}
    status, document = await http.get(after["paths"]["apis/example.com/v1"]["serverRelativeURL"])
    assert "shape" in document["components"]["schemas"]["com.example.v1.Widget"][
        "properties"]["spec"]["properties"]


async def test_protobuf_openapi_is_refused_by_name(http: Any) -> None:
    status, body = await http.get(
        "/openapi/v2", headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0"
                                          "+protobuf"})
    assert status == 406 and "application/json only" in body["message"]


def test_apply_k_validates_and_reapplies_unchanged(kubectl: Kubectl, admin: Path) -> None:
    first = kubectl(admin, "apply", "-k", str(MANIFESTS)).stdout.splitlines()
    assert sorted(first) == sorted([
        "namespace/web created", "serviceaccount/web created", "service/web created",
        "deployment.apps/web created", "job.batch/migrate created",
        "cronjob.batch/rotate created", "poddisruptionbudget.policy/web created",
        "ingress.networking.k8s.io/web created", "networkpolicy.networking.k8s.io/web created"])
    again = kubectl(admin, "apply", "-k", str(MANIFESTS)).stdout.splitlines()
    assert again == [line.replace("created", "unchanged") for line in first]
    deployment = json.loads(kubectl(admin, "get", "-n", "web", "deployment", "web",
                                    "-o", "json").stdout)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "example/web:1.2.3"
    assert deployment["metadata"]["generation"] == 1
    assert "status" not in deployment  # nothing runs it


def test_apply_patches_lists_by_their_merge_keys(kubectl: Kubectl, admin: Path,
                                                tmp_path: Path) -> None:
    kubectl(admin, "apply", "-k", str(MANIFESTS))
    rendered = kubectl(admin, "kustomize", str(MANIFESTS)).stdout
    docs = list(yaml.safe_load_all(rendered))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "MODE", "value": "serve"}, {"name": "EXTRA", "value": "1"}]
    container["image"] = "example/web:1.2.4"
    out = kubectl(admin, "apply", "-f", "-", stdin=yaml.safe_dump(deployment)).stdout
    assert out.strip() == "deployment.apps/web configured"
    stored = json.loads(kubectl(admin, "get", "-n", "web", "deployment", "web",
                                "-o", "json").stdout)
    spec = stored["spec"]["template"]["spec"]["containers"][0]
    assert spec["env"] == container["env"] and spec["image"] == "example/web:1.2.4"
    assert stored["metadata"]["generation"] == 2


def test_apply_refuses_what_the_schemas_refuse(kubectl: Kubectl, admin: Path) -> None:
    docs = list(yaml.safe_load_all(kubectl(admin, "kustomize", str(MANIFESTS)).stdout))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["metadata"]["namespace"] = "default"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["imagee"] = container.pop("image")
    result = kubectl(admin, "apply", "-f", "-", stdin=yaml.safe_dump(deployment), check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.template.spec.containers[0].imagee"' in result.stderr
    container["image"] = container.pop("imagee")
    deployment["spec"]["replicas"] = "two"
    result = kubectl(admin, "apply", "-f", "-", stdin=yaml.safe_dump(deployment), check=False)
    assert "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas" \
        in result.stderr
    deployment["spec"]["replicas"] = 1
    deployment["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    container["imagePullPolicy"] = "Sometimes"
    result = kubectl(admin, "apply", "-f", "-", stdin=yaml.safe_dump(deployment), check=False)
    assert "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}"\
        ": `selector` does not match template `labels`" in result.stderr
    assert ('spec.template.spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes":'
            ' supported values: "Always", "IfNotPresent", "Never"') in result.stderr
    del deployment["spec"]["selector"]
    result = kubectl(admin, "apply", "-f", "-", stdin=yaml.safe_dump(deployment), check=False)
    assert "spec.selector: Required value" in result.stderr


def test_apply_prune_deletes_what_left_the_manifests(kubectl: Kubectl, admin: Path) -> None:
    kubectl(admin, "apply", "-k", str(MANIFESTS))
    docs = list(yaml.safe_load_all(kubectl(admin, "kustomize", str(MANIFESTS)).stdout))
    kept = [d for d in docs if d["kind"] not in ("Ingress", "CronJob")]
    out = kubectl(admin, "apply", "--prune", "-l", "app.kubernetes.io/part-of=web", "-f", "-",
                  stdin=yaml.safe_dump_all(kept)).stdout.splitlines()
    assert {"cronjob.batch/rotate pruned", "ingress.networking.k8s.io/web pruned"} <= set(out)
    left = kubectl(admin, "get", "-n", "web", "ingress,cronjob", "-o", "name").stdout
    assert left == ""


def test_explain_prints_the_crds_and_the_built_in_descriptions(kubectl: Kubectl,
                                                               admin: Path) -> None:
    kubectl(admin, "apply", "-f", str(PROJECT_CRDS / "externalsecret.yaml"))
    crd = yaml.safe_load((PROJECT_CRDS / "externalsecret.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    out = " ".join(kubectl(admin, "explain", "externalsecret.spec").stdout.split())
    assert "KIND: ExternalSecret" in out and "FIELD: spec <Object>" in out
    assert " ".join(spec["description"].split()) in out
    for name, field in spec["properties"].items():
        assert name in out
        if "description" in field:
            assert " ".join(field["description"].split())[:40] in out
    out = " ".join(kubectl(admin, "explain", "deployment.spec.replicas").stdout.split())
    assert "FIELD: replicas <integer>" in out and "Number of desired pods." in out


def test_server_side_apply_is_refused_by_name(kubectl: Kubectl, admin: Path) -> None:
    result = kubectl(admin, "apply", "--server-side", "-k", str(MANIFESTS), check=False)
    assert result.returncode != 0
    assert "server-side apply (application/apply-patch+yaml) is not emulated" in result.stderr
