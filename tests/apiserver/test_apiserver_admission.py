"""Admission: ObjectMeta rules for every kind, Secret types and decoding, CEL CRDs refused."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from kes_emulators.apiserver import ApiServer
from kes_emulators.apiserver.admission import base64_error_offset

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
SECRETS = "/api/v1/namespaces/default/secrets"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def configmap(name: str, **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, **metadata}}


def owner(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": f"uid-{name}",
            **fields}


def causes(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in body["details"]["causes"]]


# --- ObjectMeta, for every kind ---

async def test_owner_references_need_every_identifying_field(http: Any) -> None:
    status, body = await http.post(CONFIGMAPS, configmap(
        "c", ownerReferences=[{"apiVersion": "", "kind": "ConfigMap", "name": "o"}]))
    assert status == 422 and body["message"] == (
        'ConfigMap "c" is invalid: [metadata.ownerReferences.apiVersion: Invalid value: "": '
        'version must not be empty, metadata.ownerReferences.uid: Invalid value: "": uid must '
        "not be empty]")
    status, body = await http.post(CONFIGMAPS, configmap(
        "c", ownerReferences=[{"apiVersion": "apps/v1", "uid": "u"}]))
    assert status == 422 and causes(body) == [
        ("metadata.ownerReferences.kind", 'Invalid value: "": kind must not be empty'),
        ("metadata.ownerReferences.name", 'Invalid value: "": name must not be empty')]


async def test_only_one_owner_reference_may_be_the_controller(http: Any) -> None:
    refs = [owner("a", controller=True), owner("b"), owner("c", controller=True)]
    status, body = await http.post(CONFIGMAPS, configmap("c", ownerReferences=refs))
    assert status == 422
    [(field, message)] = causes(body)
    assert field == "metadata.ownerReferences"
    assert message.startswith('Invalid value: []v1.OwnerReference{v1.OwnerReference{'
                              'APIVersion:"v1", Kind:"ConfigMap", Name:"a", UID:"uid-a", '
                              "Controller:(*bool)(true), BlockOwnerDeletion:(*bool)(nil)}")
    assert message.endswith('Only one reference can have Controller set to true. Found "true" '
                            "in references for ConfigMap/a and ConfigMap/c")
    status, _ = await http.post(CONFIGMAPS, configmap("ok", ownerReferences=[
        owner("a", controller=True), owner("b", controller=False)]))
    assert status == 201


async def test_events_cannot_own_objects(http: Any) -> None:
    status, body = await http.post(CONFIGMAPS, configmap(
        "c", ownerReferences=[owner("e", kind="Event")]))
    assert status == 422 and causes(body) == [
        ("metadata.ownerReferences", "Invalid value: /v1, Kind=Event is disallowed from being "
                                     "an owner")]


async def test_finalizers_are_qualified_names_on_create_and_update(http: Any) -> None:
    status, body = await http.post(CONFIGMAPS, configmap(
        "c", finalizers=["no spaces allowed"]))
    assert status == 422 and causes(body) == [(
        "metadata.finalizers",
        'Invalid value: "no spaces allowed": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")]
    assert (await http.post(CONFIGMAPS, configmap("c", finalizers=["example.com/x"])))[0] == 201
    status, body = await http.patch(f"{CONFIGMAPS}/c", {"metadata": {"finalizers": ["a/b/c"]}})
    assert status == 422 and causes(body)[0][0] == "metadata.finalizers"
    status, body = await http.patch(f"{CONFIGMAPS}/c", {"metadata": {
        "finalizers": ["orphan", "foregroundDeletion"]}})
    assert status == 422 and causes(body) == [(
        "metadata.finalizers", 'Invalid value: []string{"orphan", "foregroundDeletion"}: '
                               "finalizer orphan and foregroundDeletion cannot be both set")]


async def test_annotation_keys_and_total_size(http: Any) -> None:
    status, body = await http.post(CONFIGMAPS, configmap("c", annotations={"bad key!": "x"}))
    assert status == 422 and causes(body)[0][0] == "metadata.annotations"
    assert causes(body)[0][1].startswith('Invalid value: "bad key!": name part must consist')
    status, _ = await http.post(CONFIGMAPS, configmap("c", annotations={"Example.COM/Key": "x"}))
    assert status == 201  # case does not matter in annotation keys
    big = {"a": "x" * (256 * 1024 - 1)}
    assert (await http.post(CONFIGMAPS, configmap("fits", annotations=big)))[0] == 201
    status, body = await http.post(CONFIGMAPS, configmap("over", annotations=dict(big, b="")))
    assert status == 422 and causes(body) == [
        ("metadata.annotations", "Too long: may not be more than 262144 bytes")]


async def test_generate_name_is_checked_as_a_name_prefix(http: Any) -> None:
    status, body = await http.post(CONFIGMAPS, {"metadata": {"generateName": "Bad_"}})
    assert status == 422
    assert [f for f, _ in causes(body)] == ["metadata.name", "metadata.generateName"]
    assert causes(body)[1][1].startswith('Invalid value: "Bad_": a lowercase RFC 1123 '
                                         "subdomain must consist of")
    status, body = await http.post(CONFIGMAPS, {"metadata": {"generateName": "fine-"}})
    assert status == 201 and body["metadata"]["name"].startswith("fine-")
    status, body = await http.post("/api/v1/namespaces", {"metadata": {"generateName": "a.b-"}})
    assert status == 422 and "metadata.generateName" in [f for f, _ in causes(body)]
    status, body = await http.post(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {"metadata": {"generateName": "system:%"}})
    assert status == 422 and ("metadata.generateName",
                              "Invalid value: \"system:%\": may not contain '%'") in causes(body)


async def test_names_follow_each_kinds_rule(http: Any) -> None:
    status, body = await http.post("/api/v1/namespaces", {"metadata": {"name": "a.b"}})
    assert status == 422 and causes(body)[0][1].startswith(
        'Invalid value: "a.b": a lowercase RFC 1123 label must consist')
    assert (await http.post(CONFIGMAPS, configmap("a.b")))[0] == 201
    status, body = await http.post("/apis/rbac.authorization.k8s.io/v1/clusterroles",
                                   {"metadata": {"name": ".."}})
    assert status == 422 and causes(body) == [
        ("metadata.name", "Invalid value: \"..\": may not be '..'")]
    core_event = {"metadata": {"generateName": "cm."}, "involvedObject": {
        "kind": "ConfigMap", "name": "cm", "namespace": "default"}, "reason": "R"}
    status, body = await http.post("/api/v1/namespaces/default/events", core_event)
    assert status == 201 and body["metadata"]["name"].startswith("cm.")
    status, body = await http.post("/apis/events.k8s.io/v1/namespaces/default/events", {
        "metadata": {"name": "cm."}, "regarding": core_event["involvedObject"],
        "reason": "R"})
    assert status == 422 and causes(body)[0][0] == "metadata.name"


# --- Secrets: decoding, then the rules of each type ---

@pytest.mark.parametrize(("text", "offset"), [
    ("", None), ("QQ==", None), ("QUJD", None), ("QUJD\r\nREVG", None), ("QUI=", None),
    ("not base64!", 3), ("abc", 0), ("QQ", 0), ("QQ=", 3), ("QQ=a", 2), ("Q===", 1),
    ("QQ==QQ==", 4), ("QUI=x", 4), ("QUJD*", 4), ("QUJDRA", 4),
])
def test_base64_errors_name_the_byte_go_names(text: str, offset: int | None) -> None:
    assert base64_error_offset(text) == offset


async def test_undecodable_secret_data_is_a_bad_request_on_create_and_put(http: Any) -> None:
    message = 'Secret in version "v1" cannot be handled as a Secret: '
    status, body = await http.post(SECRETS, {"metadata": {"name": "s"}, "data": {"k": "QQ"}})
    assert (status, body["reason"], body["message"]) == (
        400, "BadRequest", message + "illegal base64 data at input byte 0")
    status, body = await http.post(SECRETS, {"metadata": {"name": "s"}, "data": {"k": 5}})
    assert (status, body["message"]) == (
        400, message + "json: cannot unmarshal number into Go struct field Secret.data of type "
                       "[]uint8")
    status, created = await http.post(SECRETS, {"metadata": {"name": "s"},
                                                "data": {"k": "QUJD\nREVG"}})
    assert status == 201 and created["data"] == {"k": b64(b"ABCDEF")}
    status, body = await http.put(f"{SECRETS}/s", dict(created, data={"k": "QUJD*"}))
    assert (status, body["message"]) == (400, message + "illegal base64 data at input byte 4")


async def test_undecodable_patched_secret_is_invalid_on_field_patch(http: Any) -> None:
    await http.post(SECRETS, {"metadata": {"name": "s"}, "data": {"k": b64(b"v")}})
    for kind in ("merge", "strategic"):
        status, body = await http.patch(f"{SECRETS}/s", {"data": {"k": "hunter2!"}}, kind=kind)
        assert status == 422 and body["message"] == (
            ' "" is invalid: patch: Invalid value: "<secret contents redacted>": illegal base64 '
            "data at input byte 7")
        assert causes(body) == [("patch", 'Invalid value: "<secret contents redacted>": '
                                          "illegal base64 data at input byte 7")]
        assert "hunter2" not in str(body)
    assert (await http.get(f"{SECRETS}/s"))[1]["data"] == {"k": b64(b"v")}


@pytest.mark.parametrize(("secret_type", "fields", "missing"), [
    ("kubernetes.io/tls", {"tls.crt": b"c"}, ["data[tls.key]"]),
    ("kubernetes.io/tls", {}, ["data[tls.crt]", "data[tls.key]"]),
    ("kubernetes.io/dockercfg", {}, ["data[.dockercfg]"]),
    ("kubernetes.io/dockerconfigjson", {".dockercfg": b"{}"}, ["data[.dockerconfigjson]"]),
    ("kubernetes.io/basic-auth", {"token": b"t"}, ["data[username]", "data[password]"]),
    ("kubernetes.io/ssh-auth", {"ssh-privatekey": b""}, ["data[ssh-privatekey]"]),
    ("kubernetes.io/service-account-token", {},
     ["metadata.annotations[kubernetes.io/service-account.name]"]),
])
async def test_secret_types_require_their_keys(http: Any, secret_type: str,
                                               fields: dict[str, bytes],
                                               missing: list[str]) -> None:
    body = {"metadata": {"name": "s"}, "type": secret_type,
            "data": {k: b64(v) for k, v in fields.items()}}
    status, answer = await http.post(SECRETS, body)
    assert status == 422 and causes(answer) == [(field, "Required value") for field in missing]
    assert answer["message"].startswith('Secret "s" is invalid: ')


@pytest.mark.parametrize(("secret_type", "fields", "annotations"), [
    ("kubernetes.io/tls", {"tls.crt": b"", "tls.key": b""}, {}),
    ("kubernetes.io/dockercfg", {".dockercfg": b'{"r": {}}'}, {}),
    ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b'{"auths": {}}'}, {}),
    ("kubernetes.io/basic-auth", {"password": b""}, {}),
    ("kubernetes.io/ssh-auth", {"ssh-privatekey": b"k"}, {}),
    ("kubernetes.io/service-account-token", {},
     {"kubernetes.io/service-account.name": "default"}),
    ("example.com/anything", {}, {}),
])
async def test_complete_typed_secrets_are_accepted(http: Any, secret_type: str,
                                                   fields: dict[str, bytes],
                                                   annotations: dict[str, str]) -> None:
    body = {"metadata": {"name": "s", "annotations": annotations}, "type": secret_type,
            "data": {k: b64(v) for k, v in fields.items()}}
    assert (await http.post(SECRETS, body))[0] == 201


async def test_docker_configs_must_be_json_objects(http: Any) -> None:
    for key, raw, why in (
            (".dockercfg", b"<html>", "invalid character '<' looking for beginning of value"),
            (".dockerconfigjson", b"[1]",
             "json: cannot unmarshal array into Go value of type map[string]interface {}"),
            (".dockerconfigjson", b'{"auths": ', "unexpected end of JSON input")):
        secret_type = "kubernetes.io/" + key.lstrip(".")
        status, body = await http.post(SECRETS, {"metadata": {"name": "s"},
                                                 "type": secret_type, "data": {key: b64(raw)}})
        assert status == 422 and causes(body) == [
            (f"data[{key}]", f'Invalid value: "<secret contents redacted>": {why}')]


async def test_secret_data_keys_and_string_data(http: Any) -> None:
    status, body = await http.post(SECRETS, {"metadata": {"name": "s"},
                                             "stringData": {"bad key": "v"}})
    assert status == 422 and causes(body)[0][0] == "data[bad key]"
    status, body = await http.post(SECRETS, {"metadata": {"name": "s"},
                                             "type": "kubernetes.io/basic-auth",
                                             "stringData": {"username": "u"}})
    assert status == 201 and body["data"] == {"username": b64(b"u")}


# --- CRDs with CEL rules are refused, once, at the CRD ---

def with_cel(crd: dict[str, Any]) -> dict[str, Any]:
    crd = copy.deepcopy(crd)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["x-kubernetes-validations"] = [{"rule": "self.size > 0"}]
    return crd


CEL_MESSAGE = (
    'customresourcedefinitions.apiextensions.k8s.io "widgets.example.com": spec.versions[0].'
    "schema.openAPIV3Schema.properties[spec].x-kubernetes-validations: CEL validation rules are "
    "not emulated by the kes API server; remove them to serve this CRD here")


async def test_a_crd_with_cel_rules_is_refused_at_create(
        http: Any, widget_crd: dict[str, Any]) -> None:
    status, body = await http.post(CRDS, with_cel(widget_crd))
    assert (status, body["reason"], body["message"]) == (501, "NotImplemented", CEL_MESSAGE)
    assert (await http.get(f"{CRDS}/widgets.example.com"))[0] == 404
    assert (await http.get("/apis/example.com/v1"))[0] == 404


async def test_adding_cel_rules_to_a_served_crd_is_refused(
        http: Any, server: ApiServer, widget_crd: dict[str, Any],
        make_widget: Any) -> None:
    status, stored = await http.post(CRDS, widget_crd)
    assert status == 201
    status, body = await http.put(f"{CRDS}/widgets.example.com", with_cel(stored))
    assert (status, body["message"]) == (501, CEL_MESSAGE)
    widgets = "/apis/example.com/v1/namespaces/default/widgets"
    status, _ = await http.post(widgets, make_widget("w") | {
        "metadata": {"name": "w", "finalizers": ["example.com/hold"]}})
    assert status == 201
    assert (await http.delete(f"{widgets}/w"))[0] == 200
    status, _ = await http.patch(f"{widgets}/w", {"metadata": {"finalizers": None}})
    assert status == 200
    assert (await http.get(f"{widgets}/w"))[0] == 404
