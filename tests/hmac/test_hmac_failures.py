"""Every failure leaves a state the receiver accepts, and a re-run converges."""

import grpc
import pytest

from kes.gsm import PermissionDenied

ROTATE_AFTER = "2025-06-01T00:00:00Z"
KEEP = "2018-01-01T00:00:00Z"
EDIT_REPO_HOOK = "PATCH /repos/{owner}/{repo}/hooks/{hook_id}"
START = {"foo/bar": "old-bar", "foo/baz": "old-baz", "qux": "old-qux"}
CONFIG = {"foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER, "qux": ROTATE_AFTER}


async def rerun_converges(harness, config=CONFIG) -> None:
    await harness.assert_every_hook_verifies()
    harness.github.fail_next(EDIT_REPO_HOOK, 0)
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


async def test_propagation_failure_touches_no_hook(harness) -> None:
    await harness.setup(START)

    class NeverPropagates:
        def describe(self) -> str:
            return "never"

        async def wait(self, version, tokens) -> None:
            from kes.hmac.propagation import PropagationTimeout

            raise PropagationTimeout("version never served")

    with pytest.raises(Exception, match="never served"):
        await harness.job(CONFIG, propagation=NeverPropagates()).run()
    assert harness.github.writes == 0
    await rerun_converges(harness)
