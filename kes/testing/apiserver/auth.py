"""Who is calling (bearer tokens) and whether they may (RBAC through `rbac.py`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from kes.testing.apiserver import rbac
from kes.testing.apiserver.errors import ApiError, qualified
from kes.testing.apiserver.rbac import RequestAttributes, UserInfo
from kes.testing.apiserver.store import Event, Store

_SA_PREFIX = "system:serviceaccount:"
ADMIN = UserInfo(name="kes-admin", groups=("system:masters", "system:authenticated"))
ANONYMOUS = UserInfo(name="system:anonymous", groups=("system:unauthenticated",))
RBAC_KEYS = {("rbac.authorization.k8s.io", plural)
             for plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")}


def service_account_user(namespace: str, name: str) -> UserInfo:
    return UserInfo(
        name=f"{_SA_PREFIX}{namespace}:{name}",
        groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                "system:authenticated"),
    )


class Identities:
    """Bearer tokens and the users they stand for."""

    def __init__(self) -> None:
        self.admin_token = secrets.token_urlsafe(24)
        self._users = {self.admin_token: ADMIN}

    def add(self, user: UserInfo) -> str:
        token = secrets.token_urlsafe(24)
        self._users[token] = user
        return token

    def authenticate(self, authorization: str | None) -> UserInfo:
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        user = self._users.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise ApiError(401, "Unauthorized")
        return user


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

    def impersonate(self, user: UserInfo, name: str, groups: Sequence[str]) -> UserInfo:
        """Act as `name` (kubectl `--as`, `--as-group`) once `user` may impersonate it and
        each group, as the real impersonation filter checks."""
        if not name:
            raise ApiError(400, "requested impersonation of groups without a user "
                                "(Impersonate-Group needs Impersonate-User)")
        namespace, _, account = name.removeprefix(_SA_PREFIX).partition(":")
        if name.startswith(_SA_PREFIX) and account:
            self.check(user, RequestAttributes(verb="impersonate", resource="serviceaccounts",
                                               namespace=namespace, name=account))
            implied = service_account_user(namespace, account).groups
        else:
            self.check(user, RequestAttributes(verb="impersonate", resource="users", name=name))
            implied = () if name == ANONYMOUS.name else ("system:authenticated",)
        for group in groups:
            self.check(user, RequestAttributes(verb="impersonate", resource="groups",
                                               name=group))
        return UserInfo(name=name, groups=tuple(dict.fromkeys([*groups, *implied])))

    def check(self, user: UserInfo, attrs: RequestAttributes) -> None:
        if self.enabled and not self.authorizer().authorize(user, attrs).allowed:
            raise forbidden(user, attrs)


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

