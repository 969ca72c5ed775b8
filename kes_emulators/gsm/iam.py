"""Who may do what: bearer tokens to principals, role bindings, GCP's permission sets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import grpc

from kes_emulators.gsm.rpc import RpcError

_VERSIONS = "secretmanager.versions."
_SECRETS = "secretmanager.secrets."
_LOCATIONS = ("secretmanager.locations.get", "secretmanager.locations.list")

ROLES: dict[str, frozenset[str]] = {
    "roles/secretmanager.secretAccessor": frozenset({_VERSIONS + "access"}),
    "roles/secretmanager.secretVersionAdder": frozenset({_VERSIONS + "add"}),
    "roles/secretmanager.secretVersionManager": frozenset(
        _VERSIONS + verb for verb in ("add", "enable", "disable", "destroy", "get", "list")
    ),
    "roles/secretmanager.viewer": frozenset(
        {
            _SECRETS + "get", _SECRETS + "getIamPolicy", _SECRETS + "list",
            _VERSIONS + "get", _VERSIONS + "list", *_LOCATIONS,
        }
    ),
    "roles/secretmanager.admin": frozenset(
        {
            *(_SECRETS + verb for verb in (
                "create", "delete", "get", "getIamPolicy", "list", "setIamPolicy", "update",
            )),
            *(_VERSIONS + verb for verb in (
                "access", "add", "destroy", "disable", "enable", "get", "list",
            )),
            *_LOCATIONS,
        }
    ),
}

ALL_PERMISSIONS = frozenset().union(*ROLES.values())

UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential."
)


def check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; known: {', '.join(sorted(ROLES))}")


@dataclass
class Iam:
    """IAM for the emulator; off (everything allowed) until `enabled` is set.

    Bindings are keyed by resource: `projects/P` applies to every secret of P,
    a secret name to that secret only.
    """

    enabled: bool = False
    tokens: dict[str, str] = field(default_factory=dict)  # bearer token -> principal
    anonymous_principal: str | None = None  # who a request without a token is, if anyone
    bindings: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def grant(self, resource: str, role: str, principal: str) -> None:
        check_role(role)
        self.bindings.setdefault(resource, {}).setdefault(role, set()).add(principal)

    def principal(self, metadata: Sequence[tuple[str, str | bytes]]) -> str | None:
        """The caller, from `authorization: Bearer <token>`; None while IAM is off."""
        if not self.enabled:
            return None
        for key, value in metadata:
            if key.lower() == "authorization" and isinstance(value, str):
                scheme, _, token = value.partition(" ")
                if scheme.lower() == "bearer" and token in self.tokens:
                    return self.tokens[token]
                raise RpcError(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
        if self.anonymous_principal is None:
            raise RpcError(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
        return self.anonymous_principal

    def permissions(self, principal: str | None, resources: Iterable[str]) -> frozenset[str]:
        if not self.enabled:
            return ALL_PERMISSIONS
        granted: set[str] = set()
        for resource in resources:
            for role, members in self.bindings.get(resource, {}).items():
                if principal in members:
                    granted |= ROLES[role]
        return frozenset(granted)

    def check(
        self, principal: str | None, permission: str, resources: Sequence[str], named: str
    ) -> None:
        """Raise PERMISSION_DENIED, naming `named` as GCP does, unless allowed."""
        if permission not in self.permissions(principal, resources):
            raise RpcError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission '{permission}' denied for resource '{named}' (or it may not exist).",
            )
