"""Fixtures for the Secret Manager emulator and gateway tests: real clients, real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.cloud.secretmanager_v1 import (
    SecretManagerServiceAsyncClient,
    SecretManagerServiceClient,
)
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcAsyncIOTransport,
    SecretManagerServiceGrpcTransport,
)

from kes_emulators.gsm import SecretManagerEmulator


class FakeClock:
    """Seconds since the epoch that move only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[SecretManagerEmulator]:
    emulator = SecretManagerEmulator(clock=clock)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def client(emulator: SecretManagerEmulator) -> AsyncIterator[SecretManagerServiceAsyncClient]:
    channel = grpc.aio.insecure_channel(emulator.address)
    yield SecretManagerServiceAsyncClient(
        transport=SecretManagerServiceGrpcAsyncIOTransport(channel=channel)
    )
    await channel.close()


@pytest.fixture
def sync_emulator(clock: FakeClock) -> Iterator[SecretManagerEmulator]:
    with SecretManagerEmulator(clock=clock).background() as emulator:
        yield emulator


@pytest.fixture
def sync_client(sync_emulator: SecretManagerEmulator) -> Iterator[SecretManagerServiceClient]:
    channel = grpc.insecure_channel(sync_emulator.address)
    yield SecretManagerServiceClient(transport=SecretManagerServiceGrpcTransport(channel=channel))
    channel.close()

