"""Secret versions on the emulator, driven by the real synchronous client."""

from __future__ import annotations

import base64

import google_crc32c
import pytest
from google.api_core import exceptions
from google.cloud.secretmanager_v1 import SecretManagerServiceClient

from kes_emulators.gsm import SecretManagerEmulator

PARENT = "projects/p"
SECRET = "projects/p/secrets/db"
REPLICATION = {"replication": {"automatic": {}}}


@pytest.fixture
def secret(sync_client: SecretManagerServiceClient) -> str:
    return sync_client.create_secret(parent=PARENT, secret_id="db", secret=REPLICATION).name


def add(client: SecretManagerServiceClient, data: bytes, parent: str = SECRET) -> str:
    return client.add_secret_version(parent=parent, payload={"data": data}).name


def test_versions_are_numbered_from_one_and_latest_is_the_newest(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    assert [add(sync_client, b"a"), add(sync_client, b"b")] == [
        f"{SECRET}/versions/1", f"{SECRET}/versions/2",
    ]
    latest = sync_client.access_secret_version(name=f"{SECRET}/versions/latest")
    assert latest.name == f"{SECRET}/versions/2"
    assert latest.payload.data == b"b"
    assert sync_client.access_secret_version(name=f"{SECRET}/versions/1").payload.data == b"a"


def test_access_returns_every_byte_value_and_its_crc32c(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    data = bytes(range(256))
    add(sync_client, data)
    payload = sync_client.access_secret_version(name=f"{SECRET}/versions/1").payload
    assert payload.data == data
    assert payload.data_crc32c == google_crc32c.value(data)


def test_add_checks_a_given_crc32c(sync_client: SecretManagerServiceClient, secret: str) -> None:
    good = sync_client.add_secret_version(
        parent=SECRET, payload={"data": b"x", "data_crc32c": google_crc32c.value(b"x")}
    )
    assert good.client_specified_payload_checksum is True
    with pytest.raises(exceptions.InvalidArgument, match="data_crc32c"):
        sync_client.add_secret_version(
            parent=SECRET, payload={"data": b"x", "data_crc32c": google_crc32c.value(b"y")}
        )
    assert [v.name for v in sync_client.list_secret_versions(parent=SECRET)] == [good.name]


def test_payload_over_64_kib_is_rejected(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    add(sync_client, b"x" * 65536)
    with pytest.raises(exceptions.InvalidArgument, match="65537 bytes"):
        add(sync_client, b"x" * 65537)


def test_disabled_latest_fails_with_failed_precondition_as_on_gcp(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    add(sync_client, b"one")
    two = add(sync_client, b"two")
    disabled = sync_client.disable_secret_version(name=two)
    assert disabled.state.name == "DISABLED"
    with pytest.raises(exceptions.FailedPrecondition, match="versions/2] is in DISABLED state"):
        sync_client.access_secret_version(name=f"{SECRET}/versions/latest")
    assert sync_client.enable_secret_version(name=two).state.name == "ENABLED"
    latest = sync_client.access_secret_version(name=f"{SECRET}/versions/latest")
    assert latest.payload.data == b"two"


def test_destroyed_version_loses_its_payload_for_good(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    one = add(sync_client, b"one")
    destroyed = sync_client.destroy_secret_version(name=one)
    assert destroyed.state.name == "DESTROYED"
    assert destroyed.destroy_time is not None
    with pytest.raises(exceptions.FailedPrecondition, match="DESTROYED state"):
        sync_client.access_secret_version(name=one)
    with pytest.raises(exceptions.FailedPrecondition, match="DESTROYED state"):
        sync_client.enable_secret_version(name=one)
    assert sync_client.get_secret_version(name=one).state.name == "DESTROYED"


def test_state_changes_check_the_version_etag(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    add(sync_client, b"one")
    version = sync_client.get_secret_version(name=f"{SECRET}/versions/1")
    with pytest.raises(exceptions.FailedPrecondition, match="etag"):
        sync_client.disable_secret_version(request={"name": version.name, "etag": '"stale"'})
    disabled = sync_client.disable_secret_version(
        request={"name": version.name, "etag": version.etag}
    )
    assert disabled.etag != version.etag


def test_state_changes_take_a_number_not_latest(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    add(sync_client, b"one")
    with pytest.raises(exceptions.InvalidArgument, match="takes a version number"):
        sync_client.disable_secret_version(name=f"{SECRET}/versions/latest")


def test_aliases_resolve_on_get_and_access(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    add(sync_client, b"one")
    add(sync_client, b"two")
    sync_client.update_secret(
        secret={"name": SECRET, "version_aliases": {"stable": 1}},
        update_mask={"paths": ["version_aliases"]},
    )
    accessed = sync_client.access_secret_version(name=f"{SECRET}/versions/stable")
    assert (accessed.name, accessed.payload.data) == (f"{SECRET}/versions/1", b"one")
    assert sync_client.get_secret_version(name=f"{SECRET}/versions/stable").name.endswith("/1")
    with pytest.raises(exceptions.NotFound, match="versions/nightly] not found"):
        sync_client.access_secret_version(name=f"{SECRET}/versions/nightly")


def test_unknown_secret_version_and_malformed_names(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    with pytest.raises(exceptions.NotFound, match=r"Secret \[projects/p/secrets/nope\] not found"):
        sync_client.access_secret_version(name="projects/p/secrets/nope/versions/latest")
    with pytest.raises(exceptions.NotFound, match="has no versions"):
        sync_client.access_secret_version(name=f"{SECRET}/versions/latest")
    add(sync_client, b"one")
    with pytest.raises(exceptions.NotFound, match="versions/7] not found"):
        sync_client.access_secret_version(name=f"{SECRET}/versions/7")
    with pytest.raises(exceptions.InvalidArgument, match="version name"):
        sync_client.access_secret_version(name="projects/p/secrets/db")
    with pytest.raises(exceptions.InvalidArgument, match="secret name"):
        sync_client.access_secret_version(name="projects/p/secrets/bad name!/versions/1")


def test_list_versions_newest_first_with_state_filter_and_pages(
    sync_client: SecretManagerServiceClient, secret: str
) -> None:
    names = [add(sync_client, bytes([i])) for i in range(5)]
    sync_client.disable_secret_version(name=names[1])
    listed = [v.name for v in sync_client.list_secret_versions(parent=SECRET)]
    assert listed == names[::-1]
    enabled = sync_client.list_secret_versions(
        request={"parent": SECRET, "filter": "state:ENABLED"}
    )
    assert [v.name for v in enabled] == [names[4], names[3], names[2], names[0]]
    first = sync_client.list_secret_versions(request={"parent": SECRET, "page_size": 2})
    pages = [[v.name for v in page.versions] for page in first.pages]
    assert pages == [names[:2:-1], names[2:0:-1], names[:1]]
    with pytest.raises(exceptions.MethodNotImplemented, match="OR is not implemented"):
        list(sync_client.list_secret_versions(
            request={"parent": SECRET, "filter": "state:ENABLED OR state:DISABLED"}
        ))
    for filter_text, error, message in [
        ("destroy_time:*", exceptions.MethodNotImplemented, "'destroy_time' is not implemented"),
        ("labels.x:y", exceptions.InvalidArgument, "'labels.x': a SecretVersion has no"),
    ]:
        with pytest.raises(error, match=message):
            sync_client.list_secret_versions(request={"parent": SECRET, "filter": filter_text})


@pytest.mark.parametrize(
    "token",
    [
        "zz",  # not base64
        base64.urlsafe_b64encode(b"o:-2").decode(),  # a negative offset
        base64.urlsafe_b64encode(b"o:+2").decode(),
        base64.urlsafe_b64encode(b"o:").decode(),
        base64.urlsafe_b64encode(b"2").decode(),
        base64.urlsafe_b64encode(b"o:2 ").decode(),
        base64.urlsafe_b64encode("o:\u0662".encode()).decode(),  # a non-ASCII digit
        "bzoy!",  # a valid token with junk after it
    ],
)
def test_crafted_page_tokens_are_invalid_arguments(
    sync_client: SecretManagerServiceClient, secret: str, token: str
) -> None:
    for data in (b"1", b"2", b"3"):
        add(sync_client, data)
    issued = base64.urlsafe_b64encode(b"o:2").decode()
    page = sync_client.list_secret_versions(request={"parent": SECRET, "page_token": issued})
    assert [v.name for v in page] == [f"{SECRET}/versions/1"]
    with pytest.raises(exceptions.InvalidArgument, match="page_token .* is not one this server"):
        sync_client.list_secret_versions(request={"parent": SECRET, "page_token": token})


def test_regional_secrets_are_served(sync_client: SecretManagerServiceClient) -> None:
    parent = "projects/p/locations/europe-west1"
    secret = sync_client.create_secret(parent=parent, secret_id="r", secret={})
    assert secret.name == f"{parent}/secrets/r"
    version = add(sync_client, b"regional", parent=secret.name)
    assert version == f"{parent}/secrets/r/versions/1"
    accessed = sync_client.access_secret_version(name=f"{parent}/secrets/r/versions/latest")
    assert accessed.payload.data == b"regional"


def test_counters_record_calls_per_method_and_result(
    sync_emulator: SecretManagerEmulator, sync_client: SecretManagerServiceClient, secret: str
) -> None:
    add(sync_client, b"one")
    sync_client.access_secret_version(name=f"{SECRET}/versions/1")
    with pytest.raises(exceptions.NotFound):
        sync_client.access_secret_version(name="projects/p/secrets/other/versions/1")
    counters = sync_emulator.counters
    assert counters.calls["AccessSecretVersion"] == 2
    assert counters.results[("AccessSecretVersion", "OK")] == 1
    assert counters.results[("AccessSecretVersion", "NOT_FOUND")] == 1
