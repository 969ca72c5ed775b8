"""Plans that remove most hooks, or come from a config without managed_webhooks, need
--allow-mass-removal; and the documented empty entry onboards a key."""

import dataclasses
import datetime as dt

import pytest

from kes.hmac.job import MassRemovalRefused
from kes.tokens import ZERO_TIME, Token

KEEP = "2018-01-01T00:00:00Z"
FOUR = {"foo/bar": "old-bar", "foo/baz": "old-baz", "foo/bax": "old-bax", "qux": "old-qux"}


async def test_deleting_most_hooks_is_refused_before_any_write(harness) -> None:
    await harness.setup(FOUR)
    with pytest.raises(MassRemovalRefused) as refused:
        await harness.job({"qux": KEEP}).run()
    assert str(refused.value) == (
        "refused: it would delete 3 of the 4 managed hooks (foo/bar, foo/bax, foo/baz) and "
        "drop the tokens of 3 keys, more than 50% of them; pass --allow-mass-removal to "
        "apply it"
    )
    assert "foo/bar  remove" in harness.output.getvalue()  # the plan was shown first
    assert harness.gsm_writes() == 0 and harness.github.writes == 0


async def test_half_of_them_is_not_a_mass_removal(harness) -> None:
    await harness.setup(FOUR)
    config = {"qux": KEEP, "foo/bar": KEEP}
    assert (await harness.job(config).run()).ok
    await harness.assert_converged(config)


async def test_allow_mass_removal_applies_it_and_says_so(harness) -> None:
    await harness.setup(FOUR)
    config = {"qux": KEEP}
    assert (await harness.job(config, allow_mass_removal=True).run()).ok
    assert "--allow-mass-removal: it would delete 3 of the 4" in harness.output.getvalue()
    await harness.assert_converged(config)


async def test_moving_repos_under_their_org_hook_is_no_removal(harness) -> None:
    """foo/bar, foo/baz and foo/bax give way to one org hook on foo."""
    harness.github.add_org("foo", admins=["prow-bot"])
    await harness.setup(FOUR)
    config = {"foo": KEEP, "qux": KEEP}
    assert (await harness.job(config).run()).ok
    await harness.assert_converged(config)


async def test_a_config_without_the_section_is_refused_even_in_a_dry_run(harness) -> None:
    await harness.setup({"foo/bar": "old-bar"})
    job = harness.job({}, dry_run=True)
    job.config = dataclasses.replace(job.config, present=False)
    with pytest.raises(MassRemovalRefused) as refused:
        await job.run()
    assert str(refused.value) == (
        "refused: the Prow config has no managed_webhooks section (a wrong --config-path, or "
        "an empty file?): it would delete 1 of the 1 managed hooks (foo/bar) and drop the "
        "tokens of 1 keys; pass --allow-mass-removal to apply it"
    )


async def test_an_empty_entry_onboards_while_the_global_token_is_respected(harness) -> None:
    """`foo/baz: {}` is Go's zero time; the global token copied into it is dated then."""
    await harness.seed(b"legacy-global-token")
    harness.receiver.tokens = {"*": (Token("legacy-global-token", ZERO_TIME),)}
    harness.github.add_hook("foo/baz", harness.hook_url, "legacy-global-token")
    harness.reset_counters()
    job = harness.job({"foo/baz": None}, respect_legacy_global_token=True)
    job.generate = lambda now: Token("new-baz", now)
    report = await job.run()
    assert report.ok, report.failures
    assert [(k.key, k.action.value, k.hook.value) for k in report.plan.keys] == [
        ("*", "unchanged", "-"), ("foo/baz", "onboard", "edit"),
    ]
    new = Token("new-baz", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert report.plan.staged["foo/baz"] == (Token("legacy-global-token", ZERO_TIME), new)
    stored = await harness.stored()
    assert [t.value for t in stored["foo/baz"]] == ["new-baz"]
    await harness.assert_every_hook_verifies()
