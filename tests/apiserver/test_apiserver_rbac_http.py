"""RBAC end to end over HTTP: identities, 401, 403 bodies, reviews, the admin bypass."""

from __future__ import annotations

from typing import Any

from kes.testing.apiserver import ApiServer

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
