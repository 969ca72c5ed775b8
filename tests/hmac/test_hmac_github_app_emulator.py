"""The GitHub emulator as a GitHub App sees it: JWTs checked against the App's public
key, installation tokens that expire and reach only their installation."""

import asyncio
import time

import jwt
import pytest
from aiohttp import ClientSession
from github import Auth, Github, GithubException, GithubIntegration

from kes_emulators.github import GitHubEmulator, SeedError

APP_ID = 77
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}


@pytest.fixture
async def emulator(app_key):
    emulator = GitHubEmulator(seed={
        "repos": {"acme/app": {}, "acme/lib": {}, "other/x": {}},
        "apps": [{
            "id": APP_ID, "slug": "prow-app", "public_key": app_key.public_pem,
            "installations": [
                {"org": "acme", "repositories": ["acme/app"]},
                {"org": "other", "permissions": {"metadata": "read"}},
            ],
        }],
    })
    await emulator.start()
    yield emulator
    await emulator.stop()


def integration(emulator: GitHubEmulator, private_pem: str) -> GithubIntegration:
    return GithubIntegration(
        auth=Auth.AppAuth(str(APP_ID), private_pem), base_url=emulator.url, **FAST
    )


def installation_token(emulator: GitHubEmulator, private_pem: str, org: str) -> str:
    app = integration(emulator, private_pem)
    [installation] = [i for i in app.get_installations() if i.account.login == org]
    return app.get_access_token(installation.id).token


async def test_pygithub_lists_installations_and_gets_a_token_that_expires(
    emulator, app_key
) -> None:
    def run() -> tuple[dict, object]:
        app = integration(emulator, app_key.private_pem)
        found = {i.account.login: (i.id, i.repository_selection) for i in app.get_installations()}
        token = app.get_access_token(found["acme"][0])
        return found, token

    found, token = await asyncio.to_thread(run)
    assert {org: selection for org, (_, selection) in found.items()} == {
        "acme": "selected", "other": "all",
    }
    assert token.token.startswith("ghs_")
    assert 3590 < token.expires_at.timestamp() - time.time() <= 3600
    assert emulator.calls["POST /app/installations/{installation_id}/access_tokens"] == 1


async def test_an_installation_token_reaches_only_its_repositories(emulator, app_key) -> None:
    def run() -> tuple[list, int, int]:
        github = Github(
            auth=Auth.Token(installation_token(emulator, app_key.private_pem, "acme")),
            base_url=emulator.url, **FAST,
        )
        hooks = list(github.get_repo("acme/app").get_hooks())
        created = github.get_repo("acme/app").create_hook(
            "web", {"url": "http://example.invalid/hook", "content_type": "json"}
        )
        with pytest.raises(GithubException) as outside:
            list(github.get_repo("acme/lib").get_hooks())
        with pytest.raises(GithubException) as user:
            github.get_user().login  # noqa: B018 - the property makes the call
        return hooks, created.id, (outside.value.status, user.value.status)

    hooks, created, statuses = await asyncio.to_thread(run)
    assert hooks == [] and emulator.hooks("acme/app")[0].id == created
    assert statuses == (404, 403)


async def test_without_the_webhooks_permission_github_says_not_accessible(
    emulator, app_key
) -> None:
    def run() -> GithubException:
        github = Github(
            auth=Auth.Token(installation_token(emulator, app_key.private_pem, "other")),
            base_url=emulator.url, **FAST,
        )
        assert github.get_repo("other/x").full_name == "other/x"  # metadata: read
        with pytest.raises(GithubException) as denied:
            list(github.get_organization("other").get_hooks())
        return denied.value

    denied = await asyncio.to_thread(run)
    assert denied.status == 403
    assert denied.data["message"] == "Resource not accessible by integration"


async def test_a_token_may_ask_for_fewer_permissions_never_more(emulator, app_key) -> None:
    async with ClientSession() as http:
        headers = {"Authorization": f"Bearer {app_jwt(app_key.private_pem)}"}
        installations = await http.get(f"{emulator.url}/app/installations", headers=headers)
        listing = await installations.json()
        acme = next(i["id"] for i in listing if i["account"]["login"] == "acme")
        url = f"{emulator.url}/app/installations/{acme}/access_tokens"
        read_only = await http.post(
            url, headers=headers, json={"permissions": {"repository_hooks": "read"}}
        )
        too_much = await http.post(
            url, headers=headers, json={"permissions": {"administration": "write"}}
        )
        narrowed = await http.post(url, headers=headers, json={"repositories": ["app"]})
        token = (await read_only.json())["token"]
        auth = {"Authorization": f"token {token}"}
        listed = await http.get(f"{emulator.url}/repos/acme/app/hooks", headers=auth)
        created = await http.post(
            f"{emulator.url}/repos/acme/app/hooks", headers=auth,
            json={"config": {"url": "http://example.invalid/hook"}},
        )
    assert read_only.status == 201
    assert (await read_only.json())["permissions"] == {"repository_hooks": "read"}
    assert too_much.status == 422
    assert narrowed.status == 501 and "repositories" in (await narrowed.json())["message"]
    assert (listed.status, created.status) == (200, 403)


def app_jwt(private_pem: str, **claims: object) -> str:
    now = int(time.time())
    payload = {"iat": now - 60, "exp": now + 300, "iss": str(APP_ID), **claims}
    return jwt.encode(payload, private_pem, algorithm="RS256")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda key, other: app_jwt(other.private_pem), "A JSON web token could not be decoded"),
        (lambda key, other: app_jwt(key.private_pem, iss="999"),
         "A JSON web token could not be decoded"),
        (lambda key, other: jwt.encode({"iss": str(APP_ID), "iat": 1, "exp": 2}, "x" * 32,
                                       algorithm="HS256"),
         "A JSON web token could not be decoded"),
        (lambda key, other: "ghp_not_a_jwt", "A JSON web token could not be decoded"),
        (lambda key, other: app_jwt(key.private_pem, exp=int(time.time()) - 1),
         "'Expiration time' claim ('exp') must be a numeric value"),
        (lambda key, other: app_jwt(key.private_pem, exp=int(time.time()) + 3600),
         "'Expiration time' claim ('exp') is too far in the future"),
        (lambda key, other: app_jwt(key.private_pem, iat=int(time.time()) + 600),
         "'Issued at' claim ('iat') must be an Integer"),
    ],
    ids=["other-key", "unknown-app", "hs256", "not-a-jwt", "expired", "too-long", "future-iat"],
)
async def test_app_routes_check_the_jwt_as_github_does(
    emulator, app_key, other_key, make, message
) -> None:
    async with ClientSession() as http:
        response = await http.get(
            f"{emulator.url}/app/installations",
            headers={"Authorization": f"Bearer {make(app_key, other_key)}"},
        )
        body = await response.json()
    assert response.status == 401
    assert body["message"].startswith(message)


async def test_the_client_id_names_the_app_too(emulator, app_key) -> None:
    async with ClientSession() as http:
        app = await (await http.get(
            f"{emulator.url}/app",
            headers={"Authorization": f"Bearer {app_jwt(app_key.private_pem)}"},
        )).json()
        by_client_id = await http.get(
            f"{emulator.url}/app",
            headers={
                "Authorization": f"Bearer {app_jwt(app_key.private_pem, iss=app['client_id'])}"
            },
        )
    assert app["id"] == APP_ID and app["slug"] == "prow-app"
    assert by_client_id.status == 200


async def test_a_jwt_is_no_key_to_other_routes_nor_an_expired_token(emulator, app_key) -> None:
    token = await asyncio.to_thread(installation_token, emulator, app_key.private_pem, "acme")
    async with ClientSession() as http:
        with_jwt = await http.get(
            f"{emulator.url}/repos/acme/app/hooks",
            headers={"Authorization": f"Bearer {app_jwt(app_key.private_pem)}"},
        )
        emulator.token_clock = lambda: time.time() + 3600
        expired = await http.get(
            f"{emulator.url}/repos/acme/app/hooks", headers={"Authorization": f"token {token}"}
        )
        other_install = await http.post(
            f"{emulator.url}/app/installations/123456/access_tokens",
            headers={"Authorization": f"Bearer {app_jwt(app_key.private_pem)}"},
        )
    assert with_jwt.status == 401 and "installation token" in (await with_jwt.json())["message"]
    assert expired.status == 401 and (await expired.json())["message"] == "Bad credentials"
    assert other_install.status == 404


@pytest.mark.parametrize(
    ("apps", "message"),
    [
        ([{"public_key": "x"}], "github.apps[0].id: required, a positive integer"),
        ([{"id": 1, "public_key": "not pem"}], "github.apps[0].public_key: not a PEM RSA"),
        ([{"id": 1, "public_key": "{pem}", "installations": [{"org": "a/b"}]}],
         "github.apps[0].installations[0].org: 'a/b' must be spelled 'org'"),
        ([{"id": 1, "public_key": "{pem}",
           "installations": [{"org": "a", "repositories": ["b/c"]}]}],
         "github.apps[0].installations[0].repositories: 'b/c' is not a repository of 'a'"),
        ([{"id": 1, "public_key": "{pem}",
           "installations": [{"org": "a", "permissions": {"x": "admin"}}]}],
         "github.apps[0].installations[0].permissions: a mapping of permission to read or write"),
    ],
)
def test_bad_app_seeds_name_the_field(app_key, apps, message) -> None:
    for app in apps:
        if app.get("public_key") == "{pem}":
            app["public_key"] = app_key.public_pem
    with pytest.raises(SeedError) as raised:
        GitHubEmulator(seed={"apps": apps})
    assert str(raised.value).startswith(message)
