"""An emulated GitHub REST API: what webhook management and invitation handling need.

Served by aiohttp on a real socket so PyGithub talks to it unchanged. It keeps
GitHub's semantics where callers can observe them: classic token scopes
(`X-OAuth-Scopes`), 404 for hooks the token may not see, write-only hook secrets,
pagination with `Link` headers, signed deliveries (a `ping` on create), and GitHub
Apps (a JWT signed with the App's key, checked against its public key, is exchanged
for an installation token that expires and reaches only the installation's
repositories, within its permissions). Anything not emulated answers 501 naming the
route.

One module, over the usual size: the routes share one state and one access check,
and reading them together is how one checks them against GitHub's documentation.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import ClientError, ClientSession, ClientTimeout, web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from yarl import URL

from kes_emulators.seed import SeedError
from kes_emulators.serving import BackgroundLoop

DOCS = "https://docs.github.com/rest"
# Whose tokens `kes emulate --github-token` adds; list it among a seed's admins.
GITHUB_FLAG_USER = "kes-bot"
MASK = "********"
_ZEN = "Keep it logically awesome."
_PER_PAGE_DEFAULT = 30
_PER_PAGE_MAX = 100
_SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)

# Scopes that grant each kind of access to hooks, as GitHub documents them.
_REPO_HOOK_SCOPES = {
    "read": {"read:repo_hook", "write:repo_hook", "admin:repo_hook", "repo"},
    "write": {"write:repo_hook", "admin:repo_hook", "repo"},
    "admin": {"admin:repo_hook", "repo"},
}
_ORG_HOOK_SCOPES = {level: {"admin:org_hook"} for level in ("read", "write", "admin")}
# GitHub's "Scopes for OAuth apps": repo:invite grants accepting and declining repository
# invitations (repo grants it too); read:org reads organization membership, write:org and
# admin:org also change it.
_REPO_INVITATION_SCOPES = {"repo:invite", "repo"}
_MEMBERSHIP_SCOPES = {
    "read": {"read:org", "write:org", "admin:org"},
    "write": {"write:org", "admin:org"},
}
_REPO_PERMISSIONS = ("read", "triage", "write", "maintain", "admin")
_ORG_ROLES = ("admin", "direct_member", "billing_manager")
# What an App installation may do with hooks: GitHub's "Webhooks" permissions.
_APP_HOOK_PERMISSION = {"repo": "repository_hooks", "org": "organization_hooks"}
APP_DEFAULT_PERMISSIONS = {
    "metadata": "read", "repository_hooks": "write", "organization_hooks": "write",
}
_APP_ACCESS_LEVELS = ("read", "write")
# GitHub's limits on an App's JWT: at most ten minutes long; some clock drift allowed.
_JWT_MAX_LIFETIME = 600
_JWT_DRIFT = 60
_INTEGRATION = "Resource not accessible by integration"
_JWT_UNDECODABLE = "A JSON web token could not be decoded"

_USER = web.RequestKey("user", str)
_SCOPES = web.RequestKey("scopes", tuple[str, ...])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def sign(secret: str, body: bytes) -> dict[str, str]:
    """GitHub's signature headers for `body` under `secret` (the secret's bytes are the key)."""
    key = secret.encode()
    return {
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


@dataclass
class Hook:
    id: int
    owner: str  # "org" or "org/repo"
    url: str
    content_type: str
    secret: str | None = field(repr=False)
    events: list[str]
    active: bool
    insecure_ssl: str = "0"
    created_at: str = ""
    updated_at: str = ""

    @property
    def is_org(self) -> bool:
        return "/" not in self.owner


@dataclass(frozen=True)
class Delivery:
    hook_id: int
    event: str
    guid: str
    url: str
    status: int | None  # None when the receiver could not be reached
    error: str | None


@dataclass
class _Fault:
    kind: str  # "5xx" or "secondary_rate_limit"
    remaining: int
    retry_after: int


@dataclass
class _Token:
    user: str
    scopes: tuple[str, ...]
    # Set for an App installation's token, which acts as the App, not as a user.
    installation: Installation | None = None
    permissions: Mapping[str, str] = field(default_factory=dict)
    expires_at: float | None = None  # on the emulator's token_clock; None: never


@dataclass(frozen=True)
class App:
    id: int
    slug: str
    public_key: RSAPublicKey = field(repr=False)

    @property
    def client_id(self) -> str:
        return f"Iv1.{self.id:016x}"

    @property
    def bot(self) -> str:
        return f"{self.slug}[bot]"


@dataclass(frozen=True)
class Installation:
    id: int
    app: App
    account: str  # the organisation
    repositories: tuple[str, ...] | None  # None: all of the organisation's
    permissions: Mapping[str, str]

    def reaches(self, owner: str) -> bool:
        """Whether the installation covers the repo (`org/repo`) or org (`org`)."""
        org, slash, _ = owner.partition("/")
        return org == self.account and (
            not slash or self.repositories is None or owner in self.repositories
        )


# Who a request acts as besides _USER: an App installation (its token), or the App (its JWT).
_INSTALLATION: web.RequestKey[Installation | None] = web.RequestKey("installation")
_APP: web.RequestKey[App] = web.RequestKey("app")
# An installation token's permissions: the installation's, or fewer when it asked for fewer.
_PERMISSIONS: web.RequestKey[Mapping[str, str]] = web.RequestKey("permissions")


class GitHubError(Exception):
    """An answer in GitHub's error shape, raised by handlers and rendered by the middleware."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.body = {"message": message, "documentation_url": DOCS, **extra}
        self.headers: dict[str, str] = {}

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


class GitHubEmulator:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, seed: Mapping[str, Any] | None = None
    ) -> None:
        self._host = host
        self._port = port
        self._tokens: dict[str, _Token] = {}
        self._users: dict[str, int] = {}
        self._orgs: dict[str, set[str]] = {}  # org -> admin logins
        self._repos: dict[str, set[str]] = {}  # full name -> admin logins
        self._hooks: dict[int, Hook] = {}
        self._repo_invitations: dict[int, dict[str, Any]] = {}
        self._org_memberships: dict[tuple[str, str], dict[str, str]] = {}  # (org, user)
        self._ids = iter(range(1, 1 << 62))
        self._faults: dict[str, _Fault] = {}
        self._apps: dict[int, App] = {}
        self._installations: dict[int, Installation] = {}
        self.installation_token_lifetime = 3600.0  # GitHub's: an hour
        # Installation tokens age on this clock, which tests may move on; JWTs are checked
        # against real time, which PyGithub signs them with.
        self.token_clock: Callable[[], float] = time.time
        self._pending: set[asyncio.Task[Delivery]] = set()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._background: BackgroundLoop | None = None
        self.url = ""
        self.calls: collections.Counter[str] = collections.Counter()
        self.deliveries: list[Delivery] = []
        if seed:
            self.load_seed(seed)

    # --- state set up by tests and seeds -------------------------------------------------

    def add_token(self, token: str, user: str, scopes: Sequence[str]) -> None:
        self._user_id(user)
        self._tokens[token] = _Token(user, tuple(scopes))

    def add_org(self, org: str, admins: Sequence[str] = ()) -> None:
        self._orgs.setdefault(org, set()).update(admins)

    def add_repo(self, full_name: str, admins: Sequence[str] = ()) -> None:
        self.add_org(full_name.partition("/")[0])
        self._repos.setdefault(full_name, set()).update(admins)

    def invite_to_repo(self, user: str, full_name: str, permissions: str) -> int:
        self.add_repo(full_name)
        invitation_id = next(self._ids)
        self._repo_invitations[invitation_id] = {
            "user": user, "repo": full_name, "permissions": permissions,
        }
        return invitation_id

    def invite_to_org(self, user: str, org: str, role: str) -> None:
        self.add_org(org)
        self._org_memberships[(org, user)] = {"state": "pending", "role": role}

    def add_hook(
        self, owner: str, url: str, secret: str | None = None, events: Sequence[str] = ("*",)
    ) -> Hook:
        """A hook that exists before the test starts (no ping is sent)."""
        if "/" in owner:
            self.add_repo(owner)
        else:
            self.add_org(owner)
        now = _now()
        hook = Hook(next(self._ids), owner, url, "json", secret, list(events), True,
                    created_at=now, updated_at=now)
        self._hooks[hook.id] = hook
        return hook

    def add_app(self, app_id: int, public_key_pem: str | bytes, slug: str = "kes-app") -> App:
        """A GitHub App whose JWTs are checked against `public_key_pem`."""
        key = load_pem_public_key(
            public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        )
        if not isinstance(key, RSAPublicKey):
            raise ValueError("a GitHub App's key is an RSA key")
        app = App(app_id, slug, key)
        self._apps[app_id] = app
        self._user_id(app.bot)
        return app

    def install_app(
        self,
        app_id: int,
        org: str,
        repositories: Sequence[str] | None = None,
        permissions: Mapping[str, str] | None = None,
    ) -> int:
        """Install the App on `org`: on all its repositories, or on `repositories` only."""
        self.add_org(org)
        for repo in repositories or ():
            if repo.partition("/")[0] != org:
                raise ValueError(f"{repo!r} is not a repository of {org!r}")
            self.add_repo(repo)
        installation = Installation(
            next(self._ids), self._apps[app_id], org,
            None if repositories is None else tuple(repositories),
            dict(APP_DEFAULT_PERMISSIONS if permissions is None else permissions),
        )
        self._installations[installation.id] = installation
        return installation.id

    def load_seed(self, seed: Any) -> None:
        """The `github:` section of a `kes emulate --seed` file, checked field by field."""
        section = _mapping(seed, "github", _SEED_SECTIONS)
        for token, spec in _entries(section, "tokens").items():
            where = f"github.tokens[{token!r}]"
            spec = _mapping(spec, where, {"user", "scopes"})
            self.add_token(
                str(token), _text(spec, "user", where), _texts(spec, "scopes", where)
            )
        for org, spec in _entries(section, "orgs").items():
            where = f"github.orgs[{org!r}]"
            admins = _texts(_mapping(spec or {}, where, {"admins"}), "admins", where)
            self.add_org(_owner_name(org, where, repo=False), admins)
        for repo, spec in _entries(section, "repos").items():
            where = f"github.repos[{repo!r}]"
            admins = _texts(_mapping(spec or {}, where, {"admins"}), "admins", where)
            self.add_repo(_owner_name(repo, where, repo=True), admins)
        for where, invite in _items(section, "repository_invitations"):
            invite = _mapping(invite, where, {"user", "repo", "permissions"})
            self.invite_to_repo(
                _text(invite, "user", where),
                _owner_name(_text(invite, "repo", where), f"{where}.repo", repo=True),
                _choice(invite, "permissions", where, _REPO_PERMISSIONS),
            )
        for where, invite in _items(section, "org_invitations"):
            invite = _mapping(invite, where, {"user", "org", "role"})
            self.invite_to_org(
                _text(invite, "user", where),
                _owner_name(_text(invite, "org", where), f"{where}.org", repo=False),
                _choice(invite, "role", where, _ORG_ROLES),
            )
        for where, hook in _items(section, "hooks"):
            hook = _mapping(hook, where, {"owner", "url", "secret", "events"})
            owner = _text(hook, "owner", where)
            self.add_hook(
                _owner_name(owner, f"{where}.owner", repo="/" in owner),
                _text(hook, "url", where),
                _text(hook, "secret", where) if "secret" in hook else None,
                _texts(hook, "events", where) if "events" in hook else ("*",),
            )
        for where, spec in _items(section, "apps"):
            self._seed_app(where, _mapping(spec, where, {"id", "slug", "public_key",
                                                         "installations"}))

    def _seed_app(self, where: str, spec: Mapping[str, Any]) -> None:
        app_id = spec.get("id")
        if not isinstance(app_id, int) or isinstance(app_id, bool) or app_id <= 0:
            raise SeedError(f"{where}.id: required, a positive integer")
        try:
            self.add_app(
                app_id, _text(spec, "public_key", where),
                _text(spec, "slug", where) if "slug" in spec else "kes-app",
            )
        except ValueError as err:
            raise SeedError(f"{where}.public_key: not a PEM RSA public key ({err})") from None
        for at, install in _items(spec, "installations", where):
            install = _mapping(install, at, {"org", "repositories", "permissions"})
            org = _owner_name(_text(install, "org", at), f"{at}.org", repo=False)
            repos = None
            if "repositories" in install:
                repos = [
                    _owner_name(r, f"{at}.repositories", repo=True)
                    for r in _texts(install, "repositories", at)
                ]
            permissions = install.get("permissions")
            if permissions is not None and not (
                isinstance(permissions, dict)
                and all(v in _APP_ACCESS_LEVELS for v in permissions.values())
            ):
                raise SeedError(f"{at}.permissions: a mapping of permission to read or write")
            try:
                self.install_app(app_id, org, repos, permissions)
            except ValueError as err:
                raise SeedError(f"{at}.repositories: {err}") from None

    def hooks(self, owner: str | None = None) -> list[Hook]:
        """The hooks of a repo (`org/repo`), an org, or all; secrets included, for assertions."""
        return [h for h in self._hooks.values() if owner in (None, h.owner)]

    def is_admin(self, user: str, owner: str) -> bool:
        if "/" in owner:
            return user in self._repos.get(owner, set()) or self.is_admin(
                user, owner.partition("/")[0]
            )
        return user in self._orgs.get(owner, set())

    def pending_repo_invitations(self, user: str) -> list[str]:
        return sorted(i["repo"] for i in self._repo_invitations.values() if i["user"] == user)

    def org_membership(self, org: str, user: str) -> str | None:
        membership = self._org_memberships.get((org, user))
        return membership["state"] if membership else None

    def clear_faults(self) -> None:
        """Forget every fault injected with `fail_next` that has not fired yet."""
        self._faults.clear()

    def fail_next(
        self, route: str, count: int = 1, kind: str = "5xx", retry_after: int = 0
    ) -> None:
        """The next `count` calls of `route` answer 502 (kind "5xx"), or 403 secondary rate
        limit with Retry-After (kind "secondary_rate_limit").

        `route` is the method and path template: "PATCH /repos/{owner}/{repo}/hooks/{hook_id}".
        """
        if kind not in ("5xx", "secondary_rate_limit"):
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults[route] = _Fault(kind, count, retry_after)

    @property
    def writes(self) -> int:
        """Calls that could change state (anything but GET)."""
        return sum(n for route, n in self.calls.items() if not route.startswith("GET "))

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/user", self._get_user),
            ("GET", "/repos/{owner}/{repo}", self._get_repo),
            ("GET", "/orgs/{org}", self._get_org),
            ("GET", "/repos/{owner}/{repo}/hooks", self._list_hooks),
            ("POST", "/repos/{owner}/{repo}/hooks", self._create_hook),
            ("GET", "/repos/{owner}/{repo}/hooks/{hook_id}", self._get_hook),
            ("PATCH", "/repos/{owner}/{repo}/hooks/{hook_id}", self._edit_hook),
            ("DELETE", "/repos/{owner}/{repo}/hooks/{hook_id}", self._delete_hook),
            ("POST", "/repos/{owner}/{repo}/hooks/{hook_id}/pings", self._ping_hook),
            ("GET", "/orgs/{org}/hooks", self._list_hooks),
            ("POST", "/orgs/{org}/hooks", self._create_hook),
            ("GET", "/orgs/{org}/hooks/{hook_id}", self._get_hook),
            ("PATCH", "/orgs/{org}/hooks/{hook_id}", self._edit_hook),
            ("DELETE", "/orgs/{org}/hooks/{hook_id}", self._delete_hook),
            ("POST", "/orgs/{org}/hooks/{hook_id}/pings", self._ping_hook),
            ("GET", "/user/repository_invitations", self._list_repo_invitations),
            ("PATCH", "/user/repository_invitations/{invitation_id}", self._accept_invitation),
            ("DELETE", "/user/repository_invitations/{invitation_id}", self._decline_invitation),
            ("GET", "/user/memberships/orgs", self._list_memberships),
            ("GET", "/user/memberships/orgs/{org}", self._get_membership),
            ("PATCH", "/user/memberships/orgs/{org}", self._edit_membership),
            ("GET", "/app", self._get_app),
            ("GET", "/app/installations", self._list_installations),
            ("GET", "/app/installations/{installation_id}", self._get_installation),
            ("POST", "/app/installations/{installation_id}/access_tokens",
             self._create_installation_token),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        app.router.add_route("*", "/{tail:.*}", self._unemulated)
        self._session = ClientSession(timeout=ClientTimeout(total=10))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}"

    async def stop(self) -> None:
        await self.settle()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @contextmanager
    def background(self) -> Iterator[GitHubEmulator]:
        """Serve from a thread of its own, for synchronous callers."""
        loop = BackgroundLoop("kes-github-emulator")
        try:
            loop.run(self.start())
            self._background = loop
            yield self
        finally:
            self._background = None
            loop.run(self.stop())
            loop.close()

    def run(self, coro: Awaitable[Any]) -> Any:
        """Run an emulator coroutine (e.g. `deliver`) for a synchronous caller in background()."""
        if self._background is None:
            raise RuntimeError("run() needs background(); await the coroutine instead")

        async def wrapped() -> Any:
            return await coro

        return self._background.run(wrapped())

    async def settle(self) -> None:
        """Wait for deliveries in flight (GitHub sends them after answering)."""
        while self._pending:
            await asyncio.gather(*list(self._pending))

    # --- deliveries -----------------------------------------------------------------------

    async def deliver(
        self, repo_full_name: str, event: str, payload: Mapping[str, Any]
    ) -> list[Delivery]:
        """Send `event` to every active hook of the repo and of its org that wants it."""
        if repo_full_name not in self._repos:
            raise KeyError(f"no repository {repo_full_name!r} in the GitHub emulator")
        body = dict(payload)
        body.setdefault("repository", self._repo_json(repo_full_name, URL(self.url)))
        owners = (repo_full_name, repo_full_name.partition("/")[0])
        hooks = [
            h for h in self._hooks.values()
            if h.owner in owners and h.active and ("*" in h.events or event in h.events)
        ]
        return [await self._send(h, event, body) for h in hooks]

    def _ping_later(self, hook: Hook, base: URL) -> None:
        body: dict[str, Any] = {
            "zen": _ZEN, "hook_id": hook.id, "hook": self._hook_json(hook, base),
        }
        if hook.is_org:
            body["organization"] = self._org_json(hook.owner, base)
        else:
            body["repository"] = self._repo_json(hook.owner, base)
        task = asyncio.get_running_loop().create_task(self._send(hook, "ping", body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, hook: Hook, event: str, payload: Mapping[str, Any]) -> Delivery:
        assert self._session is not None, "emulator not started"
        raw = json.dumps(payload).encode()
        if hook.content_type == "form":
            body = urlencode({"payload": raw.decode()}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body, content_type = raw, "application/json"
        guid = str(uuid.uuid4())
        headers = {
            "Content-Type": content_type,
            "User-Agent": "GitHub-Hookshot/kes-emulator",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": str(hook.id),
            "X-GitHub-Hook-Installation-Target-Type": _kind(hook.owner),
        }
        if hook.secret:
            headers.update(sign(hook.secret, body))
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(hook.url, data=body, headers=headers) as response:
                status = response.status
                await response.read()
        except (ClientError, TimeoutError, OSError) as err:
            error = f"{type(err).__name__}: {err}"
        delivery = Delivery(hook.id, event, guid, hook.url, status, error)
        self.deliveries.append(delivery)
        return delivery

    # --- middleware: counting, faults, authentication ------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = self._route_name(request)
        self.calls[route] += 1
        token: _Token | None = None
        try:
            self._inject_fault(route)
            if handler == self._unemulated:
                return await handler(request)
            if request.path == "/app" or request.path.startswith("/app/"):
                request[_APP] = self._authenticate_app(request)
            else:
                token = self._authenticate(request)
                request[_USER] = token.user
                request[_SCOPES] = token.scopes
                request[_INSTALLATION] = token.installation
                request[_PERMISSIONS] = token.permissions
            response = await handler(request)
        except GitHubError as error:
            response = error.response()
        if token is not None and token.installation is None:
            response.headers["X-OAuth-Scopes"] = ", ".join(token.scopes)
        return response

    def _inject_fault(self, route: str) -> None:
        fault = self._faults.get(route)
        if fault is None or fault.remaining <= 0:
            return
        fault.remaining -= 1
        if fault.kind == "5xx":
            raise GitHubError(502, "Server Error")
        error = GitHubError(403, _SECONDARY_LIMIT)
        error.headers["Retry-After"] = str(fault.retry_after)
        raise error

    @staticmethod
    def _route_name(request: web.Request) -> str:
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else request.path
        if canonical == "/{tail}":
            canonical = request.path
        return f"{request.method} {canonical}"

    def _authenticate(self, request: web.Request) -> _Token:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if not header:
            raise GitHubError(401, "Requires authentication")
        token = self._tokens.get(credential) if scheme.lower() in ("token", "bearer") else None
        if token is None and credential.count(".") == 2:
            raise GitHubError(
                401, "a GitHub App's JWT authenticates /app routes only: exchange it for an "
                "installation token (POST /app/installations/{id}/access_tokens)"
            )
        expired = token is not None and token.expires_at is not None and (
            token.expires_at <= self.token_clock()
        )
        if token is None or expired:
            raise GitHubError(401, "Bad credentials")
        return token

    def _authenticate_app(self, request: web.Request) -> App:
        """A JWT as GitHub checks it: RS256, signed with the key of the App named in
        `iss` (its ID or client ID), issued now, expiring within ten minutes."""
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            raise GitHubError(401, _JWT_UNDECODABLE)
        try:
            header = jwt.get_unverified_header(credential)
            claims = jwt.decode(credential, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise GitHubError(401, _JWT_UNDECODABLE) from None
        app = next(
            (a for a in self._apps.values() if str(claims.get("iss")) in (str(a.id), a.client_id)),
            None,
        )
        if header.get("alg") != "RS256" or app is None:
            raise GitHubError(401, _JWT_UNDECODABLE)
        try:
            jwt.decode(
                credential, app.public_key, algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise GitHubError(401, _JWT_UNDECODABLE) from None
        now = time.time()
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int) or issued > now + _JWT_DRIFT:
            raise GitHubError(
                401, "'Issued at' claim ('iat') must be an Integer representing the time "
                "that the assertion was issued"
            )
        if not isinstance(expires, int) or expires <= now:
            raise GitHubError(
                401, "'Expiration time' claim ('exp') must be a numeric value representing "
                "the future time at which the assertion expires"
            )
        if expires > now + _JWT_MAX_LIFETIME + _JWT_DRIFT:
            raise GitHubError(401, "'Expiration time' claim ('exp') is too far in the future")
        return app

    async def _unemulated(self, request: web.Request) -> web.StreamResponse:
        return GitHubError(
            501, f"the kes GitHub emulator does not implement {request.method} {request.path}"
        ).response()

    # --- users, repos, orgs ----------------------------------------------------------------

    def _user_id(self, login: str) -> int:
        return self._users.setdefault(login, len(self._users) + 1)

    def _user_json(self, login: str, base: URL) -> dict[str, Any]:
        return {
            "login": login, "id": self._user_id(login), "type": "User",
            "url": str(base / "users" / login),
        }

    def _org_json(self, org: str, base: URL) -> dict[str, Any]:
        return {
            "login": org, "id": 10_000 + sorted(self._orgs).index(org),
            "url": str(base / "orgs" / org), "hooks_url": str(base / "orgs" / org / "hooks"),
        }

    def _repo_json(self, full_name: str, base: URL, user: str | None = None) -> dict[str, Any]:
        owner, _, name = full_name.partition("/")
        body: dict[str, Any] = {
            "id": 20_000 + sorted(self._repos).index(full_name),
            "name": name, "full_name": full_name,
            "owner": {"login": owner, "type": "Organization"},
            "url": str(base / "repos" / owner / name),
            "hooks_url": str(base / "repos" / owner / name / "hooks"),
        }
        if user is not None:
            admin = self.is_admin(user, full_name)
            body["permissions"] = {"admin": admin, "push": admin, "pull": True}
        return body

    async def _get_user(self, request: web.Request) -> web.Response:
        self._user_only(request)
        return web.json_response(self._user_json(request[_USER], self._base(request)))

    async def _get_repo(self, request: web.Request) -> web.Response:
        full_name = self._visible(
            request, f"{request.match_info['owner']}/{request.match_info['repo']}"
        )
        user = None if request[_INSTALLATION] else request[_USER]
        return web.json_response(self._repo_json(full_name, self._base(request), user))

    async def _get_org(self, request: web.Request) -> web.Response:
        org = self._visible(request, request.match_info["org"])
        return web.json_response(self._org_json(org, self._base(request)))

    def _visible(self, request: web.Request, owner: str) -> str:
        """`owner` ("org" or "org/repo") if it exists and an installation token reaches it."""
        installation = request[_INSTALLATION]
        exists = owner in (self._repos if "/" in owner else self._orgs)
        if not exists or (installation is not None and not installation.reaches(owner)):
            raise GitHubError(404, "Not Found")
        return owner

    @staticmethod
    def _user_only(request: web.Request) -> None:
        """Routes of the authenticated user, which an App's installation is not."""
        if request[_INSTALLATION] is not None:
            raise GitHubError(403, _INTEGRATION)

    # --- GitHub Apps -----------------------------------------------------------------------

    def _app_json(self, app: App, base: URL) -> dict[str, Any]:
        return {
            "id": app.id, "slug": app.slug, "client_id": app.client_id, "name": app.slug,
            "node_id": f"A_{app.id}", "owner": self._user_json(app.bot, base),
            "permissions": dict(APP_DEFAULT_PERMISSIONS), "events": [],
            "installations_count": sum(
                i.app is app for i in self._installations.values()
            ),
        }

    def _installation_json(self, installation: Installation, base: URL) -> dict[str, Any]:
        path = base / "app" / "installations" / str(installation.id)
        return {
            "id": installation.id, "app_id": installation.app.id,
            "app_slug": installation.app.slug, "client_id": installation.app.client_id,
            "account": self._org_json(installation.account, base) | {"type": "Organization"},
            "target_type": "Organization",
            "target_id": self._org_json(installation.account, base)["id"],
            "repository_selection": "all" if installation.repositories is None else "selected",
            "permissions": dict(installation.permissions), "events": [],
            "access_tokens_url": str(path / "access_tokens"),
            "repositories_url": str(base / "installation" / "repositories"),
            "created_at": _now(), "updated_at": _now(), "suspended_at": None,
        }

    def _own_installation(self, request: web.Request) -> Installation:
        try:
            installation = self._installations[int(request.match_info["installation_id"])]
        except (KeyError, ValueError):
            raise GitHubError(404, "Not Found") from None
        if installation.app is not request[_APP]:
            raise GitHubError(404, "Not Found")
        return installation

    async def _get_app(self, request: web.Request) -> web.Response:
        return web.json_response(self._app_json(request[_APP], self._base(request)))

    async def _list_installations(self, request: web.Request) -> web.Response:
        base = self._base(request)
        items = [
            self._installation_json(i, base)
            for i in self._installations.values() if i.app is request[_APP]
        ]
        return self._paginate(request, items)

    async def _get_installation(self, request: web.Request) -> web.Response:
        installation = self._own_installation(request)
        return web.json_response(self._installation_json(installation, self._base(request)))

    async def _create_installation_token(self, request: web.Request) -> web.Response:
        """An hour-long token with the installation's permissions, or fewer if asked."""
        installation = self._own_installation(request)
        body = await self._json_body(request)
        for field_name in ("repositories", "repository_ids"):
            if field_name in body:
                raise GitHubError(
                    501, f"the kes GitHub emulator does not narrow installation tokens "
                    f"to {field_name}"
                )
        permissions = dict(installation.permissions)
        asked = body.get("permissions") or {}
        if not isinstance(asked, dict):
            raise GitHubError(422, "permissions must be an object")
        for name, level in asked.items():
            granted = installation.permissions.get(name)
            if level not in _APP_ACCESS_LEVELS or granted is None or (
                level == "write" and granted != "write"
            ):
                raise GitHubError(
                    422, "The permissions requested are not granted to this installation."
                )
        if asked:
            permissions = dict(asked)
        value = "ghs_" + secrets.token_hex(18)
        expires_at = self.token_clock() + self.installation_token_lifetime
        self._tokens[value] = _Token(
            installation.app.bot, (), installation, permissions, expires_at
        )
        return web.json_response(
            {
                "token": value,
                "expires_at": dt.datetime.fromtimestamp(expires_at, dt.UTC)
                .strftime("%Y-%m-%dT%H:%M:%SZ"),
                "permissions": permissions,
                "repository_selection": (
                    "all" if installation.repositories is None else "selected"
                ),
            },
            status=201,
        )

    # --- hooks ------------------------------------------------------------------------------

    def _hook_owner(self, request: web.Request, level: str) -> str:
        """The hook owner the caller may act on, or GitHub's 404 (no scope, no admin, absent)."""
        info = request.match_info
        owner = f"{info['owner']}/{info['repo']}" if "owner" in info else info["org"]
        installation = request[_INSTALLATION]
        if installation is not None:
            self._visible(request, owner)
            permission = _APP_HOOK_PERMISSION["repo" if "/" in owner else "org"]
            access = request[_PERMISSIONS].get(permission)
            if access is None or (level != "read" and access != "write"):
                raise GitHubError(403, _INTEGRATION)
            return owner
        scopes = (_ORG_HOOK_SCOPES if "/" not in owner else _REPO_HOOK_SCOPES)[level]
        exists = owner in (self._repos if "/" in owner else self._orgs)
        granted: tuple[str, ...] = request[_SCOPES]
        allowed = scopes.intersection(granted) and self.is_admin(request[_USER], owner)
        if not exists or not allowed:
            error = GitHubError(404, "Not Found")
            error.headers["X-Accepted-OAuth-Scopes"] = ", ".join(sorted(scopes))
            raise error
        return owner

    def _find_hook(self, request: web.Request, owner: str) -> Hook:
        try:
            hook = self._hooks[int(request.match_info["hook_id"])]
        except (KeyError, ValueError):
            raise GitHubError(404, "Not Found") from None
        if hook.owner != owner:
            raise GitHubError(404, "Not Found")
        return hook

    def _hook_json(self, hook: Hook, base: URL) -> dict[str, Any]:
        path = (
            base / "orgs" / hook.owner if hook.is_org
            else base / "repos" / hook.owner.partition("/")[0] / hook.owner.partition("/")[2]
        ) / "hooks" / str(hook.id)
        config: dict[str, Any] = {
            "url": hook.url, "content_type": hook.content_type, "insecure_ssl": hook.insecure_ssl,
        }
        if hook.secret:
            config["secret"] = MASK
        body: dict[str, Any] = {
            "type": "Organization" if hook.is_org else "Repository",
            "id": hook.id, "name": "web", "active": hook.active, "events": hook.events,
            "config": config, "created_at": hook.created_at, "updated_at": hook.updated_at,
            "url": str(path), "ping_url": str(path / "pings"),
            "deliveries_url": str(path / "deliveries"),
            "last_response": {"code": None, "status": "unused", "message": None},
        }
        if not hook.is_org:
            body["test_url"] = str(path / "tests")
        return body

    async def _list_hooks(self, request: web.Request) -> web.Response:
        owner = self._hook_owner(request, "read")
        base = self._base(request)
        items = [self._hook_json(h, base) for h in self._hooks.values() if h.owner == owner]
        return self._paginate(request, items)

    async def _get_hook(self, request: web.Request) -> web.Response:
        owner = self._hook_owner(request, "read")
        hook = self._find_hook(request, owner)
        return web.json_response(self._hook_json(hook, self._base(request)))

    async def _create_hook(self, request: web.Request) -> web.Response:
        owner = self._hook_owner(request, "write")
        body = await self._json_body(request)
        if body.get("name", "web") != "web":
            raise _invalid("name", "Name must be 'web' for webhooks")
        config = body.get("config")
        if not isinstance(config, dict) or not config.get("url"):
            raise _invalid("config", "Config must contain URL for webhooks")
        events = _events(body.get("events", ["push"]))
        if any(h.owner == owner and h.url == config["url"] for h in self._hooks.values()):
            raise _invalid("base", f"Hook already exists on this {_kind(owner)}")
        now = _now()
        hook = Hook(
            id=next(self._ids), owner=owner, url=str(config["url"]),
            content_type=_content_type(config.get("content_type", "form")),
            secret=str(config["secret"]) if config.get("secret") else None,
            events=events, active=bool(body.get("active", True)),
            insecure_ssl=str(config.get("insecure_ssl", "0")), created_at=now, updated_at=now,
        )
        self._hooks[hook.id] = hook
        base = self._base(request)
        if hook.active:
            self._ping_later(hook, base)
        return web.json_response(self._hook_json(hook, base), status=201)

    async def _edit_hook(self, request: web.Request) -> web.Response:
        """A `config` sent replaces the whole config, as on GitHub: what it leaves out
        takes its default, and a secret left out is removed."""
        owner = self._hook_owner(request, "write")
        hook = self._find_hook(request, owner)
        body = await self._json_body(request)
        if "config" in body:
            config = body["config"]
            if not isinstance(config, dict) or not config.get("url"):
                raise _invalid("config", "Config must contain URL for webhooks")
            hook.url = str(config["url"])
            hook.content_type = _content_type(config.get("content_type", "form"))
            hook.secret = str(config["secret"]) if config.get("secret") else None
            hook.insecure_ssl = str(config.get("insecure_ssl", "0"))
        if "events" in body:
            hook.events = _events(body["events"])
        hook.events += [e for e in _events(body.get("add_events", [])) if e not in hook.events]
        removed = set(_events(body.get("remove_events", [])))
        hook.events = [e for e in hook.events if e not in removed]
        if "active" in body:
            hook.active = bool(body["active"])
        hook.updated_at = _now()
        return web.json_response(self._hook_json(hook, self._base(request)))

    async def _delete_hook(self, request: web.Request) -> web.Response:
        owner = self._hook_owner(request, "admin")
        del self._hooks[self._find_hook(request, owner).id]
        return web.Response(status=204)

    async def _ping_hook(self, request: web.Request) -> web.Response:
        owner = self._hook_owner(request, "read")
        self._ping_later(self._find_hook(request, owner), self._base(request))
        return web.Response(status=204)

    # --- invitations and memberships ---------------------------------------------------------

    @classmethod
    def _require_scopes(cls, request: web.Request, scopes: set[str]) -> None:
        """GitHub's answer to a classic token without any of `scopes` for a route of the
        authenticated user: 404, naming the accepted scopes in a header."""
        cls._user_only(request)
        granted: tuple[str, ...] = request[_SCOPES]
        if not scopes.intersection(granted):
            error = GitHubError(404, "Not Found")
            error.headers["X-Accepted-OAuth-Scopes"] = ", ".join(sorted(scopes))
            raise error

    async def _list_repo_invitations(self, request: web.Request) -> web.Response:
        self._require_scopes(request, _REPO_INVITATION_SCOPES)
        base = self._base(request)
        items = [
            {
                "id": invitation_id, "node_id": f"RI_{invitation_id}",
                "repository": self._repo_json(i["repo"], base),
                "invitee": self._user_json(i["user"], base),
                "inviter": self._user_json("ghost", base),
                "permissions": i["permissions"], "created_at": _now(),
                "url": str(base / "user" / "repository_invitations" / str(invitation_id)),
                "html_url": f"https://github.com/{i['repo']}/invitations",
            }
            for invitation_id, i in self._repo_invitations.items()
            if i["user"] == request[_USER]
        ]
        return self._paginate(request, items)

    def _own_invitation(self, request: web.Request) -> int:
        self._require_scopes(request, _REPO_INVITATION_SCOPES)
        try:
            invitation_id = int(request.match_info["invitation_id"])
        except ValueError:
            raise GitHubError(404, "Not Found") from None
        invitation = self._repo_invitations.get(invitation_id)
        if invitation is None or invitation["user"] != request[_USER]:
            raise GitHubError(404, "Not Found")
        return invitation_id

    async def _accept_invitation(self, request: web.Request) -> web.Response:
        invitation = self._repo_invitations.pop(self._own_invitation(request))
        if invitation["permissions"] == "admin":
            self._repos[invitation["repo"]].add(invitation["user"])
        return web.Response(status=204)

    async def _decline_invitation(self, request: web.Request) -> web.Response:
        self._repo_invitations.pop(self._own_invitation(request))
        return web.Response(status=204)

    def _membership_json(self, org: str, user: str, base: URL) -> dict[str, Any]:
        membership = self._org_memberships[(org, user)]
        return {
            "url": str(base / "orgs" / org / "memberships" / user),
            "state": membership["state"], "role": membership["role"],
            "organization_url": str(base / "orgs" / org),
            "organization": self._org_json(org, base), "user": self._user_json(user, base),
        }

    async def _list_memberships(self, request: web.Request) -> web.Response:
        self._require_scopes(request, _MEMBERSHIP_SCOPES["read"])
        state = request.query.get("state")
        if state not in (None, "active", "pending"):
            raise _invalid("state", f"state must be active or pending, not {state!r}")
        base = self._base(request)
        items = [
            self._membership_json(org, user, base)
            for (org, user), m in sorted(self._org_memberships.items())
            if user == request[_USER] and state in (None, m["state"])
        ]
        return self._paginate(request, items)

    async def _get_membership(self, request: web.Request) -> web.Response:
        self._require_scopes(request, _MEMBERSHIP_SCOPES["read"])
        org = request.match_info["org"]
        if (org, request[_USER]) not in self._org_memberships:
            raise GitHubError(404, "Not Found")
        return web.json_response(self._membership_json(org, request[_USER], self._base(request)))

    async def _edit_membership(self, request: web.Request) -> web.Response:
        self._require_scopes(request, _MEMBERSHIP_SCOPES["write"])
        org, user = request.match_info["org"], request[_USER]
        membership = self._org_memberships.get((org, user))
        if membership is None:
            raise GitHubError(404, "Not Found")
        body = await self._json_body(request)
        if body.get("state") != "active":
            raise _invalid("state", "state can only be set to active")
        membership["state"] = "active"
        if membership["role"] == "admin":
            self._orgs[org].add(user)
        return web.json_response(self._membership_json(org, user, self._base(request)))

    # --- helpers ---------------------------------------------------------------------------------

    def _base(self, request: web.Request) -> URL:
        return request.url.origin()

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            raise GitHubError(400, "Problems parsing JSON") from None
        if not isinstance(body, dict):
            raise GitHubError(400, "Body should be a JSON object")
        return body

    def _paginate(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        try:
            per_page = min(int(request.query.get("per_page", _PER_PAGE_DEFAULT)), _PER_PAGE_MAX)
            page = max(int(request.query.get("page", 1)), 1)
        except ValueError:
            raise _invalid("page", "page and per_page must be integers") from None
        per_page = max(per_page, 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        response = web.json_response(items[(page - 1) * per_page : page * per_page])
        links = []
        for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel == "prev" and page > 1) or (rel == "next" and page < last) or (
                rel in ("last", "first") and last > 1 and page != number
            ):
                url = request.url.update_query(page=str(number), per_page=str(per_page))
                links.append(f'<{url}>; rel="{rel}"')
        if links:
            response.headers["Link"] = ", ".join(links)
        return response


def _invalid(field_name: str, message: str) -> GitHubError:
    return GitHubError(
        422, "Validation Failed",
        errors=[{"resource": "Hook", "code": "custom", "field": field_name, "message": message}],
    )


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise _invalid("events", "events must be a list of strings")
    return list(dict.fromkeys(value))


def _content_type(value: Any) -> str:
    if value not in ("json", "form"):
        raise _invalid("content_type", "content_type must be json or form")
    return str(value)


def _kind(owner: str) -> str:
    return "repository" if "/" in owner else "organization"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_SEED_SECTIONS = {
    "tokens", "orgs", "repos", "repository_invitations", "org_invitations", "hooks", "apps",
}


def _mapping(value: Any, where: str, fields: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SeedError(f"{where}: must be a mapping with keys {sorted(fields)}")
    unknown = sorted(str(k) for k in set(value) - fields)
    if unknown:
        raise SeedError(f"{where}.{unknown[0]}: unknown field; expected one of {sorted(fields)}")
    return value


def _entries(section: Mapping[str, Any], name: str) -> Mapping[Any, Any]:
    value = section.get(name) or {}
    if not isinstance(value, dict):
        raise SeedError(f"github.{name}: must be a mapping")
    return value


def _items(
    section: Mapping[str, Any], name: str, where: str = "github"
) -> Iterator[tuple[str, Any]]:
    value = section.get(name) or []
    if not isinstance(value, list):
        raise SeedError(f"{where}.{name}: must be a list")
    for index, item in enumerate(value):
        yield f"{where}.{name}[{index}]", item


def _text(entry: Mapping[str, Any], field_name: str, where: str) -> str:
    value = entry.get(field_name)
    if not isinstance(value, str) or not value:
        raise SeedError(f"{where}.{field_name}: required, a non-empty string")
    return value


def _texts(entry: Mapping[str, Any], field_name: str, where: str) -> list[str]:
    value = entry.get(field_name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SeedError(f"{where}.{field_name}: must be a list of non-empty strings")
    return value


def _choice(entry: Mapping[str, Any], field_name: str, where: str, allowed: Sequence[str]) -> str:
    value = _text(entry, field_name, where)
    if value not in allowed:
        raise SeedError(f"{where}.{field_name}: {value!r} is not one of {list(allowed)}")
    return value


def _owner_name(value: Any, where: str, *, repo: bool) -> str:
    org, slash, name = str(value).partition("/")
    if not org or bool(slash) != repo or (repo and (not name or "/" in name)):
        shape = "'org/repo'" if repo else "'org' (no slash)"
        raise SeedError(f"{where}: {str(value)!r} must be spelled {shape}")
    return str(value)
