"""GitHub calls the job makes, through PyGithub, with errors that name the target and call.

Keys are Prow's: "org/repo" means the repository's hooks, "org" the organization's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from github import Github, GithubException
from github.Organization import Organization
from github.Repository import Repository

from kes.hmac.github_api import Api, Unreachable
from kes.hmac.github_auth import (
    ORG_MEMBERSHIP_SCOPES,
    REPO_INVITATION_SCOPES,
    Credentials,
    GitHubCallError,
    TokenCredentials,
    error_message,
)

# Receive every event, as JSON, like Prow's hmac tool.
_EVENTS = ["*"]

T = TypeVar("T")


@dataclass(frozen=True)
class FoundHook:
    """A hook as listed. Edits and deletes address it by id on whichever endpoint
    answers then, so a fallback between the listing and the change costs nothing."""

    id: int


@dataclass(frozen=True)
class RepoInvitation:
    id: int
    repo: str
    permissions: str


@dataclass(frozen=True)
class OrgInvitation:
    org: str
    role: str


class HookClient:
    def __init__(self, credentials: Credentials, api: Api) -> None:
        self.credentials = credentials
        self._api = api
        # One client per endpoint, and per organisation for an App (a token for each).
        self._clients: dict[tuple[str, str], Github] = {}

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def find_hook(self, key: str, url: str) -> FoundHook | None:
        """The hook of `key` delivering to `url`, if any."""

        def find(github: Github) -> FoundHook | None:
            for hook in self._owner(github, key).get_hooks():
                if hook.config.get("url") == url:
                    return FoundHook(hook.id)
            return None

        return self._hook_call(key, "list hooks", find)

    def create_hook(self, key: str, url: str, secret: str) -> None:
        self._hook_call(
            key, "create hook",
            lambda github: self._owner(github, key).create_hook(
                "web", _config(url, secret), events=_EVENTS, active=True
            ),
        )

    def edit_hook(self, key: str, hook: FoundHook, url: str, secret: str) -> None:
        """GitHub replaces the whole config on an edit, so all of it is sent."""
        self._hook_call(
            key, f"edit hook {hook.id}",
            lambda github: self._owner(github, key).get_hook(hook.id).edit(
                "web", _config(url, secret), events=_EVENTS, active=True
            ),
        )

    def delete_hook(self, key: str, hook: FoundHook) -> None:
        self._hook_call(
            key, f"delete hook {hook.id}",
            lambda github: self._owner(github, key).get_hook(hook.id).delete(),
        )

    def repo_invitations(self) -> list[RepoInvitation]:
        def list_all(github: Github) -> list[RepoInvitation]:
            return [
                RepoInvitation(i.id, i.repository.full_name, i.permissions)
                for i in github.get_user().get_invitations()
            ]

        return self._user_call(
            "the authenticated user", "list repository invitations", list_all,
            REPO_INVITATION_SCOPES,
        )

    def accept_repo_invitation(self, invitation: RepoInvitation) -> None:
        self._user_call(
            invitation.repo, f"accept repository invitation {invitation.id}",
            lambda github: github.get_user().accept_invitation(invitation.id),
            REPO_INVITATION_SCOPES,
        )

    def pending_org_invitations(self) -> list[OrgInvitation]:
        def list_pending(github: Github) -> list[OrgInvitation]:
            return [
                OrgInvitation(m.organization.login, m.role)
                for m in github.get_user().get_organization_memberships()
                if m.state == "pending"
            ]

        return self._user_call(
            "the authenticated user", "list organization memberships", list_pending,
            ORG_MEMBERSHIP_SCOPES,
        )

    def accept_org_invitation(self, invitation: OrgInvitation) -> None:
        # PyGithub has no call for editing one's own membership; its requester sends it.
        self._user_call(
            invitation.org, "accept organization membership",
            lambda github: github.requester.requestJsonAndCheck(
                "PATCH", f"/user/memberships/orgs/{invitation.org}", input={"state": "active"}
            ),
            ORG_MEMBERSHIP_SCOPES,
        )

    @staticmethod
    def _owner(github: Github, key: str) -> Repository | Organization:
        if "/" in key:
            return github.get_repo(key)
        return github.get_organization(key)

    def _hook_call(self, key: str, call: str, action: Callable[[Github], T]) -> T:
        org = key.partition("/")[0] if self.credentials.per_organisation else ""
        return self._call(org, key, call, action, self.credentials.hook_hints(key))

    def _user_call(
        self, target: str, call: str, action: Callable[[Github], T], scopes: str
    ) -> T:
        """Calls on the authenticated user's own invitations, which only a user has."""
        assert self.credentials.is_user, "a GitHub App is installed, never invited"
        return self._call("", target, call, action, TokenCredentials.scope_hints(scopes))

    def _call(
        self,
        org: str,
        target: str,
        call: str,
        action: Callable[[Github], T],
        hints: Mapping[int, str],
    ) -> T:
        def on(endpoint: str) -> T:
            client = self._clients.get((endpoint, org))
            if client is None:
                client = self._api.github(endpoint, lambda: self.credentials.token(org))
                self._clients[(endpoint, org)] = client
            return action(client)

        try:
            return self._api.call(on)
        except GithubException as err:
            raise GitHubCallError(target, call, err.status, error_message(err), hints) from None
        except Unreachable as err:
            raise GitHubCallError(target, call, None, str(err)) from None
        except OSError as err:
            raise GitHubCallError(target, call, None, f"{type(err).__name__}: {err}") from None


def _config(url: str, secret: str) -> dict[str, str]:
    return {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
