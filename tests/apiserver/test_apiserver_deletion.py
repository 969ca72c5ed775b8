"""Finalizers, garbage collection with each propagation policy, namespace and CRD cleanup."""

from __future__ import annotations

from typing import Any

import pytest

from kes_emulators.apiserver import ApiServer

SECRETS = "/api/v1/namespaces/default/secrets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


async def owner_and_dependents(http: Any, *dependents: tuple[str, bool]) -> dict[str, Any]:
    status, owner = await http.post(CONFIGMAPS, {"metadata": {"name": "owner"}})
    assert status == 201
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
           "uid": owner["metadata"]["uid"]}
    for name, block in dependents:
        status, _ = await http.post(SECRETS, {"metadata": {
            "name": name, "ownerReferences": [dict(ref, blockOwnerDeletion=block)]}})
        assert status == 201
    return owner  # type: ignore[no-any-return]


async def names(http: Any, path: str) -> list[str]:
    _, listed = await http.get(path)
    return [i["metadata"]["name"] for i in listed["items"]]


async def test_finalizers_hold_an_object_until_removed(http: Any) -> None:
    await http.post(SECRETS, {"metadata": {"name": "a", "finalizers": ["kes.dev/x"]}})
    status, body = await http.delete(f"{SECRETS}/a")
    assert status == 200 and body["kind"] == "Secret"
    meta = body["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 0
    status, held = await http.get(f"{SECRETS}/a")
    assert status == 200 and held["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    status, body = await http.patch(f"{SECRETS}/a", {"metadata": {
        "finalizers": ["kes.dev/x", "kes.dev/new"]}})
    assert status == 422 and "no new finalizers" in body["message"]
    status, _ = await http.patch(f"{SECRETS}/a", {"metadata": {"finalizers": None}})
    assert status == 200
    assert (await http.get(f"{SECRETS}/a"))[0] == 404


async def test_background_deletion_collects_dependents(http: Any, server: ApiServer) -> None:
    await owner_and_dependents(http, ("d1", False), ("d2", True))
    await http.post(SECRETS, {"metadata": {"name": "unrelated"}})
    status, _ = await http.delete(f"{CONFIGMAPS}/owner")
    assert status == 200
    await server.gc_idle()
    assert await names(http, SECRETS) == ["unrelated"]


async def test_dependent_with_a_surviving_owner_loses_only_the_dangling_reference(
        http: Any, server: ApiServer) -> None:
    owner = await owner_and_dependents(http)
    _, other = await http.post(CONFIGMAPS, {"metadata": {"name": "other"}})
    refs = [{"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"],
             "uid": o["metadata"]["uid"]} for o in (owner, other)]
    await http.post(SECRETS, {"metadata": {"name": "shared", "ownerReferences": refs}})
    await http.delete(f"{CONFIGMAPS}/owner")
    await server.gc_idle()
    status, shared = await http.get(f"{SECRETS}/shared")
    assert status == 200 and shared["metadata"]["ownerReferences"] == [refs[1]]


async def test_orphan_policy_keeps_dependents_without_references(
        http: Any, server: ApiServer) -> None:
    await owner_and_dependents(http, ("d1", False))
    status, body = await http.delete(f"{CONFIGMAPS}/owner?propagationPolicy=Orphan")
    assert status == 200 and body["metadata"]["finalizers"] == ["orphan"]
    await server.gc_idle()
    assert (await http.get(f"{CONFIGMAPS}/owner"))[0] == 404
    status, dependent = await http.get(f"{SECRETS}/d1")
    assert status == 200 and "ownerReferences" not in dependent["metadata"]


async def test_foreground_waits_for_blocking_dependents(http: Any, server: ApiServer) -> None:
    await owner_and_dependents(http, ("blocker", True), ("free", False))
    await http.patch(f"{SECRETS}/blocker", {"metadata": {"finalizers": ["kes.dev/hold"]}})
    status, body = await http.delete(f"{CONFIGMAPS}/owner",
                                     {"propagationPolicy": "Foreground"})
    assert status == 200 and body["metadata"]["finalizers"] == ["foregroundDeletion"]
    await server.gc_idle()
    assert await names(http, SECRETS) == ["blocker"]
    status, owner = await http.get(f"{CONFIGMAPS}/owner")
    assert status == 200 and owner["metadata"]["deletionTimestamp"]
    await http.patch(f"{SECRETS}/blocker", {"metadata": {"finalizers": []}})
    await server.gc_idle()
    assert (await http.get(f"{CONFIGMAPS}/owner"))[0] == 404
    assert await names(http, SECRETS) == []


async def test_unknown_propagation_policy_is_invalid(http: Any) -> None:
    await http.post(SECRETS, {"metadata": {"name": "a"}})
    status, _ = await http.delete(f"{SECRETS}/a?propagationPolicy=Sideways")
    assert status == 422


async def test_namespace_deletion_empties_it_first(http: Any, server: ApiServer) -> None:
    await http.post("/api/v1/namespaces", {"metadata": {"name": "team"}})
    await server.gc_idle()
    path = "/api/v1/namespaces/team/secrets"
    await http.post(path, {"metadata": {"name": "held", "finalizers": ["kes.dev/x"]}})
    status, body = await http.delete("/api/v1/namespaces/team")
    assert status == 200 and body["status"]["phase"] == "Terminating"
    await server.gc_idle()
    status, body = await http.post(path, {"metadata": {"name": "new"}})
    assert status == 403 and "being terminated" in body["message"]
    assert (await http.get("/api/v1/namespaces/team/serviceaccounts/default"))[0] == 404
    assert (await http.get("/api/v1/namespaces/team"))[0] == 200
    await http.patch(f"{path}/held", {"metadata": {"finalizers": []}})
    await server.gc_idle()
    assert (await http.get("/api/v1/namespaces/team"))[0] == 404


async def test_new_namespace_gets_a_default_service_account(
        http: Any, server: ApiServer) -> None:
    await http.post("/api/v1/namespaces", {"metadata": {"name": "team"}})
    await server.gc_idle()
    assert await names(http, "/api/v1/namespaces/team/serviceaccounts") == ["default"]


async def test_deleting_a_crd_deletes_its_objects_and_discovery(
        http: Any, server: ApiServer, widget_crd: Any, make_widget: Any) -> None:
    status, crd = await http.post(CRDS, widget_crd)
    assert status == 201
    await http.post(WIDGETS, make_widget("w1"))
    await http.post(WIDGETS, make_widget("w2"))
    status, _ = await http.delete(f"{CRDS}/widgets.example.com")
    assert status == 200
    await server.gc_idle()
    assert (await http.get(f"{CRDS}/widgets.example.com"))[0] == 404
    assert (await http.get("/apis/example.com/v1"))[0] == 404
    _, groups = await http.get("/apis")
    assert "example.com" not in [g["name"] for g in groups["groups"]]
    assert (await http.get(WIDGETS))[0] == 404
    await http.post(CRDS, widget_crd)
    assert await names(http, WIDGETS) == []


async def test_custom_resource_delete_answers_the_object(
        http: Any, widget_crd: Any, make_widget: Any) -> None:
    await http.post(CRDS, widget_crd)
    await http.post(WIDGETS, make_widget("w"))
    status, body = await http.delete(f"{WIDGETS}/w")
    assert status == 200 and body["kind"] == "Widget"


async def test_namespace_spec_finalizers_change_only_through_finalize(
        http: Any, server: ApiServer) -> None:
    await http.post("/api/v1/namespaces", {"metadata": {"name": "team"}})
    status, ns = await http.patch("/api/v1/namespaces/team", {"spec": {"finalizers": []}})
    assert status == 200 and ns["spec"] == {"finalizers": ["kubernetes"]}
    await http.delete("/api/v1/namespaces/team")
    await server.gc_idle()
    assert (await http.get("/api/v1/namespaces/team"))[0] == 404
    await http.post("/api/v1/namespaces", {"metadata": {"name": "held"}})
    await http.post("/api/v1/namespaces/held/secrets", {"metadata": {
        "name": "s", "finalizers": ["kes.dev/x"]}})
    await http.delete("/api/v1/namespaces/held")
    await server.gc_idle()
    status, ns = await http.put("/api/v1/namespaces/held/finalize", {
        "metadata": {"name": "held"}, "spec": {"finalizers": []}})
    assert status == 200
    assert (await http.get("/api/v1/namespaces/held"))[0] == 404


async def test_deleting_a_crd_ends_watches_on_its_resource(
        http: Any, server: ApiServer, widget_crd: Any, make_widget: Any) -> None:
    await http.post(CRDS, widget_crd)
    await http.post(WIDGETS, make_widget("w"))
    async with http.session.get(f"{http.url}{WIDGETS}?watch=true") as response:
        assert (await response.content.readline()).startswith(b'{"type":"ADDED"')
        await http.delete(f"{CRDS}/widgets.example.com")
        await server.gc_idle()
        rest = await response.content.read()
    assert rest.startswith(b'{"type":"DELETED"') and rest.count(b"\n") == 1
    assert server.open_watches() == 0


async def test_owners_are_resolved_by_kind_name_and_namespace(
        http: Any, server: ApiServer) -> None:
    """A reference whose uid exists but whose kind or namespace is wrong is dangling, as
    the real collector finds it: the owner is looked up, then its uid compared."""
    await http.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    _, owner = await http.post("/api/v1/namespaces/other/configmaps",
                               {"metadata": {"name": "owner"}})
    _, cluster_owner = await http.post("/apis/rbac.authorization.k8s.io/v1/clusterroles",
                                       {"metadata": {"name": "owner"}, "rules": []})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
           "uid": owner["metadata"]["uid"]}
    cluster_ref = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "name": "owner", "uid": cluster_owner["metadata"]["uid"]}
    dependents = {
        ("default", "other-namespace"): [ref],
        ("other", "wrong-kind"): [dict(ref, kind="Secret")],
        ("other", "wrong-name"): [dict(ref, name="someone-else")],
        ("other", "same-namespace"): [ref],
        ("default", "cluster-owner"): [cluster_ref],
    }
    for (namespace, name), refs in dependents.items():
        status, _ = await http.post(f"/api/v1/namespaces/{namespace}/configmaps",
                                    {"metadata": {"name": name, "ownerReferences": refs}})
        assert status == 201
    await server.gc_idle()
    kept = {(namespace, name) for namespace, name in dependents
            if (await http.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}"))[0] == 200}
    assert kept == {("other", "same-namespace"), ("default", "cluster-owner")}


async def test_a_reference_to_an_unserved_kind_is_kept(http: Any, server: ApiServer) -> None:
    ref = {"apiVersion": "example.com/v1", "kind": "Gadget", "name": "web", "uid": "1234"}
    await http.post(CONFIGMAPS, {"metadata": {"name": "c", "ownerReferences": [ref]}})
    await server.gc_idle()
    assert (await http.get(f"{CONFIGMAPS}/c"))[0] == 200


async def test_a_second_delete_without_policy_keeps_the_orphan_finalizer(
        http: Any, server: ApiServer) -> None:
    """Both deletes run before the collector's next turn, as two quick requests can."""
    await http.post(CONFIGMAPS, {"metadata": {"name": "held", "finalizers": ["kes.dev/x"]}})
    rtype = server.registry.lookup("", "v1", "configmaps")
    assert rtype is not None
    first, _ = server.objects.delete(rtype, "default", "held", {"propagationPolicy": "Orphan"},
                                     dry_run=False)
    assert first["metadata"]["finalizers"] == ["kes.dev/x", "orphan"]
    second, gone = server.objects.delete(rtype, "default", "held", {}, dry_run=False)
    assert not gone and second is first  # unchanged: no new resourceVersion, no event
    third, _ = server.objects.delete(rtype, "default", "held",
                                     {"propagationPolicy": "Background"}, dry_run=False)
    assert third["metadata"]["finalizers"] == ["kes.dev/x"]
    await server.gc_idle()


async def test_a_failing_controller_job_is_logged_and_the_rest_keep_running(
        http: Any, server: ApiServer, caplog: pytest.LogCaptureFixture) -> None:
    """A bug in one job must be loud (a traceback) and must not stall the others."""
    failures = []

    def broken(name: str) -> None:
        failures.append(name)
        raise KeyError("a bug")

    server.controllers._jobs["new-namespace"] = broken
    await http.post("/api/v1/namespaces", {"metadata": {"name": "team"}})
    await owner_and_dependents(http, ("dependent", False))
    await http.delete(f"{CONFIGMAPS}/owner")
    await server.gc_idle()
    assert failures == ["team"]
    assert await names(http, SECRETS) == []
    [record] = [r for r in caplog.records if r.name.endswith("controllers")]
    assert record.getMessage() == "controller job new-namespace on team failed"
    assert record.exc_info is not None and record.exc_info[0] is KeyError


async def test_waiting_for_stopped_controllers_raises_instead_of_hanging(
        http: Any, server: ApiServer) -> None:
    await server.controllers.stop()
    with pytest.raises(RuntimeError, match="the controllers run once the server is started"):
        await server.gc_idle()
    server.controllers.start()
    task = server.controllers._task
    assert task is not None
    task.cancel()
    await http.post("/api/v1/namespaces", {"metadata": {"name": "team"}})
    with pytest.raises(RuntimeError, match="controllers stopped: cancelled"):
        await server.gc_idle()


async def test_aggregated_cluster_roles_follow_the_roles_they_select(
        http: Any, server: ApiServer) -> None:
    roles = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    await http.post(roles, {"metadata": {"name": "widget-admin"}, "aggregationRule": {
        "clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate": "true"}}]}})
    rule = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}
    await http.post(roles, {"metadata": {"name": "widget-reader", "labels": {
        "example.com/aggregate": "true"}}, "rules": [rule]})
    await server.gc_idle()
    _, aggregated = await http.get(f"{roles}/widget-admin")
    assert aggregated["rules"] == [rule]
    await http.delete(f"{roles}/widget-reader")
    await server.gc_idle()
    _, aggregated = await http.get(f"{roles}/widget-admin")
    assert aggregated.get("rules", []) == []


async def test_generated_names_fit_in_63_characters(http: Any) -> None:
    status, created = await http.post(CONFIGMAPS, {"metadata": {"generateName": "x" * 70}})
    assert status == 201 and created["metadata"]["name"].startswith("x" * 58)
    assert len(created["metadata"]["name"]) == 63
