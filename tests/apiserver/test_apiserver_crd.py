"""CRDs: established at once, served in discovery, validated, pruned, defaulted, printed."""

from __future__ import annotations

from typing import Any

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


async def test_crd_is_established_and_discoverable(http: Any, widget_crd: Any) -> None:
    status, crd = await http.post(CRDS, widget_crd)
    assert status == 201
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["listKind"] == "WidgetList"
    assert crd["status"]["storedVersions"] == ["v1"]
    _, groups = await http.get("/apis")
    assert {"name": "example.com", "versions": [{"groupVersion": "example.com/v1",
                                                 "version": "v1"}],
            "preferredVersion": {"groupVersion": "example.com/v1", "version": "v1"}} in (
        groups["groups"])
    status, resources = await http.get("/apis/example.com/v1")
    entries = {r["name"]: r for r in resources["resources"]}
    assert entries["widgets"]["shortNames"] == ["wd"]
    assert entries["widgets"]["categories"] == ["all"]
    assert entries["widgets"]["singularName"] == "widget"
    assert entries["widgets"]["namespaced"] is True
    assert entries["widgets/status"]["verbs"] == ["get", "patch", "update"]


async def test_invalid_crd_is_rejected(http: Any, widget_crd: Any) -> None:
    widget_crd["metadata"]["name"] = "wrong.example.com"
    status, body = await http.post(CRDS, widget_crd)
    assert status == 422 and body["details"]["causes"][0]["field"] == "metadata.name"
    widget_crd["metadata"]["name"] = "widgets.example.com"
    widget_crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Broken", "type": "string", "jsonPath": ".spec[[["}]
    status, body = await http.post(CRDS, widget_crd)
    assert status == 422 and body["details"]["causes"][0]["field"] == (
        "spec.versions[0].additionalPrinterColumns[0].jsonPath")
    del widget_crd["spec"]["versions"]
    status, body = await http.post(CRDS, widget_crd)
    assert status == 422 and "spec.versions" in body["message"]


async def test_schema_validation_names_fields(http: Any, widget_crd: Any,
                                              make_widget: Any) -> None:
    await http.post(CRDS, widget_crd)
    status, body = await http.post(WIDGETS, make_widget("w", size="big"))
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["kind"] == "Widget" and body["details"]["group"] == "example.com"
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.size"]
    assert body["message"].startswith('Widget.example.com "w" is invalid: spec.size')
    missing = make_widget("w")
    del missing["spec"]["size"]
    status, body = await http.post(WIDGETS, missing)
    assert status == 422
    assert body["details"]["causes"][0] == {"reason": "FieldValueRequired",
                                            "message": "Required value", "field": "spec.size"}
    await http.post(WIDGETS, make_widget("ok", size=2))
    status, body = await http.patch(f"{WIDGETS}/ok", {"spec": {"size": 0}})
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.size"


async def test_pruning_defaults_and_preserved_fields(http: Any, widget_crd: Any,
                                                     make_widget: Any) -> None:
    await http.post(CRDS, widget_crd)
    body = make_widget("w", unknown="dropped", extra={"free": {"form": 1}})
    body["topLevel"] = "dropped too"
    status, created = await http.post(WIDGETS, body)
    assert status == 201
    assert created["spec"] == {"size": 1, "color": "blue", "extra": {"free": {"form": 1}}}
    assert "topLevel" not in created
    _, stored = await http.get(f"{WIDGETS}/w")
    assert stored["spec"] == created["spec"]


async def test_update_requires_resource_version_for_custom_resources(
        http: Any, widget_crd: Any, make_widget: Any) -> None:
    await http.post(CRDS, widget_crd)
    await http.post(WIDGETS, make_widget("w"))
    status, body = await http.put(f"{WIDGETS}/w", make_widget("w", size=3))
    assert status == 422 and body["details"]["causes"][0]["field"] == (
        "metadata.resourceVersion")


async def test_printer_columns_in_table(http: Any, widget_crd: Any, make_widget: Any) -> None:
    await http.post(CRDS, widget_crd)
    await http.post(WIDGETS, make_widget("w", size=7))
    await http.patch(f"{WIDGETS}/w/status", {"status": {"phase": "Ready"}})
    status, table = await http.get(WIDGETS, headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert status == 200
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Phase"]
    assert table["rows"][0]["cells"] == ["w", 7, "Ready"]


async def test_cluster_scoped_custom_resources(http: Any, widget_crd: Any,
                                               make_widget: Any) -> None:
    widget_crd["spec"]["scope"] = "Cluster"
    await http.post(CRDS, widget_crd)
    body = make_widget("w")
    del body["metadata"]["namespace"]
    status, created = await http.post("/apis/example.com/v1/widgets", body)
    assert status == 201 and "namespace" not in created["metadata"]
    assert (await http.get("/apis/example.com/v1/widgets/w"))[0] == 200
    assert (await http.get(f"{WIDGETS}/w"))[0] == 404


async def test_crd_update_changes_what_is_served(http: Any, widget_crd: Any) -> None:
    _, crd = await http.post(CRDS, widget_crd)
    crd["spec"]["names"]["shortNames"] = ["wdg"]
    status, updated = await http.put(f"{CRDS}/widgets.example.com", crd)
    assert status == 200 and updated["metadata"]["generation"] == 2
    _, resources = await http.get("/apis/example.com/v1")
    assert resources["resources"][0]["shortNames"] == ["wdg"]


async def test_a_noop_write_to_a_crd_keeps_its_resource_version(
        http: Any, widget_crd: Any) -> None:
    _, crd = await http.post(CRDS, widget_crd)
    rv = crd["metadata"]["resourceVersion"]
    crd["status"]["conditions"][0]["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    status, same = await http.put(f"{CRDS}/widgets.example.com", crd)
    assert status == 200 and same["metadata"]["resourceVersion"] == rv
    status, patched = await http.patch(f"{CRDS}/widgets.example.com",
                                       {"metadata": {"labels": {"team": "a"}}})
    assert patched["status"]["conditions"] == same["status"]["conditions"]
    events = await http.watch_lines(f"{CRDS}?watch=true&resourceVersion={rv}"
                                    "&timeoutSeconds=0.1")
    assert [(e["type"], e["object"]["metadata"].get("labels")) for e in events] == [
        ("MODIFIED", {"team": "a"})]


async def test_crd_scope_is_immutable(http: Any, widget_crd: Any) -> None:
    _, crd = await http.post(CRDS, widget_crd)
    crd["spec"]["scope"] = "Cluster"
    status, body = await http.put(f"{CRDS}/widgets.example.com", crd)
    assert status == 422 and body["message"] == (
        'CustomResourceDefinition.apiextensions.k8s.io "widgets.example.com" is invalid: '
        'spec.scope: Invalid value: "Cluster": field is immutable')


async def test_pruned_fields_are_reported_in_warning_headers(
        http: Any, widget_crd: Any) -> None:
    await http.post(CRDS, widget_crd)
    body = {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"}, "spec": {"size": 1, "shape": "round", "extra": {"x": 1}}}
    async with http.session.post(f"{http.url}{WIDGETS}", json=body) as response:
        assert response.status == 201
        assert response.headers.getall("Warning") == ['299 - "unknown field \\"spec.shape\\""']
        assert "shape" not in (await response.json())["spec"]
    async with http.session.patch(f"{http.url}{WIDGETS}/w?fieldValidation=Ignore",
                                  data='{"spec": {"shape": "x"}}', headers={
                                      "Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status == 200 and "Warning" not in resp.headers
    status, body = await http.patch(f"{WIDGETS}/w?fieldValidation=Strict",
                                    {"spec": {"shape": "x", "colour": "red"}})
    assert status == 400 and body["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
        'unknown field "spec.colour", unknown field "spec.shape"')
    status, body = await http.patch(f"{WIDGETS}/w?fieldValidation=Loose", {"spec": {}})
    assert status == 400 and "fieldValidation" in body["message"]
