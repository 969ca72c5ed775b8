"""Watches over raw HTTP: replay, 410, bookmarks, initial events, selectors, forced endings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from kes_emulators.apiserver import ApiServer

SECRETS = "/api/v1/namespaces/default/secrets"


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"].get("metadata", {}).get("name", "")) for e in events]


async def create(http: Any, name: str, labels: dict[str, str] | None = None) -> str:
    status, body = await http.post(SECRETS, {"metadata": {"name": name,
                                                          "labels": labels or {}}})
    assert status == 201, body
    return str(body["metadata"]["resourceVersion"])


async def test_watch_replays_from_resource_version(http: Any) -> None:
    rv = await create(http, "a")
    await create(http, "b")
    await http.patch(f"{SECRETS}/a", {"metadata": {"labels": {"x": "y"}}})
    await http.delete(f"{SECRETS}/b")
    events = await http.watch_lines(f"{SECRETS}?watch=true&resourceVersion={rv}"
                                    "&timeoutSeconds=0.2")
    assert kinds(events) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)


async def test_watch_without_resource_version_starts_with_current_state(http: Any) -> None:
    await create(http, "a")
    await create(http, "b")
    events = await http.watch_lines(f"{SECRETS}?watch=1&timeoutSeconds=0.2")
    assert kinds(events) == [("ADDED", "a"), ("ADDED", "b")]


async def test_legacy_watch_path_and_float_timeout(http: Any) -> None:
    rv = await create(http, "a")
    await create(http, "b")
    events = await http.watch_lines(
        f"/api/v1/watch/namespaces/default/secrets?resourceVersion={rv}&timeoutSeconds=0.5")
    assert kinds(events) == [("ADDED", "b")]


async def test_resource_version_past_the_count_limit_answers_410_error_event(http: Any) -> None:
    server = ApiServer(history_limit=3)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async def post(name: str) -> str:
                async with session.post(server.url + SECRETS,
                                        json={"metadata": {"name": name}}) as response:
                    return str((await response.json())["metadata"]["resourceVersion"])

            rv = await post("a")
            for name in ("b", "c", "d", "e"):
                await post(name)
            async with session.get(server.url + SECRETS, params={
                    "watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}) as response:
                assert response.status == 200
                events = [json.loads(line) for line in (await response.text()).splitlines()]
    finally:
        await server.stop()
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


async def test_forced_expiry_of_the_next_watch(http: Any, server: ApiServer) -> None:
    rv = await create(http, "a")
    server.faults.expire_next_watch()
    events = await http.watch_lines(f"{SECRETS}?watch=true&resourceVersion={rv}"
                                    "&timeoutSeconds=1")
    assert [e["type"] for e in events] == ["ERROR"] and events[0]["object"]["code"] == 410
    events = await http.watch_lines(f"{SECRETS}?watch=true&resourceVersion={rv}"
                                    "&timeoutSeconds=0.1")
    assert events == []


async def test_bookmarks_periodic_and_at_timeout(http: Any, server: ApiServer) -> None:
    rv = await create(http, "a")
    events = await http.watch_lines(f"{SECRETS}?watch=true&resourceVersion={rv}"
                                    "&allowWatchBookmarks=true&timeoutSeconds=0.5")
    assert events and all(e["type"] == "BOOKMARK" for e in events)
    assert len(events) >= 2  # one every 0.2s (this fixture's interval) plus one at the end
    assert events[-1]["object"] == {"kind": "Secret", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(server.store.rv)}}


async def test_send_initial_events_ends_with_annotated_bookmark(http: Any) -> None:
    await create(http, "a")
    events = await http.watch_lines(
        f"{SECRETS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        "&allowWatchBookmarks=true&timeoutSeconds=0.1")
    assert kinds(events)[0] == ("ADDED", "a")
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {
        "k8s.io/initial-events-end": "true"}
    status, body = await http.get(f"{SECRETS}?watch=true&sendInitialEvents=true")
    assert status == 422


async def test_selector_transitions_become_added_and_deleted(http: Any) -> None:
    rv = await create(http, "a", {"app": "x"})
    await http.patch(f"{SECRETS}/a", {"metadata": {"labels": {"app": "y"}}})
    await http.patch(f"{SECRETS}/a", {"metadata": {"labels": {"app": "x"}}})
    await create(http, "b", {"app": "y"})
    events = await http.watch_lines(f"{SECRETS}?watch=true&resourceVersion={rv}"
                                    "&labelSelector=app%3Dx&timeoutSeconds=0.2")
    assert kinds(events) == [("DELETED", "a"), ("ADDED", "a")]


async def test_an_object_leaving_a_selector_is_deleted_in_its_previous_state(
        http: Any) -> None:
    """As the real watch cache: the last state the watcher may see, at the new rv."""
    rv = await create(http, "a", {"app": "x"})
    _, moved = await http.patch(f"{SECRETS}/a", {"metadata": {"labels": {"app": "y"}}})
    events = await http.watch_lines(f"{SECRETS}?watch=true&resourceVersion={rv}"
                                    "&labelSelector=app%3Dx&timeoutSeconds=0.1")
    assert [(e["type"], e["object"]["metadata"]["labels"],
             e["object"]["metadata"]["resourceVersion"]) for e in events] == [
        ("DELETED", {"app": "x"}, moved["metadata"]["resourceVersion"])]


async def test_metadata_only_watch(http: Any) -> None:
    rv = await create(http, "a")
    await http.patch(f"{SECRETS}/a", {"data": {"k": "dg=="}})
    events = await http.watch_lines(
        f"{SECRETS}?watch=true&resourceVersion={rv}&timeoutSeconds=0.2",
        headers={"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"})
    assert [e["object"]["kind"] for e in events] == ["PartialObjectMetadata"]
    assert "data" not in events[0]["object"]


async def test_live_events_and_dropped_watches(http: Any, server: ApiServer) -> None:
    rv = await create(http, "a")
    url = f"{http.url}{SECRETS}?watch=true&resourceVersion={rv}"
    async with http.session.get(url) as response:
        assert response.status == 200
        for _ in range(500):  # until the server has subscribed the stream
            if server.open_watches():
                break
            await asyncio.sleep(0.01)
        assert server.open_watches() == 1
        await create(http, "live")
        line = await response.content.readline()
        assert kinds([json.loads(line)]) == [("ADDED", "live")]
        server.drop_watches()
        assert await response.content.read() == b""
    assert server.open_watches() == 0


async def test_namespaced_watch_ignores_other_namespaces(http: Any) -> None:
    rv = await create(http, "a")
    await http.post("/api/v1/namespaces/kube-system/secrets", {"metadata": {"name": "other"}})
    events = await http.watch_lines(f"{SECRETS}?watch=true&resourceVersion={rv}"
                                    "&timeoutSeconds=0.1")
    assert events == []
    events = await http.watch_lines(f"/api/v1/secrets?watch=true&resourceVersion={rv}"
                                    "&timeoutSeconds=0.1")
    assert kinds(events) == [("ADDED", "other")]


async def test_watch_resource_version_from_the_future_times_out(http: Any) -> None:
    status, body = await http.get(f"{SECRETS}?watch=true&resourceVersion=999999")
    assert status == 504 and body["reason"] == "Timeout"


async def test_cluster_scoped_watch_delivers_events(http: Any) -> None:
    _, listed = await http.get("/api/v1/namespaces")
    rv = listed["metadata"]["resourceVersion"]
    await http.post("/api/v1/namespaces", {"metadata": {"name": "team-b"}})
    await http.patch("/api/v1/namespaces/team-b", {"metadata": {"annotations": {"a": "b"}}})
    events = await http.watch_lines(f"/api/v1/namespaces?watch=true&resourceVersion={rv}"
                                    "&timeoutSeconds=0.1")
    assert kinds(events) == [("ADDED", "team-b"), ("MODIFIED", "team-b")]


async def test_watch_options_are_validated_as_the_real_server_does(http: Any) -> None:
    status, body = await http.get(f"{SECRETS}?watch=true&resourceVersionMatch=NotOlderThan")
    assert status == 422 and body["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
        "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
    status, body = await http.get(f"{SECRETS}?watch=true&sendInitialEvents=true"
                                  "&allowWatchBookmarks=true&resourceVersionMatch=Exact")
    assert status == 422 and [c["message"] for c in body["details"]["causes"]] == [
        "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        'Unsupported value: "Exact": supported values: "NotOlderThan"']
    rv = await create(http, "a")
    events = await http.watch_lines(f"{SECRETS}?watch=true&sendInitialEvents=false"
                                    f"&resourceVersionMatch=NotOlderThan&resourceVersion={rv}"
                                    "&timeoutSeconds=0.1")
    assert events == []


async def test_watch_without_bookmarks_keeps_flowing_past_the_bookmark_interval(
        http: Any, server: ApiServer) -> None:
    """A client that never asks for bookmarks (KES, kubectl -w) still gets every event
    after the server's bookmark interval (0.2 s here) has passed several times."""
    rv = await create(http, "a")
    url = f"{http.url}{SECRETS}?watch=true&resourceVersion={rv}"
    async with http.session.get(url) as response:
        assert response.status == 200
        for round_ in range(2):
            await asyncio.sleep(0.3)  # time must pass beyond the interval: the point here
            await create(http, f"late-{round_}")
            line = await asyncio.wait_for(response.content.readline(), 5)
            assert kinds([json.loads(line)]) == [("ADDED", f"late-{round_}")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_history_is_kept_by_time_not_by_count() -> None:
    """kube-apiserver's etcd keeps 5 minutes of history: a watch resumed from any
    resourceVersion of that window replays, however many events came since."""
    clock = FakeClock()
    server = ApiServer(clock=clock)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async def write(method: str, path: str, body: Any, content_type: str) -> str:
                async with session.request(method, server.url + path, data=json.dumps(body),
                                           headers={"Content-Type": content_type}) as response:
                    assert response.status in (200, 201)
                    return str((await response.json())["metadata"]["resourceVersion"])

            async def watch_from(rv: str) -> list[dict[str, Any]]:
                async with session.get(server.url + SECRETS, params={
                        "watch": "true", "resourceVersion": rv,
                        "timeoutSeconds": "0.1"}) as response:
                    return [json.loads(line) for line in (await response.text()).splitlines()]

            first = await write("POST", SECRETS, {"metadata": {"name": "first"}},
                                "application/json")
            for i in range(1500):  # more than the old 1,000-event history
                await write("PATCH", f"{SECRETS}/first", {"metadata": {"labels": {"n": str(i)}}},
                            "application/merge-patch+json")
            clock.now += 299
            events = await watch_from(first)
            assert len(events) == 1500 and {e["type"] for e in events} == {"MODIFIED"}
            clock.now += 2  # the first events are now older than 5 minutes
            await write("POST", SECRETS, {"metadata": {"name": "second"}}, "application/json")
            assert [e["object"]["code"] for e in await watch_from(first)] == [410]
    finally:
        await server.stop()
