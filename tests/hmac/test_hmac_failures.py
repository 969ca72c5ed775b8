"""Every failure leaves a state the receiver accepts, and a re-run converges."""

import grpc
import pytest

from kes.gsm import PermissionDenied

ROTATE_AFTER = "2025-06-01T00:00:00Z"
KEEP = "2018-01-01T00:00:00Z"
EDIT_REPO_HOOK = "PATCH /repos/{owner}/{repo}/hooks/{hook_id}"
DELETE_ORG_HOOK = "DELETE /orgs/{org}/hooks/{hook_id}"
CREATE_ORG_HOOK = "POST /orgs/{org}/hooks"
START = {"foo/bar": "old-bar", "foo/baz": "old-baz", "qux": "old-qux"}
CONFIG = {"foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER, "qux": ROTATE_AFTER}


async def rerun_converges(harness, config=CONFIG) -> None:
    await harness.assert_every_hook_verifies()
    harness.github.clear_faults()
    report = await harness.job(config).run()
    assert report.ok, report.failures
    await harness.assert_converged(config)


async def test_github_5xx_after_retries_keeps_both_tokens_of_that_key(harness) -> None:
    await harness.setup(START)
    harness.github.fail_next(EDIT_REPO_HOOK, count=3)  # the first try and both retries
    report = await harness.job(CONFIG).run()
    assert list(report.failures) == ["foo/baz"]
    assert "edit hook" in report.failures["foo/baz"] and "502" in report.failures["foo/baz"]
    assert harness.github.calls[EDIT_REPO_HOOK] == 3
    stored = await harness.stored()
    assert [t.value for t in stored["foo/baz"]][0] == "old-baz"
    assert len(stored["foo/baz"]) == 2  # held back: the hook may sign with either
    assert len(stored["qux"]) == 1  # the others went through
    assert harness.hook_secrets()["foo/baz"] == "old-baz"
    await rerun_converges(harness)


async def test_a_5xx_within_the_retries_is_invisible(harness) -> None:
    await harness.setup(START)
    harness.github.fail_next(EDIT_REPO_HOOK, count=2)
    report = await harness.job(CONFIG).run()
    assert report.ok
    assert harness.github.calls[EDIT_REPO_HOOK] == 3
    await harness.assert_converged(CONFIG)


async def test_secondary_rate_limit_is_waited_out(harness) -> None:
    await harness.setup(START)
    harness.github.fail_next(EDIT_REPO_HOOK, count=1, kind="secondary_rate_limit")
    report = await harness.job(CONFIG).run()
    assert report.ok
    assert harness.github.calls[EDIT_REPO_HOOK] == 2
    await harness.assert_converged(CONFIG)


async def test_missing_org_hook_scope_skips_the_org_and_names_it(harness) -> None:
    harness.github.add_token("ghp_repo_only", "prow-bot", ["admin:repo_hook"])
    await harness.setup(START)
    report = await harness.job(CONFIG, token="ghp_repo_only").run()
    assert list(report.failures) == ["qux"]
    assert "list hooks for qux failed: 404 Not Found" in report.failures["qux"]
    assert "admin:org_hook" in report.failures["qux"]
    stored = await harness.stored()
    assert [t.value for t in stored["qux"]] == ["old-qux"]  # untouched
    assert harness.hook_secrets()["qux"] == "old-qux"
    await rerun_converges(harness)


async def test_bad_credentials_change_nothing(harness) -> None:
    await harness.setup(START)
    report = await harness.job(CONFIG, token="ghp_revoked").run()
    assert set(report.failures) == {"foo/bar", "foo/bax", "foo/baz", "qux"}
    assert all("401 Bad credentials" in e for e in report.failures.values())
    assert harness.gsm_writes() == 0 and harness.github.writes == 0
    await rerun_converges(harness)


async def test_gsm_permission_denied_on_the_first_write_touches_no_hook(harness) -> None:
    await harness.setup(START)
    harness.gsm_emulator.faults.fail_next("AddSecretVersion", grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(PermissionDenied, match="hmac-tokens"):
        await harness.job(CONFIG).run()
    assert harness.github.writes == 0
    await rerun_converges(harness)


async def test_gsm_permission_denied_on_the_prune_write(harness) -> None:
    await harness.setup(START)

    def deny_next_write(step: str) -> None:
        if step == "hooks":
            harness.gsm_emulator.faults.fail_next(
                "AddSecretVersion", grpc.StatusCode.PERMISSION_DENIED
            )

    with pytest.raises(PermissionDenied):
        await harness.job(CONFIG, checkpoint=deny_next_write).run()
    stored = await harness.stored()
    assert len(stored["foo/baz"]) == 2  # the staged map still holds old and new
    await rerun_converges(harness)


async def test_gsm_denied_destroy_is_finished_by_the_next_run(harness) -> None:
    await harness.setup(START)
    harness.gsm_emulator.faults.fail_next(
        "DestroySecretVersion", grpc.StatusCode.PERMISSION_DENIED
    )
    with pytest.raises(PermissionDenied):
        await harness.job(CONFIG).run()
    assert len(await harness.readable_versions()) == 3
    await rerun_converges(harness)


async def test_gsm_unavailable_is_retried(harness) -> None:
    await harness.setup(START)
    harness.gsm_emulator.faults.fail_next("AddSecretVersion", grpc.StatusCode.UNAVAILABLE, 2)
    assert (await harness.job(CONFIG).run()).ok
    assert harness.gsm_emulator.counters.calls["AddSecretVersion"] == 4  # 2 failed, 2 written
    await harness.assert_converged(CONFIG)


async def test_an_org_hook_that_cannot_be_deleted_keeps_its_token_in_the_new_repo_key(
    harness,
) -> None:
    """Moving from an org hook to a repo hook: while the org hook is still there it
    signs qux/one's events, which the receiver checks against qux/one's key."""
    await harness.setup({"qux": "old-qux"})
    harness.github.fail_next(DELETE_ORG_HOOK, count=3)
    config = {"qux/one": ROTATE_AFTER}
    report = await harness.job(config).run()
    assert list(report.failures) == ["qux"]
    stored = await harness.stored()
    assert "old-qux" in [t.value for t in stored["qux/one"]]
    assert harness.hook_secrets()["qux"] == "old-qux"
    await rerun_converges(harness, config)


async def test_a_failed_org_hook_create_leaves_the_repo_hook_working(harness) -> None:
    await harness.setup({"qux/one": "old-one"})
    harness.github.fail_next(CREATE_ORG_HOOK, count=3)
    config = {"qux": ROTATE_AFTER}
    report = await harness.job(config).run()
    assert list(report.failures) == ["qux"]
    assert "qux" not in harness.hook_secrets()
    await rerun_converges(harness, config)


async def test_a_create_whose_answer_was_lost_never_makes_a_second_hook(harness) -> None:
    """The first POST was applied but its answer lost, so the client repeats it: GitHub
    answers 422 for a second hook with the same URL, the key keeps its tokens, and the
    next run edits the one hook there is."""
    await harness.setup(START)

    def apply_the_create_first(step: str) -> None:
        if step == "propagate":
            token = harness.receiver.tokens["foo/bax"][-1].value
            harness.github.add_hook("foo/bax", harness.hook_url, token)

    report = await harness.job(CONFIG, checkpoint=apply_the_create_first).run()
    assert list(report.failures) == ["foo/bax"]
    assert "create hook for foo/bax failed: 422" in report.failures["foo/bax"]
    assert len(harness.github.hooks("foo/bax")) == 1
    await rerun_converges(harness)
