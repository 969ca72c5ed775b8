"""crds/externalsecret.yaml: the names, columns and schema of the ExternalSecret API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kes.api import GROUP, KIND, PLURAL, VERSION
from kes.spec import KES_BACKEND_TYPES, parse_duration
from kes_emulators.apiserver.schema import FieldError, unknown_fields, validate

ROOT = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((ROOT / "crds" / "externalsecret.yaml").read_text())
SERVED = CRD["spec"]["versions"][0]
SCHEMA = SERVED["schema"]["openAPIV3Schema"]
SPEC = SCHEMA["properties"]["spec"]


def test_crd_matches_the_api_constants() -> None:
    assert CRD["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    assert (CRD["spec"]["group"], SERVED["name"]) == (GROUP, VERSION)
    assert (CRD["spec"]["names"]["kind"], CRD["spec"]["names"]["plural"]) == (KIND, PLURAL)


def test_crd_names() -> None:
    assert CRD["apiVersion"] == "apiextensions.k8s.io/v1"
    assert CRD["metadata"]["name"] == "externalsecrets.kubernetes-client.io"
    assert CRD["spec"]["group"] == "kubernetes-client.io"
    assert CRD["spec"]["scope"] == "Namespaced"
    assert CRD["spec"]["names"] == {
        "kind": "ExternalSecret", "listKind": "ExternalSecretList",
        "plural": "externalsecrets", "singular": "externalsecret",
        "shortNames": ["es"], "categories": ["kes"],
    }
    assert [(v["name"], v["served"], v["storage"]) for v in CRD["spec"]["versions"]] == [
        ("v1", True, True)
    ]
    assert SERVED["subresources"] == {"status": {}}


def test_crd_printer_columns() -> None:
    assert [(c["name"], c["jsonPath"]) for c in SERVED["additionalPrinterColumns"]] == [
        ("Status", ".status.status"),
        ("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        ("Last Sync", ".status.lastSync"),
        ("Age", ".metadata.creationTimestamp"),
    ]


def test_crd_spec_fields() -> None:
    fields = SPEC["properties"]
    assert {"backendType", "projectId", "controllerId", "refreshInterval", "data", "properties",
            "dataFrom", "dataFromWithOptions", "type", "template"} <= fields.keys()
    assert sorted(fields["backendType"]["enum"]) == sorted(KES_BACKEND_TYPES)
    assert SCHEMA["properties"]["secretDescriptor"] == SPEC
    data_item = fields["data"]["items"]
    assert data_item["required"] == ["key", "name"]
    assert {"key", "name", "version", "property", "isBinary"} <= data_item["properties"].keys()
    version = data_item["properties"]["version"]
    assert version["x-kubernetes-int-or-string"] is True
    assert "type" not in version
    assert fields["properties"]["items"] == data_item
    assert fields["dataFrom"]["items"] == {"type": "string"}
    options = fields["dataFromWithOptions"]["items"]
    assert options["required"] == ["key"]
    assert {"key", "version", "isBinary"} <= options["properties"].keys()
    template = fields["template"]
    assert template["x-kubernetes-preserve-unknown-fields"] is True
    assert {"metadata", "type", "data", "stringData"} <= template["properties"].keys()


def test_crd_status_fields() -> None:
    status = SCHEMA["properties"]["status"]["properties"]
    assert {"status", "lastSync", "observedGeneration", "conditions", "versions"} <= status.keys()
    assert status["versions"]["items"]["required"] == ["key", "resolved"]
    assert {"type", "status", "reason", "message", "lastTransitionTime"} <= (
        status["conditions"]["items"]["properties"].keys()
    )


@pytest.mark.parametrize("text", ["0", "0s", "30s", "500ms", "1h30m", "1.5m", "", "30",
                                  "-1s", "1d", "1 h", "0.5", "ms"])
def test_crd_refresh_interval_pattern_agrees_with_the_parser(text: str) -> None:
    pattern = SPEC["properties"]["refreshInterval"]["pattern"]
    try:
        parse_duration(text)
        parsed = True
    except ValueError:
        parsed = False
    assert bool(re.search(pattern, text)) == parsed


def structural_problems(schema: dict[str, Any], path: str) -> list[str]:
    """Where the schema breaks the rules of a structural schema that this CRD uses."""
    problems = []
    if "type" not in schema and not schema.get("x-kubernetes-int-or-string") \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: no type")
    for name, child in schema.get("properties", {}).items():
        problems += structural_problems(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            problems += structural_problems(schema[key], f"{path}[{key}]")
    for name in schema.get("required", []):
        if name not in schema.get("properties", {}):
            problems.append(f"{path}: required {name} is not a property")
    return problems


def test_crd_schema_is_structural() -> None:
    assert structural_problems(SCHEMA, "") == []


def check(obj: dict[str, Any]) -> tuple[list[str], list[FieldError]]:
    """What the API server would prune from ``obj``, and how it would reject it."""
    return unknown_fields(SCHEMA, obj), validate(SCHEMA, obj)


def test_crd_accepts_every_example_whole(example: Path) -> None:
    assert check(yaml.safe_load(example.read_text())) == ([], [])


def external_secret(**spec: Any) -> dict[str, Any]:
    body = {"backendType": "gcpSecretsManager", "data": [{"key": "k", "name": "n"}]}
    body.update(spec)
    return {"apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "es", "namespace": "ns"}, "spec": body}


@pytest.mark.parametrize("backend", KES_BACKEND_TYPES)
def test_crd_accepts_every_kes_backend(backend: str) -> None:
    # Reaches the controller, which reports anything but gcpSecretsManager in status.
    assert check(external_secret(backendType=backend)) == ([], [])


def test_crd_accepts_other_backends_fields() -> None:
    es = external_secret(backendType="secretsManager", roleArn="arn:aws:iam::1:role/r",
                         region="eu-west-1",
                         data=[{"key": "k", "name": "n", "versionStage": "AWSCURRENT"}])
    assert check(es) == ([], [])


def test_crd_keeps_unknown_template_fields_for_the_controller_to_name() -> None:
    es = external_secret(template={"immutable": True, "metadata": {"name": "x"}})
    assert check(es) == ([], [])


def test_crd_accepts_int_and_string_versions() -> None:
    es = external_secret(data=[{"key": "k", "name": "a", "version": 3},
                               {"key": "k", "name": "b", "version": "latest"}],
                         dataFromWithOptions=[{"key": "k", "version": 2, "isBinary": True}])
    assert check(es) == ([], [])


@pytest.mark.parametrize(("spec", "path"), [
    ({"backendType": "nope"}, "spec.backendType"),
    ({"backendType": None}, "spec.backendType"),
    ({"data": [{"key": "k"}]}, "spec.data[0].name"),
    ({"data": [{"name": "n"}]}, "spec.data[0].key"),
    ({"properties": [{"name": "n"}]}, "spec.properties[0].key"),
    ({"dataFromWithOptions": [{"version": 1}]}, "spec.dataFromWithOptions[0].key"),
    ({"data": [{"key": "k", "name": "n", "isBinary": "yes"}]}, "spec.data[0].isBinary"),
    ({"dataFrom": [{"key": "k"}]}, "spec.dataFrom[0]"),
    ({"refreshInterval": "1d"}, "spec.refreshInterval"),
    ({"refreshInterval": True}, "spec.refreshInterval"),
    ({"refreshInterval": 1.5}, "spec.refreshInterval"),
    ({"template": {"stringData": {"port": 5432}}}, "spec.template.stringData.port"),
])
def test_crd_rejects_structural_faults(spec: dict[str, Any], path: str) -> None:
    es = external_secret(**spec)
    if es["spec"]["backendType"] is None:
        del es["spec"]["backendType"]
    assert [error.path for error in validate(SCHEMA, es)] == [path]


@pytest.mark.parametrize("interval", [0, 30, "0", "30s"])
def test_crd_takes_refresh_interval_as_integer_or_string(interval: int | str) -> None:
    # A bare 30 applies; the controller then reports that it needs a unit.
    assert check(external_secret(refreshInterval=interval)) == ([], [])


def test_crd_prunes_unknown_spec_fields() -> None:
    assert check(external_secret(refreshIntervall="1h")) == (["spec.refreshIntervall"], [])


def test_crd_accepts_the_status_the_controller_writes() -> None:
    es = external_secret()
    es["status"] = {
        "status": "SUCCESS",
        "lastSync": "2026-01-02T03:04:05Z",
        "observedGeneration": 2,
        "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced",
                        "message": "Secret is synced",
                        "lastTransitionTime": "2026-01-02T03:04:05Z",
                        "observedGeneration": 2}],
        "versions": [{"key": "projects/p/secrets/s/versions/latest",
                      "resolved": "projects/p/secrets/s/versions/7"}],
    }
    assert check(es) == ([], [])
    es["status"]["versions"] = [{"resolved": "projects/p/secrets/s/versions/7"}]
    assert [error.path for error in validate(SCHEMA, es)] == ["status.versions[0].key"]
