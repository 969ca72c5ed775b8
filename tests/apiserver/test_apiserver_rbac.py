from typing import Any

import pytest

from kes_emulators.apiserver.rbac import (
    FULL_AUTHORITY,
    Authorizer,
    RequestAttributes,
    ReviewError,
    UserInfo,
    aggregated_rules,
    aggregation_updates,
    bootstrap_objects,
    compact_string,
    escalation,
    subject_access_review,
    uncovered_rules,
)
from kes_emulators.apiserver.routing import route

RBAC = "rbac.authorization.k8s.io/v1"


def role(name: str, namespace: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": RBAC, "kind": "Role",
            "metadata": {"name": name, "namespace": namespace}, "rules": list(rules)}


def cluster_role(name: str, *rules: dict[str, Any], labels: dict[str, str] | None = None,
                 aggregate: dict[str, str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": RBAC, "kind": "ClusterRole",
                           "metadata": {"name": name, "labels": labels or {}},
                           "rules": list(rules)}
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": aggregate}]}
    return obj


def binding(name: str, namespace: str | None, ref_kind: str, ref_name: str,
            *subjects: dict[str, str]) -> dict[str, Any]:
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {"apiVersion": RBAC, "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind,
                        "name": ref_name},
            "subjects": list(subjects)}


def rule(verbs: list[str], resources: list[str], groups: list[str] | None = None,
         names: list[str] | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"apiGroups": [""] if groups is None else groups,
                         "resources": resources, "verbs": verbs}
    if names:
        r["resourceNames"] = names
    return r


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def group(name: str) -> dict[str, str]:
    return {"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def service_account(name: str, namespace: str | None = None) -> dict[str, str]:
    subject = {"kind": "ServiceAccount", "name": name}
    if namespace:
        subject["namespace"] = namespace
    return subject


# The objects of the examples on the "Using RBAC Authorization" page, and a few more.
OBJECTS = [
    role("pod-reader", "default", rule(["get", "watch", "list"], ["pods"])),
    binding("read-pods", "default", "Role", "pod-reader", user("jane")),
    cluster_role("secret-reader", rule(["get", "watch", "list"], ["secrets"])),
    binding("read-secrets", "development", "ClusterRole", "secret-reader", user("dave")),
    binding("read-secrets-global", None, "ClusterRole", "secret-reader", group("manager")),
    role("configmap-updater", "default",
         rule(["update", "get"], ["configmaps"], names=["my-configmap"])),
    binding("update-cm", "default", "Role", "configmap-updater", user("carol")),
    role("one-secret", "default", rule(["get", "list", "watch"], ["secrets"], names=["s1"])),
    binding("one-secret", "default", "Role", "one-secret", user("dana")),
    role("pod-and-pod-logs-reader", "default", rule(["get", "list"], ["pods", "pods/log"])),
    binding("logs", "default", "Role", "pod-and-pod-logs-reader", user("logan")),
    cluster_role("scaler", rule(["update"], ["*/scale"], groups=["apps"]),
                 rule(["get"], ["pods/*"])),
    binding("scaler", None, "ClusterRole", "scaler", user("sam")),
    cluster_role("health", {"nonResourceURLs": ["/healthz", "/healthz/*"],
                            "verbs": ["get", "post"]}),
    binding("health", None, "ClusterRole", "health", group("probers")),
    binding("health-in-ns", "default", "ClusterRole", "health", user("nina")),
    cluster_role("monitoring", aggregate={"rbac.example.com/aggregate-to-monitoring": "true"}),
    cluster_role("monitoring-endpoints",
                 rule(["get", "list", "watch"], ["services", "endpointslices", "pods"]),
                 labels={"rbac.example.com/aggregate-to-monitoring": "true"}),
    binding("monitoring", None, "ClusterRole", "monitoring", user("mona")),
    role("everything", "ops", rule(["*"], ["*"], groups=["*"])),
    binding("ops-admins", "ops", "Role", "everything", group("ops")),
    role("sa-reader", "dev", rule(["get"], ["secrets"])),
    binding("sa-local", "dev", "Role", "sa-reader", service_account("builder")),
    binding("sa-other-ns", "dev", "Role", "sa-reader", service_account("deployer", "ci")),
    binding("sa-cluster-no-ns", None, "ClusterRole", "secret-reader", service_account("lost")),
    binding("dangling", "default", "Role", "missing", user("erin")),
    binding("odd", "default", "Group", "admins", user("erin")),
]

AUTHZ = Authorizer.from_objects(OBJECTS)


def req(verb: str, resource: str, namespace: str = "", name: str = "", sub: str = "",
        group: str = "") -> RequestAttributes:
    return RequestAttributes(verb=verb, api_group=group, resource=resource, subresource=sub,
                             name=name, namespace=namespace,
                             path=f"/api/v1/{resource}", resource_request=True)


def url(verb: str, path: str) -> RequestAttributes:
    return RequestAttributes(verb=verb, path=path, resource_request=False)


def u(name: str, *groups: str) -> UserInfo:
    return UserInfo(name, groups)


CASES = [
    # Role + RoleBinding: only that namespace, only those verbs and resources.
    (u("jane"), req("get", "pods", "default", "p"), True),
    (u("jane"), req("list", "pods", "default"), True),
    (u("jane"), req("get", "pods", "kube-system", "p"), False),
    (u("jane"), req("create", "pods", "default"), False),
    (u("jane"), req("get", "secrets", "default", "s"), False),
    (u("jane"), req("list", "pods"), False),
    (u("jane"), req("get", "pods", "default", "p", group="apps"), False),
    # ClusterRole through a RoleBinding grants it in that namespace only ...
    (u("dave"), req("get", "secrets", "development", "s"), True),
    (u("dave"), req("get", "secrets", "default", "s"), False),
    (u("dave"), req("list", "secrets"), False),
    # ... and through a ClusterRoleBinding everywhere, cluster-wide lists included.
    (u("anyone", "manager"), req("get", "secrets", "default", "s"), True),
    (u("anyone", "manager"), req("list", "secrets"), True),
    # resourceNames restrict requests that name an object; create/list never match.
    (u("carol"), req("get", "configmaps", "default", "my-configmap"), True),
    (u("carol"), req("update", "configmaps", "default", "my-configmap"), True),
    (u("carol"), req("update", "configmaps", "default", "other"), False),
    (u("carol"), req("list", "configmaps", "default"), False),
    (u("carol"), req("create", "configmaps", "default"), False),
    # A list or watch narrowed by `metadata.name=` carries that name (see routing below).
    (u("carol"), req("list", "configmaps", "default", "my-configmap"), False),
    (u("dana"), req("list", "secrets", "default", "s1"), True),
    (u("dana"), req("watch", "secrets", "default", "s1"), True),
    (u("dana"), req("watch", "secrets", "default", "s2"), False),
    (u("dana"), req("list", "secrets", "default"), False),
    # Subresources are named explicitly, or with */subresource; pods/* matches nothing.
    (u("logan"), req("get", "pods", "default", "p", sub="log"), True),
    (u("logan"), req("get", "pods", "default", "p", sub="exec"), False),
    (u("sam"), req("update", "deployments", "default", "d", sub="scale", group="apps"), True),
    (u("sam"), req("update", "deployments", "default", "d", group="apps"), False),
    (u("sam"), req("get", "pods", "default", "p", sub="log"), False),
    # Non-resource URLs: exact and prefix*, only via ClusterRoleBindings.
    (u("p", "probers"), url("get", "/healthz"), True),
    (u("p", "probers"), url("post", "/healthz/ready"), True),
    (u("p", "probers"), url("get", "/healthzfoo"), False),
    (u("p", "probers"), url("get", "/metrics"), False),
    (u("p", "probers"), url("delete", "/healthz"), False),
    (u("nina"), url("get", "/healthz"), False),
    # Aggregated ClusterRoles collect the rules of labelled ClusterRoles.
    (u("mona"), req("list", "services", "default"), True),
    (u("mona"), req("watch", "endpointslices", "default"), True),
    (u("mona"), req("delete", "services", "default", "s"), False),
    # Wildcards in a Role stay inside its namespace.
    (u("o", "ops"), req("delete", "anything", "ops", "x", group="example.com"), True),
    (u("o", "ops"), req("delete", "anything", "prod", "x", group="example.com"), False),
    # ServiceAccount subjects default to the binding's namespace.
    (u("system:serviceaccount:dev:builder"), req("get", "secrets", "dev", "s"), True),
    (u("system:serviceaccount:ci:builder"), req("get", "secrets", "dev", "s"), False),
    (u("system:serviceaccount:ci:deployer"), req("get", "secrets", "dev", "s"), True),
    (u("system:serviceaccount:dev:deployer"), req("get", "secrets", "dev", "s"), False),
    (u("system:serviceaccount::lost"), req("get", "secrets", "dev", "s"), False),
    # Deny by default; system:masters is always allowed.
    (u("stranger"), req("get", "pods", "default", "p"), False),
    (u("root", "system:masters"), req("delete", "nodes", "", "n"), True),
]


@pytest.mark.parametrize(("who", "attrs", "allowed"), CASES)
def test_rbac_decisions_follow_the_documented_semantics(
        who: UserInfo, attrs: RequestAttributes, allowed: bool) -> None:
    assert AUTHZ.authorize(who, attrs).allowed is allowed


@pytest.mark.parametrize(("who", "attrs", "reason"), [
    (u("jane"), req("get", "pods", "default", "p"),
     'RBAC: allowed by RoleBinding "read-pods/default" of Role "pod-reader" to User "jane"'),
    (u("x", "manager"), req("list", "secrets"),
     'RBAC: allowed by ClusterRoleBinding "read-secrets-global" of ClusterRole "secret-reader" '
     'to Group "manager"'),
    (u("system:serviceaccount:dev:builder"), req("get", "secrets", "dev", "s"),
     'RBAC: allowed by RoleBinding "sa-local/dev" of Role "sa-reader" to ServiceAccount '
     '"builder/dev"'),
    (u("erin"), req("get", "pods", "default", "p"),
     'RBAC: [role.rbac.authorization.k8s.io "missing" not found, unsupported role reference '
     'kind: "Group"]'),
    (u("stranger"), req("get", "pods", "default", "p"), ""),
])
def test_decision_reasons(who: UserInfo, attrs: RequestAttributes, reason: str) -> None:
    assert AUTHZ.authorize(who, attrs).reason == reason


def test_aggregation_is_transitive_and_ignores_the_roles_own_rules() -> None:
    roles = [
        cluster_role("top", rule(["delete"], ["pods"]), aggregate={"to-top": "true"}),
        cluster_role("middle", aggregate={"to-middle": "true"}, labels={"to-top": "true"}),
        cluster_role("leaf", rule(["get"], ["pods"]), labels={"to-middle": "true"}),
    ]
    rules = aggregated_rules(roles)
    assert rules["top"] == [rule(["get"], ["pods"])]
    assert rules["middle"] == [rule(["get"], ["pods"])]


BOOT = Authorizer.from_objects(bootstrap_objects())
AUTHENTICATED = u("alice", "system:authenticated")
ANONYMOUS = u("system:anonymous", "system:unauthenticated")


@pytest.mark.parametrize(("who", "attrs", "allowed"), [
    (AUTHENTICATED, req("create", "selfsubjectaccessreviews", group="authorization.k8s.io"),
     True),
    (AUTHENTICATED, req("create", "selfsubjectrulesreviews", group="authorization.k8s.io"),
     True),
    (AUTHENTICATED, req("create", "subjectaccessreviews", group="authorization.k8s.io"), False),
    (AUTHENTICATED, url("get", "/apis/apps/v1"), True),
    (AUTHENTICATED, req("list", "pods", "default"), False),
    (ANONYMOUS, url("get", "/version"), True),
    (ANONYMOUS, url("get", "/healthz"), True),
    (ANONYMOUS, url("get", "/api"), False),
    (ANONYMOUS, req("create", "selfsubjectaccessreviews", group="authorization.k8s.io"), False),
])
def test_bootstrap_roles(who: UserInfo, attrs: RequestAttributes, allowed: bool) -> None:
    assert BOOT.authorize(who, attrs).allowed is allowed


@pytest.mark.parametrize(("role_name", "attrs", "allowed"), [
    ("cluster-admin", req("delete", "nodes", name="n"), True),
    ("cluster-admin", url("get", "/metrics"), True),
    ("view", req("list", "pods", "default"), True),
    ("view", req("get", "configmaps", "default", "c"), True),
    ("view", req("get", "secrets", "default", "s"), False),
    ("view", req("create", "configmaps", "default"), False),
    ("edit", req("create", "secrets", "default"), True),
    ("edit", req("watch", "deployments", "default", group="apps"), True),
    ("edit", req("create", "roles", "default", group="rbac.authorization.k8s.io"), False),
    ("admin", req("create", "roles", "default", group="rbac.authorization.k8s.io"), True),
    ("admin", req("delete", "secrets", "default", "s"), True),
    ("admin", req("delete", "nodes", name="n"), False),
])
def test_default_user_facing_roles(role_name: str, attrs: RequestAttributes,
                                   allowed: bool) -> None:
    objects = [*bootstrap_objects(),
               binding("b", "default", "ClusterRole", role_name, user("bob"))]
    if role_name == "cluster-admin":
        objects.append(binding("b", None, "ClusterRole", role_name, user("bob")))
    assert Authorizer.from_objects(objects).authorize(u("bob"), attrs).allowed is allowed


def test_bootstrap_binds_cluster_admin_to_system_masters() -> None:
    crb = next(o for o in bootstrap_objects()
               if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] == "cluster-admin")
    assert crb["subjects"] == [group("system:masters")]
    assert crb["roleRef"]["name"] == "cluster-admin"


def test_self_subject_access_review_uses_the_requesting_user() -> None:
    spec = {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}}
    assert subject_access_review(AUTHZ, spec, user=u("jane")) == {
        "allowed": True,
        "reason": 'RBAC: allowed by RoleBinding "read-pods/default" of Role "pod-reader" to '
                  'User "jane"'}
    assert subject_access_review(AUTHZ, spec, user=u("dave")) == {"allowed": False}


def test_subject_access_review_takes_the_user_from_the_spec() -> None:
    spec = {"user": "someone", "groups": ["probers"],
            "nonResourceAttributes": {"verb": "get", "path": "/healthz/live"}}
    assert subject_access_review(AUTHZ, spec)["allowed"] is True


@pytest.mark.parametrize(("spec", "field"), [
    ({"user": "x"}, "spec.resourceAttributes"),
    ({"user": "x", "resourceAttributes": {}, "nonResourceAttributes": {}},
     "spec.nonResourceAttributes"),
    ({"resourceAttributes": {"verb": "get"}}, "spec.user"),
])
def test_invalid_reviews_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ReviewError) as info:
        subject_access_review(AUTHZ, spec)
    assert info.value.field == field


@pytest.mark.parametrize(("method", "path", "query", "allowed"), [
    ("GET", "/api/v1/namespaces/default/secrets", {"fieldSelector": "metadata.name=s1"}, True),
    ("GET", "/api/v1/namespaces/default/secrets", {"fieldSelector": "metadata.name==s1"}, True),
    ("GET", "/api/v1/namespaces/default/secrets",
     {"fieldSelector": "metadata.name=s1", "watch": "true"}, True),
    ("GET", "/api/v1/namespaces/default/secrets",
     {"fieldSelector": "metadata.namespace=default,metadata.name=s1"}, True),
    ("GET", "/api/v1/namespaces/default/secrets/s1", {"watch": "true"}, True),
    ("GET", "/api/v1/namespaces/default/secrets", {"fieldSelector": "metadata.name=s2"}, False),
    ("GET", "/api/v1/namespaces/default/secrets", {"fieldSelector": "metadata.name!=s2"}, False),
    ("GET", "/api/v1/namespaces/default/secrets", {}, False),
    # the legacy /watch/ path and deletecollection never take a name from the selector
    ("GET", "/api/v1/watch/namespaces/default/secrets",
     {"fieldSelector": "metadata.name=s1"}, False),
    ("DELETE", "/api/v1/namespaces/default/secrets", {"fieldSelector": "metadata.name=s1"},
     False),
    ("GET", "/api/v1/namespaces/default/secrets", {"fieldSelector": "metadata.name=a/b"},
     False),
])
def test_a_name_field_selector_authorizes_lists_and_watches_of_that_object(
        method: str, path: str, query: dict[str, str], allowed: bool) -> None:
    attrs = route(method, path, query).attributes()
    assert AUTHZ.authorize(u("dana"), attrs).allowed is allowed


def test_covered_rules_leave_nothing_uncovered() -> None:
    owner = [rule(["get", "list"], ["secrets", "pods/*"]), rule(["*"], ["*/scale"], ["apps"]),
             rule(["get"], ["configmaps"], names=["a", "b"]),
             {"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]}]
    assert uncovered_rules(owner, [
        rule(["get"], ["secrets"], names=["x"]), rule(["update"], ["deployments/scale"], ["apps"]),
        rule(["get"], ["configmaps"], names=["b"]),
        {"verbs": ["get"], "nonResourceURLs": ["/healthz/ready"]}]) == []
    assert uncovered_rules(owner, [rule(["get"], ["configmaps"]),
                                   rule(["list", "delete"], ["secrets"]),
                                   rule(["get"], ["pods/log"])]) == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": []},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["delete"], "resourceNames": []},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"], "resourceNames": []},
    ]
    assert uncovered_rules(FULL_AUTHORITY, [rule(["*"], ["*"], ["*"])]) == []


def test_compact_strings_print_rules_as_go_does() -> None:
    assert compact_string({"apiGroups": [""], "resources": ["secrets"],
                           "resourceNames": ["a"], "verbs": ["get", "list"]}) == (
        '{APIGroups:[""], Resources:["secrets"], ResourceNames:["a"], Verbs:["get" "list"]}')
    assert compact_string({"nonResourceURLs": ["/x"], "verbs": ["get"]}) == (
        '{NonResourceURLs:["/x"], Verbs:["get"]}')


def test_escalation_names_the_missing_permissions_and_resolution_errors() -> None:
    assert escalation(AUTHZ, u("jane"), "default", [rule(["get"], ["pods"])]) is None
    assert escalation(AUTHZ, u("jane"), "kube-system", [rule(["get"], ["pods"])]) == (
        'user "jane" (groups=[]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["get"]}')
    assert escalation(AUTHZ, u("erin", "g"), "default", [rule(["get", "list"], ["pods"])]) == (
        'user "erin" (groups=["g"]) is attempting to grant RBAC permissions not currently '
        'held:\n{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}; resolution errors: '
        '[role.rbac.authorization.k8s.io "missing" not found unsupported role reference kind: '
        '"Group"]')


def test_aggregation_updates_fill_aggregated_roles_once() -> None:
    roles = [cluster_role("top", aggregate={"to-top": "true"}),
             cluster_role("leaf", rule(["get"], ["pods"]), labels={"to-top": "true"})]
    assert aggregation_updates(roles) == {"top": [rule(["get"], ["pods"])]}
    roles[0]["rules"] = [rule(["get"], ["pods"])]
    assert aggregation_updates(roles) == {}
    view = next(o for o in bootstrap_objects() if o["metadata"]["name"] == "view")
    assert view["rules"] == aggregated_rules(
        [o for o in bootstrap_objects() if o["kind"] == "ClusterRole"])["view"]
    assert view["rules"]
