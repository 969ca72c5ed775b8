"""The job as a GitHub App: an installation token per organisation, found through the
App's installations and replaced before it expires; real PyGithub on the emulator."""

import datetime as dt
import time

import pytest

from kes.errors import KesError
from kes.hmac.github_auth import AppAuthError, AppCredentials
from tests.hmac.conftest import APP_ID

ROTATE_AFTER = "2025-06-01T00:00:00Z"
START = {"foo/bar": "old-bar", "foo/baz": "old-baz", "qux": "old-qux"}
CONFIG = {"foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER, "qux": ROTATE_AFTER}
LIST = "GET /app/installations"
TOKEN = "POST /app/installations/{installation_id}/access_tokens"


class Clock:
    """One clock for the credentials and for the emulator's installation tokens, which
    the test moves on."""

    def __init__(self) -> None:
        self.offset = 0.0

    def epoch(self) -> float:
        return time.time() + self.offset

    def __call__(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.epoch(), dt.UTC)


@pytest.fixture
def installed(harness, app_key):
    harness.github.add_app(APP_ID, app_key.public_pem, slug="prow-app")
    harness.github.add_org("foo")
    return {org: harness.github.install_app(APP_ID, org) for org in ("foo", "qux")}


def app(harness, key, clock=None) -> AppCredentials:
    return AppCredentials(str(APP_ID), key.private_pem, harness.api(), clock or Clock())


async def test_the_job_converges_with_one_token_per_organisation(
    harness, installed, app_key
) -> None:
    await harness.setup(START)
    report = await harness.job(CONFIG, credentials=app(harness, app_key)).run()
    assert report.ok, report.failures
    assert harness.github.calls[LIST] == 1
    assert harness.github.calls[TOKEN] == 2  # foo and qux, each used many times
    await harness.assert_converged(CONFIG)


@pytest.mark.parametrize(
    # Half a minute before the hour GitHub gives a token: within Prow's minute of margin.
    "later", [dt.timedelta(minutes=59, seconds=30), dt.timedelta(hours=2)],
    ids=["about-to-expire", "expired"],
)
async def test_tokens_are_replaced_before_use_when_they_expire_within_the_margin(
    harness, installed, app_key, later
) -> None:
    clock = Clock()
    harness.github.token_clock = clock.epoch
    credentials = app(harness, app_key, clock)
    await harness.setup(START)
    assert (await harness.job(CONFIG, credentials=credentials).run()).ok
    clock.offset = later.total_seconds()
    harness.reset_counters()
    report = await harness.job(CONFIG, credentials=credentials).run()
    assert report.ok, report.failures  # every hook was listed again, with new tokens
    assert harness.github.calls[TOKEN] == 2 and harness.github.calls[LIST] == 0
    await harness.assert_converged(CONFIG)


async def test_an_expired_token_that_was_not_replaced_fails_as_on_github(
    harness, installed, app_key
) -> None:
    """The other side of the test above: the emulator does reject expired tokens."""
    credentials = app(harness, app_key)  # on real time
    await harness.setup(START)
    assert (await harness.job(CONFIG, credentials=credentials).run()).ok
    harness.github.token_clock = lambda: time.time() + 3600
    report = await harness.job(CONFIG, credentials=credentials).run()
    assert set(report.failures) == set(CONFIG)
    assert all("401 Bad credentials (the installation token is not valid)" in e
               for e in report.failures.values())


async def test_an_organisation_without_the_app_is_skipped_and_named(
    harness, app_key
) -> None:
    harness.github.add_app(APP_ID, app_key.public_pem)
    harness.github.install_app(APP_ID, "qux")
    await harness.setup({"qux": "old-qux"})
    config = {"qux": ROTATE_AFTER, "foo/bar": ROTATE_AFTER}
    report = await harness.job(config, credentials=app(harness, app_key)).run()
    assert list(report.failures) == ["foo/bar"]
    assert report.failures["foo/bar"] == (
        "GitHub App installation lookup for foo failed: GitHub App 4242 is not installed "
        "there (installed on: qux)"
    )
    assert harness.hook_secrets()["qux"] == (await harness.stored())["qux"][0].value


async def test_an_installation_without_the_webhooks_permission_is_named(
    harness, app_key
) -> None:
    harness.github.add_app(APP_ID, app_key.public_pem)
    harness.github.install_app(APP_ID, "qux", permissions={"metadata": "read"})
    report = await harness.job({"qux": ROTATE_AFTER}, credentials=app(harness, app_key)).run()
    assert report.failures["qux"] == (
        "GitHub list hooks for qux failed: 403 Resource not accessible by integration "
        "(the App's installation lacks the Organization webhooks (organization_hooks: write) "
        "permission)"
    )


async def test_a_key_github_does_not_know_stops_the_run_before_any_write(
    harness, installed, other_key
) -> None:
    await harness.setup(START)
    with pytest.raises(AppAuthError) as stopped:
        await harness.job(CONFIG, credentials=app(harness, other_key)).run()
    assert str(stopped.value) == (
        "GitHub list installations for GitHub App 4242 failed: 401 A JSON web token could "
        "not be decoded (GitHub did not accept the App's JWT); check --github-app-id and the "
        "key in --github-app-private-key-path"
    )
    assert harness.gsm_writes() == 0 and harness.github.writes == 0


def test_a_private_key_that_is_not_one_is_refused_without_showing_it(harness) -> None:
    with pytest.raises(KesError) as refused:
        AppCredentials(str(APP_ID), "secret-looking-text", harness.api())
    assert str(refused.value) == (
        "--github-app-private-key-path: not a PEM-encoded RSA private key (InvalidKeyError)"
    )


async def test_an_app_has_no_invitations_to_accept(harness, installed, app_key) -> None:
    harness.github.invite_to_repo("prow-bot", "foo/bax", "admin")
    job = harness.job(
        {"foo/bax": ROTATE_AFTER}, auto_accept_invitation=True, credentials=app(harness, app_key)
    )
    assert (await job.run()).ok
    assert "invitations: none to accept: a GitHub App is installed, never invited" in (
        harness.output.getvalue()
    )
    assert not any(route.startswith(("GET /user", "PATCH /user")) for route in harness.github.calls)
