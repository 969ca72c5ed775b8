"""Prow's GitHub flags through kes's GitHub client: endpoints in order with fallback,
and the hourly throttle on every request; real PyGithub against the emulator."""

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from kes.hmac.github import HookClient
from kes.hmac.github_api import Api, ApiSettings
from kes.hmac.github_auth import AppCredentials, GitHubCallError, TokenCredentials
from tests.hmac.conftest import APP_ID, BOT_TOKEN, FakeTime

FAST = {"backoff": 0.0, "seconds_between_requests": 0.0, "seconds_between_writes": 0.0}
LIST_REPO_HOOKS = "GET /repos/{owner}/{repo}/hooks"


class Refuser:
    """An endpoint that is down: it accepts connections and drops them at once."""

    def __init__(self) -> None:
        self.connections = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def refuser() -> AsyncIterator[Refuser]:
    down = Refuser()
    server = await asyncio.start_server(down.handle, "127.0.0.1", 0)
    down.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield down
    server.close()
    await server.wait_closed()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_a_down_first_endpoint_falls_back_and_stays_on_the_next(
    github, refuser
) -> None:
    client = HookClient(
        TokenCredentials(BOT_TOKEN),
        Api(ApiSettings(endpoints=(refuser.url, github.url), retries=1, **FAST)),
    )
    assert await asyncio.to_thread(client.find_hook, "foo/bar", "http://h/") is None
    tried = refuser.connections
    assert tried >= 1
    for key in ("foo/baz", "qux/one"):
        assert await asyncio.to_thread(client.find_hook, key, "http://h/") is None
    assert github.calls[LIST_REPO_HOOKS] == 3
    assert refuser.connections == tried  # the later calls went straight to the next one


async def test_no_endpoint_reachable_names_each_and_backs_off_between_rounds() -> None:
    slept: list[float] = []
    first, second = closed_port_url(), closed_port_url()
    client = HookClient(
        TokenCredentials(BOT_TOKEN),
        Api(ApiSettings(endpoints=(first, second), retries=2, backoff=0.5), sleep=slept.append),
    )
    with pytest.raises(GitHubCallError) as failed:
        await asyncio.to_thread(client.find_hook, "foo/bar", "http://h/")
    assert str(failed.value) == (
        "GitHub list hooks for foo/bar failed: no GitHub endpoint could be reached: "
        f"{first} (ConnectionError), {second} (ConnectionError)"
    )
    assert slept == [0.5, 1.0]


async def test_the_throttle_holds_back_each_request_beyond_the_burst(github) -> None:
    time = FakeTime()
    settings = ApiSettings(
        endpoints=(github.url,), hourly_tokens=3600, allowed_burst=2, **FAST
    )  # one a second after a burst of two
    client = HookClient(TokenCredentials(BOT_TOKEN), Api(settings, time.sleep, time.clock))
    for _ in range(5):
        await asyncio.to_thread(client.find_hook, "foo/bar", "http://h/")
    assert github.calls[LIST_REPO_HOOKS] == 5
    assert time.slept == pytest.approx([3.0, 1.0, 1.0])


async def test_the_apps_own_requests_count_against_the_throttle(github, app_key) -> None:
    github.add_app(APP_ID, app_key.public_pem)
    github.install_app(APP_ID, "foo")
    time = FakeTime()
    settings = ApiSettings(endpoints=(github.url,), hourly_tokens=3600, allowed_burst=1, **FAST)
    api = Api(settings, time.sleep, time.clock)
    client = HookClient(AppCredentials(str(APP_ID), app_key.private_pem, api), api)
    for key in ("foo/bar", "foo/baz"):
        await asyncio.to_thread(client.find_hook, key, "http://h/")
    served = sum(github.calls.values())
    assert served == 4  # installations, a token, two hook lists
    assert len(time.slept) == served - 1  # every request after the burst of one waited
