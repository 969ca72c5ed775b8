"""Request counters and fault injection, as tests and benchmarks read and steer them."""

from __future__ import annotations

from typing import Any

from kes_emulators.apiserver import ApiServer

SECRETS = "/api/v1/namespaces/default/secrets"


async def test_requests_are_counted_by_verb_resource_identity_and_code(
        server: ApiServer, http: Any) -> None:
    server.requests.reset()
    await http.post(SECRETS, {"metadata": {"name": "a"}})
    await http.get(f"{SECRETS}/a")
    await http.get(f"{SECRETS}/missing")
    await http.patch(f"{SECRETS}/a", {"metadata": {"labels": {"x": "y"}}})
    await http.get("/api/v1/namespaces/default/status")
    await http.get("/apis")
    requests = server.requests
    assert requests.count(verb="create", resource="secrets", code=201) == 1
    assert requests.count(verb="get", resource="secrets") == 2
    assert requests.count(verb="get", resource="secrets", code=404) == 1
    assert requests.count(verb="patch", resource="secrets", identity="kes-admin") == 1
    assert requests.count(resource="namespaces/status") == 1
    assert requests.count(resource="/apis") == 1
    assert requests.count(namespace="default") == 5
    assert requests.count() == 6
    requests.reset()
    assert requests.count() == 0


async def test_injected_errors_hit_only_matching_requests(server: ApiServer, http: Any) -> None:
    server.faults.fail_next(2, code=500, verb="create", resource="secrets")
    server.faults.fail_next(1, code=429, verb="get")
    status, body = await http.post(SECRETS, {"metadata": {"name": "a"}})
    assert status == 500 and body["reason"] == "InternalError"
    assert (await http.post(SECRETS, {"metadata": {"name": "a"}}))[0] == 500
    assert (await http.post(SECRETS, {"metadata": {"name": "a"}}))[0] == 201
    async with http.session.get(f"{http.url}{SECRETS}/a") as response:
        assert response.status == 429 and response.headers["Retry-After"] == "1"
    assert (await http.get(f"{SECRETS}/a"))[0] == 200
    assert server.requests.count(code=500) == 2 and server.requests.count(code=429) == 1


async def test_latency_is_added_to_every_request(server: ApiServer, http: Any) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    server.faults.sleep = record
    await http.get(SECRETS)
    server.faults.latency = 0.05
    await http.get(SECRETS)
    await http.get("/apis")
    assert delays == [0.05, 0.05]
    server.faults.clear()
    assert server.faults.latency == 0.0
    await http.get(SECRETS)
    assert delays == [0.05, 0.05]
