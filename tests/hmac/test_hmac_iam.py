"""The GCP roles the README names are enough, and each one is needed."""

import pytest

from kes.gsm import PermissionDenied

SECRET = "projects/prow-project/secrets/hmac-tokens"
JOB = "serviceAccount:hmac@prow-project.iam.gserviceaccount.com"
ROLES = ("roles/secretmanager.secretVersionManager", "roles/secretmanager.secretAccessor")
ROTATE_AFTER = "2025-06-01T00:00:00Z"
START = {"foo/bar": "old-bar", "foo/baz": "old-baz"}
CONFIG = {"foo/baz": ROTATE_AFTER, "foo/bax": ROTATE_AFTER}


def run_as_job_with(harness, roles) -> None:
    iam = harness.gsm_emulator.iam
    iam.enabled = True
    iam.anonymous_principal = JOB
    for role in roles:
        iam.grant(SECRET, role, JOB)


async def test_version_manager_and_accessor_on_the_one_secret_suffice(harness) -> None:
    await harness.setup(START)
    run_as_job_with(harness, ROLES)
    report = await harness.job(CONFIG).run()
    assert report.ok
    assert len(report.versions_destroyed) == 2
    harness.gsm_emulator.iam.enabled = False
    await harness.assert_converged(CONFIG)


@pytest.mark.parametrize("missing", ROLES)
async def test_without_either_role_nothing_changes(harness, missing) -> None:
    await harness.setup(START)
    run_as_job_with(harness, [r for r in ROLES if r != missing])
    with pytest.raises(PermissionDenied, match="hmac-tokens"):
        await harness.job(CONFIG).run()
    assert harness.github.writes == 0 and harness.gsm_writes() == 0


async def test_creating_the_secret_needs_more_than_version_roles(harness) -> None:
    iam = harness.gsm_emulator.iam
    iam.enabled, iam.anonymous_principal = True, JOB
    iam.grant("projects/prow-project", ROLES[0], JOB)
    iam.grant("projects/prow-project", ROLES[1], JOB)
    with pytest.raises(PermissionDenied, match="secretmanager.secrets.create"):
        await harness.job(CONFIG).run()
    assert harness.github.writes == 0
