"""Fetching against the Secret Manager emulator: once per version, failures as values."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from kes.controller.fetch import FairRateLimiter, Fetcher
from kes.gsm import FailedPrecondition, NotFound, SecretManager, SecretValue
from kes.names import SecretVersionName
from kes_emulators.gsm import SecretManagerEmulator

V = SecretVersionName.parse


async def test_each_distinct_version_is_accessed_once(
    gsm_emulator: SecretManagerEmulator, gsm: SecretManager, seed: Any
) -> None:
    gsm_emulator.seed(
        seed(
            {
                "projects/proj-one/secrets/a": ["a1", "a2"],
                "projects/proj-one/secrets/b": [b"\x00\x01"],
            }
        )
    )
    names = [V("projects/proj-one/secrets/a/versions/latest")] * 5 + [
        V("projects/proj-one/secrets/a/versions/1"),
        V("projects/proj-one/secrets/b/versions/1"),
        V("projects/proj-one/secrets/b/versions/1"),
    ]
    results = await Fetcher(gsm, max_concurrent=2, rate_per_project=1000).fetch_all(names)
    assert gsm_emulator.counters.calls["AccessSecretVersion"] == 3
    latest = results[V("projects/proj-one/secrets/a/versions/latest")]
    assert isinstance(latest, SecretValue)
    assert (str(latest.name), latest.data) == ("projects/proj-one/secrets/a/versions/2", b"a2")
    binary = results[V("projects/proj-one/secrets/b/versions/1")]
    assert isinstance(binary, SecretValue) and binary.data == b"\x00\x01"


async def test_failures_come_back_per_version(
    gsm_emulator: SecretManagerEmulator, gsm: SecretManager, seed: Any
) -> None:
    gsm_emulator.seed(
        {
            "secrets": [
                {"name": "projects/proj-one/secrets/ok", "versions": [{"data": "v"}]},
                {
                    "name": "projects/proj-one/secrets/off",
                    "versions": [{"data": "v", "state": "DISABLED"}],
                },
            ]
        }
    )
    results = await Fetcher(gsm, max_concurrent=4, rate_per_project=1000).fetch_all(
        [
            V("projects/proj-one/secrets/ok/versions/1"),
            V("projects/proj-one/secrets/off/versions/1"),
            V("projects/proj-one/secrets/missing/versions/1"),
        ]
    )
    assert isinstance(results[V("projects/proj-one/secrets/ok/versions/1")], SecretValue)
    assert isinstance(results[V("projects/proj-one/secrets/off/versions/1")], FailedPrecondition)
    assert isinstance(results[V("projects/proj-one/secrets/missing/versions/1")], NotFound)
    assert (
        gsm_emulator.counters.results[("AccessSecretVersion", grpc.StatusCode.NOT_FOUND.name)] == 1
    )


async def test_rate_limiter_waits_for_time_to_pass() -> None:
    now = [0.0]
    limiter = FairRateLimiter(rate=100, clock=lambda: now[0])
    for _ in range(100):  # a second's worth is available at once
        await limiter.acquire("ns")
    waiting = asyncio.ensure_future(limiter.acquire("ns"))
    for _ in range(5):
        await asyncio.sleep(0.02)
    assert not waiting.done()  # the clock has not moved: no token can appear
    now[0] += 0.01
    await asyncio.wait_for(waiting, timeout=5)


async def test_waiting_tenants_take_turns() -> None:
    """A thousand asks of one namespace do not stand in front of another's one ask."""
    now = [0.0]

    async def sleep(seconds: float) -> None:  # time passes only while the limiter waits
        now[0] += seconds
        await asyncio.sleep(0)

    limiter = FairRateLimiter(rate=1, clock=lambda: now[0], sleep=sleep)
    await limiter.acquire("greedy")  # the burst is spent
    order: list[str] = []

    async def ask(tenant: str) -> None:
        await limiter.acquire(tenant)
        order.append(tenant)

    asks = [asyncio.ensure_future(ask("greedy")) for _ in range(1000)]
    await asyncio.sleep(0)
    asks.append(asyncio.ensure_future(ask("canary")))
    while len(order) < 3:
        await asyncio.sleep(0)
    assert order[:3] == ["greedy", "canary", "greedy"]
    for task in asks:
        task.cancel()


async def test_concurrent_asks_for_a_version_share_one_fetch(
    gsm_emulator: SecretManagerEmulator, gsm: SecretManager, seed: Any
) -> None:
    gsm_emulator.seed(seed({"projects/proj-one/secrets/a": ["a1"]}))
    fetcher = Fetcher(gsm, max_concurrent=4, rate_per_project=1000)
    name = V("projects/proj-one/secrets/a/versions/latest")
    first = await asyncio.gather(*(fetcher.fetch(name, f"ns-{i}", 0.0) for i in range(10)))
    assert gsm_emulator.counters.calls["AccessSecretVersion"] == 1
    assert len({started for started, _ in first}) == 1
    # Asked for values fresher than that fetch: a new one.
    await fetcher.fetch(name, "ns-0", first[0][0] + 1e-9)
    assert gsm_emulator.counters.calls["AccessSecretVersion"] == 2
