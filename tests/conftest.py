"""Fixtures more than one test folder uses."""

from collections.abc import AsyncIterator

import pytest

from kes_emulators.gsm import SecretManagerEmulator
from tests.support.container import remove_shared_image, session_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the tests marked `long` first, so that under xdist the rest of the suite
    runs beside them instead of after them."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The session's controller (or lone process) removes what its workers shared."""
    if not hasattr(session.config, "workerinput"):
        remove_shared_image(session_folder(session.config._tmp_path_factory))


@pytest.fixture
async def gsm_emulator() -> AsyncIterator[SecretManagerEmulator]:
    """A Secret Manager emulator on a free port, on the test's own loop."""
    emulator = SecretManagerEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()
