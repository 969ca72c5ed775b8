"""The library surface: seeds, TLS, kubeconfigs, identities, routing and protobuf bodies."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from cryptography import x509

from kes_emulators.apiserver import ApiServer, SeedError, certs, protobuf, response_warnings
from kes_emulators.apiserver.errors import ApiError
from kes_emulators.apiserver.routing import route


def test_seed_objects_are_created_namespaces_and_crds_first(widget_crd: Any,
                                                           make_widget: Any) -> None:
    server = ApiServer()
    server.load([
        make_widget("w", namespace="team"),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "team"},
         "stringData": {"k": "v"}},
        widget_crd,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
    ])
    assert server.store.get(("", "secrets"), "team", "s")["data"] == {"k": "dg=="}
    assert server.store.get(("example.com", "widgets"), "team", "w")["spec"]["color"] == "blue"


def test_bad_seed_objects_name_the_object() -> None:
    server = ApiServer()
    with pytest.raises(SeedError, match=r"seed object \[0\] Node 'p': no resource serves"):
        server.load([{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "p"}}])
    with pytest.raises(SeedError, match=r"seed object \[0\] Secret 's': .*illegal base64 data"):
        server.load([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                      "data": {"k": "%%%"}}])


@pytest.mark.parametrize(("entries", "message"), [
    ([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}, "not an object"],
     r"seed object \[1\]: must be a mapping \(a Kubernetes object\), not str"),
    ([{"apiVersion": "v1", "kind": "Secret", "metadata": "x"}],
     r"seed object \[0\] Secret: metadata must be a mapping, not str"),
    ([{"apiVersion": "v1", "metadata": {"name": "x"}}],
     r"seed object \[0\]: kind must be a non-empty string"),
    ([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": ["x"]}}],
     r"seed object \[0\] Secret: metadata.name must be a string"),
])
def test_malformed_seed_entries_name_their_index(entries: list[Any], message: str) -> None:
    server = ApiServer()
    with pytest.raises(SeedError, match=message):
        server.load(entries)
    assert server.store.get(("", "namespaces"), "", "a") is None  # nothing half-loaded


def test_tls_kubeconfig_works_with_the_kubernetes_client(tmp_path: Path) -> None:
    server = ApiServer(tls=True)
    with server.background():
        config = server.write_kubeconfig(tmp_path / "kubeconfig")
        with kubernetes.config.new_client_from_config(config_file=str(config)) as client:
            names = [n.metadata.name for n in kubernetes.client.CoreV1Api(
                client).list_namespace().items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    assert (tmp_path / "kubeconfig.ca.crt").exists()


def test_service_account_kubeconfig_identifies_the_account(tmp_path: Path) -> None:
    server = ApiServer()
    with server.background():
        token = server.create_service_account_token("apps", "robot")
        config = yaml.safe_load(server.write_kubeconfig(tmp_path / "kc", token).read_text())
        assert config["users"][0] == {"name": "system:serviceaccount:apps:robot",
                                      "user": {"token": token}}
        with kubernetes.config.new_client_from_config(config_file=str(tmp_path / "kc")) as c:
            kubernetes.client.CoreV1Api(c).list_namespaced_secret("apps")
        assert server.call(lambda: server.requests.count(
            verb="list", identity="system:serviceaccount:apps:robot")) == 1
        assert server.call(lambda: server.store.get(("", "serviceaccounts"), "apps", "robot")
                           is not None)


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/api/v1/namespaces/ns/secrets/x", {}, ("get", "secrets", "x", "", "ns")),
    ("GET", "/api/v1/namespaces/ns/secrets", {"watch": "true"},
     ("watch", "secrets", "", "", "ns")),
    ("GET", "/api/v1/watch/namespaces/ns/secrets", {}, ("watch", "secrets", "", "", "ns")),
    ("GET", "/api/v1/namespaces/ns", {}, ("get", "namespaces", "ns", "", "ns")),
    ("PATCH", "/api/v1/namespaces/ns/status", {}, ("patch", "namespaces", "ns", "status", "ns")),
    ("GET", "/api/v1/secrets", {}, ("list", "secrets", "", "", None)),
    ("DELETE", "/apis/example.com/v1/namespaces/ns/widgets", {},
     ("deletecollection", "widgets", "", "", "ns")),
    ("PUT", "/apis/example.com/v1/widgets/w/status", {}, ("update", "widgets", "w", "status",
                                                          None)),
])
def test_routing(method: str, path: str, query: dict[str, str],
                 expected: tuple[str, str, str, str, str | None]) -> None:
    r = route(method, path, query)
    assert r.resource_request
    assert (r.verb, r.resource, r.name, r.subresource, r.namespace) == expected


def test_non_resource_routes() -> None:
    for path in ("/apis", "/api", "/apis/example.com", "/version", "/healthz"):
        r = route("GET", path, {})
        assert (r.resource_request, r.verb, r.counted_resource) == (False, "get", path)


def _field(number: int, value: bytes | int) -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return b"k8s\x00" + _field(1, type_meta) + _field(2, raw)


def test_protobuf_secret_decodes_to_json_shape() -> None:
    meta = _field(1, b"s") + _field(2, b"") + _field(11, _field(1, b"app") + _field(2, b"x"))
    raw = (_field(1, meta) + _field(2, _field(1, b"k") + _field(2, b"\x00\x01"))
           + _field(3, b"Opaque") + _field(5, 1))
    assert protobuf.decode(_envelope("v1", "Secret", raw)) == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "labels": {"app": "x"}},
        "data": {"k": "AAE="}, "type": "Opaque", "immutable": True}


def test_protobuf_review_and_refusals() -> None:
    attributes = _field(2, b"get") + _field(5, b"secrets") + _field(1, b"ns")
    raw = _field(2, _field(1, attributes))
    decoded = protobuf.decode(_envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                                        raw))
    assert decoded["spec"] == {"resourceAttributes": {"verb": "get", "resource": "secrets",
                                                      "namespace": "ns"}}
    with pytest.raises(ApiError) as caught:
        protobuf.decode(_envelope("apps/v1", "Deployment", b""))
    assert caught.value.code == 415 and "application/json" in caught.value.message
    with pytest.raises(ApiError) as caught:
        protobuf.decode(b"not protobuf")
    assert caught.value.code == 400
    with pytest.raises(ApiError) as caught:
        protobuf.decode(_envelope("v1", "Secret", b"\x0a\xff"))
    assert caught.value.code == 400


def test_tls_certificates_outlive_a_long_running_emulator() -> None:
    issued = certs.issue(["127.0.0.1", "localhost"])
    for pem in (issued.ca_pem, issued.cert_pem):
        cert = x509.load_pem_x509_certificate(pem)
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert lifetime >= datetime.timedelta(days=3650)


def test_response_warnings_are_collected_per_request_and_quoted_as_go_does() -> None:
    response_warnings.warn("outside any request")  # dropped: nobody to tell
    with response_warnings.collecting() as found:
        response_warnings.warn('unknown field "spec.x"')
        response_warnings.warn('unknown field "spec.x"')
        with response_warnings.collecting() as inner:
            response_warnings.warn("inner")
        response_warnings.warn("back\\slash")
    assert inner == ["inner"]
    assert [response_warnings.header(text) for text in found] == [
        '299 - "unknown field \\"spec.x\\""', '299 - "back\\\\slash"']
