"""The GitHub emulator itself: GitHub's semantics as PyGithub and raw HTTP see them."""

import asyncio
import hashlib
import hmac
import json

import pytest
from aiohttp import ClientSession, web
from github import Auth, Github, GithubException

from kes_emulators.github import MASK, GitHubEmulator, SeedError

TOKEN = "ghp_admin"
AUTH = {"Authorization": f"token {TOKEN}"}


@pytest.fixture
async def emulator():
    emulator = GitHubEmulator(seed={
        "tokens": {
            TOKEN: {"user": "bot", "scopes": ["admin:repo_hook", "admin:org_hook"]},
            "ghp_read": {"user": "bot", "scopes": ["read:repo_hook"]},
            "ghp_other": {"user": "mallory", "scopes": ["admin:repo_hook"]},
            "ghp_invites": {"user": "bot", "scopes": ["repo:invite", "write:org"]},
            "ghp_read_org": {"user": "bot", "scopes": ["read:org"]},
        },
        "orgs": {"acme": {"admins": ["bot"]}},
        "repos": {"acme/app": {"admins": []}, "acme/lib": {}},
        "hooks": [{"owner": "acme/lib", "url": "http://example.invalid/x", "secret": "s"}],
    })
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def http():
    async with ClientSession() as session:
        yield session


@pytest.fixture
async def endpoint():
    """A receiver recording raw deliveries."""
    got: list[tuple[dict, bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", got
    await runner.cleanup()


def verify(secret: str, headers: dict, body: bytes) -> bool:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return (headers["X-Hub-Signature-256"] == f"sha256={digest}"
            and headers["X-Hub-Signature"] == f"sha1={sha1}")


async def create(http, emulator, owner_path: str, url: str, secret: str = "top-secret", **extra):
    body = {"name": "web", "config": {"url": url, "content_type": "json", "secret": secret},
            "events": ["*"], **extra}
    async with http.post(f"{emulator.url}/{owner_path}/hooks", json=body, headers=AUTH) as r:
        return r.status, await r.json()


async def test_create_pings_with_a_signed_body_and_hides_the_secret(emulator, http, endpoint):
    url, got = endpoint
    status, hook = await create(http, emulator, "repos/acme/app", url)
    assert status == 201
    assert hook["config"]["secret"] == MASK and hook["type"] == "Repository"
    assert hook["url"] == f"{emulator.url}/repos/acme/app/hooks/{hook['id']}"
    await emulator.settle()
    [(headers, body)] = got
    assert headers["X-GitHub-Event"] == "ping" and len(headers["X-GitHub-Delivery"]) == 36
    assert headers["Content-Type"] == "application/json"
    assert verify("top-secret", headers, body)
    payload = json.loads(body)
    assert payload["hook_id"] == hook["id"] and payload["zen"]
    assert payload["hook"]["config"]["secret"] == MASK
    assert payload["repository"]["full_name"] == "acme/app"
    assert [d.status for d in emulator.deliveries] == [202]
    async with http.get(f"{emulator.url}/repos/acme/app/hooks/{hook['id']}", headers=AUTH) as r:
        assert (await r.json())["config"]["secret"] == MASK
        assert r.headers["X-OAuth-Scopes"] == "admin:repo_hook, admin:org_hook"


async def test_edit_replaces_the_config_and_deliveries_use_the_new_secret(
    emulator, http, endpoint
):
    url, got = endpoint
    _, hook = await create(http, emulator, "orgs/acme", url)
    patch = {"config": {"url": url, "content_type": "json", "secret": "rotated"}, "active": True}
    async with http.patch(hook["url"], json=patch, headers=AUTH) as r:
        assert r.status == 200
        assert (await r.json())["config"] == {
            "url": url, "content_type": "json", "insecure_ssl": "0", "secret": MASK,
        }
    await emulator.settle()
    got.clear()
    [delivery] = await emulator.deliver("acme/app", "push", {"ref": "refs/heads/main"})
    assert delivery.status == 202 and delivery.event == "push"
    [(headers, body)] = got
    assert verify("rotated", headers, body) and not verify("top-secret", headers, body)
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "organization"


async def test_delivery_follows_events_and_active(emulator, http, endpoint):
    url, got = endpoint
    _, hook = await create(http, emulator, "repos/acme/app", url, events=["issues"])
    await emulator.settle()
    assert await emulator.deliver("acme/app", "push", {}) == []
    assert len(await emulator.deliver("acme/app", "issues", {})) == 1
    async with http.patch(hook["url"], json={"active": False}, headers=AUTH):
        pass
    assert await emulator.deliver("acme/app", "issues", {}) == []


async def test_pings_on_request(emulator, http, endpoint):
    url, got = endpoint
    _, hook = await create(http, emulator, "repos/acme/app", url)
    async with http.post(hook["ping_url"], headers=AUTH) as r:
        assert r.status == 204
    await emulator.settle()
    assert [h["X-GitHub-Event"] for h, _ in got] == ["ping", "ping"]


async def test_duplicate_hooks_and_bad_bodies_are_422(emulator, http):
    await create(http, emulator, "repos/acme/app", "http://127.0.0.1:9/a")
    status, body = await create(http, emulator, "repos/acme/app", "http://127.0.0.1:9/a")
    assert status == 422 and body["message"] == "Validation Failed"
    assert body["errors"][0]["message"] == "Hook already exists on this repository"
    status, body = await create(http, emulator, "repos/acme/app", "")
    assert status == 422


async def test_pagination_with_link_headers(emulator, http):
    for i in range(35):
        emulator.add_hook("acme/app", f"http://127.0.0.1:9/{i}")
    page = f"{emulator.url}/repos/acme/app/hooks?per_page=10&page=2"
    async with http.get(page, headers=AUTH) as r:
        assert len(await r.json()) == 10
        links = r.headers["Link"]
    assert 'per_page=10&page=3>; rel="next"' in links
    assert 'per_page=10&page=4>; rel="last"' in links
    assert 'per_page=10&page=1>; rel="prev"' in links
    github = Github(auth=Auth.Token(TOKEN), base_url=emulator.url, per_page=10,
                    seconds_between_requests=0, seconds_between_writes=0)
    hooks = await asyncio.to_thread(lambda: list(github.get_repo("acme/app").get_hooks()))
    assert len(hooks) == 35
    assert emulator.calls["GET /repos/{owner}/{repo}/hooks"] == 1 + 4


@pytest.mark.parametrize(
    ("headers", "path", "status", "message"),
    [
        ({}, "/repos/acme/app/hooks", 401, "Requires authentication"),
        ({"Authorization": "token nope"}, "/repos/acme/app/hooks", 401, "Bad credentials"),
        ({"Authorization": "token ghp_read"}, "/orgs/acme/hooks", 404, "Not Found"),
        ({"Authorization": "token ghp_other"}, "/repos/acme/app/hooks", 404, "Not Found"),
        (AUTH, "/repos/acme/nope/hooks", 404, "Not Found"),
    ],
)
async def test_access_errors_look_like_githubs(emulator, http, headers, path, status, message):
    async with http.get(emulator.url + path, headers=headers) as r:
        assert r.status == status
        body = await r.json()
    assert body["message"] == message and body["documentation_url"].startswith("https://")


async def test_read_scope_may_list_but_not_create(emulator, http):
    read = {"Authorization": "token ghp_read"}
    async with http.get(f"{emulator.url}/repos/acme/lib/hooks", headers=read) as r:
        assert r.status == 200 and len(await r.json()) == 1
        assert r.headers["X-OAuth-Scopes"] == "read:repo_hook"
    body = {"config": {"url": "http://127.0.0.1:9/"}}
    async with http.post(f"{emulator.url}/repos/acme/lib/hooks", json=body, headers=read) as r:
        assert r.status == 404
        assert "admin:repo_hook" in r.headers["X-Accepted-OAuth-Scopes"]


async def test_unemulated_routes_answer_501_naming_the_route(emulator, http):
    async with http.get(f"{emulator.url}/repos/acme/app/pulls", headers=AUTH) as r:
        assert r.status == 501
        assert "GET /repos/acme/app/pulls" in (await r.json())["message"]
    async with http.put(f"{emulator.url}/repos/acme/app/hooks", headers=AUTH) as r:
        assert r.status == 501


async def test_fault_injection(emulator, http):
    emulator.fail_next("GET /repos/{owner}/{repo}/hooks", 1)
    emulator.fail_next("GET /orgs/{org}/hooks", 1, kind="secondary_rate_limit", retry_after=7)
    async with http.get(f"{emulator.url}/repos/acme/app/hooks", headers=AUTH) as r:
        assert r.status == 502
    async with http.get(f"{emulator.url}/repos/acme/app/hooks", headers=AUTH) as r:
        assert r.status == 200
    async with http.get(f"{emulator.url}/orgs/acme/hooks", headers=AUTH) as r:
        assert r.status == 403 and r.headers["Retry-After"] == "7"
        assert "secondary rate limit" in (await r.json())["message"]
    assert emulator.calls["GET /repos/{owner}/{repo}/hooks"] == 2
    with pytest.raises(ValueError):
        emulator.fail_next("GET /user", 1, kind="teapot")


async def test_invitations_and_memberships(emulator, http):
    auth = {"Authorization": "token ghp_invites"}
    invitation = emulator.invite_to_repo("bot", "acme/new", "admin")
    emulator.invite_to_org("bot", "other", "admin")
    async with http.get(f"{emulator.url}/user/repository_invitations", headers=auth) as r:
        [listed] = await r.json()
    assert listed["id"] == invitation and listed["permissions"] == "admin"
    assert listed["repository"]["full_name"] == "acme/new"
    url = f"{emulator.url}/user/memberships/orgs"
    async with http.get(url, params={"state": "pending"}, headers=auth) as r:
        [membership] = await r.json()
    assert membership["organization"]["login"] == "other" and membership["role"] == "admin"
    async with http.patch(f"{url}/other", json={"state": "active"}, headers=auth) as r:
        assert r.status == 200 and (await r.json())["state"] == "active"
    async with http.patch(
        f"{emulator.url}/user/repository_invitations/{invitation}", headers=auth
    ) as r:
        assert r.status == 204
    assert emulator.is_admin("bot", "acme/new") and emulator.is_admin("bot", "other")
    async with http.get(url, params={"state": "pending"}, headers=auth) as r:
        assert await r.json() == []


def test_background_mode_serves_synchronous_pygithub() -> None:
    emulator = GitHubEmulator(seed={"tokens": {TOKEN: {"user": "bot", "scopes": ["repo"]}},
                                    "repos": {"acme/app": {"admins": ["bot"]}}})
    with emulator.background():
        github = Github(auth=Auth.Token(TOKEN), base_url=emulator.url,
                        seconds_between_requests=0, seconds_between_writes=0)
        repo = github.get_repo("acme/app")
        hook = repo.create_hook("web", {"url": "http://127.0.0.1:9/", "secret": "s"}, ["push"])
        assert hook.config["secret"] == MASK
        with pytest.raises(GithubException) as caught:
            github.get_repo("acme/none")
        assert caught.value.status == 404
        emulator.run(emulator.settle())
        assert emulator.deliveries[0].status is None  # nothing listens there
        assert emulator.deliveries[0].error


async def test_an_edit_without_a_secret_removes_it_as_on_github(emulator, http):
    _, hook = await create(http, emulator, "repos/acme/app", "http://127.0.0.1:9/a")
    patch = {"config": {"url": "http://127.0.0.1:9/b", "insecure_ssl": "1"}}
    async with http.patch(hook["url"], json=patch, headers=AUTH) as r:
        assert r.status == 200
        assert (await r.json())["config"] == {
            "url": "http://127.0.0.1:9/b", "content_type": "form", "insecure_ssl": "1",
        }
    [stored] = emulator.hooks("acme/app")
    assert stored.secret is None and stored.content_type == "form"


async def test_an_edit_of_the_config_without_a_url_is_422(emulator, http):
    _, hook = await create(http, emulator, "repos/acme/app", "http://127.0.0.1:9/a")
    async with http.patch(hook["url"], json={"config": {"secret": "s2"}}, headers=AUTH) as r:
        assert r.status == 422
        assert (await r.json())["errors"][0]["field"] == "config"
    [stored] = emulator.hooks("acme/app")
    assert stored.secret == "top-secret" and stored.url == "http://127.0.0.1:9/a"


async def test_an_edit_without_a_config_keeps_it(emulator, http):
    _, hook = await create(http, emulator, "repos/acme/app", "http://127.0.0.1:9/a")
    async with http.patch(hook["url"], json={"events": ["push"]}, headers=AUTH) as r:
        assert r.status == 200
    [stored] = emulator.hooks("acme/app")
    assert stored.secret == "top-secret" and stored.events == ["push"]


@pytest.mark.parametrize(
    ("token", "method", "path", "accepted"),
    [
        (TOKEN, "GET", "/user/repository_invitations", "repo, repo:invite"),
        (TOKEN, "PATCH", "/user/repository_invitations/{invitation}", "repo, repo:invite"),
        (TOKEN, "GET", "/user/memberships/orgs", "admin:org, read:org, write:org"),
        ("ghp_read_org", "PATCH", "/user/memberships/orgs/other", "admin:org, write:org"),
    ],
)
async def test_invitations_and_memberships_need_their_scopes(
    emulator, http, token, method, path, accepted
):
    invitation = emulator.invite_to_repo("bot", "acme/new", "admin")
    emulator.invite_to_org("bot", "other", "admin")
    url = emulator.url + path.format(invitation=invitation)
    headers = {"Authorization": f"token {token}"}
    async with http.request(method, url, json={"state": "active"}, headers=headers) as r:
        assert r.status == 404 and (await r.json())["message"] == "Not Found"
        assert r.headers["X-Accepted-OAuth-Scopes"] == accepted
    assert emulator.pending_repo_invitations("bot") == ["acme/new"]
    assert emulator.org_membership("other", "bot") == "pending"


async def test_read_org_may_list_memberships(emulator, http):
    emulator.invite_to_org("bot", "other", "admin")
    headers = {"Authorization": "token ghp_read_org"}
    async with http.get(f"{emulator.url}/user/memberships/orgs", headers=headers) as r:
        assert r.status == 200 and [m["state"] for m in await r.json()] == ["pending"]


async def test_clear_faults_forgets_the_pending_ones(emulator, http):
    emulator.fail_next("GET /repos/{owner}/{repo}/hooks", 2)
    emulator.clear_faults()
    async with http.get(f"{emulator.url}/repos/acme/app/hooks", headers=AUTH) as r:
        assert r.status == 200


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ({"tokens": {"ghp_x": {"scopes": ["admin:repo_hook"]}}},
         "github.tokens['ghp_x'].user: required, a non-empty string"),
        ({"tokens": {"ghp_x": {"user": "u", "scopes": "admin:repo_hook"}}},
         "github.tokens['ghp_x'].scopes: must be a list of non-empty strings"),
        ({"tokens": {"ghp_x": ["u"]}}, "github.tokens['ghp_x']: must be a mapping"),
        ({"tokens": {"ghp_x": {"user": "u", "scope": []}}},
         "github.tokens['ghp_x'].scope: unknown field"),
        ({"orgs": {"acme/app": {}}}, "github.orgs['acme/app']: 'acme/app' must be spelled 'org'"),
        ({"orgs": {"acme": {"admins": "bot"}}}, "github.orgs['acme'].admins: must be a list"),
        ({"repos": {"acme": None}}, "github.repos['acme']: 'acme' must be spelled 'org/repo'"),
        ({"repos": ["acme/app"]}, "github.repos: must be a mapping"),
        ({"repository_invitations": [{"user": "u", "repo": "a/b"}]},
         "github.repository_invitations[0].permissions: required"),
        ({"repository_invitations": [{"user": "u", "repo": "a/b", "permissions": "owner"}]},
         "github.repository_invitations[0].permissions: 'owner' is not one of"),
        ({"org_invitations": {"user": "u"}}, "github.org_invitations: must be a list"),
        ({"org_invitations": [{"user": "u", "org": "a", "role": "boss"}]},
         "github.org_invitations[0].role: 'boss' is not one of"),
        ({"hooks": [{"owner": "acme/app"}]}, "github.hooks[0].url: required"),
        ({"hooks": [{"owner": "acme/app", "url": "http://x/", "events": "push"}]},
         "github.hooks[0].events: must be a list"),
        ({"hook": []}, "github.hook: unknown field"),
    ],
)
def test_a_bad_seed_names_the_section_entry_and_field(seed, message) -> None:
    with pytest.raises(SeedError) as caught:
        GitHubEmulator(seed=seed)
    assert str(caught.value).startswith(message)
