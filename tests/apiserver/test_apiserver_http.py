"""Conformance over raw HTTP: status codes, Status bodies, patch types, lists, Secret rules."""

from __future__ import annotations

import base64
from typing import Any

from kes_emulators.apiserver import ApiServer

SECRETS = "/api/v1/namespaces/default/secrets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def secret(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **fields}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_discovery_lists_groups_versions_and_resources(http: Any) -> None:
    status, api = await http.get("/api")
    assert status == 200 and api["versions"] == ["v1"]
    status, groups = await http.get("/apis")
    names = [g["name"] for g in groups["groups"]]
    assert {"apiextensions.k8s.io", "rbac.authorization.k8s.io", "coordination.k8s.io",
            "events.k8s.io", "authorization.k8s.io"} <= set(names)
    status, core = await http.get("/api/v1")
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["secrets"]["namespaced"] is True
    assert by_name["namespaces"]["namespaced"] is False
    assert "namespaces/status" in by_name
    assert by_name["configmaps"]["shortNames"] == ["cm"]
    assert set(by_name["secrets"]["verbs"]) == {"create", "delete", "deletecollection", "get",
                                                "list", "patch", "update", "watch"}
    status, version = await http.get("/version")
    assert status == 200 and version["major"] == "1"
    assert await http.get("/healthz") == (200, "ok")
    assert (await http.get("/readyz"))[0] == 200 and (await http.get("/livez"))[0] == 200


async def test_openapi_names_no_group_version_it_does_not_serve(http: Any) -> None:
    for path in ("/openapi/v3/apis/example.com/v1", "/openapi/v4"):
        status, body = await http.get(path)
        assert status == 404 and body["reason"] == "NotFound"


async def test_create_answers_201_with_server_fields(http: Any) -> None:
    status, created = await http.post(SECRETS, secret("a", stringData={"k": "v"}))
    assert status == 201
    meta = created["metadata"]
    assert meta["namespace"] == "default" and meta["uid"] and meta["creationTimestamp"]
    assert int(meta["resourceVersion"]) > 0
    assert "generation" not in meta  # Secrets have none on a real server either
    assert created["type"] == "Opaque"
    assert created["data"] == {"k": b64("v")} and "stringData" not in created


async def test_resource_versions_increase_store_wide(http: Any) -> None:
    _, first = await http.post(SECRETS, secret("a"))
    _, second = await http.post(CONFIGMAPS, {"metadata": {"name": "b"}})
    assert int(second["metadata"]["resourceVersion"]) == int(
        first["metadata"]["resourceVersion"]) + 1


async def test_generate_name(http: Any) -> None:
    status, created = await http.post(SECRETS, {"metadata": {"generateName": "tok-"}})
    assert status == 201
    name = created["metadata"]["name"]
    assert name.startswith("tok-") and len(name) == len("tok-") + 5


async def test_missing_name_is_invalid(http: Any) -> None:
    status, body = await http.post(SECRETS, {"metadata": {}})
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"


async def test_bad_name_is_invalid(http: Any) -> None:
    status, body = await http.post(SECRETS, secret("Bad_Name"))
    assert status == 422
    assert body["message"].startswith('Secret "Bad_Name" is invalid: metadata.name: Invalid value')


async def test_not_found_and_already_exists_status_bodies(http: Any) -> None:
    status, body = await http.get(f"{SECRETS}/x")
    assert status == 404
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'secrets "x" not found', "reason": "NotFound",
                    "details": {"name": "x", "kind": "secrets"}, "code": 404}
    await http.post(SECRETS, secret("x"))
    status, body = await http.post(SECRETS, secret("x"))
    assert status == 409 and body["reason"] == "AlreadyExists"
    assert body["message"] == 'secrets "x" already exists'


async def test_create_in_missing_namespace_is_404(http: Any) -> None:
    status, body = await http.post("/api/v1/namespaces/nope/secrets", secret("a"))
    assert status == 404 and body["message"] == 'namespaces "nope" not found'


async def test_unknown_resource_404_and_missing_verb_405(http: Any) -> None:
    status, body = await http.get("/api/v1/namespaces/default/nodes")
    assert status == 404 and body["message"] == "the server could not find the requested resource"
    status, body = await http.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert status == 405 and body["reason"] == "MethodNotAllowed"
    status, body = await http.delete("/api/v1/namespaces")
    assert status == 405


async def test_namespace_and_body_mismatch_is_400(http: Any) -> None:
    body = secret("a")
    body["metadata"]["namespace"] = "kube-system"
    status, answer = await http.post(SECRETS, body)
    assert status == 400 and answer["reason"] == "BadRequest"
    status, answer = await http.post(SECRETS, "{not json")
    assert status == 400


async def test_get_list_across_namespaces(http: Any) -> None:
    await http.post(SECRETS, secret("a"))
    await http.post("/api/v1/namespaces/kube-system/secrets", secret("b"))
    status, listed = await http.get("/api/v1/secrets")
    assert status == 200 and listed["kind"] == "SecretList"
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("default", "a"), ("kube-system", "b")]
    status, one = await http.get(SECRETS)
    assert [i["metadata"]["name"] for i in one["items"]] == ["a"]


async def test_list_resource_version_is_the_store_rv(http: Any, server: ApiServer) -> None:
    await http.post(SECRETS, secret("a"))
    await http.post(CONFIGMAPS, {"metadata": {"name": "c"}})
    _, listed = await http.get(SECRETS)
    assert listed["metadata"]["resourceVersion"] == str(server.store.rv)


async def test_put_replaces_and_checks_resource_version(http: Any) -> None:
    _, created = await http.post(SECRETS, secret("a", data={"k": b64("1")}))
    stale = created["metadata"]["resourceVersion"]
    replacement = secret("a", data={"k": b64("2")})
    replacement["metadata"]["resourceVersion"] = stale
    status, updated = await http.put(f"{SECRETS}/a", replacement)
    assert status == 200 and updated["data"] == {"k": b64("2")}
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    status, body = await http.put(f"{SECRETS}/a", replacement)
    assert status == 409 and body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on secrets "a": the object has been modified; please '
        "apply your changes to the latest version and try again")


async def test_put_with_mismatched_name_is_400(http: Any) -> None:
    await http.post(SECRETS, secret("a"))
    status, _ = await http.put(f"{SECRETS}/a", secret("b"))
    assert status == 400


async def test_merge_patch_and_stale_resource_version_in_patch(http: Any) -> None:
    _, created = await http.post(SECRETS, secret("a"))
    status, patched = await http.patch(f"{SECRETS}/a", {"metadata": {"labels": {"x": "1"}}})
    assert status == 200 and patched["metadata"]["labels"] == {"x": "1"}
    assert int(patched["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"])
    status, body = await http.patch(f"{SECRETS}/a", {"metadata": {
        "resourceVersion": created["metadata"]["resourceVersion"], "labels": {"x": "2"}}})
    assert status == 409 and body["reason"] == "Conflict"


async def test_json_patch_with_test_op(http: Any) -> None:
    _, created = await http.post(SECRETS, secret("a"))
    rv = created["metadata"]["resourceVersion"]
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
           {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]}]
    status, patched = await http.patch(f"{SECRETS}/a", ops, kind="json")
    assert status == 200 and patched["metadata"]["finalizers"] == ["x/y"]
    status, body = await http.patch(f"{SECRETS}/a", ops, kind="json")
    assert status == 422 and body["reason"] == "Invalid"


async def test_strategic_merge_patch_for_builtins_only(http: Any, widget_crd: Any,
                                                       make_widget: Any) -> None:
    await http.post(SECRETS, secret("a", data={"k": b64("1")}))
    status, patched = await http.patch(f"{SECRETS}/a", {"data": {"j": b64("2")}}, "strategic")
    assert status == 200 and set(patched["data"]) == {"k", "j"}
    await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widget_crd)
    path = "/apis/example.com/v1/namespaces/default/widgets"
    await http.post(path, make_widget("w"))
    status, body = await http.patch(f"{path}/w", {"spec": {"size": 2}}, "strategic")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"


async def test_apply_patch_fails_loudly(http: Any) -> None:
    await http.post(SECRETS, secret("a"))
    status, body = await http.patch(f"{SECRETS}/a", "kind: Secret", "application/apply-patch+yaml")
    assert status == 415 and "server-side apply" in body["message"]


async def test_noop_patch_keeps_resource_version(http: Any) -> None:
    _, created = await http.post(SECRETS, secret("a", data={"k": b64("1")}))
    status, patched = await http.patch(f"{SECRETS}/a", {"data": {"k": b64("1")}})
    assert status == 200
    assert patched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_dry_run_stores_nothing(http: Any, server: ApiServer) -> None:
    rv = server.store.rv
    status, body = await http.post(f"{SECRETS}?dryRun=All", secret("a", stringData={"k": "v"}))
    assert status == 201 and body["data"] == {"k": b64("v")}
    assert server.store.rv == rv
    assert (await http.get(f"{SECRETS}/a"))[0] == 404
    status, body = await http.post(f"{SECRETS}?dryRun=All", secret("a", data={"k": "@@"}))
    assert status == 400
    status, _ = await http.post(f"{SECRETS}?dryRun=Some", secret("a"))
    assert status == 400
    await http.post(SECRETS, secret("b"))
    status, _ = await http.delete(f"{SECRETS}/b?dryRun=All")
    assert status == 200 and (await http.get(f"{SECRETS}/b"))[0] == 200


async def test_secret_rules(http: Any) -> None:
    status, body = await http.post(SECRETS, secret("a", data={"k": "not base64!"}))
    assert (status, body["message"]) == (400, 'Secret in version "v1" cannot be handled as a '
                                              "Secret: illegal base64 data at input byte 3")
    status, _ = await http.post(SECRETS, secret("b", type="kubernetes.io/basic-auth",
                                                 stringData={"username": "u"}))
    assert status == 201
    status, body = await http.patch(f"{SECRETS}/b", {"type": "Opaque"})
    assert status == 422 and body["details"]["causes"][0]["field"] == "type"
    assert "field is immutable" in body["message"]
    big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    status, body = await http.post(SECRETS, secret("c", data={"k": big}))
    assert status == 422 and "1048576" in body["message"]


async def test_immutable_secret_and_configmap(http: Any) -> None:
    await http.post(SECRETS, secret("a", data={"k": b64("1")}, immutable=True))
    status, body = await http.patch(f"{SECRETS}/a", {"data": {"k": b64("2")}})
    assert status == 422 and body["details"]["causes"][0]["field"] == "data"
    status, body = await http.patch(f"{SECRETS}/a", {"immutable": False})
    assert status == 422 and body["details"]["causes"][0]["field"] == "immutable"
    status, _ = await http.patch(f"{SECRETS}/a", {"metadata": {"labels": {"ok": "yes"}}})
    assert status == 200
    await http.post(CONFIGMAPS, {"metadata": {"name": "c"}, "data": {"a": "1"},
                                 "immutable": True})
    status, body = await http.patch(f"{CONFIGMAPS}/c", {"data": {"a": "2"}})
    assert status == 422


async def test_label_and_field_selectors(http: Any) -> None:
    for name, labels in (("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}), ("c", {})):
        await http.post(SECRETS, secret(name, type="Opaque" if name != "c" else "kes/t")
                        | {"metadata": {"name": name, "labels": labels}})

    async def names(query: str) -> list[str]:
        status, listed = await http.get(f"{SECRETS}?{query}")
        assert status == 200, listed
        return [i["metadata"]["name"] for i in listed["items"]]

    assert await names("labelSelector=app%3Dx") == ["a"]
    assert await names("labelSelector=app%20in%20(x,y)") == ["a", "b"]
    assert await names("labelSelector=!app") == ["c"]
    assert await names("labelSelector=app,tier!%3Dweb") == ["b"]
    assert await names("fieldSelector=metadata.name%3Db") == ["b"]
    assert await names("fieldSelector=type%3Dkes/t") == ["c"]
    status, body = await http.get(f"{SECRETS}?labelSelector=a%20b")
    assert status == 400 and body["reason"] == "BadRequest"
    status, body = await http.get(f"{SECRETS}?fieldSelector=spec.nope%3D1")
    assert status == 400


async def test_pagination_with_continue(http: Any, server: ApiServer) -> None:
    for i in range(5):
        await http.post(SECRETS, secret(f"s{i}"))
    status, page = await http.get(f"{SECRETS}?limit=2")
    assert [i["metadata"]["name"] for i in page["items"]] == ["s0", "s1"]
    assert page["metadata"]["remainingItemCount"] == 3
    seen = ["s0", "s1"]
    token = page["metadata"]["continue"]
    while token:
        status, page = await http.get(f"{SECRETS}?limit=2&continue={token}")
        assert status == 200
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert seen == [f"s{i}" for i in range(5)]
    _, page = await http.get(f"{SECRETS}?limit=2")
    await http.post(SECRETS, secret("s10"))  # after the first page: not in this list
    await http.delete(f"{SECRETS}/s3")  # deleted after it: still in this list
    await http.patch(f"{SECRETS}/s4", {"metadata": {"labels": {"late": "yes"}}})
    status, rest = await http.get(f"{SECRETS}?continue={page['metadata']['continue']}")
    assert [i["metadata"]["name"] for i in rest["items"]] == ["s2", "s3", "s4"]
    assert "labels" not in rest["items"][2]["metadata"]
    assert rest["metadata"]["resourceVersion"] == page["metadata"]["resourceVersion"]
    await http.post(SECRETS, secret("later"))
    server.compact()
    status, body = await http.get(f"{SECRETS}?limit=2&continue={page['metadata']['continue']}")
    assert status == 410 and body["reason"] == "Expired"
    status, body = await http.get(f"{SECRETS}?continue=garbage")
    assert status == 400


async def test_status_subresource_split_both_ways(http: Any, widget_crd: Any,
                                                  make_widget: Any) -> None:
    await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widget_crd)
    path = "/apis/example.com/v1/namespaces/default/widgets"
    body = make_widget("w", size=1)
    body["status"] = {"phase": "Ignored"}
    status, created = await http.post(path, body)
    assert status == 201 and "status" not in created and created["metadata"]["generation"] == 1
    status, patched = await http.patch(f"{path}/w", {"spec": {"size": 2},
                                                     "status": {"phase": "Nope"}})
    assert patched["spec"]["size"] == 2 and "status" not in patched
    assert patched["metadata"]["generation"] == 2
    status, patched = await http.patch(f"{path}/w/status", {"spec": {"size": 9},
                                                            "status": {"phase": "Ready"}})
    assert status == 200 and patched["status"] == {"phase": "Ready"}
    assert patched["spec"]["size"] == 2 and patched["metadata"]["generation"] == 2
    status, patched = await http.patch(f"{path}/w", {"metadata": {"labels": {"a": "b"}}})
    assert patched["metadata"]["generation"] == 2
    status, _ = await http.get(f"{path}/w/scale")
    assert status == 404


async def test_metadata_only_responses(http: Any) -> None:
    await http.post(SECRETS, secret("a", stringData={"k": "v"}))
    accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    status, listed = await http.get(SECRETS, headers={"Accept": accept})
    assert status == 200 and listed["kind"] == "PartialObjectMetadataList"
    assert listed["items"][0] == {"kind": "PartialObjectMetadata",
                                  "apiVersion": "meta.k8s.io/v1",
                                  "metadata": listed["items"][0]["metadata"]}
    status, one = await http.get(f"{SECRETS}/a", headers={
        "Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"})
    assert one["kind"] == "PartialObjectMetadata" and "data" not in one
    status, body = await http.get(
        SECRETS, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert status == 406


async def test_table_for_kubectl_get(http: Any) -> None:
    await http.post(SECRETS, secret("a", stringData={"k": "v", "j": "w"}))
    accept = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
              "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
    status, table = await http.get(SECRETS, headers={"Accept": accept})
    assert status == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    assert table["rows"][0]["cells"][:3] == ["a", "Opaque", 2]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_deletecollection_with_selector(http: Any) -> None:
    await http.post(SECRETS, {"metadata": {"name": "a", "labels": {"gone": "yes"}}})
    await http.post(SECRETS, {"metadata": {"name": "b"}})
    status, _ = await http.delete(f"{SECRETS}?labelSelector=gone%3Dyes")
    assert status == 200
    _, listed = await http.get(SECRETS)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["b"]


async def test_delete_answers_status_and_preconditions(http: Any) -> None:
    _, created = await http.post(SECRETS, secret("a"))
    status, body = await http.delete(f"{SECRETS}/a", {"preconditions": {"uid": "other"}})
    assert status == 409
    status, body = await http.delete(f"{SECRETS}/a")
    assert status == 200 and body["status"] == "Success"
    assert body["details"] == {"name": "a", "kind": "secrets",
                               "uid": created["metadata"]["uid"]}
    assert (await http.delete(f"{SECRETS}/a"))[0] == 404


async def test_leases_events_and_reviews(http: Any) -> None:
    status, _ = await http.post("/apis/coordination.k8s.io/v1/namespaces/default/leases",
                                {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}})
    assert status == 201
    status, event = await http.post("/api/v1/namespaces/default/events", {
        "metadata": {"generateName": "w."}, "involvedObject": {"kind": "Secret", "name": "a"},
        "reason": "Synced", "message": "ok", "type": "Normal"})
    assert status == 201
    status, listed = await http.get(
        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Da")
    assert [i["metadata"]["name"] for i in listed["items"]] == [event["metadata"]["name"]]
    status, review = await http.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        "spec": {"resourceAttributes": {"verb": "get", "resource": "secrets"}}})
    assert status == 201 and review["status"]["allowed"] is True


async def test_table_include_object_and_watch_tables(http: Any) -> None:
    await http.post(SECRETS, secret("a"))
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    _, table = await http.get(f"{SECRETS}?includeObject=Object", headers=accept)
    assert table["rows"][0]["object"]["kind"] == "Secret"
    _, table = await http.get(f"{SECRETS}?includeObject=None", headers=accept)
    assert "object" not in table["rows"][0]
    events = await http.watch_lines(
        f"{SECRETS}?watch=true&resourceVersion=0&timeoutSeconds=0.1", headers=accept)
    assert [e["object"]["kind"] for e in events] == ["Table"]
    assert events[0]["object"]["rows"][0]["cells"][0] == "a"


async def test_put_status_subresource_and_uid_precondition(http: Any, widget_crd: Any,
                                                           make_widget: Any) -> None:
    await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widget_crd)
    path = "/apis/example.com/v1/namespaces/default/widgets"
    _, created = await http.post(path, make_widget("w"))
    body = dict(created, status={"phase": "Done"}, spec={"size": 99})
    status, updated = await http.put(f"{path}/w/status", body)
    assert status == 200 and updated["status"] == {"phase": "Done"}
    assert updated["spec"]["size"] == 1
    body = dict(updated, metadata=dict(updated["metadata"], uid="someone-else"))
    status, answer = await http.put(f"{path}/w", body)
    assert status == 409 and "Precondition failed: UID in precondition" in answer["message"]


async def test_named_legacy_watch_sees_only_that_object(http: Any) -> None:
    _, first = await http.post(SECRETS, secret("a"))
    await http.post(SECRETS, secret("b"))
    await http.patch(f"{SECRETS}/a", {"metadata": {"labels": {"x": "1"}}})
    events = await http.watch_lines(
        f"/api/v1/watch/namespaces/default/secrets/a?resourceVersion="
        f"{first['metadata']['resourceVersion']}&timeoutSeconds=0.1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("MODIFIED", "a")]


async def test_events_k8s_io_and_core_events_share_storage(http: Any) -> None:
    new_api = "/apis/events.k8s.io/v1/namespaces/default/events"
    status, created = await http.post(new_api, {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
        "regarding": {"kind": "Secret", "name": "a"}, "note": "synced", "reason": "Synced",
        "type": "Normal", "action": "Sync", "reportingController": "kes",
        "reportingInstance": "kes-0", "eventTime": "2026-01-01T00:00:00.000000Z"})
    assert status == 201 and created["apiVersion"] == "events.k8s.io/v1"
    assert created["note"] == "synced" and "message" not in created
    status, core = await http.get("/api/v1/namespaces/default/events/e")
    assert core["apiVersion"] == "v1" and core["message"] == "synced"
    assert core["involvedObject"] == {"kind": "Secret", "name": "a"}
    assert core["reportingComponent"] == "kes" and "note" not in core
    status, patched = await http.patch(f"{new_api}/e", {"note": "again"})
    assert status == 200 and patched["note"] == "again"
    _, listed = await http.get("/api/v1/namespaces/default/events")
    assert [i["message"] for i in listed["items"]] == ["again"]
    status, body = await http.get(f"{new_api}/missing")
    assert body["message"] == 'events.events.k8s.io "missing" not found'


async def test_list_at_an_exact_older_resource_version(http: Any, server: ApiServer) -> None:
    _, first = await http.post(SECRETS, secret("a"))
    rv = first["metadata"]["resourceVersion"]
    await http.post(SECRETS, secret("b"))
    await http.patch(f"{SECRETS}/a", {"metadata": {"labels": {"x": "1"}}})
    status, listed = await http.get(f"{SECRETS}?resourceVersion={rv}"
                                    "&resourceVersionMatch=Exact")
    assert status == 200 and listed["metadata"]["resourceVersion"] == rv
    assert [(i["metadata"]["name"], i["metadata"].get("labels")) for i in listed["items"]] == [
        ("a", None)]
    _, newest = await http.get(f"{SECRETS}?resourceVersion={rv}&resourceVersionMatch="
                               "NotOlderThan")
    assert [i["metadata"]["name"] for i in newest["items"]] == ["a", "b"]
    server.compact()
    status, body = await http.get(f"{SECRETS}?resourceVersion={rv}&resourceVersionMatch=Exact")
    assert status == 410 and body["reason"] == "Expired"


async def test_list_options_are_validated_as_the_real_server_does(http: Any) -> None:
    await http.post(SECRETS, secret("a"))
    await http.post(SECRETS, secret("b"))
    _, page = await http.get(f"{SECRETS}?limit=1")
    status, body = await http.get(f"{SECRETS}?resourceVersionMatch=Bogus&resourceVersion=1")
    assert status == 422 and body["reason"] == "Invalid"
    assert body["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: '
        '"Bogus": supported values: "Exact", "NotOlderThan", ""')
    status, body = await http.get(f"{SECRETS}?resourceVersionMatch=Exact")
    assert status == 422 and body["details"]["causes"] == [{
        "reason": "FieldValueForbidden", "field": "resourceVersionMatch",
        "message": "Forbidden: resourceVersionMatch is forbidden unless resourceVersion "
                   "is provided"}]
    status, body = await http.get(f"{SECRETS}?resourceVersionMatch=Exact&resourceVersion=0")
    assert status == 422 and 'resourceVersionMatch "exact" is forbidden' in body["message"]
    token = page["metadata"]["continue"]
    status, body = await http.get(f"{SECRETS}?continue={token}&resourceVersion=1")
    assert (status, body["message"]) == (
        400, "specifying resource version is not allowed when using continue")
    assert (await http.get(f"{SECRETS}?continue={token}&resourceVersion=0"))[0] == 200


async def test_limit_with_an_older_resource_version_is_exact(
        http: Any, server: ApiServer) -> None:
    """With `limit`, a non-zero resourceVersion is Exact (NotOlderThan without it)."""
    _, first = await http.post(SECRETS, secret("a"))
    rv = first["metadata"]["resourceVersion"]
    await http.post(SECRETS, secret("b"))
    _, exact = await http.get(f"{SECRETS}?resourceVersion={rv}&limit=10")
    assert exact["metadata"]["resourceVersion"] == rv
    assert [i["metadata"]["name"] for i in exact["items"]] == ["a"]
    _, newest = await http.get(f"{SECRETS}?resourceVersion={rv}")
    assert [i["metadata"]["name"] for i in newest["items"]] == ["a", "b"]
    server.compact()
    status, body = await http.get(f"{SECRETS}?resourceVersion={rv}&limit=10")
    assert status == 410 and body["reason"] == "Expired"


async def test_deletecollection_answers_the_deleted_objects_final_state(http: Any) -> None:
    await http.post(SECRETS, {"metadata": {"name": "a", "labels": {"gone": "yes"}}})
    await http.post(SECRETS, {"metadata": {"name": "held", "labels": {"gone": "yes"},
                                           "finalizers": ["example.com/hold"]}})
    status, body = await http.delete(f"{SECRETS}?labelSelector=gone%3Dyes")
    assert status == 200 and body["kind"] == "SecretList"
    gone, held = body["items"]
    assert gone["metadata"]["name"] == "a" and "deletionTimestamp" not in gone["metadata"]
    assert held["metadata"]["deletionTimestamp"]
    _, current = await http.get(f"{SECRETS}/held")
    assert current["metadata"] == held["metadata"]
    assert int(gone["metadata"]["resourceVersion"]) < int(held["metadata"]["resourceVersion"])


async def test_metadata_of_the_wrong_type_fails_decoding_with_400(http: Any) -> None:
    cases = {
        "ownerReferences": ["not-a-reference"],
        "finalizers": "example.com/x",
        "annotations": {"a": 1},
    }
    for field, value in cases.items():
        status, body = await http.post(SECRETS, {"metadata": {"name": "a", field: value}})
        assert status == 400, body
        assert f"Go struct field ObjectMeta.metadata.{field} of type" in body["message"]
    await http.post(SECRETS, secret("a"))
    status, body = await http.patch(f"{SECRETS}/a", {"metadata": {"ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": 5, "uid": "u"}]}})
    assert (status, body["message"]) == (400, (
        'Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal number '
        "into Go struct field ObjectMeta.metadata.ownerReferences.name of type string"))


async def test_unknown_fields_of_built_in_kinds_are_dropped_with_a_warning(http: Any) -> None:
    body = {"metadata": {"name": "a"}, "data": {"k": "v"}, "datta": {"k": "w"}}
    async with http.session.post(f"{http.url}{CONFIGMAPS}", json=body) as response:
        assert response.status == 201
        assert response.headers.getall("Warning") == ['299 - "unknown field \\"datta\\""']
        assert "datta" not in await response.json()
    _, stored = await http.get(f"{CONFIGMAPS}/a")
    assert "datta" not in stored
    status, failed = await http.patch(f"{CONFIGMAPS}/a?fieldValidation=Strict", {"datta": {}})
    assert (status, failed["message"]) == (400, (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'unknown field "datta"'))
