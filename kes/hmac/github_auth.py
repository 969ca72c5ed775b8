"""Who kes hmac is on GitHub: a user's token (`--github-token-path`), or a GitHub App
(`--github-app-id`, `--github-app-private-key-path`) acting on each organisation
through its installation there, as Prow's clients do.

An App signs a JWT with its private key (PyGithub's AppAuth does), lists its
installations to find each organisation's, and exchanges the JWT for that
installation's token, which GitHub lets live an hour: it is replaced a minute before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import jwt
from github import Auth, GithubException, GithubIntegration
from github.InstallationAuthorization import InstallationAuthorization

from kes.errors import KesError
from kes.hmac.github_api import Api

# Prow's margin: a token this close to its expiry is replaced before it is used.
REFRESH_MARGIN = dt.timedelta(minutes=1)

# Classic token scopes each kind of call needs (GitHub's "Scopes for OAuth apps").
HOOK_SCOPES = "admin:repo_hook/admin:org_hook"
REPO_INVITATION_SCOPES = "repo:invite (or repo)"
ORG_MEMBERSHIP_SCOPES = "write:org (or admin:org)"
# The App permissions hooks need (GitHub's "Permissions required for GitHub Apps").
REPO_HOOK_PERMISSION = "Webhooks (repository_hooks: write)"
ORG_HOOK_PERMISSION = "Organization webhooks (organization_hooks: write)"

T = TypeVar("T")


class GitHubCallError(KesError):
    """A GitHub call failed; names the target and the call, and what the status
    usually means for these credentials."""

    def __init__(
        self,
        target: str,
        call: str,
        status: int | None,
        message: str,
        hints: Mapping[int, str] | None = None,
    ) -> None:
        hint = (hints or {}).get(status or 0)
        super().__init__(
            f"GitHub {call} for {target} failed: "
            + (f"{status} " if status else "")
            + message
            + (f" ({hint})" if hint else "")
        )
        self.target = target
        self.call = call
        self.status = status


class AppAuthError(KesError):
    """The App itself cannot authenticate: nothing can be done for any key."""


def error_message(err: GithubException) -> str:
    message = err.data.get("message") if isinstance(err.data, dict) else None
    return str(message or err)


class Credentials(Protocol):
    @property
    def is_user(self) -> bool:
        """Whether these are a user's, who can hold invitations; an App has none."""

    @property
    def per_organisation(self) -> bool:
        """Whether each organisation needs a token of its own."""

    def token(self, org: str) -> str:
        """The token for calls on `org` and its repositories."""

    def hook_hints(self, key: str) -> Mapping[int, str]:
        """What a status means for a hook call on `key` ("org" or "org/repo")."""


@dataclass(frozen=True)
class TokenCredentials:
    """One token for every organisation."""

    value: str = field(repr=False)
    is_user: bool = True
    per_organisation: bool = False

    @classmethod
    def from_file(cls, path: str) -> TokenCredentials:
        try:
            value = Path(path).read_text().strip()
        except OSError as err:
            raise KesError(f"cannot read --github-token-path {path}: {err.strerror}") from err
        if not value:
            raise KesError(f"--github-token-path {path} is empty")
        return cls(value)

    def token(self, org: str) -> str:
        return self.value

    def hook_hints(self, key: str) -> Mapping[int, str]:
        return self.scope_hints(HOOK_SCOPES)

    @staticmethod
    def scope_hints(scopes: str) -> Mapping[int, str]:
        return {
            401: "the token is not valid",
            404: f"missing, or the token lacks admin rights or the {scopes} scope",
        }


class AppCredentials:
    """A GitHub App: one installation token per organisation, each replaced before it
    expires. Installations are listed once per run, when a token is first needed."""

    is_user = False
    per_organisation = True

    def __init__(
        self,
        app_id: str,
        private_key: str,
        api: Api,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        try:
            Auth.AppAuth(app_id, private_key).create_jwt()
        except (jwt.PyJWTError, ValueError, TypeError) as err:
            raise KesError(
                "--github-app-private-key-path: not a PEM-encoded RSA private key "
                f"({type(err).__name__})"
            ) from None
        self.app_id = app_id
        self._private_key = private_key
        self._api = api
        self._clock = clock
        self._integrations: dict[str, GithubIntegration] = {}
        self._installations: dict[str, int] | None = None
        self._tokens: dict[int, InstallationAuthorization] = {}

    @classmethod
    def from_file(cls, app_id: str, path: str, api: Api) -> AppCredentials:
        try:
            private_key = Path(path).read_text()
        except OSError as err:
            raise KesError(
                f"cannot read --github-app-private-key-path {path}: {err.strerror}"
            ) from err
        return cls(app_id, private_key, api)

    def token(self, org: str) -> str:
        installation = self._installation(org)
        current = self._tokens.get(installation)
        if current is None or current.expires_at - REFRESH_MARGIN <= self._clock():
            current = self._app_call(
                org, "create an installation token",
                lambda integration: integration.get_access_token(installation),
            )
            self._tokens[installation] = current
        return current.token

    def hook_hints(self, key: str) -> Mapping[int, str]:
        permission = REPO_HOOK_PERMISSION if "/" in key else ORG_HOOK_PERMISSION
        return {
            401: "the installation token is not valid",
            403: f"the App's installation lacks the {permission} permission",
            404: "missing, or not among the repositories the App's installation may access",
        }

    def _installation(self, org: str) -> int:
        if self._installations is None:
            self._installations = self._list_installations()
        try:
            return self._installations[org]
        except KeyError:
            installed = ", ".join(sorted(self._installations)) or "no organisation"
            raise GitHubCallError(
                org, "App installation lookup", None,
                f"GitHub App {self.app_id} is not installed there (installed on: {installed})",
            ) from None

    def _list_installations(self) -> dict[str, int]:
        def listing(integration: GithubIntegration) -> dict[str, int]:
            return {i.account.login: i.id for i in integration.get_installations()}

        try:
            return self._app_call(f"GitHub App {self.app_id}", "list installations", listing)
        except GitHubCallError as err:
            raise AppAuthError(
                f"{err}; check --github-app-id and the key in --github-app-private-key-path"
            ) from None

    def _app_call(
        self, target: str, call: str, action: Callable[[GithubIntegration], T]
    ) -> T:
        def on(endpoint: str) -> T:
            integration = self._integrations.get(endpoint)
            if integration is None:
                integration = self._api.integration(endpoint, self.app_id, self._private_key)
                self._integrations[endpoint] = integration
            return action(integration)

        try:
            return self._api.call(on)
        except GithubException as err:
            raise GitHubCallError(
                target, call, err.status, error_message(err),
                {401: "GitHub did not accept the App's JWT"},
            ) from None
