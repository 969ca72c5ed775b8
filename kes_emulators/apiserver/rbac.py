"""The RBAC authorizer, with Kubernetes' rule matching, binding scopes and aggregation.

Roles and bindings are the plain dicts the server stores. An `Authorizer` is an
immutable index over one snapshot of them: build a new one whenever one changes
(building is linear in the number of objects).

Longer than most modules: rule matching, binding scopes, aggregation and the
escalation check are one authorizer and are tested as one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kes_emulators.apiserver.selectors import (
    SelectorError,
    aggregate_messages,
    go_quote,
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
    # A rule naming resources only covers requests that carry one of those names; create
    # and deletecollection carry none, list and watch only a `metadata.name=` field selector.
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

    def _bindings_of(self, user: UserInfo, namespace: str
                     ) -> Iterator[tuple[str, Obj, Obj]]:
        """(binding namespace, binding, matching subject) for every binding naming `user`:
        the ClusterRoleBindings, then the RoleBindings of `namespace` if one is given."""
        scopes: list[tuple[str, Sequence[Obj]]] = [("", self._cluster_bindings)]
        if namespace:
            scopes.append((namespace, self._bindings_by_namespace.get(namespace, [])))
        for scope, bindings in scopes:
            for binding in bindings:
                subject = next((s for s in binding.get("subjects") or ()
                                if _subject_applies(user, s, scope)), None)
                if subject is not None:
                    yield scope, binding, subject

    def authorize(self, user: UserInfo, attrs: RequestAttributes) -> Decision:
        if PRIVILEGED_GROUP in user.groups:
            return Decision(True, "")
        errors: list[str] = []
        for namespace, binding, subject in self._bindings_of(user, attrs.namespace):
            ref = binding.get("roleRef") or {}
            ref_kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
            try:
                rules = self.rules(ref_kind, ref_name, namespace)
            except RoleRefError as exc:
                errors.append(str(exc))
                continue
            if any(rule_allows(attrs, rule) for rule in rules):
                binding_kind = "RoleBinding" if namespace else "ClusterRoleBinding"
                name = str(_metadata(binding).get("name", ""))
                if namespace:
                    name = f"{name}/{namespace}"
                return Decision(True, f'RBAC: allowed by {binding_kind} "{name}" of '
                                      f'{ref_kind} "{ref_name}" to '
                                      f"{_describe_subject(subject, namespace)}")
        return Decision(False, f"RBAC: {aggregate_messages(errors)}" if errors else "")

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Every rule bound to `user` cluster-wide and in `namespace` (the rule resolver's
        RulesFor), and the errors of bindings whose role cannot be found."""
        rules: list[dict[str, Any]] = []
        errors: list[str] = []
        for scope, binding, _ in self._bindings_of(user, namespace):
            ref = binding.get("roleRef") or {}
            try:
                rules += self.rules(str(ref.get("kind", "")), str(ref.get("name", "")), scope)
            except RoleRefError as exc:
                errors.append(str(exc))
        return rules, errors


# --- privilege-escalation prevention (the RBAC registry's ConfirmNoEscalation) ---

FULL_AUTHORITY: list[dict[str, Any]] = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
]


def _breakdown(rule: Obj) -> list[dict[str, list[str]]]:
    """A rule as single-verb, single-resource, single-name rules (BreakdownRule)."""
    verbs = _strings(rule, "verbs")
    names: list[list[str]] = [[n] for n in _strings(rule, "resourceNames")] or [[]]
    subrules: list[dict[str, list[str]]] = [
        {"apiGroups": [group], "resources": [resource], "verbs": [verb], "resourceNames": name}
        for group in _strings(rule, "apiGroups") for resource in _strings(rule, "resources")
        for verb in verbs for name in names
    ]
    subrules += [{"nonResourceURLs": [url], "verbs": [verb]}
                 for url in _strings(rule, "nonResourceURLs") for verb in verbs]
    return subrules


def _covers_all(owned: list[str], wanted: list[str]) -> bool:
    return all(w in owned for w in wanted)


def _resources_cover(owned: list[str], wanted: list[str]) -> bool:
    if "*" in owned or _covers_all(owned, wanted):
        return True
    return all(
        w in owned or ("/" in w and f"*/{w.split('/', 1)[1]}" in owned) for w in wanted)


def _url_covers(owned: str, wanted: str) -> bool:
    return owned == wanted or (owned.endswith("*") and wanted.startswith(owned.rstrip("*")))


def _rule_covers(owner: Obj, sub: Mapping[str, list[str]]) -> bool:
    owner_names = _strings(owner, "resourceNames")
    sub_names = sub.get("resourceNames") or []
    return (
        ("*" in _strings(owner, "verbs") or _covers_all(_strings(owner, "verbs"), sub["verbs"]))
        and ("*" in _strings(owner, "apiGroups")
             or _covers_all(_strings(owner, "apiGroups"), sub.get("apiGroups") or []))
        and _resources_cover(_strings(owner, "resources"), sub.get("resources") or [])
        and all(any(_url_covers(o, w) for o in _strings(owner, "nonResourceURLs"))
                for w in sub.get("nonResourceURLs") or [])
        and (not owner_names if not sub_names else
             not owner_names or _covers_all(owner_names, sub_names))
    )


def uncovered_rules(owner_rules: Sequence[Obj], rules: Sequence[Obj]
                    ) -> list[dict[str, list[str]]]:
    """The pieces of `rules` that no rule of `owner_rules` covers (rbac's Covers)."""
    return [sub for rule in rules for sub in _breakdown(rule)
            if not any(_rule_covers(owner, sub) for owner in owner_rules)]


def _compact(rules: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
    """Merge the verbs of pieces on the same group, resource and name (CompactRules)."""
    merged: dict[tuple[str, str, tuple[str, ...]], dict[str, list[str]]] = {}
    compacted: list[dict[str, list[str]]] = []
    for rule in rules:
        if rule.get("nonResourceURLs"):
            compacted.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0], tuple(rule["resourceNames"]))
        if key in merged:
            merged[key]["verbs"] += [v for v in rule["verbs"] if v not in merged[key]["verbs"]]
        else:
            merged[key] = {k: list(v) for k, v in rule.items()}
    return compacted + list(merged.values())


def _go_strings(values: Sequence[str]) -> str:
    return "[" + " ".join(go_quote(v) for v in values) + "]"


def compact_string(rule: Mapping[str, Sequence[str]]) -> str:
    """A rule as escalation errors print it: `{APIGroups:[""], Resources:["secrets"], ...}`."""
    parts = [f"{label}:{_go_strings(rule[field])}" for label, field in (
        ("APIGroups", "apiGroups"), ("Resources", "resources"),
        ("NonResourceURLs", "nonResourceURLs"), ("ResourceNames", "resourceNames"),
        ("Verbs", "verbs")) if rule.get(field)]
    return "{" + ", ".join(parts) + "}"


def escalation(authorizer: Authorizer, user: UserInfo, namespace: str,
               rules: Sequence[Obj]) -> str | None:
    """Why `user` may not grant `rules` in `namespace` ("" = cluster-wide), or None when
    every one of them is already held (ConfirmNoEscalation)."""
    owned, errors = authorizer.rules_for(user, namespace)
    missing = uncovered_rules(owned, rules)
    if not missing:
        return None
    described = sorted({compact_string(rule) for rule in _compact(missing)})
    message = (f"user {go_quote(user.name)} (groups={_go_strings(user.groups)}) is attempting "
               f"to grant RBAC permissions not currently held:\n" + "\n".join(described))
    if errors:
        message += f"; resolution errors: [{' '.join(errors)}]"
    return message


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


def aggregation_updates(cluster_roles: Iterable[Obj]) -> dict[str, list[dict[str, Any]]]:
    """What the clusterrole-aggregation controller writes: by name, the rules of every
    ClusterRole with an `aggregationRule` whose stored rules are not yet the union of the
    ClusterRoles it selects."""
    roles = list(cluster_roles)
    resolved = aggregated_rules(roles)
    updates = {}
    for role in roles:
        name = str(_metadata(role).get("name", ""))
        if role.get("aggregationRule") and list(role.get("rules") or []) != resolved[name]:
            updates[name] = resolved[name]
    return updates


def bootstrap_objects() -> list[dict[str, Any]]:
    """The ClusterRoles and ClusterRoleBindings a new cluster starts with that matter to
    kes: cluster-admin, discovery, basic-user, public-info-viewer, and admin/edit/view with
    their aggregated rules filled in."""
    objects = _bootstrap_objects()
    updates = aggregation_updates(o for o in objects if o["kind"] == "ClusterRole")
    for obj in objects:
        if obj["kind"] == "ClusterRole" and obj["metadata"]["name"] in updates:
            obj["rules"] = updates[obj["metadata"]["name"]]
    return objects


def _bootstrap_objects() -> list[dict[str, Any]]:
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
