"""The receiver over HTTP: each source's deliveries, the hardening, the action, the metrics."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kes.recv.config import EndpointConfig, Limits, RateLimit
from kes.recv.registry import Endpoint
from kes.recv.scope import RefreshScope
from kes.recv.server import HookServer, serve
from kes.recv.source import Delivery, Verdict
from tests.recv.conftest import (
    AUDIENCE,
    DOCKERHUB_KEY,
    GITHUB_KEY,
    PUBSUB_KEY,
    PUSH_SA,
    Harness,
    envelope,
    externalsecret,
    github_headers,
    route,
)
from tests.support.waiting import wait_for

PUSH = json.dumps({"ref": "refs/heads/main", "marker": "payload-marker-7f3a",
                   "repository": {"full_name": "apps-org/web"}}).encode()
IMAGE_PUSH = json.dumps({"push_data": {"tag": "v1"}, "repository": {"repo_name": "me/app"},
                         "marker": "payload-marker-7f3a"}).encode()
PROW_TOKEN = b"prow-token"
GSM_DB = "projects/proj-one/secrets/db"


@dataclass(frozen=True)
class Case:
    """One source's deliveries: a valid one and what it refreshes."""

    path: str
    valid: Callable[[Harness], tuple[bytes, dict[str, str]]]
    refreshed: list[tuple[str, str]]
    malformed: Callable[[Harness], tuple[bytes, dict[str, str]]]
    tampered: Callable[[Harness], tuple[str, bytes, dict[str, str]]]


def _github(body: bytes, key: bytes) -> Callable[[Harness], tuple[bytes, dict[str, str]]]:
    return lambda h: (body, github_headers(key, body))


def _pubsub(h: Harness, body: bytes = envelope(GSM_DB)) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": "application/json",
                  "Authorization": f"Bearer {h.issuer.mint(AUDIENCE, PUSH_SA)}"}


def _tamper_body(path: str, key: bytes) -> Callable[[Harness], tuple[str, bytes, dict[str, str]]]:
    headers = github_headers(key, PUSH)
    return lambda h: (path, PUSH.replace(b"main", b"evil"), headers)


def _tamper_token(h: Harness) -> tuple[str, bytes, dict[str, str]]:
    body, headers = _pubsub(h)
    headers["Authorization"] = headers["Authorization"][:-6] + "AAAAAA"
    return route(PUBSUB_KEY), body, headers


def _tamper_route(h: Harness) -> tuple[str, bytes, dict[str, str]]:
    path = route(DOCKERHUB_KEY)
    return path[:-1] + ("0" if path[-1] != "0" else "1"), IMAGE_PUSH, {}


CASES = {
    "GitHub": Case(
        route(GITHUB_KEY), _github(PUSH, GITHUB_KEY), [("apps", "cache"), ("apps", "db")],
        _github(b"{not json", GITHUB_KEY), _tamper_body(route(GITHUB_KEY), GITHUB_KEY)),
    "GitHubProwTokens": Case(
        "/hook/prow", _github(PUSH, PROW_TOKEN), [("apps", "web")],
        _github(b"[1, 2]", PROW_TOKEN), _tamper_body("/hook/prow", PROW_TOKEN)),
    "DockerHub": Case(
        route(DOCKERHUB_KEY), lambda h: (IMAGE_PUSH, {"Content-Type": "application/json"}),
        [("apps", "cache"), ("apps", "db"), ("apps", "web")],
        lambda h: (b'{"repository": {}}', {}), _tamper_route),
    "GCPSecretManagerPubSub": Case(
        route(PUBSUB_KEY), _pubsub, [("apps", "cache"), ("apps", "db"), ("other", "db")],
        lambda h: _pubsub(h, b'{"message": "no attributes"}'), _tamper_token),
}


def annotated(h: Harness) -> list[tuple[str, str]]:
    keys = [("apps", "cache"), ("apps", "db"), ("apps", "web"), ("other", "db")]
    return [(ns, name) for ns, name in keys if h.requested_at(name, ns)]


@pytest.mark.parametrize("source", sorted(CASES))
def test_a_valid_delivery_refreshes_what_its_endpoint_selects(
    harness: Harness, source: str
) -> None:
    case = CASES[source]
    body, headers = case.valid(harness)
    answer = harness.post(case.path, body, headers)
    assert (answer.status, answer.text) == (202, "ok")
    harness.drain()
    assert annotated(harness) == case.refreshed
    assert harness.patches() == len(case.refreshed)
    result = f'result="accepted",source="{source}"'
    assert harness.metric(
        f'kes_recv_deliveries_total{{reason="{_reason(source)}",{result}}}') == 1.0


def _reason(source: str) -> str:
    return "SECRET_VERSION_ADD" if source == "GCPSecretManagerPubSub" else "push"


@pytest.mark.parametrize("source", sorted(CASES))
def test_tampered_replayed_oversized_and_malformed_deliveries_change_nothing(
    harness: Harness, source: str
) -> None:
    case = CASES[source]
    path, body, headers = case.tampered(harness)
    tampered = harness.post(path, body, headers)
    assert tampered.status == (404 if source == "DockerHub" else 401)
    valid_body, valid_headers = case.valid(harness)
    for other, other_case in CASES.items():
        if other != source:
            replayed = harness.post(other_case.path, valid_body, valid_headers)
            assert replayed.status in (400, 401), f"{source} replayed to {other}"
    big = valid_body + b" " * 4096  # over maxBodyBytes (4096); JSON still valid
    assert harness.post(case.path, big, valid_headers).status == 413
    assert _chunked(harness, case.path, big, valid_headers) == 413
    bad_body, bad_headers = case.malformed(harness)
    malformed = harness.post(case.path, bad_body, bad_headers)
    assert (malformed.status, malformed.text) == (400, "bad request")
    harness.drain()
    assert annotated(harness) == []
    assert harness.patches() == 0


def _chunked(h: Harness, path: str, body: bytes, headers: dict[str, str]) -> int:
    """A body without Content-Length, in chunks: the limit holds while it is read."""
    with socket.create_connection(("127.0.0.1", h.port), timeout=10) as s:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  f"{head}\r\n".encode())
        for start in range(0, len(body), 1000):
            piece = body[start:start + 1000]
            s.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        return int(s.recv(1024).split(b" ", 2)[1])


def test_unknown_routes_and_wrong_digests_answer_the_very_same_404(harness: Harness) -> None:
    near = route(GITHUB_KEY)[:-1] + ("0" if route(GITHUB_KEY)[-1] != "0" else "1")
    paths = [near, "/hook/" + hashlib.sha256(b"guess").hexdigest(), "/hook/prow2", "/hook/",
             "/hook/prow/x", "/", "/admin", "/hook/../metrics"]
    answers = [harness.post(p, PUSH, github_headers(GITHUB_KEY, PUSH)) for p in paths]
    shapes = {(a.status, a.text, a.headers["Content-Type"], a.headers.get("Content-Length"))
              for a in answers}
    assert shapes == {(404, "404: Not Found", "text/plain; charset=utf-8", "14")}
    assert {"Server", "Date", "Content-Length", "Content-Type"} >= set(answers[0].headers)
    assert harness.metric(
        'kes_recv_deliveries_total{reason="unknown_route",result="not_found",source=""}'
    ) == 3.0  # the first three have the shape /hook/<route>; the rest are no deliveries


def test_only_post_reaches_a_source_and_the_method_reveals_no_route(harness: Harness) -> None:
    for path in (route(GITHUB_KEY), "/hook/" + "0" * 64):
        for method in ("GET", "PUT", "DELETE"):
            answer = harness.post(path, b"", method=method)
            assert (answer.status, answer.headers.get("Allow")) == (405, "POST")
    assert harness.patches() == 0


def test_each_endpoint_has_its_own_rate_limit(harness: Harness) -> None:
    statuses = [harness.post(route(DOCKERHUB_KEY), IMAGE_PUSH).status for _ in range(5)]
    assert statuses == [202, 202, 202, 429, 429]  # burst 3, refilled at 0.001/s
    limited = harness.post(route(DOCKERHUB_KEY), IMAGE_PUSH)
    assert (limited.text, limited.headers["Retry-After"]) == ("too many requests", "1")
    assert harness.post(route(GITHUB_KEY), PUSH, github_headers(GITHUB_KEY, PUSH)).status == 202


def test_a_slow_request_head_is_cut_off(harness: Harness) -> None:
    with socket.create_connection(("127.0.0.1", harness.port), timeout=10) as s:
        s.sendall(b"POST " + route(GITHUB_KEY).encode() + b" HTTP/1.1\r\nHost: x\r\n")
        assert s.recv(1024) == b""  # closed after the 500 ms header timeout, no answer


def test_a_slow_body_answers_408(harness: Harness) -> None:
    with socket.create_connection(("127.0.0.1", harness.port), timeout=10) as s:
        s.sendall(b"POST " + route(DOCKERHUB_KEY).encode() +
                  b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"push_data\"")
        answer = s.recv(1024)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b"request timeout")


def test_not_ready_answers_503_until_the_externalsecrets_are_listed(harness: Harness) -> None:
    harness.loop.run(_clear(harness))
    assert harness.get("/readyz").status == 503
    assert harness.post(route(DOCKERHUB_KEY), IMAGE_PUSH).status == 503
    harness.loop.run(_set(harness))
    assert harness.get("/readyz").status == 200
    assert harness.get("/healthz").text == "ok"


async def _clear(h: Harness) -> None:
    h.receiver.ready.clear()


async def _set(h: Harness) -> None:
    h.receiver.ready.set()


def test_the_index_follows_the_watch(harness: Harness) -> None:
    harness.custom.create_namespaced_custom_object(
        "kubernetes-client.io", "v1", "apps", "externalsecrets",
        externalsecret("late", "apps", ["db"], {"team": "b"}))
    wait_for(lambda: ("apps", "late") in harness.loop.run(_users(harness)), "the new one")
    harness.custom.patch_namespaced_custom_object(
        "kubernetes-client.io", "v1", "apps", "externalsecrets", "late",
        {"metadata": {"labels": {"team": "a"}}})
    wait_for(lambda: ("apps", "late") in harness.loop.run(_team_a(harness)), "the label")
    harness.custom.delete_namespaced_custom_object(
        "kubernetes-client.io", "v1", "apps", "externalsecrets", "late")
    wait_for(lambda: ("apps", "late") not in harness.loop.run(_users(harness)), "the deletion")


async def _users(h: Harness) -> list[tuple[str, str]]:
    from kes.names import SecretName
    from kes.recv.scope import RefreshScope

    return h.receiver.index.users_of(SecretName("proj-one", "db"), RefreshScope())


async def _team_a(h: Harness) -> list[tuple[str, str]]:
    return h.receiver.index.select(h.receiver.endpoints[0].config.refresh)


def test_a_burst_is_coalesced_into_at_most_one_patch_per_second(harness: Harness) -> None:
    started = time.monotonic()
    for _ in range(10):
        assert harness.post(route(PUBSUB_KEY), *_pubsub(harness)).status == 202
    windows = 1 + math.ceil(time.monotonic() - started)  # one-second windows the burst spans
    harness.drain()
    patched = harness.patches()
    requested = harness.metric('kes_recv_refreshes_total{result="requested"}')
    coalesced = harness.metric('kes_recv_refreshes_total{result="coalesced"}')
    assert requested == 30.0  # three users, ten events
    assert patched + coalesced == requested
    assert 3 <= patched <= 3 * windows  # at once, then at most once per window each


def test_logs_name_endpoints_never_payloads_keys_or_routes(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="kes.recv"):
        for case in CASES.values():
            harness.post(case.path, *case.valid(harness))
            harness.post(case.path, *case.malformed(harness))
        harness.drain()
    deliveries = [r for r in caplog.records if r.getMessage() == "delivery"]
    assert len(deliveries) == 8
    assert {r.endpoint for r in deliveries} == {  # type: ignore[attr-defined]
        "endpoints[0] (GitHub)", "endpoints[1] (GitHubProwTokens)", "endpoints[2] (DockerHub)",
        "endpoints[3] (GCPSecretManagerPubSub)"}
    text = caplog.text
    for secret in (b"payload-marker-7f3a", GITHUB_KEY, PROW_TOKEN, DOCKERHUB_KEY, PUBSUB_KEY):
        assert secret.decode() not in text
    for key in (GITHUB_KEY, DOCKERHUB_KEY, PUBSUB_KEY):
        assert hashlib.sha256(key).hexdigest() not in text


def test_a_failed_patch_is_retried(harness: Harness) -> None:
    harness.api.faults.fail_next(2, code=503, verb="patch", resource="externalsecrets")
    body = json.dumps({"push_data": {}, "repository": {}}).encode()
    assert harness.post(route(DOCKERHUB_KEY), body).status == 202
    wait_for(lambda: len(annotated(harness)) == 3, "every refresh, retries included")
    harness.drain()
    assert harness.metric('kes_recv_refreshes_total{result="retried"}') == 2.0
    assert harness.metric('kes_recv_refreshes_total{result="patched"}') == 3.0


class _Exploding:
    """A source with a bug whose message quotes the delivery."""

    async def verify(self, delivery: Delivery) -> Verdict:
        raise KeyError(delivery.body.decode())

    async def close(self) -> None:
        return None


def test_a_bug_answers_500_without_a_trace_and_logs_no_payload(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = harness.receiver
    endpoint = Endpoint(EndpointConfig(0, "Exploding", Path("k"), RefreshScope(), RateLimit()),
                        "boom", _Exploding())
    server = HookServer([endpoint], Limits(), receiver.index, receiver.refresher,
                        receiver.metrics, lambda: True)

    async def start() -> tuple[Any, int]:
        return await serve(server.app(), "127.0.0.1", 0, Limits())

    runner, port = harness.loop.run(start())
    try:
        with caplog.at_level(logging.DEBUG, logger="kes.recv"):
            answer = Harness(harness.api, receiver, harness.issuer, harness.volume,
                             harness.custom, port, harness.loop).post("/hook/boom", PUSH)
    finally:
        harness.loop.run(runner.cleanup())
    assert (answer.status, answer.text) == (500, "internal server error")
    [record] = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert record.error == "KeyError"  # type: ignore[attr-defined]
    assert "in verify" in record.frames  # type: ignore[attr-defined]
    assert "payload-marker-7f3a" not in caplog.text
