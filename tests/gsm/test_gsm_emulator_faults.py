"""Quotas over the injected clock, injected failures, latency and corruption."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import google_crc32c
import grpc
import pytest
from google.api_core import exceptions
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcAsyncIOTransport,
)

from kes_emulators.gsm import Quotas, SecretManagerEmulator

SECRET = "projects/p/secrets/db"
VERSION = f"{SECRET}/versions/1"


@pytest.fixture
async def seeded(
    emulator: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> SecretManagerEmulator:
    await client.create_secret(
        parent="projects/p", secret_id="db", secret={"replication": {"automatic": {}}}
    )
    await client.add_secret_version(parent=SECRET, payload={"data": b"value"})
    return emulator


def test_default_quotas_are_gcps() -> None:
    assert (Quotas().access_per_minute, Quotas().read_per_minute, Quotas().write_per_minute) == (
        90000, 600, 600,
    )


async def test_access_quota_per_project_per_minute(
    seeded: SecretManagerEmulator, client: SecretManagerServiceAsyncClient, clock: Any
) -> None:
    seeded.quotas.access_per_minute = 3
    for _ in range(3):
        await client.access_secret_version(name=VERSION, retry=None)
    with pytest.raises(exceptions.ResourceExhausted,
                       match="'Access requests per minute per project'"):
        await client.access_secret_version(name=VERSION, retry=None)
    # Reads and writes draw on quotas of their own.
    await client.get_secret(name=SECRET)
    clock.advance(60)
    await client.access_secret_version(name=VERSION, retry=None)
    assert seeded.counters.results[("AccessSecretVersion", "RESOURCE_EXHAUSTED")] == 1


async def test_a_quota_refusal_names_the_quota_as_gcp_does(
    seeded: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    seeded.quotas.access_per_minute = 0
    with pytest.raises(exceptions.ResourceExhausted) as refused:
        await client.access_secret_version(name=VERSION, retry=None)
    assert refused.value.reason == "RATE_LIMIT_EXCEEDED"
    assert refused.value.domain == "googleapis.com"
    assert refused.value.metadata == {
        "service": "secretmanager.googleapis.com",
        "consumer": "projects/p",
        "quota_metric": "secretmanager.googleapis.com/access_requests",
        "quota_limit": "AccessRequestsPerMinutePerProject",
        "quota_limit_value": "0",
        "quota_location": "global",
    }


async def test_disabled_quotas_serve_every_call(
    seeded: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    seeded.quotas.access_per_minute = 0
    seeded.quotas.enabled = False
    for _ in range(3):
        await client.access_secret_version(name=VERSION, retry=None)
    assert seeded.counters.results[("AccessSecretVersion", "OK")] == 3


async def test_a_burst_beyond_grpcs_pending_queue_is_served_not_cancelled(
    sync_emulator: SecretManagerEmulator,
) -> None:
    """gRPC core cancels calls queued beyond 3,000 unless told otherwise; 4,000 accesses
    from one client at once are all served (GCP's quota is 90,000 a minute)."""
    channel = grpc.aio.insecure_channel(sync_emulator.address)
    client = SecretManagerServiceAsyncClient(
        transport=SecretManagerServiceGrpcAsyncIOTransport(channel=channel))
    try:
        await client.create_secret(
            parent="projects/p", secret_id="db", secret={"replication": {"automatic": {}}})
        await client.add_secret_version(parent=SECRET, payload={"data": b"value"})
        answers = await asyncio.gather(
            *(client.access_secret_version(name=VERSION, retry=None) for _ in range(4000)),
            return_exceptions=True)
    finally:
        await channel.close()
    failures = Counter(type(a).__name__ for a in answers if isinstance(a, Exception))
    assert failures == Counter()
    assert sync_emulator.counters.results[("AccessSecretVersion", "OK")] == 4000


async def test_read_and_write_quotas(
    seeded: SecretManagerEmulator, client: SecretManagerServiceAsyncClient, clock: Any
) -> None:
    clock.advance(60)  # a fresh minute: seeding used writes in the last one
    seeded.quotas.read_per_minute = 1
    seeded.quotas.write_per_minute = 1
    await client.get_secret(name=SECRET)
    with pytest.raises(exceptions.ResourceExhausted, match="Read requests"):
        await client.list_secret_versions(parent=SECRET)
    await client.add_secret_version(parent=SECRET, payload={"data": b"2"})
    with pytest.raises(exceptions.ResourceExhausted, match="Write requests"):
        await client.disable_secret_version(name=VERSION)
    # Another project has its own budget.
    await client.create_secret(
        parent="projects/q", secret_id="db", secret={"replication": {"automatic": {}}}
    )


async def test_fail_next_calls_then_recover(
    seeded: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    seeded.faults.fail_next("AccessSecretVersion", grpc.StatusCode.UNAVAILABLE, count=2)
    for _ in range(2):
        with pytest.raises(exceptions.ServiceUnavailable, match="injected"):
            await client.access_secret_version(name=VERSION, retry=None)
    assert (await client.access_secret_version(name=VERSION, retry=None)).payload.data == b"value"
    assert seeded.counters.results[("AccessSecretVersion", "UNAVAILABLE")] == 2
    assert seeded.counters.calls["AccessSecretVersion"] == 3


async def test_error_rate_is_deterministic_for_a_seed(
    seeded: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    async def outcomes() -> list[bool]:
        seeded.faults.error_rate("GetSecret", grpc.StatusCode.INTERNAL, 0.5, seed=7)
        results = []
        for _ in range(20):
            try:
                await client.get_secret(name=SECRET, retry=None)
                results.append(True)
            except exceptions.InternalServerError:
                results.append(False)
        return results

    first, second = await outcomes(), await outcomes()
    assert first == second
    assert 0 < first.count(False) < 20


async def test_latency_makes_a_short_client_timeout_expire(
    seeded: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    seeded.faults.latency["GetSecret"] = 30.0
    with pytest.raises(exceptions.DeadlineExceeded):
        await client.get_secret(name=SECRET, retry=None, timeout=0.2)
    seeded.faults.clear()
    await client.get_secret(name=SECRET, retry=None, timeout=5)


async def test_corrupted_payload_has_a_wrong_crc32c(
    seeded: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    seeded.faults.corrupt_next()
    corrupted = (await client.access_secret_version(name=VERSION)).payload
    assert corrupted.data_crc32c != google_crc32c.value(corrupted.data)
    intact = (await client.access_secret_version(name=VERSION)).payload
    assert intact.data_crc32c == google_crc32c.value(intact.data)


async def test_an_answer_without_its_checksum(
    seeded: SecretManagerEmulator, client: SecretManagerServiceAsyncClient
) -> None:
    seeded.faults.omit_checksum_next()
    response = await client.access_secret_version(name=VERSION)
    assert response.payload.data == b"value"
    assert "data_crc32c" not in response.payload
    assert "data_crc32c" in (await client.access_secret_version(name=VERSION)).payload
