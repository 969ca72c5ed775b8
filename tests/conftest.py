"""Fixtures more than one test folder uses."""

from collections.abc import AsyncIterator

import pytest

from kes_emulators.gsm import SecretManagerEmulator


@pytest.fixture
async def gsm_emulator() -> AsyncIterator[SecretManagerEmulator]:
    """A Secret Manager emulator on a free port, on the test's own loop."""
    emulator = SecretManagerEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()
