"""IAM on the emulator: bearer tokens, role bindings, GCP's permission sets and messages."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient
from google.iam.v1 import iam_policy_pb2

from kes_emulators.gsm import ROLES, SecretManagerEmulator

SECRET = "projects/p/secrets/db"
OTHER = "projects/p/secrets/other"
ADMIN = "user:admin@example.com"
READER = "serviceAccount:reader@p.iam.gserviceaccount.com"


def as_(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


@pytest.fixture
async def secured(
    emulator: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> SecretManagerEmulator:
    """Two secrets with a version each, IAM on, an admin for project p and a reader."""
    for name in (SECRET, OTHER):
        await client.create_secret(
            parent="projects/p", secret_id=name.rsplit("/", 1)[1],
            secret={"replication": {"automatic": {}}},
        )
        await client.add_secret_version(parent=name, payload={"data": b"v"})
    emulator.iam.enabled = True
    emulator.iam.tokens.update({"admin-token": ADMIN, "reader-token": READER})
    emulator.iam.grant("projects/p", "roles/secretmanager.admin", ADMIN)
    return emulator


async def test_no_or_unknown_token_is_unauthenticated(
    secured: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    with pytest.raises(exceptions.Unauthenticated, match="invalid authentication credentials"):
        await client.access_secret_version(name=f"{SECRET}/versions/1")
    with pytest.raises(exceptions.Unauthenticated):
        await client.access_secret_version(
            name=f"{SECRET}/versions/1", metadata=as_("forged")
        )


async def test_missing_permission_is_denied_with_gcp_message(
    secured: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    name = f"{SECRET}/versions/latest"
    with pytest.raises(exceptions.PermissionDenied) as raised:
        await client.access_secret_version(name=name, metadata=as_("reader-token"))
    assert raised.value.message == (
        f"Permission 'secretmanager.versions.access' denied for resource '{name}' "
        "(or it may not exist)."
    )
    # Permission is checked before existence, so a missing secret looks the same.
    with pytest.raises(exceptions.PermissionDenied, match="or it may not exist"):
        await client.access_secret_version(
            name="projects/p/secrets/none/versions/1", metadata=as_("reader-token")
        )


async def test_secret_binding_grants_that_secret_only(
    secured: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    secured.iam.grant(SECRET, "roles/secretmanager.secretAccessor", READER)
    accessed = await client.access_secret_version(
        name=f"{SECRET}/versions/1", metadata=as_("reader-token")
    )
    assert accessed.payload.data == b"v"
    with pytest.raises(exceptions.PermissionDenied):
        await client.access_secret_version(name=f"{OTHER}/versions/1", metadata=as_("reader-token"))
    # secretAccessor reads payloads but not metadata.
    with pytest.raises(exceptions.PermissionDenied, match="secretmanager.versions.get"):
        await client.get_secret_version(name=f"{SECRET}/versions/1", metadata=as_("reader-token"))


async def test_project_binding_grants_every_secret(
    secured: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    secured.iam.grant("projects/p", "roles/secretmanager.viewer", READER)
    listed = await client.list_secrets(parent="projects/p", metadata=as_("reader-token"))
    assert [s.name async for s in listed] == [SECRET, OTHER]
    await client.get_secret_version(name=f"{OTHER}/versions/1", metadata=as_("reader-token"))
    with pytest.raises(exceptions.PermissionDenied, match="secretmanager.versions.access"):
        await client.access_secret_version(name=f"{OTHER}/versions/1", metadata=as_("reader-token"))
    with pytest.raises(exceptions.PermissionDenied, match="secretmanager.secrets.create"):
        await client.create_secret(
            parent="projects/p", secret_id="new", secret={"replication": {"automatic": {}}},
            metadata=as_("reader-token"),
        )


async def test_version_adder_and_manager_roles(
    secured: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    secured.iam.grant(SECRET, "roles/secretmanager.secretVersionAdder", READER)
    added = await client.add_secret_version(
        parent=SECRET, payload={"data": b"w"}, metadata=as_("reader-token")
    )
    with pytest.raises(exceptions.PermissionDenied, match="secretmanager.versions.disable"):
        await client.disable_secret_version(name=added.name, metadata=as_("reader-token"))
    secured.iam.grant(SECRET, "roles/secretmanager.secretVersionManager", READER)
    disabled = await client.disable_secret_version(name=added.name, metadata=as_("reader-token"))
    assert disabled.state.name == "DISABLED"
    with pytest.raises(exceptions.PermissionDenied, match="secretmanager.versions.access"):
        await client.access_secret_version(
            name=f"{SECRET}/versions/1", metadata=as_("reader-token")
        )


async def test_anonymous_principal_stands_for_requests_without_a_token(
    secured: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    secured.iam.anonymous_principal = READER
    with pytest.raises(exceptions.PermissionDenied):
        await client.access_secret_version(name=f"{SECRET}/versions/1")
    secured.iam.grant(SECRET, "roles/secretmanager.secretAccessor", READER)
    assert (await client.access_secret_version(name=f"{SECRET}/versions/1")).payload.data == b"v"


async def test_test_iam_permissions_reports_the_callers_subset(
    secured: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    secured.iam.grant(SECRET, "roles/secretmanager.secretVersionManager", READER)
    asked = sorted(ROLES["roles/secretmanager.admin"])
    response = await client.test_iam_permissions(
        request=iam_policy_pb2.TestIamPermissionsRequest(resource=SECRET, permissions=asked),
        metadata=as_("reader-token"),
    )
    assert set(response.permissions) == ROLES["roles/secretmanager.secretVersionManager"]


def test_role_permission_sets_match_gcp() -> None:
    assert ROLES["roles/secretmanager.secretAccessor"] == {"secretmanager.versions.access"}
    assert ROLES["roles/secretmanager.secretVersionAdder"] == {"secretmanager.versions.add"}
    assert ROLES["roles/secretmanager.secretVersionManager"] == {
        f"secretmanager.versions.{verb}"
        for verb in ("add", "enable", "disable", "destroy", "get", "list")
    }
    assert "secretmanager.versions.access" not in ROLES["roles/secretmanager.viewer"]
    assert {"secretmanager.locations.list", "secretmanager.secrets.list"} <= ROLES[
        "roles/secretmanager.viewer"
    ]
    assert set().union(*ROLES.values()) == ROLES["roles/secretmanager.admin"]
    with pytest.raises(ValueError, match="unknown role 'roles/owner'"):
        SecretManagerEmulator().iam.grant("projects/p", "roles/owner", READER)
