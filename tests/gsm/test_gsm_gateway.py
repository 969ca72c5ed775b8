"""kes.gsm against the emulator: values, writes, retries, deadlines and error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient

from kes.gsm import (
    CorruptPayload,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    RetryPolicy,
    SecretManager,
    Unavailable,
    regional_endpoint,
)
from kes.names import BadName, SecretName, SecretVersionName
from kes_emulators.gsm import SecretManagerEmulator

SECRET = SecretName("p", "db")
VALUE = b"gateway-test-value"


class VirtualTime:
    """A monotonic clock that only backoff sleeps move, so attempt counts are exact."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def time_() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def calls() -> list[tuple[str, str]]:
    return []


@pytest.fixture
async def gsm(
    emulator: SecretManagerEmulator, time_: VirtualTime, calls: list[tuple[str, str]]
) -> AsyncIterator[SecretManager]:
    manager = SecretManager(
        emulator_host=emulator.address,
        retry=RetryPolicy(initial=1, maximum=10, multiplier=2, deadline=10, jitter=0),
        on_call=lambda method, code: calls.append((method, code)),
        clock=time_,
        sleep=time_.sleep,
    )
    yield manager
    await manager.close()


@pytest.fixture
async def with_versions(
    gsm: SecretManager, emulator: SecretManagerEmulator, calls: list[tuple[str, str]]
) -> list[SecretVersionName]:
    await gsm.create_secret(SECRET)
    names = [await gsm.add_version(SECRET, data) for data in (bytes(range(256)), VALUE)]
    emulator.counters.clear()
    calls.clear()
    return names


async def test_access_latest_and_numbered_versions_byte_exact(
    gsm: SecretManager, with_versions: list[SecretVersionName]
) -> None:
    latest = await gsm.access(SECRET.version("latest"))
    assert (latest.name, latest.data) == (with_versions[1], VALUE)
    first = await gsm.access(with_versions[0])
    assert first.data == bytes(range(256))
    assert "gateway-test-value" not in repr(latest)


async def test_access_by_alias(
    gsm: SecretManager,
    with_versions: list[SecretVersionName],
    client: SecretManagerServiceAsyncClient,
) -> None:
    await client.update_secret(
        secret={"name": str(SECRET), "version_aliases": {"stable": 1}},
        update_mask={"paths": ["version_aliases"]},
    )
    value = await gsm.access(SECRET.version("stable"))
    assert (value.name, value.data) == (with_versions[0], bytes(range(256)))


async def test_transient_unavailable_is_retried_to_success(
    gsm: SecretManager, with_versions: list[SecretVersionName], emulator: SecretManagerEmulator,
    calls: list[tuple[str, str]], time_: VirtualTime,
) -> None:
    emulator.faults.fail_next("AccessSecretVersion", grpc.StatusCode.UNAVAILABLE, count=2)
    assert (await gsm.access(with_versions[1])).data == VALUE
    assert emulator.counters.calls["AccessSecretVersion"] == 3
    assert calls == [
        ("AccessSecretVersion", "UNAVAILABLE"),
        ("AccessSecretVersion", "UNAVAILABLE"),
        ("AccessSecretVersion", "OK"),
    ]
    assert time_.slept == [1, 2]


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED],
)
async def test_other_retryable_codes_are_retried(
    gsm: SecretManager, with_versions: list[SecretVersionName], emulator: SecretManagerEmulator,
    code: grpc.StatusCode,
) -> None:
    emulator.faults.fail_next("AccessSecretVersion", code)
    assert (await gsm.access(with_versions[1])).data == VALUE
    assert emulator.counters.calls["AccessSecretVersion"] == 2


async def test_a_real_quota_refusal_is_retried_until_the_deadline(
    gsm: SecretManager, with_versions: list[SecretVersionName], emulator: SecretManagerEmulator
) -> None:
    emulator.quotas.access_per_minute = 0
    with pytest.raises(Unavailable, match="RESOURCE_EXHAUSTED"):
        await gsm.access(with_versions[1])
    assert emulator.counters.results[("AccessSecretVersion", "RESOURCE_EXHAUSTED")] == 4


@pytest.mark.parametrize(
    ("policy", "attempts", "waits"),
    [
        (RetryPolicy(initial=1, maximum=10, multiplier=2, deadline=10, jitter=0), 4, [1, 2, 4]),
        # No retry starts with less than min_attempt_time left: not the one at 5 s.
        (
            RetryPolicy(
                initial=1, maximum=1, multiplier=1, deadline=5.5, jitter=0, min_attempt_time=1
            ),
            5,
            [1] * 4,
        ),
        (RetryPolicy(initial=1, maximum=1, multiplier=1, deadline=0, jitter=0), 1, []),
    ],
)
async def test_deadline_bounds_the_attempts(
    emulator: SecretManagerEmulator, time_: VirtualTime, policy: RetryPolicy, attempts: int,
    waits: list[float],
) -> None:
    gsm = SecretManager(
        emulator_host=emulator.address, retry=policy, clock=time_, sleep=time_.sleep
    )
    emulator.faults.fail_next("AccessSecretVersion", grpc.StatusCode.UNAVAILABLE, count=100)
    with pytest.raises(Unavailable, match="UNAVAILABLE for projects/p/secrets/db/versions/1"):
        await gsm.access(SECRET.version("1"))
    await gsm.close()
    assert emulator.counters.calls["AccessSecretVersion"] == attempts
    assert time_.slept == waits


async def test_a_deadline_too_short_to_retry_leaves_the_one_attempt_its_full_timeout(
    emulator: SecretManagerEmulator, time_: VirtualTime
) -> None:
    """The attempt waits out the emulator's latency instead of timing out itself."""
    policy = RetryPolicy(deadline=0, attempt_timeout=20, min_attempt_time=1)
    gsm = SecretManager(
        emulator_host=emulator.address, retry=policy, clock=time_, sleep=time_.sleep
    )
    emulator.faults.latency["AccessSecretVersion"] = 0.05
    emulator.faults.fail_next("AccessSecretVersion", grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(Unavailable, match="UNAVAILABLE for projects/p/secrets/db/versions/1"):
        await gsm.access(SECRET.version("1"))
    await gsm.close()
    assert emulator.counters.calls["AccessSecretVersion"] == 1


def test_attempt_timeouts_and_the_last_retry() -> None:
    policy = RetryPolicy(deadline=10, attempt_timeout=4, min_attempt_time=1)
    assert policy.timeout(0, first=True) == 4
    assert policy.timeout(8, first=False) == 2  # never past the deadline
    assert policy.timeout(9.5, first=False) == 1  # a retry that started late still gets the minimum
    assert policy.may_retry(9) is True
    assert policy.may_retry(9.01) is False
    assert RetryPolicy(deadline=2, attempt_timeout=4, min_attempt_time=1).timeout(
        0, first=True
    ) == 2
    for deadline in (0, 0.5):
        short = RetryPolicy(deadline=deadline, attempt_timeout=4, min_attempt_time=1)
        assert short.timeout(0, first=True) == 4
        assert short.may_retry(0) is False


def test_backoff_grows_to_its_cap_and_jitter_only_shortens_it() -> None:
    policy = RetryPolicy(initial=1, maximum=8, multiplier=2, deadline=60, jitter=0.5)
    for retry_number, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        assert policy.backoff(retry_number, draw=lambda: 0.0) == ceiling
        assert policy.backoff(retry_number, draw=lambda: 0.999) == pytest.approx(ceiling * 0.5005)


async def test_not_found_makes_exactly_one_call(
    gsm: SecretManager, with_versions: list[SecretVersionName], emulator: SecretManagerEmulator,
    calls: list[tuple[str, str]],
) -> None:
    with pytest.raises(NotFound) as raised:
        await gsm.access(SecretVersionName("p", "missing", "latest"))
    assert raised.value.resource == "projects/p/secrets/missing/versions/latest"
    assert emulator.counters.calls["AccessSecretVersion"] == 1
    assert calls == [("AccessSecretVersion", "NOT_FOUND")]


async def test_permission_denied_makes_exactly_one_call(
    gsm: SecretManager, with_versions: list[SecretVersionName], emulator: SecretManagerEmulator
) -> None:
    emulator.iam.enabled = True
    emulator.iam.anonymous_principal = "serviceAccount:kes@p.iam.gserviceaccount.com"
    with pytest.raises(PermissionDenied, match="secretmanager.versions.access"):
        await gsm.access(with_versions[1])
    assert emulator.counters.calls["AccessSecretVersion"] == 1
    emulator.iam.grant(
        str(SECRET), "roles/secretmanager.secretAccessor",
        "serviceAccount:kes@p.iam.gserviceaccount.com",
    )
    assert (await gsm.access(with_versions[1])).data == VALUE


async def test_disabled_version_is_failed_precondition_without_retry(
    gsm: SecretManager, with_versions: list[SecretVersionName], emulator: SecretManagerEmulator
) -> None:
    await gsm.disable_version(with_versions[1])
    emulator.counters.clear()
    with pytest.raises(FailedPrecondition, match="DISABLED state"):
        await gsm.access(SECRET.version("latest"))
    assert emulator.counters.calls["AccessSecretVersion"] == 1


async def test_corrupt_payload_is_tried_once_more(
    gsm: SecretManager, with_versions: list[SecretVersionName], emulator: SecretManagerEmulator,
    calls: list[tuple[str, str]],
) -> None:
    emulator.faults.corrupt_next(1)
    assert (await gsm.access(with_versions[1])).data == VALUE
    emulator.faults.corrupt_next(2)
    with pytest.raises(CorruptPayload) as raised:
        await gsm.access(with_versions[1])
    assert VALUE.decode() not in str(raised.value)
    assert emulator.counters.calls["AccessSecretVersion"] == 4
    assert calls == [
        ("AccessSecretVersion", "DATA_LOSS"), ("AccessSecretVersion", "OK"),
        ("AccessSecretVersion", "DATA_LOSS"), ("AccessSecretVersion", "DATA_LOSS"),
    ]


async def test_a_missing_checksum_is_its_own_error(
    gsm: SecretManager, with_versions: list[SecretVersionName], emulator: SecretManagerEmulator,
    calls: list[tuple[str, str]],
) -> None:
    emulator.faults.omit_checksum_next(1)
    assert (await gsm.access(with_versions[1])).data == VALUE
    emulator.faults.omit_checksum_next(2)
    with pytest.raises(CorruptPayload) as raised:
        await gsm.access(with_versions[1])
    assert raised.value.detail == "response carried no data_crc32c"
    assert calls == [("AccessSecretVersion", "DATA_LOSS"), ("AccessSecretVersion", "OK")] + [
        ("AccessSecretVersion", "DATA_LOSS")
    ] * 2


async def test_a_wrong_checksum_says_so(
    gsm: SecretManager, with_versions: list[SecretVersionName], emulator: SecretManagerEmulator
) -> None:
    emulator.faults.corrupt_next(2)
    with pytest.raises(CorruptPayload) as raised:
        await gsm.access(with_versions[1])
    assert raised.value.detail == "payload failed its data_crc32c check"


async def test_add_version_is_not_retried_after_deadline_exceeded(
    gsm: SecretManager, emulator: SecretManagerEmulator, calls: list[tuple[str, str]]
) -> None:
    """The server may have added the version already; a retry could add it twice."""
    await gsm.create_secret(SECRET)
    emulator.faults.fail_next("AddSecretVersion", grpc.StatusCode.DEADLINE_EXCEEDED)
    with pytest.raises(Unavailable, match="not retried, since the call may have been applied"):
        await gsm.add_version(SECRET, VALUE)
    assert emulator.counters.calls["AddSecretVersion"] == 1
    emulator.faults.fail_next("AddSecretVersion", grpc.StatusCode.UNAVAILABLE)
    emulator.faults.fail_next("AddSecretVersion", grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert await gsm.add_version(SECRET, VALUE) == SECRET.version("1")
    assert emulator.counters.calls["AddSecretVersion"] == 4
    assert [code for method, code in calls if method == "AddSecretVersion"] == [
        "DEADLINE_EXCEEDED", "UNAVAILABLE", "RESOURCE_EXHAUSTED", "OK",
    ]


def test_malformed_names_fail_where_they_enter() -> None:
    with pytest.raises(BadName, match="not a secret version name"):
        SecretVersionName.parse("projects/p/secrets/db")
    with pytest.raises(BadName, match="not a secret name"):
        SecretName.parse("db")
    with pytest.raises(BadName, match="not a secret version name"):
        SecretVersionName.parse("projects/p/secrets/db/versions")
    with pytest.raises(BadName, match="not a secret name"):
        SecretName.parse("projects/p/secrets/db/versions/1")


async def test_create_secret_reports_whether_it_created(
    gsm: SecretManager, client: SecretManagerServiceAsyncClient
) -> None:
    assert await gsm.create_secret(SECRET, labels={"owner": "hmac"}) is True
    assert await gsm.create_secret(SECRET) is False
    secret = await client.get_secret(name=str(SECRET))
    assert dict(secret.labels) == {"owner": "hmac"}
    assert "automatic" in secret.replication


async def test_add_version_sends_its_checksum(
    gsm: SecretManager,
    with_versions: list[SecretVersionName],
    client: SecretManagerServiceAsyncClient,
) -> None:
    version = await client.get_secret_version(name=str(with_versions[0]))
    assert version.client_specified_payload_checksum is True


async def test_version_lifecycle_and_listing(
    gsm: SecretManager, with_versions: list[SecretVersionName]
) -> None:
    first, second = with_versions
    await gsm.disable_version(first)
    assert [(v.name, v.state) for v in await gsm.list_versions(SECRET)] == [
        (second, "ENABLED"), (first, "DISABLED"),
    ]
    await gsm.enable_version(first)
    await gsm.destroy_version(second)
    listed = await gsm.list_versions(SECRET)
    assert [v.state for v in listed] == ["DESTROYED", "ENABLED"]
    assert listed[0].create_time.year >= 2023
    with pytest.raises(FailedPrecondition, match="DESTROYED"):
        await gsm.access(second)


async def test_list_versions_follows_pages(
    gsm: SecretManager, emulator: SecretManagerEmulator
) -> None:
    await gsm.create_secret(SECRET)
    for index in range(1001):
        emulator.store.add_version(str(SECRET), str(index).encode(), None)
    emulator.counters.clear()
    listed = await gsm.list_versions(SECRET)
    assert [v.name.version for v in listed[:2]] == ["1001", "1000"]
    assert len(listed) == 1001
    assert emulator.counters.calls["ListSecretVersions"] == 2


async def test_regional_secrets_through_the_gateway(gsm: SecretManager) -> None:
    secret = SecretName("p", "db", location="europe-west1")
    assert await gsm.create_secret(secret) is True
    version = await gsm.add_version(secret, VALUE)
    assert str(version) == "projects/p/locations/europe-west1/secrets/db/versions/1"
    assert (await gsm.access(secret.version("latest"))).name == version


async def test_emulator_host_comes_from_the_environment(
    emulator: SecretManagerEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_MANAGER_EMULATOR_HOST", emulator.address)
    gsm = SecretManager()
    assert gsm.emulator_host == emulator.address
    assert await gsm.create_secret(SECRET) is True
    await gsm.close()


async def test_google_mode_needs_no_credentials_until_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_MANAGER_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    gsm = SecretManager()
    assert gsm.emulator_host is None
    with pytest.raises(PermissionDenied, match="UNAUTHENTICATED for projects/p/secrets/s/"):
        await gsm.access(SecretVersionName("p", "s", "1"))


def test_regional_names_pick_the_regional_endpoint() -> None:
    assert SecretVersionName.parse("projects/p/locations/us-east1/secrets/s/versions/1"
                                   ).location == "us-east1"
    assert SecretVersionName.parse("projects/p/secrets/s/versions/1").location is None
    assert regional_endpoint("us-east1") == "secretmanager.us-east1.rep.googleapis.com"


async def test_google_mode_uses_a_cached_client_per_regional_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients are built from Application Default Credentials; none is contacted here."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    credentials = tmp_path / "sa.json"
    credentials.write_text(json.dumps({
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "1",
        "private_key": pem,
        "client_email": "kes@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    monkeypatch.delenv("SECRET_MANAGER_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    gsm = SecretManager()
    regional = gsm.client("us-east1")
    assert regional.api_endpoint == "secretmanager.us-east1.rep.googleapis.com"
    assert gsm.client("us-east1") is regional
    assert gsm.client(None).api_endpoint == "secretmanager.googleapis.com"
    await gsm.close()
