"""The job killed between any two steps: no hook signs with a token the receiver lacks,
and the next run converges."""

import pytest

ROTATE_AFTER = "2025-06-01T00:00:00Z"
START = {"foo/bar": "old-bar", "foo/baz": "old-baz", "qux": "old-qux"}
# Remove foo/bar (delete), onboard foo/bax (create), rotate foo/baz and qux (edit).
CONFIG = {"foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER, "qux": ROTATE_AFTER}
CHECKPOINTS = [
    "invitations", "stage", "propagate",
    "hook:foo/bar", "hook:foo/bax", "hook:foo/baz", "hook:qux",
    "hooks", "prune", "destroy",
]


class Crash(Exception):
    pass


def crash_at(step: str):
    def checkpoint(reached: str) -> None:
        if reached == step:
            raise Crash(step)

    return checkpoint


@pytest.mark.parametrize("step", CHECKPOINTS)
async def test_crash_then_rerun(harness, step: str) -> None:
    await harness.setup(START)
    with pytest.raises(Crash):
        await harness.job(CONFIG, checkpoint=crash_at(step)).run()
    await harness.assert_every_hook_verifies()
    report = await harness.job(CONFIG).run()
    assert report.ok
    await harness.assert_converged(CONFIG)
    harness.reset_counters()
    assert (await harness.job(CONFIG).run()).ok
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
