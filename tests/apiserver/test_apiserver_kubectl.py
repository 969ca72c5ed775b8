"""kubectl as a real peer, over HTTPS with RBAC on (kubectl sends tokens only over TLS)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from kes_emulators.apiserver import ApiServer

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
TEST_CRDS = Path(__file__).resolve().parent / "crds"
PROJECT_CRDS = Path(__file__).resolve().parents[2] / "crds"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def admin(tls_server: ApiServer, tmp_path: Path) -> Path:
    return tls_server.write_kubeconfig(tmp_path / "admin.kubeconfig")


def apply(kubectl: Kubectl, config: Path, manifest: dict[str, object]) -> str:
    return kubectl(config, "apply", "-f", "-",
                   stdin=yaml.safe_dump(manifest)).stdout.strip()


def test_kubeconfig_points_at_https_with_a_ca_file(tls_server: ApiServer, admin: Path) -> None:
    config = yaml.safe_load(admin.read_text())
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == tls_server.url and tls_server.url.startswith("https://")
    assert Path(cluster["certificate-authority"]).read_bytes().startswith(b"-----BEGIN")


def test_apply_creates_then_updates_secret_and_configmap(kubectl: Kubectl, admin: Path) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                 "data": {"a": "1"}}
    assert apply(kubectl, admin, configmap) == "configmap/cm created"
    configmap["data"] = {"a": "2", "b": "3"}
    assert apply(kubectl, admin, configmap) == "configmap/cm configured"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"token": "t0"}}
    assert apply(kubectl, admin, secret) == "secret/s created"
    secret["stringData"] = {"token": "t1"}
    assert apply(kubectl, admin, secret) == "secret/s configured"
    got = json.loads(kubectl(admin, "get", "cm", "cm", "-o", "json").stdout)
    assert got["data"] == {"a": "2", "b": "3"}
    got = json.loads(kubectl(admin, "get", "secret", "s", "-o", "json").stdout)
    assert got["data"] == {"token": "dDE="}


def test_create_secret_uses_protobuf_and_works(kubectl: Kubectl, admin: Path) -> None:
    assert kubectl(admin, "create", "secret", "generic", "gen", "--from-literal=k=v").stdout \
        .strip() == "secret/gen created"
    got = json.loads(kubectl(admin, "get", "secret", "gen", "-o", "json").stdout)
    assert got["data"] == {"k": "dg=="} and got["type"] == "Opaque"


def test_apply_crds_and_custom_resources_with_printer_columns(kubectl: Kubectl,
                                                              admin: Path) -> None:
    out = kubectl(admin, "apply", "-f", str(TEST_CRDS)).stdout
    assert "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created" in out
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"size": 3}}
    assert apply(kubectl, admin, widget) == "widget.example.com/w created"
    widget["spec"] = {"size": 4}
    assert apply(kubectl, admin, widget) == "widget.example.com/w configured"
    lines = kubectl(admin, "get", "wd").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "PHASE"]
    assert lines[1].split() == ["w", "4"]  # a missing status prints as a blank cell
    result = kubectl(admin, "apply", "-f", "-", check=False,
                     stdin=yaml.safe_dump(dict(widget, spec={"size": "big"})))
    assert result.returncode != 0 and "spec.size" in result.stderr


def test_project_crd_applies_and_prints(kubectl: Kubectl, admin: Path) -> None:
    crd_files = sorted(PROJECT_CRDS.glob("*.yaml"))
    assert crd_files, "the project's CRDs are expected in crds/"
    kubectl(admin, "apply", "-f", str(PROJECT_CRDS))
    lines = kubectl(admin, "get", "crd").stdout
    assert "externalsecrets.kubernetes-client.io" in lines
    header = kubectl(admin, "get", "externalsecrets", "-A").stderr
    assert header.strip() == "No resources found"
    out = kubectl(admin, "apply", "-f", str(EXAMPLES / "basic.yaml")).stdout
    assert out.strip() == "externalsecret.kubernetes-client.io/github-token created"
    lines = kubectl(admin, "get", "es").stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "READY", "LAST", "SYNC", "AGE"]
    assert lines[1].split()[0] == "github-token"


def test_annotate_and_delete(kubectl: Kubectl, admin: Path, tls_server: ApiServer) -> None:
    apply(kubectl, admin, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})
    assert kubectl(admin, "annotate", "configmap", "cm", "kes.dev/note=hi").stdout.strip() == (
        "configmap/cm annotated")
    got = json.loads(kubectl(admin, "get", "cm", "cm", "-o", "json").stdout)
    assert got["metadata"]["annotations"]["kes.dev/note"] == "hi"
    assert "deleted" in kubectl(admin, "delete", "configmap", "cm").stdout
    result = kubectl(admin, "get", "configmap", "cm", check=False)
    assert result.returncode != 0 and 'configmaps "cm" not found' in result.stderr


def test_server_dry_run_stores_nothing(kubectl: Kubectl, admin: Path) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}}
    out = kubectl(admin, "apply", "--dry-run=server", "-f", "-",
                  stdin=yaml.safe_dump(manifest)).stdout
    assert "(server dry run)" in out
    assert kubectl(admin, "get", "configmap", "dry", check=False).returncode != 0


def test_auth_can_i_for_a_service_account(kubectl: Kubectl, tls_server: ApiServer,
                                          admin: Path, tmp_path: Path) -> None:
    token = tls_server.create_service_account_token("default", "reader")
    reader = tls_server.write_kubeconfig(tmp_path / "reader.kubeconfig", token)
    denied = kubectl(reader, "auth", "can-i", "get", "secrets", check=False)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    result = kubectl(reader, "get", "secrets", check=False)
    assert result.returncode != 0 and (
        'User "system:serviceaccount:default:reader" cannot list resource "secrets" in API '
        'group "" in the namespace "default"') in result.stderr
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "secret-reader"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"],
                       "verbs": ["get", "list"]}]}
    apply(kubectl, admin, role)
    kubectl(admin, "create", "rolebinding", "reader", "--role=secret-reader",
            "--serviceaccount=default:reader")  # a protobuf body
    binding = json.loads(kubectl(admin, "get", "rolebinding", "reader", "-o", "json").stdout)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "reader",
                                    "namespace": "default"}]
    allowed = kubectl(reader, "auth", "can-i", "get", "secrets")
    assert allowed.stdout.strip() == "yes"
    assert kubectl(reader, "auth", "can-i", "delete", "secrets", check=False).stdout.strip() \
        == "no"
    assert kubectl(reader, "auth", "can-i", "get", "secrets", "-n", "kube-system",
                   check=False).stdout.strip() == "no"


def test_impersonation_with_as(kubectl: Kubectl, tls_server: ApiServer, admin: Path,
                               tmp_path: Path) -> None:
    kubectl(admin, "create", "clusterrole", "ns-reader", "--verb=get,list",
            "--resource=namespaces")
    kubectl(admin, "create", "clusterrolebinding", "ns-readers", "--clusterrole=ns-reader",
            "--group=readers")
    as_bob = ("--as=bob", "--as-group=readers")
    assert kubectl(admin, "auth", "can-i", "list", "namespaces", *as_bob).stdout.strip() == "yes"
    assert kubectl(admin, "auth", "can-i", "list", "namespaces", "--as=bob",
                   check=False).stdout.strip() == "no"
    result = kubectl(admin, "get", "secrets", *as_bob, check=False)
    assert 'User "bob" cannot list resource "secrets"' in result.stderr
    token = tls_server.create_service_account_token("default", "plain")
    plain = tls_server.write_kubeconfig(tmp_path / "plain.kubeconfig", token)
    result = kubectl(plain, "get", "namespaces", "--as=bob", check=False)
    assert 'cannot impersonate resource "users" in API group ""' in result.stderr


def test_get_events_and_crds_print_the_real_columns_and_warnings_show(
        kubectl: Kubectl, admin: Path) -> None:
    apply(kubectl, admin, {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
                           "involvedObject": {"kind": "Secret", "name": "s"},
                           "reason": "Synced", "message": "all good", "type": "Normal"})
    lines = kubectl(admin, "get", "events").stdout.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert lines[1].split()[1:] == ["Normal", "Synced", "secret/s", "all", "good"]
    apply(kubectl, admin, yaml.safe_load((TEST_CRDS / "widget.yaml").read_text()))
    lines = kubectl(admin, "get", "crd", "widgets.example.com").stdout.splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "AT"]
    kubectl(admin, "create", "configmap", "w", "--from-literal=k=v")
    result = kubectl(admin, "patch", "configmap", "w", "--type=merge", "-p",
                     '{"datta": {"x": "y"}}')
    assert 'Warning: unknown field "datta"' in result.stderr
