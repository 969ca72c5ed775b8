"""Prow's scenarios end to end: real PyGithub and Secret Manager clients on the emulators."""

import datetime as dt
import logging

import pytest

from kes.errors import KesError
from kes.hmac.store import StoreError
from kes.names import SecretName
from kes.tokens import ZERO_TIME, Token, TokenMapError, dump_token_map

ROTATE_AFTER = "2025-06-01T00:00:00Z"  # after the OLD tokens the harness seeds
KEEP = "2018-01-01T00:00:00Z"  # before them
OLD = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)  # when the harness's seeded tokens were made
SECRET_NAME = SecretName("prow-project", "hmac-tokens")


async def test_onboard_into_an_empty_project_creates_the_secret_and_hooks(harness) -> None:
    config = {"foo/bar": KEEP, "qux": KEEP}
    report = await harness.job(config).run()
    assert report.ok
    stored = await harness.stored()
    assert set(stored) == {"foo/bar", "qux"}
    assert harness.gsm_emulator.counters.calls["CreateSecret"] == 1
    assert harness.gsm_emulator.counters.calls["AddSecretVersion"] == 1  # nothing to prune
    assert harness.github.calls["POST /repos/{owner}/{repo}/hooks"] == 1
    assert harness.github.calls["POST /orgs/{org}/hooks"] == 1
    hooks = {h.owner: h for owner in ("foo/bar", "qux") for h in harness.github.hooks(owner)}
    assert hooks["foo/bar"].events == ["*"] and hooks["foo/bar"].content_type == "json"
    assert hooks["qux"].secret == stored["qux"][0].value
    await harness.github.settle()  # the pings GitHub sends on create were verified
    assert sorted(harness.receiver.received) == [("ping", 200), ("ping", 200)]
    await harness.assert_converged(config)


async def test_rotate_replaces_the_token_and_destroys_old_versions(harness) -> None:
    await harness.setup({"foo/bar": "old-bar", "foo/baz": "old-baz"})
    config = {"foo/bar": KEEP, "foo/baz": ROTATE_AFTER}
    report = await harness.job(config).run()
    assert report.ok
    assert harness.github.calls["PATCH /repos/{owner}/{repo}/hooks/{hook_id}"] == 1
    assert harness.github.writes == 1
    assert harness.gsm_emulator.counters.calls["AddSecretVersion"] == 2  # staged, pruned
    assert harness.gsm_emulator.counters.calls["DestroySecretVersion"] == 2
    stored = await harness.stored()
    assert stored["foo/bar"] == (Token("old-bar", OLD),)
    assert stored["foo/baz"][0].value != "old-baz"
    await harness.assert_converged(config)


async def test_remove_deletes_the_hook_then_drops_the_tokens(harness) -> None:
    await harness.setup({"foo/bar": "old-bar", "foo/baz": "old-baz"})
    config = {"foo/bar": KEEP}
    assert (await harness.job(config).run()).ok
    assert harness.github.calls["DELETE /repos/{owner}/{repo}/hooks/{hook_id}"] == 1
    assert harness.github.hooks("foo/baz") == []
    assert harness.gsm_emulator.counters.calls["AddSecretVersion"] == 1
    await harness.assert_converged(config)


async def test_rotate_onboard_and_remove_in_one_run(harness) -> None:
    await harness.setup({"foo/bar": "old-bar", "foo/baz": "old-baz", "qux": "old-qux"})
    config = {"qux": KEEP, "foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER}
    report = await harness.job(config).run()
    assert report.ok
    assert [(k.key, k.action.value, k.hook.value) for k in report.plan.keys] == [
        ("foo/bar", "remove", "delete"),
        ("foo/bax", "onboard", "create"),
        ("foo/baz", "rotate", "edit"),
        ("qux", "unchanged", "-"),
    ]
    assert harness.github.writes == 3
    await harness.assert_converged(config)
    # A second run finds nothing to do and writes nothing.
    harness.reset_counters()
    assert (await harness.job(config).run()).ok
    assert harness.github.writes == 0 and harness.gsm_writes() == 0


async def test_legacy_global_token_is_copied_on_onboarding_and_kept(harness) -> None:
    await harness.seed(b"legacy-global-token\n")
    harness.receiver.tokens = {"*": (Token("legacy-global-token", ZERO_TIME),)}
    harness.github.add_hook("foo/bar", harness.hook_url, "legacy-global-token")
    harness.reset_counters()
    config = {"foo/bar": ROTATE_AFTER}
    job = harness.job(config, respect_legacy_global_token=True)
    assert (await job.run()).ok
    stored = await harness.stored()
    assert stored["*"] == (Token("legacy-global-token", ZERO_TIME),)
    assert harness.github.calls["PATCH /repos/{owner}/{repo}/hooks/{hook_id}"] == 1
    await harness.assert_converged(config)


async def test_staged_map_holds_the_global_token_for_the_onboarded_repo(harness) -> None:
    await harness.seed(b"legacy-global-token")
    harness.receiver.tokens = {"*": (Token("legacy-global-token", ZERO_TIME),)}
    harness.github.add_hook("foo/bar", harness.hook_url, "legacy-global-token")
    job = harness.job({"foo/bar": ROTATE_AFTER}, respect_legacy_global_token=True,
                      checkpoint=_crash_after_stage)
    with pytest.raises(RuntimeError):
        await job.run()
    # The hook still signs with the global token; the repo's own key must accept it.
    await harness.assert_every_hook_verifies()
    assert len(harness.receiver.tokens["foo/bar"]) == 2


def _crash_after_stage(step: str) -> None:
    if step == "stage":
        raise RuntimeError("killed")


async def test_legacy_global_token_is_dropped_once_no_longer_respected(harness) -> None:
    await harness.setup({"*": "global", "foo/bar": "old-bar"})
    config = {"foo/bar": KEEP}
    report = await harness.job(config).run()
    assert report.ok
    assert ("*", "remove", "-") in [(k.key, k.action.value, k.hook.value) for k in report.plan.keys]
    assert "*" not in await harness.stored()
    await harness.assert_converged(config)


async def test_a_legacy_token_without_respect_stops_before_any_write(harness) -> None:
    await harness.seed(b"legacy-global-token")
    harness.reset_counters()
    with pytest.raises(Exception, match="respect_legacy_global_token"):
        await harness.job({"foo/bar": KEEP}).run()
    assert harness.gsm_writes() == 0 and harness.github.writes == 0


async def test_dry_run_writes_nothing(harness) -> None:
    harness.github.invite_to_repo("prow-bot", "foo/bax", "admin")
    await harness.setup({"foo/bar": "old-bar", "foo/baz": "old-baz", "qux": "old-qux"})
    config = {"qux": KEEP, "foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER}
    job = harness.job(config, dry_run=True, auto_accept_invitation=True, unchecked=True)
    report = await job.run()
    assert report.ok
    assert harness.gsm_writes() == 0
    assert harness.github.writes == 0
    assert harness.github.pending_repo_invitations("prow-bot") == ["foo/bax"]
    output = harness.output.getvalue()
    assert "foo/bax  onboard" in output and "dry run: nothing was written" in output
    assert "invitation to foo/bax: would accept" in output
    assert "propagation: not checked (no --wait-for-externalsecret)" in output
    for tokens in report.plan.staged.values():
        for token in tokens:
            assert token.value not in output
    assert "old-bar" not in output


async def test_invitations_only_admin_ones_for_configured_repos_and_orgs(harness) -> None:
    github = harness.github
    github.invite_to_repo("prow-bot", "foo/bax", "admin")  # configured: accepted
    github.invite_to_repo("prow-bot", "foo/zzz", "admin")  # not configured: pending
    github.invite_to_repo("prow-bot", "foo/baz", "write")  # not admin: pending
    github.invite_to_org("prow-bot", "newco", "admin")  # a repo of it is configured: accepted
    github.invite_to_org("prow-bot", "other", "admin")  # not configured: pending
    github.invite_to_org("prow-bot", "qux", "direct_member")  # not admin: pending
    github.add_repo("newco/app")
    config = {"foo/bax": KEEP, "foo/baz": KEEP, "newco/app": KEEP, "qux": KEEP}
    report = await harness.job(config, auto_accept_invitation=True).run()
    assert sorted(report.invitations_accepted) == ["foo/bax", "newco"]
    assert github.pending_repo_invitations("prow-bot") == ["foo/baz", "foo/zzz"]
    assert github.org_membership("newco", "prow-bot") == "active"
    assert github.org_membership("other", "prow-bot") == "pending"
    assert github.org_membership("qux", "prow-bot") == "pending"
    # newco/app's hook could be created because the org invitation made the bot an admin.
    assert report.ok
    await harness.assert_converged(config)


async def test_invitations_are_left_alone_unless_enabled(harness) -> None:
    harness.github.invite_to_repo("prow-bot", "foo/bax", "admin")
    await harness.job({"foo/bax": KEEP}).run()
    assert harness.github.calls["GET /user/repository_invitations"] == 0
    assert harness.github.pending_repo_invitations("prow-bot") == ["foo/bax"]


async def test_the_stored_map_uses_prows_layout(harness) -> None:
    await harness.job({"foo/bar": KEEP}).run()
    value = await harness.gsm.access(SECRET_NAME.version("latest"))
    assert value.data == dump_token_map(await harness.stored())
    assert value.data.startswith(b"foo/bar:\n- created_at: '2026-01-01T00:00:00Z'\n  value: ")


async def test_no_token_reaches_the_logs_even_at_debug(harness, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")  # as github.enable_console_debug_logging
    await harness.setup({"foo/bar": "old-bar", "foo/baz": "old-baz"})
    config = {"foo/bar": KEEP, "foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER}
    report = await harness.job(config).run()
    assert report.ok
    assert "PATCH" in caplog.text  # the GitHub calls are logged, without their bodies
    for tokens in report.plan.staged.values():
        for token in tokens:
            assert token.value not in caplog.text
            assert token.value not in harness.output.getvalue()


async def test_applying_needs_the_propagation_check(harness) -> None:
    await harness.setup({"foo/bar": "old-bar"})
    with pytest.raises(KesError, match="--wait-for-externalsecret NAMESPACE/NAME is required"):
        await harness.job({"foo/bar": ROTATE_AFTER}, unchecked=True).run()
    assert harness.gsm_writes() == 0 and harness.github.writes == 0
    assert harness.github.calls == {}


# As Prow's hmac tool writes it: unquoted times, its own key order and indentation.
PROW_WRITTEN = (
    b"foo/bar:\n  - value: old-bar\n    created_at: 2019-01-01T00:00:00Z\n"
    b"qux:\n  - value: old-qux\n    created_at: 2019-01-01T00:00:00Z\n"
)


async def test_a_map_prow_wrote_is_not_rewritten_when_nothing_changes(harness) -> None:
    await harness.seed(PROW_WRITTEN)
    harness.github.add_hook("foo/bar", harness.hook_url, "old-bar")
    harness.github.add_hook("qux", harness.hook_url, "old-qux")
    harness.reset_counters()
    assert (await harness.job({"foo/bar": KEEP, "qux": KEEP}).run()).ok
    assert harness.gsm_writes() == 0 and harness.github.writes == 0


async def test_nothing_is_written_when_every_key_is_skipped(harness) -> None:
    await harness.seed(PROW_WRITTEN)
    harness.reset_counters()
    report = await harness.job({"foo/bar": ROTATE_AFTER}, token="ghp_revoked").run()
    assert set(report.failures) == {"foo/bar", "qux"}
    assert harness.gsm_writes() == 0 and harness.github.writes == 0


async def test_a_legacy_token_stays_as_it_is_when_nothing_changes(harness) -> None:
    await harness.seed(b"legacy-global-token\n")
    harness.reset_counters()
    assert (await harness.job({}, respect_legacy_global_token=True).run()).ok
    assert harness.gsm_writes() == 0
    value = await harness.gsm.access(SECRET_NAME.version("latest"))
    assert value.data == b"legacy-global-token\n"


async def test_a_respected_global_token_keeps_all_its_tokens(harness) -> None:
    two = {"*": (Token("global-1", ZERO_TIME), Token("global-2", OLD)),
           "foo/bar": (Token("old-bar", OLD),)}
    await harness.seed(dump_token_map(two))
    harness.github.add_hook("foo/bar", harness.hook_url, "old-bar")
    harness.reset_counters()
    report = await harness.job({"foo/bar": KEEP}, respect_legacy_global_token=True).run()
    assert report.ok
    assert ("*", "unchanged", "-") in [
        (k.key, k.action.value, k.hook.value) for k in report.plan.keys
    ]
    assert harness.gsm_writes() == 0
    assert await harness.stored() == two


# Version states, oldest first; the last one is what `latest` resolves to.
@pytest.mark.parametrize(
    "states", [["DISABLED"], ["DESTROYED", "DESTROYED"], ["ENABLED", "DISABLED"]]
)
async def test_a_latest_version_that_is_not_enabled_stops_the_run(harness, states) -> None:
    await harness.gsm.create_secret(SECRET_NAME)
    data = dump_token_map({"foo/bar": (Token("x", OLD),)})
    for _ in states:
        await harness.gsm.add_version(SECRET_NAME, data)
    versions = await harness.gsm.list_versions(SECRET_NAME)  # newest first
    for version, state in zip(reversed(versions), states, strict=True):
        if state == "DISABLED":
            await harness.gsm.disable_version(version.name)
        elif state == "DESTROYED":
            await harness.gsm.destroy_version(version.name)
    harness.reset_counters()
    latest = versions[0].name
    with pytest.raises(StoreError, match=f"{latest} is {states[-1]}: .* {SECRET_NAME};"):
        await harness.job({"foo/bar": KEEP}).run()
    assert harness.gsm_writes() == 0 and harness.github.writes == 0


async def test_a_secret_without_versions_is_an_empty_map(harness) -> None:
    await harness.gsm.create_secret(SECRET_NAME)
    harness.reset_counters()
    assert (await harness.job({"foo/bar": KEEP}).run()).ok
    assert harness.gsm_emulator.counters.calls["CreateSecret"] == 0
    await harness.assert_converged({"foo/bar": KEEP})


async def test_a_payload_that_is_not_utf8_is_named_without_its_bytes(harness) -> None:
    version = await harness.seed(b"foo/bar:\n- value: \xffsecret\xfe\n")
    harness.reset_counters()
    with pytest.raises(TokenMapError) as caught:
        await harness.job({"foo/bar": KEEP}).run()
    message = str(caught.value)
    assert message.startswith(f"{version}: not UTF-8 text")
    assert "secret" not in message.replace(str(SECRET_NAME), "").replace(str(version), "")
    assert "\\xff" not in message and caught.value.__cause__ is None
    assert harness.gsm_writes() == 0 and harness.github.writes == 0
