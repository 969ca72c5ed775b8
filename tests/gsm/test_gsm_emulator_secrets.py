"""Secrets on the emulator, driven by the real asyncio client."""

from __future__ import annotations

import re

import grpc
import pytest
from google.api_core import exceptions
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient
from google.iam.v1 import iam_policy_pb2

from kes_emulators.gsm import SecretManagerEmulator

REPLICATION = {"replication": {"automatic": {}}}
KMS_KEY = "projects/p/locations/global/keyRings/r/cryptoKeys/k"


async def create(client: SecretManagerServiceAsyncClient, secret_id: str, **fields: object) -> str:
    secret = await client.create_secret(
        parent="projects/p", secret_id=secret_id, secret={**REPLICATION, **fields}
    )
    return str(secret.name)


async def test_create_get_and_already_exists(client: SecretManagerServiceAsyncClient) -> None:
    created = await client.create_secret(
        parent="projects/p", secret_id="db", secret={**REPLICATION, "labels": {"team": "a"}}
    )
    assert created.name == "projects/p/secrets/db"
    assert created.etag.startswith('"')
    fetched = await client.get_secret(name="projects/p/secrets/db")
    assert (fetched.labels["team"], fetched.etag, fetched.create_time) == (
        "a", created.etag, created.create_time,
    )
    with pytest.raises(exceptions.AlreadyExists, match="projects/p/secrets/db] already exists"):
        await create(client, "db")


async def test_create_validates_its_input(client: SecretManagerServiceAsyncClient) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="replication must be specified"):
        await client.create_secret(parent="projects/p", secret_id="db", secret={})
    with pytest.raises(exceptions.InvalidArgument, match="secret_id 'bad/id'"):
        await create(client, "bad/id")
    with pytest.raises(exceptions.InvalidArgument, match="label key 'Team'"):
        await create(client, "db", labels={"Team": "a"})
    with pytest.raises(exceptions.InvalidArgument, match="parent"):
        await client.create_secret(parent="folders/p", secret_id="db", secret=REPLICATION)
    with pytest.raises(exceptions.MethodNotImplemented, match="'ttl' is not implemented"):
        await create(client, "db", ttl={"seconds": 60})


@pytest.mark.parametrize(
    ("replication", "field"),
    [
        (
            {"automatic": {"customer_managed_encryption": {"kms_key_name": KMS_KEY}}},
            "replication.automatic.customer_managed_encryption",
        ),
        (
            {"user_managed": {"replicas": [
                {"location": "us-east1"},
                {"location": "us-west1", "customer_managed_encryption": {"kms_key_name": KMS_KEY}},
            ]}},
            "replication.user_managed.replicas[1].customer_managed_encryption",
        ),
    ],
)
async def test_customer_managed_encryption_inside_replication_is_unimplemented(
    client: SecretManagerServiceAsyncClient, replication: dict[str, object], field: str
) -> None:
    with pytest.raises(exceptions.MethodNotImplemented, match=re.escape(f"'{field}' is not impl")):
        await client.create_secret(
            parent="projects/p", secret_id="db", secret={"replication": replication}
        )
    with pytest.raises(exceptions.NotFound):
        await client.get_secret(name="projects/p/secrets/db")


async def test_get_unknown_secret_is_not_found(client: SecretManagerServiceAsyncClient) -> None:
    with pytest.raises(exceptions.NotFound, match=r"Secret \[projects/p/secrets/x\] not found"):
        await client.get_secret(name="projects/p/secrets/x")


async def test_list_filters_by_name_and_label_and_pages(
    client: SecretManagerServiceAsyncClient,
) -> None:
    for secret_id, team in [("a-db", "x"), ("b-api", "y"), ("c-db", "y")]:
        await create(client, secret_id, labels={"team": team})
    await client.create_secret(
        parent="projects/other", secret_id="z-db", secret=REPLICATION
    )
    everything = [s.name async for s in await client.list_secrets(parent="projects/p")]
    assert everything == [f"projects/p/secrets/{n}" for n in ("a-db", "b-api", "c-db")]
    by_name = await client.list_secrets(request={"parent": "projects/p", "filter": "name:db"})
    assert [s.name async for s in by_name] == ["projects/p/secrets/a-db", "projects/p/secrets/c-db"]
    both = await client.list_secrets(
        request={"parent": "projects/p", "filter": "name:db AND labels.team=y"}
    )
    assert [s.name async for s in both] == ["projects/p/secrets/c-db"]
    paged = await client.list_secrets(request={"parent": "projects/p", "page_size": 2})
    sizes = [len(page.secrets) async for page in paged.pages]
    assert sizes == [2, 1]


async def test_list_filter_name_is_the_full_resource_name(
    client: SecretManagerServiceAsyncClient,
) -> None:
    for secret_id in ("s1", "s10", "db"):
        await create(client, secret_id)

    async def names(filter_text: str) -> list[str]:
        listed = await client.list_secrets(request={"parent": "projects/p", "filter": filter_text})
        return [s.name.rsplit("/", 1)[1] async for s in listed]

    assert await names("name=projects/p/secrets/s1") == ["s1"]
    assert await names('name="projects/p/secrets/s1"') == ["s1"]
    assert await names("name=s1") == []
    assert await names("name:projects/p/secrets/s1") == ["s1", "s10"]
    assert await names("name:secrets/s*0") == ["s10"]
    assert await names("name : db") == ["db"]
    assert await names("name:s1 name:0") == ["s10"]  # whitespace is AND


@pytest.mark.parametrize(
    ("filter_text", "unsupported"),
    [
        ("name:a OR name:b", "OR is not implemented"),
        ("NOT labels.team=x", "NOT is not implemented"),
        ("-labels.team=x", "'-' negation is not implemented"),
        ("(name:a AND name:b)", "a parenthesised expression is not implemented"),
        ("create_time>2021-01-01T06:00:00Z", "the comparison '>' is not implemented"),
        ("create_time < 2021-01-01T06:00:00Z", "the comparison '<' is not implemented"),
        ("labels.team!=x", "the comparison '!=' is not implemented"),
        ("replication.automatic:*", "filter field 'replication.automatic' is not implemented"),
        ("expireTime:*", "filter field 'expireTime' is not implemented"),
    ],
)
async def test_list_filter_syntax_gcp_has_but_the_emulator_lacks_is_unimplemented(
    client: SecretManagerServiceAsyncClient, filter_text: str, unsupported: str
) -> None:
    with pytest.raises(exceptions.MethodNotImplemented, match=re.escape(unsupported)):
        await client.list_secrets(request={"parent": "projects/p", "filter": filter_text})


@pytest.mark.parametrize(
    ("filter_text", "reason"),
    [
        ("name:", "ends where a value after name: should be"),
        ("name", "ends where an operator after 'name' should be"),
        (":x", "':' is not a field name"),
        ("name:x AND", "ends where a term should be"),
        ("AND name:x", "'AND' is not a field name"),
        ("(name:x", "ends where ')' should be"),
        ("name:x)", "unexpected ')'"),
        ('name:"x', "unexpected '\"x'"),
        ("name ~ x", "regular expressions (~) are not supported"),
        ("name:x !y", "unexpected '!y'"),
        ("colour:red", "filter field 'colour': a Secret has no such field"),
    ],
)
async def test_malformed_list_filters_are_invalid_arguments(
    client: SecretManagerServiceAsyncClient, filter_text: str, reason: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(reason)):
        await client.list_secrets(request={"parent": "projects/p", "filter": filter_text})


async def test_update_applies_only_the_mask(client: SecretManagerServiceAsyncClient) -> None:
    name = await create(client, "db", labels={"team": "a"}, annotations={"k": "v"})
    before = await client.get_secret(name=name)
    updated = await client.update_secret(
        secret={"name": name, "labels": {"team": "b"}, "annotations": {}},
        update_mask={"paths": ["labels"]},
    )
    assert dict(updated.labels) == {"team": "b"}
    assert dict(updated.annotations) == {"k": "v"}
    assert updated.etag != before.etag
    with pytest.raises(exceptions.InvalidArgument, match="update_mask"):
        await client.update_secret(secret={"name": name}, update_mask={"paths": []})
    with pytest.raises(exceptions.InvalidArgument, match="'replication' cannot be updated"):
        await client.update_secret(
            secret={"name": name, **REPLICATION}, update_mask={"paths": ["replication"]}
        )
    with pytest.raises(exceptions.FailedPrecondition, match="etag"):
        await client.update_secret(
            secret={"name": name, "labels": {}, "etag": before.etag},
            update_mask={"paths": ["labels"]},
        )
    with pytest.raises(exceptions.InvalidArgument, match="version 3, which does not exist"):
        await client.update_secret(
            secret={"name": name, "version_aliases": {"stable": 3}},
            update_mask={"paths": ["version_aliases"]},
        )


async def test_delete_checks_the_etag(client: SecretManagerServiceAsyncClient) -> None:
    name = await create(client, "db")
    secret = await client.get_secret(name=name)
    with pytest.raises(exceptions.FailedPrecondition, match="etag"):
        await client.delete_secret(request={"name": name, "etag": '"stale"'})
    await client.delete_secret(request={"name": name, "etag": secret.etag})
    with pytest.raises(exceptions.NotFound):
        await client.get_secret(name=name)
    with pytest.raises(exceptions.NotFound):
        await client.delete_secret(name=name)


async def test_test_iam_permissions_with_iam_off_grants_what_is_asked(
    client: SecretManagerServiceAsyncClient,
) -> None:
    name = await create(client, "db")
    response = await client.test_iam_permissions(
        request=iam_policy_pb2.TestIamPermissionsRequest(
            resource=name,
            permissions=["secretmanager.versions.access", "storage.buckets.get"],
        )
    )
    assert list(response.permissions) == ["secretmanager.versions.access"]


async def test_rpcs_not_emulated_answer_unimplemented_by_name(
    emulator: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    name = await create(client, "db")
    with pytest.raises(exceptions.MethodNotImplemented, match="SecretManagerService/GetIamPolicy"):
        await client.get_iam_policy(request={"resource": name})
    with pytest.raises(exceptions.MethodNotImplemented, match="Locations/ListLocations"):
        await client.list_locations(request={"name": "projects/p"})
    assert emulator.counters.results[("GetIamPolicy", "UNIMPLEMENTED")] == 1


async def test_unknown_service_over_a_raw_channel_is_unimplemented(
    emulator: SecretManagerEmulator,
) -> None:
    async with grpc.aio.insecure_channel(emulator.address) as channel:
        call = channel.unary_unary("/google.cloud.secretmanager.v1beta2.SecretManagerService/X")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"")
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "v1beta2.SecretManagerService/X is not implemented" in str(raised.value.details())


async def test_test_iam_permissions_rejects_wildcards(
    client: SecretManagerServiceAsyncClient,
) -> None:
    name = await create(client, "db")
    with pytest.raises(exceptions.InvalidArgument, match="wildcards"):
        await client.test_iam_permissions(
            request=iam_policy_pb2.TestIamPermissionsRequest(
                resource=name, permissions=["secretmanager.*"]
            )
        )


async def test_update_replaces_topics_and_checks_them(
    client: SecretManagerServiceAsyncClient,
) -> None:
    name = await create(client, "db", topics=[{"name": "projects/p/topics/a"}])
    updated = await client.update_secret(
        secret={"name": name, "topics": [{"name": "projects/p/topics/b"}]},
        update_mask={"paths": ["topics"]},
    )
    assert [topic.name for topic in updated.topics] == ["projects/p/topics/b"]
    with pytest.raises(exceptions.InvalidArgument, match="'topics/c' is not projects/"):
        await client.update_secret(
            secret={"name": name, "topics": [{"name": "topics/c"}]},
            update_mask={"paths": ["topics"]},
        )
    eleven = [{"name": f"projects/p/topics/t{i}"} for i in range(11)]
    with pytest.raises(exceptions.InvalidArgument, match="at most 10"):
        await client.update_secret(
            secret={"name": name, "topics": eleven},
            update_mask={"paths": ["topics"]},
        )
