"""Fixtures: the emulated API server (async and in the background), clients pointed at it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kes_emulators.apiserver import ApiServer
from kes_emulators.kubectl import find_kubectl

KUBECTL = find_kubectl()

CRD_DIR = Path(__file__).resolve().parent / "crds"
WIDGET_CRD: dict[str, Any] = yaml.safe_load((CRD_DIR / "widget.yaml").read_text())


def widget(name: str, size: int = 1, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"size": size, **spec}}


@pytest.fixture
def widget_crd() -> dict[str, Any]:
    return json.loads(json.dumps(WIDGET_CRD))


@pytest.fixture
def make_widget() -> Callable[..., dict[str, Any]]:
    return widget


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    api = ApiServer(bookmark_interval=0.2)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


class Http:
    """A thin raw-HTTP client: exact status codes and bodies, as a conformance test needs."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(self, method: str, path: str, body: Any = None, *,
                   content_type: str = "application/json", token: str | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        all_headers = dict(headers or {})
        if body is not None:
            all_headers["Content-Type"] = content_type
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else (body if isinstance(body, (str, bytes))
                                          else json.dumps(body))
        async with self.session.request(method, self.url + path, data=data,
                                        headers=all_headers) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.call("PUT", path, body, **kw)

    async def patch(self, path: str, body: Any, kind: str = "merge", **kw: Any
                    ) -> tuple[int, Any]:
        content_type = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }.get(kind, kind)
        return await self.call("PATCH", path, body, content_type=content_type, **kw)

    async def delete(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("DELETE", path, body, **kw)

    async def watch_lines(self, path: str, **kw: Any) -> list[dict[str, Any]]:
        """Read a (finite, e.g. timeoutSeconds) watch to its end."""
        status, text = await self.call("GET", path, **kw)
        assert status == 200, text
        if isinstance(text, dict):
            return [text]
        return [json.loads(line) for line in text.splitlines() if line]


@pytest.fixture
async def http(server: ApiServer) -> AsyncIterator[Http]:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield Http(session, server.url)


@pytest.fixture
def anonymous_http() -> Callable[[ApiServer], Any]:
    """An HTTP client without credentials for a given server (use `async with`)."""
    class _Anonymous:
        def __init__(self, api: ApiServer) -> None:
            self.api = api

        async def __aenter__(self) -> Http:
            self.session = aiohttp.ClientSession()
            return Http(self.session, self.api.url)

        async def __aexit__(self, *exc: object) -> None:
            await self.session.close()

    return _Anonymous


@pytest.fixture
def background_server() -> Iterator[ApiServer]:
    """A server on a background loop, for synchronous clients (kubernetes, kubectl, kopf)."""
    api = ApiServer(bookmark_interval=0.2)
    with api.background():
        yield api


@pytest.fixture
def tls_server() -> Iterator[ApiServer]:
    """HTTPS with RBAC on: kubectl sends bearer tokens only over TLS."""
    api = ApiServer(tls=True, rbac=True)
    with api.background():
        yield api


@pytest.fixture
def kubeconfig(background_server: ApiServer, tmp_path: Path) -> Path:
    return background_server.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kubectl(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real kubectl with an explicit kubeconfig and a fresh discovery cache."""
    cache = tmp_path / "kubectl-cache"

    def run(config: Path, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, f"--kubeconfig={config}", f"--cache-dir={cache}", *args],
            input=stdin, capture_output=True, text=True, timeout=60, check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    return run
