"""Who is calling (bearer tokens) and whether they may (RBAC through `rbac.py`)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from kes_emulators.apiserver import rbac
from kes_emulators.apiserver.errors import ApiError, qualified
from kes_emulators.apiserver.rbac import RBAC_GROUP, RequestAttributes, UserInfo
from kes_emulators.apiserver.response_warnings import warn
from kes_emulators.apiserver.store import Event, Store

_SA_PREFIX = "system:serviceaccount:"
ADMIN = UserInfo(name="kes-admin", groups=("system:masters", "system:authenticated"))
ANONYMOUS = UserInfo(name="system:anonymous", groups=("system:unauthenticated",))
RBAC_KEYS = {(RBAC_GROUP, plural)
             for plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")}
_SERVICE_ACCOUNTS = ("", "serviceaccounts")


def service_account_user(namespace: str, name: str) -> UserInfo:
    return UserInfo(
        name=f"{_SA_PREFIX}{namespace}:{name}",
        groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                "system:authenticated"),
    )


@dataclass(frozen=True)
class _Credential:
    user: UserInfo
    account_uid: str = ""  # a service account token is bound to that account's uid


class Identities:
    """Bearer tokens and the users they stand for.

    A service account's token is bound to the account (by uid) as it was when the token
    was issued: once that account is deleted, or replaced by a new one of the same name,
    the token no longer authenticates, as with the real server's bound tokens.
    """

    def __init__(self, store: Store) -> None:
        self.admin_token = secrets.token_urlsafe(24)
        self._store = store
        self._credentials = {self.admin_token: _Credential(ADMIN)}

    def add(self, user: UserInfo) -> str:
        token = secrets.token_urlsafe(24)
        self._credentials[token] = _Credential(user, self._account_uid(user))
        return token

    def _account_uid(self, user: UserInfo) -> str:
        namespace, _, name = user.name.removeprefix(_SA_PREFIX).partition(":")
        if not user.name.startswith(_SA_PREFIX) or not name:
            return ""
        account = self._store.get(_SERVICE_ACCOUNTS, namespace, name)
        return "" if account is None else str(account["metadata"]["uid"])

    def authenticate(self, authorization: str | None) -> UserInfo:
        """The user a request's `Authorization` header stands for, parsed exactly as the
        real bearer-token authenticator does: `Bearer <token>`, split on single spaces.
        A header it does not take (another scheme, an empty token) leaves the request
        anonymous; a token it does not know is 401."""
        parts = (authorization or "").strip().split(" ")
        if len(parts) < 2 or parts[0].lower() != "bearer":
            return ANONYMOUS
        token = parts[1]
        if not token:
            if len(parts) == 3:
                warn("the provided Authorization header contains extra space before the "
                     "bearer token, and is ignored")
            return ANONYMOUS
        credential = self._credentials.get(token)
        if credential is None or (
                credential.account_uid
                and self._account_uid(credential.user) != credential.account_uid):
            raise ApiError(401, "Unauthorized")
        return credential.user


class Authorization:
    """RBAC over the stored roles and bindings; rebuilt only when one of them changes."""

    def __init__(self, store: Store, enabled: bool) -> None:
        self.enabled = enabled
        self._store = store
        self._authorizer: rbac.Authorizer | None = None
        store.listeners.append(self._invalidate)

    def _invalidate(self, event: Event) -> None:
        if event.key in RBAC_KEYS:
            self._authorizer = None

    def authorizer(self) -> rbac.Authorizer:
        """RBAC over the stored objects, or one allowing everything when RBAC is off."""
        if not self.enabled:
            return _ALLOW_ALL
        if self._authorizer is None:
            def objects(plural: str) -> list[dict[str, Any]]:
                return list(self._store.items(("rbac.authorization.k8s.io", plural), None))

            self._authorizer = rbac.Authorizer(
                objects("roles"), objects("clusterroles"), objects("rolebindings"),
                objects("clusterrolebindings"))
        return self._authorizer

    def check(self, user: UserInfo, attrs: RequestAttributes) -> None:
        """Authorize a request (403 when RBAC denies it) and remember who made it for the
        rest of its task, for the checks storage makes (`confirm_rbac_write`)."""
        _REQUESTER.set(_Requester(user, attrs, self))
        self._authorize(user, attrs)

    def _authorize(self, user: UserInfo, attrs: RequestAttributes) -> None:
        if self.enabled and not self.authorizer().authorize(user, attrs).allowed:
            raise forbidden(user, attrs)

    def impersonate(self, user: UserInfo, name: str, groups: Sequence[str]) -> UserInfo:
        """Act as `name` (kubectl `--as`, `--as-group`) once `user` may impersonate it and
        each group, as the real impersonation filter checks."""
        if not name:
            raise ApiError(400, "requested impersonation of groups without a user "
                                "(Impersonate-Group needs Impersonate-User)")
        namespace, _, account = name.removeprefix(_SA_PREFIX).partition(":")
        if name.startswith(_SA_PREFIX) and account:
            self._authorize(user, RequestAttributes(
                verb="impersonate", resource="serviceaccounts", namespace=namespace,
                name=account))
            implied = service_account_user(namespace, account).groups
        else:
            self._authorize(user, RequestAttributes(verb="impersonate", resource="users",
                                                    name=name))
            implied = () if name == ANONYMOUS.name else ("system:authenticated",)
        for group in groups:
            self._authorize(user, RequestAttributes(verb="impersonate", resource="groups",
                                                    name=group))
        return UserInfo(name=name, groups=tuple(dict.fromkeys([*groups, *implied])))


class _AllowAll(rbac.Authorizer):
    def __init__(self) -> None:
        super().__init__([], [], [], [])

    def authorize(self, user: UserInfo, attrs: RequestAttributes) -> rbac.Decision:
        return rbac.Decision(True, "")


_ALLOW_ALL = _AllowAll()


def forbidden(user: UserInfo, attrs: RequestAttributes) -> ApiError:
    """403 in the real server's words, naming user, verb, resource and scope."""
    if not attrs.resource_request:
        return ApiError(403, f'forbidden: User "{user.name}" cannot {attrs.verb} path '
                             f'"{attrs.path}"', details={})
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    scope = (f'in the namespace "{attrs.namespace}"' if attrs.namespace
             else "at the cluster scope")
    what = qualified(attrs.resource, attrs.api_group)
    subject = f'{what} "{attrs.name}"' if attrs.name else what
    details: dict[str, str] = {"kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.api_group:
        details["group"] = attrs.api_group
    return ApiError(403, f'{subject} is forbidden: User "{user.name}" cannot {attrs.verb} '
                         f'resource "{resource}" in API group "{attrs.api_group}" {scope}',
                    details=details)


@dataclass(frozen=True)
class _Requester:
    user: UserInfo
    attrs: RequestAttributes
    authorization: Authorization


# Who is making the request the current task serves; None for the server's own
# controllers and seeding, which act with full authority.
_REQUESTER: ContextVar[_Requester | None] = ContextVar("kes_apiserver_requester", default=None)


def requested_verb() -> str:
    """The verb of the request being served ("" inside the server's own work)."""
    requester = _REQUESTER.get()
    return "" if requester is None else requester.attrs.verb


def _only_gc_fields_change(obj: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    meta = dict(obj["metadata"])
    for key in ("ownerReferences", "finalizers", "selfLink", "managedFields"):
        if key in old["metadata"]:
            meta[key] = old["metadata"][key]
        else:
            meta.pop(key, None)
    return dict(obj, metadata=meta) == old


def confirm_rbac_write(plural: str, obj: Mapping[str, Any], old: Mapping[str, Any] | None
                       ) -> None:
    """Privilege-escalation prevention on a Role, ClusterRole or binding write, as the RBAC
    registry does it when RBAC is on: the requester must already hold every permission the
    object grants, or have `escalate` on the role (`bind` on a binding's role)."""
    requester = _REQUESTER.get()
    if requester is None or not requester.authorization.enabled:
        return
    user, attrs = requester.user, requester.attrs
    if rbac.PRIVILEGED_GROUP in user.groups or (
            old is not None and _only_gc_fields_change(obj, old)):
        return
    authorizer = requester.authorization.authorizer()
    name = str(obj["metadata"].get("name", ""))

    def deny(why: str) -> ApiError:
        return ApiError(403, f'{qualified(plural, RBAC_GROUP)} "{name}" is forbidden: {why}',
                        details={"name": name, "group": RBAC_GROUP, "kind": plural})

    if plural in ("roles", "clusterroles"):
        if authorizer.authorize(user, RequestAttributes(
                verb="escalate", api_group=RBAC_GROUP, resource=plural, name=attrs.name,
                namespace=attrs.namespace)).allowed:
            return
        why = rbac.escalation(authorizer, user, attrs.namespace, obj.get("rules") or [])
        if why:
            raise deny(why)
        if plural == "clusterroles" and (obj.get("aggregationRule") or (
                old is not None and old.get("aggregationRule"))) and rbac.escalation(
                    authorizer, user, "", rbac.FULL_AUTHORITY):
            raise deny("must have cluster-admin privileges to use the aggregationRule")
        return
    ref = obj.get("roleRef") or {}
    kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
    if kind in ("Role", "ClusterRole") and authorizer.authorize(user, RequestAttributes(
            verb="bind", api_group=str(ref.get("apiGroup", "")), resource=f"{kind.lower()}s",
            name=ref_name, namespace=attrs.namespace)).allowed:
        return
    try:
        rules = authorizer.rules(kind, ref_name, attrs.namespace)
    except rbac.RoleRefError as exc:
        raise deny(f'{qualified(kind.lower() + "s", RBAC_GROUP)} "{ref_name}" not found'
                   if kind in ("Role", "ClusterRole") else str(exc)) from exc
    why = rbac.escalation(authorizer, user, attrs.namespace, rules)
    if why:
        raise deny(why)
