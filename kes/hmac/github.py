"""GitHub calls the job makes, through PyGithub, with errors that name the target and call.

Keys are Prow's: "org/repo" means the repository's hooks, "org" the organization's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from github import Auth, Github, GithubException, GithubRetry
from github.Hook import Hook
from github.Organization import Organization
from github.Repository import Repository
from urllib3.util.retry import Retry

from kes.errors import KesError

DEFAULT_ENDPOINT = "https://api.github.com"
# Receive every event, as JSON, like Prow's hmac tool.
_EVENTS = ["*"]
# Classic token scopes each kind of call needs (GitHub's "Scopes for OAuth apps").
HOOK_SCOPES = "admin:repo_hook/admin:org_hook"
REPO_INVITATION_SCOPES = "repo:invite (or repo)"
ORG_MEMBERSHIP_SCOPES = "write:org (or admin:org)"

T = TypeVar("T")
# PyGithub logs request bodies at DEBUG, and hook bodies carry the secret.
_REQUEST_LOG = "github.Requester"


class GitHubCallError(KesError):
    def __init__(
        self, target: str, call: str, status: int | None, message: str, scopes: str
    ) -> None:
        hint = {
            401: "the token is not valid",
            404: f"missing, or the token lacks admin rights or the {scopes} scope",
        }.get(status or 0)
        super().__init__(
            f"GitHub {call} for {target} failed: "
            + (f"{status} " if status else "")
            + message
            + (f" ({hint})" if hint else "")
        )
        self.target = target
        self.call = call
        self.status = status


@dataclass(frozen=True)
class FoundHook:
    """A hook as listed: what an edit or delete acts on, without another lookup."""

    id: int
    handle: Hook = field(repr=False, compare=False)


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
    def __init__(
        self,
        token: str,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        retries: int = 5,
        backoff: float = 1.0,
        secondary_rate_wait: float = 60.0,
        seconds_between_requests: float = 0.25,
        seconds_between_writes: float = 1.0,
    ) -> None:
        """The pacing defaults are PyGithub's, which follow GitHub's advice against
        secondary rate limits; the emulator needs none."""
        logging.getLogger(_REQUEST_LOG).setLevel(logging.INFO)
        retry = GithubRetry(
            total=retries,
            backoff_factor=backoff,
            secondary_rate_wait=secondary_rate_wait,
            # PATCH sends a hook's whole config, so repeating it is harmless. A POST
            # repeated after a lost answer cannot make a second hook: GitHub answers 422
            # "Hook already exists" for a hook with the same URL (so does the emulator),
            # the key is held back with all its tokens, and the next run edits the hook.
            allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH"},
        )
        # Lazy: objects are not fetched before their hooks are, saving a call per key.
        self._github = Github(
            auth=Auth.Token(token),
            base_url=endpoint,
            retry=retry,
            lazy=True,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )

    def close(self) -> None:
        self._github.close()

    def find_hook(self, key: str, url: str) -> FoundHook | None:
        """The hook of `key` delivering to `url`, if any."""

        def find() -> FoundHook | None:
            for hook in self._owner(key).get_hooks():
                if hook.config.get("url") == url:
                    return FoundHook(hook.id, hook)
            return None

        return self._call(key, "list hooks", find)

    def create_hook(self, key: str, url: str, secret: str) -> None:
        self._call(
            key, "create hook",
            lambda: self._owner(key).create_hook(
                "web", _config(url, secret), events=_EVENTS, active=True
            ),
        )

    def edit_hook(self, key: str, hook: FoundHook, url: str, secret: str) -> None:
        """GitHub replaces the whole config on an edit, so all of it is sent."""
        self._call(
            key, f"edit hook {hook.id}",
            lambda: hook.handle.edit("web", _config(url, secret), events=_EVENTS, active=True),
        )

    def delete_hook(self, key: str, hook: FoundHook) -> None:
        self._call(key, f"delete hook {hook.id}", hook.handle.delete)

    def repo_invitations(self) -> list[RepoInvitation]:
        def list_all() -> list[RepoInvitation]:
            return [
                RepoInvitation(i.id, i.repository.full_name, i.permissions)
                for i in self._github.get_user().get_invitations()
            ]

        return self._call(
            "the authenticated user", "list repository invitations", list_all,
            REPO_INVITATION_SCOPES,
        )

    def accept_repo_invitation(self, invitation: RepoInvitation) -> None:
        self._call(
            invitation.repo, f"accept repository invitation {invitation.id}",
            lambda: self._github.get_user().accept_invitation(invitation.id),
            REPO_INVITATION_SCOPES,
        )

    def pending_org_invitations(self) -> list[OrgInvitation]:
        def list_pending() -> list[OrgInvitation]:
            return [
                OrgInvitation(m.organization.login, m.role)
                for m in self._github.get_user().get_organization_memberships()
                if m.state == "pending"
            ]

        return self._call(
            "the authenticated user", "list organization memberships", list_pending,
            ORG_MEMBERSHIP_SCOPES,
        )

    def accept_org_invitation(self, invitation: OrgInvitation) -> None:
        # PyGithub has no call for editing one's own membership; its requester sends it.
        self._call(
            invitation.org, "accept organization membership",
            lambda: self._github.requester.requestJsonAndCheck(
                "PATCH", f"/user/memberships/orgs/{invitation.org}", input={"state": "active"}
            ),
            ORG_MEMBERSHIP_SCOPES,
        )

    def _owner(self, key: str) -> Repository | Organization:
        if "/" in key:
            return self._github.get_repo(key)
        return self._github.get_organization(key)

    @staticmethod
    def _call(target: str, call: str, action: Callable[[], T], scopes: str = HOOK_SCOPES) -> T:
        try:
            return action()
        except GithubException as err:
            message = err.data.get("message") if isinstance(err.data, dict) else None
            raise GitHubCallError(
                target, call, err.status, str(message or err), scopes
            ) from None
        except OSError as err:
            raise GitHubCallError(
                target, call, None, f"{type(err).__name__}: {err}", scopes
            ) from None


def _config(url: str, secret: str) -> dict[str, str]:
    return {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
