"""The job killed between any two steps: no hook signs with a token the receiver lacks,
and the next run converges."""

import pytest

from kes.hmac.job import STEPS

ROTATE_AFTER = "2025-06-01T00:00:00Z"
START = {"foo/bar": "old-bar", "foo/baz": "old-baz", "qux": "old-qux"}
# Remove foo/bar (delete), onboard foo/bax (create), rotate foo/baz and qux (edit).
CONFIG = {"foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER, "qux": ROTATE_AFTER}
# (stored keys with the token their hook signs with, config); hook changes go in key order.
SCENARIOS = {
    "rotate-onboard-remove": (START, CONFIG),
    # The org hook signs qux/one's events with the org token until it is deleted.
    "org-to-repo": ({"qux": "old-qux"}, {"qux/one": ROTATE_AFTER}),
    # The new org hook signs qux/one's events while qux/one's own key is still stored.
    "repo-to-org": ({"qux/one": "old-one"}, {"qux": ROTATE_AFTER}),
    # Both directions at once, in two orgs.
    "org-and-repo-moves": (
        {"qux": "old-qux", "foo/bar": "old-bar", "foo/baz": "old-baz"},
        {"qux/one": ROTATE_AFTER, "foo": ROTATE_AFTER},
    ),
}


def kill_points(start: dict, config: dict) -> list[str]:
    """Every step, and every single hook change, in the order the job passes them."""
    hooks = [f"hook:{key}" for key in sorted(set(start) | set(config))]
    at = STEPS.index("hooks")
    return [*STEPS[:at], *hooks, *STEPS[at:]]


CASES = [
    pytest.param(name, step, id=f"{name}@{step}")
    for name, (start, config) in SCENARIOS.items()
    for step in kill_points(start, config)
]


class Crash(Exception):
    pass


def crash_at(step: str):
    def checkpoint(reached: str) -> None:
        if reached == step:
            raise Crash(step)

    return checkpoint


@pytest.mark.parametrize(("scenario", "step"), CASES)
async def test_crash_then_rerun(harness, scenario: str, step: str) -> None:
    start, config = SCENARIOS[scenario]
    harness.github.add_org("foo", admins=["prow-bot"])
    await harness.setup(start)
    with pytest.raises(Crash):
        await harness.job(config, checkpoint=crash_at(step)).run()
    await harness.assert_every_hook_verifies()
    report = await harness.job(config).run()
    assert report.ok
    await harness.assert_converged(config)
    harness.reset_counters()
    assert (await harness.job(config).run()).ok
    assert harness.github.writes == 0 and harness.gsm_writes() == 0


async def test_crashes_in_successive_runs(harness) -> None:
    await harness.setup(START)
    for step in ("stage", "hook:foo/baz", "hook:qux", "prune"):
        with pytest.raises(Crash):
            await harness.job(CONFIG, checkpoint=crash_at(step)).run()
        await harness.assert_every_hook_verifies()
    assert (await harness.job(CONFIG).run()).ok
    await harness.assert_converged(CONFIG)


async def test_rerun_after_a_crash_re_points_the_hook_before_pruning(harness) -> None:
    await harness.setup(START)
    with pytest.raises(Crash):
        await harness.job(CONFIG, checkpoint=crash_at("propagate")).run()
    harness.reset_counters()
    report = await harness.job(CONFIG).run()
    reasons = {k.key: (k.action.value, k.hook.value) for k in report.plan.keys}
    assert reasons == {
        "foo/bar": ("remove", "delete"),
        "foo/bax": ("unchanged", "create"),  # its token is stored, its hook missing
        "foo/baz": ("unchanged", "edit"),  # two tokens: an unfinished rotation
        "qux": ("unchanged", "edit"),
    }
    assert harness.gsm_emulator.counters.calls["AddSecretVersion"] == 1  # the prune only
