"""RBAC end to end over HTTP: identities, 401, 403 bodies, reviews, the admin bypass."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kes_emulators.apiserver import ApiServer

SECRETS = "/api/v1/namespaces/default/secrets"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


async def grant(http: Any, verbs: list[str], resources: list[str],
                resource_names: list[str] | None = None) -> None:
    rule: dict[str, Any] = {"apiGroups": [""], "resources": resources, "verbs": verbs}
    if resource_names:
        rule["resourceNames"] = resource_names
    status, _ = await http.post(f"{RBAC}/namespaces/default/roles",
                                {"metadata": {"name": "r"}, "rules": [rule]})
    assert status == 201
    status, _ = await http.post(f"{RBAC}/namespaces/default/rolebindings", {
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "default"}]})
    assert status == 201


async def test_rbac_is_off_by_default(server: ApiServer, anonymous_http: Any) -> None:
    async with anonymous_http(server) as anonymous:
        status, _ = await anonymous.get(SECRETS)
    assert status == 200


async def test_bad_token_is_401(server: ApiServer, http: Any) -> None:
    status, body = await http.get(SECRETS, token="wrong")
    assert status == 401 and body["reason"] == "Unauthorized"


async def test_service_account_is_denied_then_allowed(server: ApiServer, http: Any) -> None:
    server.rbac = True
    token = server.create_service_account_token("default", "bot")
    status, body = await http.get(f"{SECRETS}/x", token=token)
    assert status == 403
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'secrets "x" is forbidden: User "system:serviceaccount:default:bot" cannot '
                   'get resource "secrets" in API group "" in the namespace "default"',
        "reason": "Forbidden", "details": {"name": "x", "kind": "secrets"}, "code": 403}
    await http.post(SECRETS, {"metadata": {"name": "x"}})
    await http.post(SECRETS, {"metadata": {"name": "y"}})
    await grant(http, ["get"], ["secrets"], resource_names=["x"])
    assert (await http.get(f"{SECRETS}/x", token=token))[0] == 200
    assert (await http.get(f"{SECRETS}/y", token=token))[0] == 403
    status, body = await http.get(SECRETS, token=token)
    assert status == 403 and body["message"].startswith(
        'secrets is forbidden: User "system:serviceaccount:default:bot" cannot list')
    status, body = await http.get("/api/v1/secrets", token=token)
    assert status == 403 and body["message"].endswith("at the cluster scope")


async def test_subresource_and_cluster_scope_messages(server: ApiServer, http: Any) -> None:
    server.rbac = True
    token = server.create_service_account_token("default", "bot")
    await http.post(SECRETS, {"metadata": {"name": "x"}})
    await grant(http, ["patch"], ["secrets"])
    status, body = await http.patch("/api/v1/namespaces/default/status", {}, token=token)
    assert status == 403 and body["message"] == (  # a namespace's own namespace is itself
        'namespaces "default" is forbidden: User "system:serviceaccount:default:bot" cannot '
        'patch resource "namespaces/status" in API group "" in the namespace "default"')
    status, body = await http.get(f"{RBAC}/clusterroles/admin", token=token)
    assert status == 403 and body["message"] == (
        'clusterroles.rbac.authorization.k8s.io "admin" is forbidden: User '
        '"system:serviceaccount:default:bot" cannot get resource "clusterroles" in API group '
        '"rbac.authorization.k8s.io" at the cluster scope')
    assert (await http.patch(f"{SECRETS}/x", {}, token=token))[0] == 200


async def test_anonymous_and_discovery(server: ApiServer, anonymous_http: Any,
                                       http: Any) -> None:
    server.rbac = True
    async with anonymous_http(server) as anonymous:
        status, body = await anonymous.get(SECRETS)
        assert status == 403 and 'User "system:anonymous"' in body["message"]
        status, body = await anonymous.get("/apis")
        assert status == 403 and body["message"] == (
            'forbidden: User "system:anonymous" cannot get path "/apis"')
        assert (await anonymous.get("/healthz"))[0] == 200
    token = server.create_service_account_token("default", "bot")
    assert (await http.get("/apis", token=token))[0] == 200
    assert (await http.get("/api/v1", token=token))[0] == 200


async def test_admin_bypasses_rbac(server: ApiServer, http: Any) -> None:
    server.rbac = True
    assert (await http.get(SECRETS))[0] == 200


async def test_access_reviews(server: ApiServer, http: Any) -> None:
    server.rbac = True
    token = server.create_service_account_token("default", "bot")
    await grant(http, ["list"], ["configmaps"])
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "list", "resource": "configmaps",
                                              "namespace": "default"}}}
    status, body = await http.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                   review, token=token)
    assert status == 201 and body["status"]["allowed"] is True
    review["spec"]["resourceAttributes"]["verb"] = "delete"
    _, body = await http.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                              review, token=token)
    assert body["status"]["allowed"] is False
    sar = {"spec": {"user": "system:serviceaccount:default:bot",
                    "resourceAttributes": {"verb": "list", "resource": "configmaps",
                                           "namespace": "default"}}}
    status, body = await http.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
    assert status == 201 and body["status"]["allowed"] is True
    status, body = await http.post("/apis/authorization.k8s.io/v1/subjectaccessreviews",
                                   {"spec": {"resourceAttributes": {"verb": "get"}}})
    assert status == 422


async def test_impersonating_a_service_account_adds_its_groups(server: ApiServer,
                                                               http: Any) -> None:
    server.rbac = True
    await http.post(f"{RBAC}/namespaces/default/roles", {"metadata": {"name": "r"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]})
    await http.post(f"{RBAC}/namespaces/default/rolebindings", {
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "Group", "name": "system:serviceaccounts:default",
                      "apiGroup": "rbac.authorization.k8s.io"}]})
    as_sa = {"Impersonate-User": "system:serviceaccount:default:anyone"}
    assert (await http.get(SECRETS, headers=as_sa))[0] == 200
    status, body = await http.get("/api/v1/configmaps", headers=as_sa)
    assert status == 403 and 'User "system:serviceaccount:default:anyone"' in body["message"]
    assert server.requests.count(identity="system:serviceaccount:default:anyone") == 2
    status, _ = await http.get(SECRETS, headers={"Impersonate-Group": "g"})
    assert status == 400


async def test_a_list_or_watch_narrowed_to_one_name_is_authorized_by_that_name(
        server: ApiServer, http: Any) -> None:
    server.rbac = True
    token = server.create_service_account_token("default", "bot")
    for name in ("s1", "s2"):
        await http.post(SECRETS, {"metadata": {"name": name}})
    await grant(http, ["get", "list", "watch"], ["secrets"], resource_names=["s1"])
    status, body = await http.get(f"{SECRETS}?fieldSelector=metadata.name%3Ds1", token=token)
    assert status == 200 and [i["metadata"]["name"] for i in body["items"]] == ["s1"]
    status, _ = await http.get(f"{SECRETS}?fieldSelector=metadata.name%3D%3Ds1", token=token)
    assert status == 200
    events = await http.watch_lines(
        f"{SECRETS}?watch=true&fieldSelector=metadata.name%3Ds1&timeoutSeconds=1", token=token)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "s1")]
    status, body = await http.get(f"{SECRETS}?fieldSelector=metadata.name%3Ds2", token=token)
    assert status == 403 and body["message"] == (
        'secrets "s2" is forbidden: User "system:serviceaccount:default:bot" cannot list '
        'resource "secrets" in API group "" in the namespace "default"')
    assert (await http.get(SECRETS, token=token))[0] == 403
    assert (await http.get(f"{SECRETS}?fieldSelector=metadata.name!%3Ds2", token=token))[0] == 403
    assert (await http.get(f"{SECRETS}?watch=true&timeoutSeconds=1", token=token))[0] == 403


def test_kubectl_lists_one_secret_by_field_selector_as_a_user_limited_to_it(
        tls_server: ApiServer, tmp_path: Path,
        kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    admin = tls_server.write_kubeconfig(tmp_path / "admin.kubeconfig")
    for name in ("s1", "s2"):
        kubectl(admin, "create", "secret", "generic", name, "--from-literal=k=v")
    kubectl(admin, "create", "role", "one-secret", "--verb=get,list,watch",
            "--resource=secrets", "--resource-name=s1")
    kubectl(admin, "create", "rolebinding", "one-secret", "--role=one-secret", "--user=alice")
    listed = kubectl(admin, "get", "secrets", "--field-selector", "metadata.name=s1",
                     "--as=alice", "-o", "name")
    assert listed.stdout.split() == ["secret/s1"]
    denied = kubectl(admin, "get", "secrets", "--as=alice", check=False)
    assert denied.returncode != 0 and 'User "alice" cannot list resource "secrets"' in (
        denied.stderr)


ROLES = f"{RBAC}/namespaces/default/roles"
BINDINGS = f"{RBAC}/namespaces/default/rolebindings"
EVERYTHING = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
MALLORY_GROUPS = '(groups=["system:authenticated"])'


async def as_mallory(http: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Impersonate-User": "mallory"}
    if method == "PATCH":
        return await http.patch(path, body, headers=headers)
    return await http.call(method, path, body, headers=headers)


async def give_mallory(http: Any, name: str, *rules: dict[str, Any],
                       cluster: bool = False) -> None:
    roles, bindings = ((f"{RBAC}/clusterroles", f"{RBAC}/clusterrolebindings") if cluster
                       else (ROLES, BINDINGS))
    kind = "ClusterRole" if cluster else "Role"
    assert (await http.post(roles, {"metadata": {"name": name}, "rules": list(rules)}))[0] == 201
    status, _ = await http.post(bindings, {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        "subjects": [{"kind": "User", "name": "mallory",
                      "apiGroup": "rbac.authorization.k8s.io"}]})
    assert status == 201


WRITE_RBAC = {"apiGroups": ["rbac.authorization.k8s.io"],
              "resources": ["roles", "rolebindings"], "verbs": ["create", "get", "patch"]}
READ_SECRETS = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}


async def test_roles_cannot_grant_what_their_author_does_not_hold(
        server: ApiServer, http: Any) -> None:
    server.rbac = True
    await give_mallory(http, "rbac-writer", WRITE_RBAC, READ_SECRETS)
    status, body = await as_mallory(http, "POST", ROLES,
                                    {"metadata": {"name": "god"}, "rules": [EVERYTHING]})
    assert status == 403 and body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'roles.rbac.authorization.k8s.io "god" is forbidden: user "mallory" '
                   f'{MALLORY_GROUPS} is attempting to grant RBAC permissions not currently '
                   'held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}',
        "reason": "Forbidden", "code": 403,
        "details": {"name": "god", "group": "rbac.authorization.k8s.io", "kind": "roles"}}
    reader = {"metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
         "resourceNames": ["s1"]}]}
    assert (await as_mallory(http, "POST", ROLES, reader))[0] == 201
    status, body = await as_mallory(http, "PATCH", f"{ROLES}/reader", {"rules": [
        {"apiGroups": [""], "resources": ["secrets", "configmaps"],
         "verbs": ["get", "delete", "list"]}]})
    assert status == 403 and body["message"].endswith(
        'held:\n{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "delete" "list"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["delete"]}')
    assert (await http.get(f"{ROLES}/god"))[0] == 404


async def test_escalate_and_gc_only_changes_are_allowed(server: ApiServer, http: Any) -> None:
    server.rbac = True
    await give_mallory(http, "rbac-writer", WRITE_RBAC)
    assert (await http.post(ROLES, {"metadata": {"name": "big"}, "rules": [EVERYTHING]}))[0] == 201
    status, _ = await as_mallory(http, "PATCH", f"{ROLES}/big",
                                 {"metadata": {"finalizers": ["example.com/hold"]}})
    assert status == 200
    status, _ = await as_mallory(http, "PATCH", f"{ROLES}/big",
                                 {"metadata": {"labels": {"a": "b"}}})
    assert status == 403
    await give_mallory(http, "escalator", {"apiGroups": ["rbac.authorization.k8s.io"],
                                           "resources": ["roles"], "verbs": ["escalate"]})
    status, _ = await as_mallory(http, "POST", ROLES,
                                 {"metadata": {"name": "god"}, "rules": [EVERYTHING]})
    assert status == 201


async def test_bindings_need_the_roles_permissions_or_bind(server: ApiServer, http: Any) -> None:
    server.rbac = True
    await give_mallory(http, "rbac-writer", WRITE_RBAC)
    binding = {"metadata": {"name": "me-admin"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "cluster-admin"},
               "subjects": [{"kind": "User", "name": "mallory",
                             "apiGroup": "rbac.authorization.k8s.io"}]}
    status, body = await as_mallory(http, "POST", BINDINGS, binding)
    assert status == 403 and body["message"] == (
        'rolebindings.rbac.authorization.k8s.io "me-admin" is forbidden: user "mallory" '
        f'{MALLORY_GROUPS} is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}')
    missing = dict(binding, roleRef=dict(binding["roleRef"], kind="Role", name="nope"))
    status, body = await as_mallory(http, "POST", BINDINGS, missing)
    assert status == 403 and body["message"] == (
        'rolebindings.rbac.authorization.k8s.io "me-admin" is forbidden: '
        'roles.rbac.authorization.k8s.io "nope" not found')
    await give_mallory(http, "binder", {
        "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
        "verbs": ["bind"], "resourceNames": ["cluster-admin"]})
    assert (await as_mallory(http, "POST", BINDINGS, binding))[0] == 201
    status, _ = await http.post(BINDINGS, dict(binding, metadata={"name": "by-admin"}))
    assert status == 201


async def test_aggregation_rules_need_full_authority(server: ApiServer, http: Any) -> None:
    server.rbac = True
    await give_mallory(http, "cluster-rbac-writer", {
        "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
        "verbs": ["create"]}, cluster=True)
    aggregated = {"metadata": {"name": "agg"}, "aggregationRule": {
        "clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate": "true"}}]}}
    status, body = await as_mallory(http, "POST", f"{RBAC}/clusterroles", aggregated)
    assert status == 403 and body["message"] == (
        'clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin '
        "privileges to use the aggregationRule")
    assert (await http.post(f"{RBAC}/clusterroles", aggregated))[0] == 201


async def test_escalation_is_not_checked_with_rbac_off(server: ApiServer, http: Any) -> None:
    status, _ = await as_mallory(http, "POST", ROLES,
                                 {"metadata": {"name": "god"}, "rules": [EVERYTHING]})
    assert status == 201


async def test_default_aggregated_roles_are_stored_with_their_rules(http: Any) -> None:
    status, view = await http.get(f"{RBAC}/clusterroles/view")
    assert status == 200
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["namespaces"]} in (
        view["rules"])


async def test_a_deleted_service_accounts_token_stops_working(server: ApiServer,
                                                              http: Any) -> None:
    token = server.create_service_account_token("default", "bot")
    assert (await http.get(SECRETS, token=token))[0] == 200
    status, _ = await http.delete("/api/v1/namespaces/default/serviceaccounts/bot")
    assert status == 200
    status, body = await http.get(SECRETS, token=token)
    assert status == 401 and body["reason"] == "Unauthorized"
    await http.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "bot"}})
    assert (await http.get(SECRETS, token=token))[0] == 401  # a new account of that name
    assert (await http.get(SECRETS, token=server.create_service_account_token(
        "default", "bot")))[0] == 200


async def test_aggregated_roles_store_the_rules_of_roles_labelled_for_them(
        server: ApiServer, http: Any) -> None:
    widgets = {"apiGroups": ["example.com"], "resources": ["widgets"],
               "verbs": ["get", "list", "watch"]}
    status, _ = await http.post(f"{RBAC}/clusterroles", {
        "metadata": {"name": "widget-viewer",
                     "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [widgets]})
    assert status == 201
    await server.gc_idle()
    for role in ("view", "edit", "admin"):  # edit and admin aggregate view in turn
        status, body = await http.get(f"{RBAC}/clusterroles/{role}")
        assert status == 200 and widgets in body["rules"], role
    assert (await http.delete(f"{RBAC}/clusterroles/widget-viewer"))[0] == 200
    await server.gc_idle()
    assert widgets not in (await http.get(f"{RBAC}/clusterroles/view"))[1]["rules"]
