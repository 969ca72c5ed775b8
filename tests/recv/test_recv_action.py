"""The annotation, coalesced: exact patch counts against the emulated API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kes.kube import EXTERNALSECRETS, Kube, load_cluster
from kes.recv.action import Refresher
from kes_emulators.apiserver import ApiServer
from tests.recv.conftest import CLUSTER, REQUESTED_AT


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    server = ApiServer()
    await server.start()
    server.load(CLUSTER)
    yield server
    await server.stop()


@pytest.fixture
async def kube(api: ApiServer, tmp_path: Path) -> AsyncIterator[Kube]:
    kube = Kube(load_cluster(str(api.write_kubeconfig(tmp_path / "kubeconfig"))))
    yield kube
    await kube.close()


def counted() -> tuple[list[str], Any]:
    results: list[str] = []
    return results, results.append


async def stamp(kube: Kube, name: str, namespace: str = "apps") -> str | None:
    obj = await kube.get(EXTERNALSECRETS, namespace, name)
    assert obj is not None
    value: str | None = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
    return value


def patches(api: ApiServer) -> int:
    return api.requests.count(verb="patch", resource="externalsecrets")


async def test_requests_within_a_window_make_one_patch_now_and_one_at_its_end(
    api: ApiServer, kube: Kube
) -> None:
    results, count = counted()
    refresher = Refresher(kube, count=count, min_interval=0.3)
    for _ in range(5):  # all before the workers run: one patch
        refresher.refresh([("apps", "db"), ("apps", "web")])
    refresher.start()
    await refresher.drain()
    assert patches(api) == 2
    first = await stamp(kube, "db")
    for _ in range(5):  # inside the window: one more patch, when it ends
        refresher.refresh([("apps", "db")])
    await asyncio.sleep(0)
    assert patches(api) == 2
    await refresher.drain()
    assert patches(api) == 3
    second = await stamp(kube, "db")
    assert first is not None and second is not None and second > first
    await refresher.stop()
    assert results.count("requested") == 15
    assert results.count("coalesced") == 12
    assert results.count("patched") == 3


async def test_a_deleted_externalsecret_is_forgotten_and_a_refused_patch_reported(
    api: ApiServer, kube: Kube, caplog: pytest.LogCaptureFixture
) -> None:
    results, count = counted()
    refresher = Refresher(kube, count=count)
    refresher.start()
    refresher.refresh([("apps", "gone")])
    await refresher.drain()
    api.faults.fail_next(1, code=403, verb="patch")
    refresher.refresh([("apps", "db")])
    await refresher.drain()
    await refresher.stop()
    assert results == ["requested", "gone", "requested", "failed"]
    [record] = caplog.records
    assert record.getMessage() == "refresh failed"
    assert record.externalsecret == "apps/db"  # type: ignore[attr-defined]


async def test_retries_give_up_after_three(api: ApiServer, kube: Kube) -> None:
    results, count = counted()
    refresher = Refresher(kube, count=count, retry_delays=(0.01, 0.02, 0.03))
    refresher.start()
    api.faults.fail_next(10, code=500, verb="patch")
    refresher.refresh([("apps", "db")])
    await refresher.drain()
    await refresher.stop()
    assert results == ["requested", "retried", "retried", "retried", "failed"]
    assert patches(api) == 4
