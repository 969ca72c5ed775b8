"""The RBAC authorizer, with Kubernetes' rule matching, binding scopes and aggregation.

Roles and bindings are the plain dicts the server stores. An `Authorizer` is an
immutable index over one snapshot of them: build a new one whenever one changes
(building is linear in the number of objects).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kes.testing.apiserver.selectors import (
    SelectorError,
    aggregate_messages,
    label_selector_from_match,
)

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_VERSION = f"{RBAC_GROUP}/v1"
PRIVILEGED_GROUP = "system:masters"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestAttributes:
    """What a request does, as the API server's RequestInfo resolves it."""

    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""
    resource_request: bool = True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def _strings(rule: Obj, field: str) -> list[str]:
    return [str(v) for v in rule.get(field) or ()]


def rule_allows(attrs: RequestAttributes, rule: Obj) -> bool:
    """Whether one PolicyRule covers the request (rbac's RuleAllows)."""
    verbs = _strings(rule, "verbs")
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if not attrs.resource_request:
        return any(
            url == "*" or url == attrs.path
            or (url.endswith("*") and attrs.path.startswith(url[:-1]))
            for url in _strings(rule, "nonResourceURLs")
        )
    groups = _strings(rule, "apiGroups")
    if "*" not in groups and attrs.api_group not in groups:
        return False
    combined = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    if not any(
        resource in ("*", combined)
        or (attrs.subresource and resource == f"*/{attrs.subresource}")
        for resource in _strings(rule, "resources")
    ):
        return False
    names = _strings(rule, "resourceNames")
    # A rule naming resources only covers requests that carry one of those names;
    # create, list, watch and deletecollection carry none.
    return not names or attrs.name in names


def _subject_applies(user: UserInfo, subject: Obj, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"
    return False


def _describe_subject(subject: Obj, binding_namespace: str) -> str:
    name = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or binding_namespace}"
    return f'{subject.get("kind")} "{name}"'


def _metadata(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def aggregated_rules(cluster_roles: Iterable[Obj]) -> dict[str, list[dict[str, Any]]]:
    """Every ClusterRole's effective rules by name, with `aggregationRule` resolved as the
    clusterrole-aggregation controller does (union of the selected roles, by name)."""
    by_name = {str(_metadata(r).get("name", "")): r for r in cluster_roles}
    resolved: dict[str, list[dict[str, Any]]] = {}

    def rules_of(name: str, visiting: frozenset[str]) -> list[dict[str, Any]]:
        if name in resolved:
            return resolved[name]
        role = by_name[name]
        aggregation = role.get("aggregationRule")
        if not aggregation:
            rules = [dict(r) for r in role.get("rules") or ()]
        else:
            rules = []
            selectors = []
            for term in aggregation.get("clusterRoleSelectors") or ():
                try:
                    selectors.append(label_selector_from_match(
                        term.get("matchLabels"), term.get("matchExpressions")))
                except SelectorError:
                    continue
            for other in sorted(by_name):
                if other == name or other in visiting:
                    continue
                labels = _metadata(by_name[other]).get("labels") or {}
                if any(s.matches(labels) for s in selectors):
                    for rule in rules_of(other, visiting | {name}):
                        if rule not in rules:
                            rules.append(rule)
        if not visiting:
            resolved[name] = rules
        return rules

    return {name: rules_of(name, frozenset()) for name in by_name}


class RoleRefError(LookupError):
    """A binding's roleRef that resolves to no role; reported in the denial reason."""


class Authorizer:
    """Decides requests against one snapshot of Roles, ClusterRoles and their bindings."""

    def __init__(self, roles: Iterable[Obj], cluster_roles: Iterable[Obj],
                 role_bindings: Iterable[Obj], cluster_role_bindings: Iterable[Obj]) -> None:
        self._roles = {
            (str(_metadata(r).get("namespace", "")), str(_metadata(r).get("name", ""))):
                [dict(rule) for rule in r.get("rules") or ()]
            for r in roles
        }
        self._cluster_roles = aggregated_rules(cluster_roles)
        self._cluster_bindings = sorted(cluster_role_bindings,
                                        key=lambda b: str(_metadata(b).get("name", "")))
        self._bindings_by_namespace: dict[str, list[Obj]] = {}
        for binding in sorted(role_bindings, key=lambda b: str(_metadata(b).get("name", ""))):
            namespace = str(_metadata(binding).get("namespace", ""))
            self._bindings_by_namespace.setdefault(namespace, []).append(binding)

    @classmethod
    def from_objects(cls, objects: Iterable[Obj]) -> Authorizer:
        """Build from a mixed list of RBAC objects (e.g. `bootstrap_objects()` plus more)."""
        by_kind: dict[str, list[Obj]] = {
            "Role": [], "ClusterRole": [], "RoleBinding": [], "ClusterRoleBinding": []}
        for obj in objects:
            if obj.get("kind") in by_kind:
                by_kind[str(obj["kind"])].append(obj)
        return cls(by_kind["Role"], by_kind["ClusterRole"], by_kind["RoleBinding"],
                   by_kind["ClusterRoleBinding"])

    def rules(self, kind: str, name: str, namespace: str) -> list[dict[str, Any]]:
        """The rules a roleRef points at; RoleRefError when they cannot be found."""
        if kind == "ClusterRole":
            rules = self._cluster_roles.get(name)
        elif kind == "Role":
            rules = self._roles.get((namespace, name))
        else:
            raise RoleRefError(f'unsupported role reference kind: "{kind}"')
        if rules is None:
            raise RoleRefError(f'{kind.lower()}.{RBAC_GROUP} "{name}" not found')
        return rules

    def authorize(self, user: UserInfo, attrs: RequestAttributes) -> Decision:
        if PRIVILEGED_GROUP in user.groups:
            return Decision(True, "")
        errors: list[str] = []
        scopes: list[tuple[str, Sequence[Obj]]] = [("", self._cluster_bindings)]
        if attrs.namespace:
            scopes.append((attrs.namespace, self._bindings_by_namespace.get(attrs.namespace, [])))
        for namespace, bindings in scopes:
            binding_kind = "RoleBinding" if namespace else "ClusterRoleBinding"
            for binding in bindings:
                subject = next((s for s in binding.get("subjects") or ()
                                if _subject_applies(user, s, namespace)), None)
                if subject is None:
                    continue
                ref = binding.get("roleRef") or {}
                ref_kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
                try:
                    rules = self.rules(ref_kind, ref_name, namespace)
                except RoleRefError as exc:
                    errors.append(str(exc))
                    continue
                if any(rule_allows(attrs, rule) for rule in rules):
                    name = str(_metadata(binding).get("name", ""))
                    if namespace:
                        name = f"{name}/{namespace}"
                    return Decision(True, f'RBAC: allowed by {binding_kind} "{name}" of '
                                          f'{ref_kind} "{ref_name}" to '
                                          f"{_describe_subject(subject, namespace)}")
        return Decision(False, f"RBAC: {aggregate_messages(errors)}" if errors else "")


class ReviewError(ValueError):
    """A SubjectAccessReview spec the server rejects as invalid (422); names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def subject_access_review(authorizer: Authorizer, spec: Mapping[str, Any],
                          user: UserInfo | None = None) -> dict[str, Any]:
    """The `status` of a (Self)SubjectAccessReview. For a SelfSubjectAccessReview pass the
    requesting `user`; otherwise it comes from `spec.user` and `spec.groups`."""
    attrs = _review_attributes(spec)
    if user is None:
        if not spec.get("user") and not spec.get("groups"):
            raise ReviewError("spec.user", 'Invalid value: "": at least one of user or group '
                                           "must be specified")
        user = UserInfo(str(spec.get("user") or ""),
                        tuple(str(g) for g in spec.get("groups") or ()))
    decision = authorizer.authorize(user, attrs)
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _review_attributes(spec: Mapping[str, Any]) -> RequestAttributes:
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if resource is not None and non_resource is not None:
        raise ReviewError("spec.nonResourceAttributes",
                          "Invalid value: cannot be specified in combination with "
                          "resourceAttributes")
    if resource is not None:
        return RequestAttributes(
            verb=str(resource.get("verb", "")), api_group=str(resource.get("group", "")),
            resource=str(resource.get("resource", "")),
            subresource=str(resource.get("subresource", "")),
            name=str(resource.get("name", "")), namespace=str(resource.get("namespace", "")),
            resource_request=True)
    if non_resource is not None:
        return RequestAttributes(verb=str(non_resource.get("verb", "")),
                                 path=str(non_resource.get("path", "")), resource_request=False)
    raise ReviewError("spec.resourceAttributes",
                      'Invalid value: "null": exactly one of nonResourceAttributes or '
                      "resourceAttributes must be specified")


# --- the default roles and bindings of a new cluster (bootstrappolicy) ---

_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"


def _rule(verbs: Sequence[str], groups: Sequence[str], resources: Sequence[str]) -> dict[str, Any]:
    return {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}


def _url_rule(verbs: Sequence[str], urls: Sequence[str]) -> dict[str, Any]:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def _cluster_role(name: str, rules: list[dict[str, Any]], *,
                  labels: Mapping[str, str] | None = None,
                  aggregate: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {**_BOOTSTRAP_LABELS, **(labels or {})},
                                "annotations": dict(_AUTOUPDATE)}
    role: dict[str, Any] = {"apiVersion": RBAC_VERSION, "kind": "ClusterRole",
                            "metadata": metadata, "rules": rules}
    if aggregate:
        role["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": {f"{_AGGREGATE_TO}{aggregate}": "true"}}]}
    return role


def _cluster_role_binding(name: str, role: str, groups: Sequence[str]) -> dict[str, Any]:
    return {
        "apiVersion": RBAC_VERSION, "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": dict(_BOOTSTRAP_LABELS),
                     "annotations": dict(_AUTOUPDATE)},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups],
    }


_VIEW_RULES = [
    _rule(_READ, [""], ["pods", "replicationcontrollers", "replicationcontrollers/scale",
                        "serviceaccounts", "services", "services/status", "endpoints",
                        "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps"]),
    _rule(_READ, [""], ["limitranges", "resourcequotas", "bindings", "events", "pods/status",
                        "resourcequotas/status", "namespaces/status",
                        "replicationcontrollers/status", "pods/log"]),
    _rule(_READ, [""], ["namespaces"]),
    _rule(_READ, ["discovery.k8s.io"], ["endpointslices"]),
    _rule(_READ, ["apps"], ["controllerrevisions", "statefulsets", "statefulsets/scale",
                            "statefulsets/status", "daemonsets", "daemonsets/status",
                            "deployments", "deployments/scale", "deployments/status",
                            "replicasets", "replicasets/scale", "replicasets/status"]),
    _rule(_READ, ["autoscaling"], ["horizontalpodautoscalers",
                                   "horizontalpodautoscalers/status"]),
    _rule(_READ, ["batch"], ["jobs", "cronjobs", "cronjobs/status", "jobs/status"]),
    _rule(_READ, ["extensions"], ["daemonsets", "daemonsets/status", "deployments",
                                  "deployments/scale", "deployments/status", "ingresses",
                                  "ingresses/status", "replicasets", "replicasets/scale",
                                  "replicasets/status", "replicationcontrollers/scale",
                                  "networkpolicies"]),
    _rule(_READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    _rule(_READ, ["networking.k8s.io"], ["networkpolicies", "ingresses", "ingresses/status"]),
]

_EDIT_RULES = [
    _rule(_READ, [""], ["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets",
                        "services/proxy"]),
    _rule(["impersonate"], [""], ["serviceaccounts"]),
    _rule(_WRITE, [""], ["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
    _rule(["create"], [""], ["pods/eviction"]),
    _rule(_WRITE, [""], ["replicationcontrollers", "replicationcontrollers/scale",
                         "serviceaccounts", "services", "services/proxy",
                         "persistentvolumeclaims", "configmaps", "secrets"]),
    _rule(["create"], [""], ["serviceaccounts/token"]),
    _rule(_WRITE, ["apps"], ["statefulsets", "statefulsets/scale", "daemonsets", "deployments",
                             "deployments/scale", "deployments/rollback", "replicasets",
                             "replicasets/scale"]),
    _rule(_WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
    _rule(_WRITE, ["batch"], ["jobs", "cronjobs"]),
    _rule(_WRITE, ["extensions"], ["daemonsets", "deployments", "deployments/scale",
                                   "deployments/rollback", "ingresses", "replicasets",
                                   "replicasets/scale", "replicationcontrollers/scale",
                                   "networkpolicies"]),
    _rule(_WRITE, ["policy"], ["poddisruptionbudgets"]),
    _rule(_WRITE, ["networking.k8s.io"], ["networkpolicies", "ingresses"]),
]

_ADMIN_RULES = [
    _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
    _rule(_READ + _WRITE, [RBAC_GROUP], ["rolebindings", "roles"]),
]


def bootstrap_objects() -> list[dict[str, Any]]:
    """The ClusterRoles and ClusterRoleBindings a new cluster starts with that matter to
    kes: cluster-admin, discovery, basic-user, public-info-viewer, admin/edit/view."""
    return [
        _cluster_role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _url_rule(["*"], ["*"])]),
        _cluster_role("system:discovery", [_url_rule(["get"], [
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
            "/openapi/*", "/readyz", "/version", "/version/"])]),
        _cluster_role("system:basic-user", [
            _rule(["create"], ["authorization.k8s.io"],
                  ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        ]),
        _cluster_role("system:public-info-viewer", [_url_rule(["get"], [
            "/healthz", "/livez", "/readyz", "/version", "/version/"])]),
        _cluster_role("admin", [], aggregate="admin"),
        _cluster_role("edit", [], aggregate="edit", labels={f"{_AGGREGATE_TO}admin": "true"}),
        _cluster_role("view", [], aggregate="view", labels={f"{_AGGREGATE_TO}edit": "true"}),
        _cluster_role("system:aggregate-to-admin", _ADMIN_RULES,
                      labels={f"{_AGGREGATE_TO}admin": "true"}),
        _cluster_role("system:aggregate-to-edit", _EDIT_RULES,
                      labels={f"{_AGGREGATE_TO}edit": "true"}),
        _cluster_role("system:aggregate-to-view", _VIEW_RULES,
                      labels={f"{_AGGREGATE_TO}view": "true"}),
        _cluster_role_binding("cluster-admin", "cluster-admin", ["system:masters"]),
        _cluster_role_binding("system:discovery", "system:discovery", ["system:authenticated"]),
        _cluster_role_binding("system:basic-user", "system:basic-user",
                              ["system:authenticated"]),
        _cluster_role_binding("system:public-info-viewer", "system:public-info-viewer",
                              ["system:authenticated", "system:unauthenticated"]),
    ]
