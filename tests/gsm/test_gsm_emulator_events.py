"""Event notifications: Pub/Sub push envelopes posted to a local aiohttp endpoint."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp import web
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcAsyncIOTransport,
)

from kes_emulators.gsm import SecretManagerEmulator

VALUE = b"s3cr3t-never-in-an-event"


class Endpoint:
    """A push endpoint that records what it receives and answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 204
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.Response(status=self.status)


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    endpoint = Endpoint()
    app = web.Application()
    app.router.add_post("/push", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    endpoint.url = f"http://127.0.0.1:{port}/push"
    yield endpoint
    await runner.cleanup()


async def start(url: str, *, all_secrets: bool) -> tuple[SecretManagerEmulator, Any]:
    emulator = SecretManagerEmulator(notify_url=url, notify_all_secrets=all_secrets)
    await emulator.start()
    channel = grpc.aio.insecure_channel(emulator.address)
    client = SecretManagerServiceAsyncClient(
        transport=SecretManagerServiceGrpcAsyncIOTransport(channel=channel)
    )
    return emulator, client


def decoded(envelope: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(envelope["message"]["data"])))


async def test_every_change_is_pushed_with_gcp_attributes(endpoint: Endpoint) -> None:
    emulator, client = await start(endpoint.url, all_secrets=True)
    secret = "projects/p/secrets/db"
    await client.create_secret(
        parent="projects/p", secret_id="db", secret={"replication": {"automatic": {}}}
    )
    version = (await client.add_secret_version(parent=secret, payload={"data": VALUE})).name
    await client.access_secret_version(name=version)  # reads publish nothing
    await client.disable_secret_version(name=version)
    await client.enable_secret_version(name=version)
    await client.update_secret(
        secret={"name": secret, "labels": {"a": "b"}}, update_mask={"paths": ["labels"]}
    )
    await client.destroy_secret_version(name=version)
    await client.delete_secret(name=secret)
    await emulator.events.drain()
    await emulator.stop()

    events = [e["message"]["attributes"]["eventType"] for e in endpoint.received]
    assert events == [
        "SECRET_CREATE", "SECRET_VERSION_ADD", "SECRET_VERSION_DISABLE", "SECRET_VERSION_ENABLE",
        "SECRET_UPDATE", "SECRET_VERSION_DESTROY", "SECRET_DELETE",
    ]
    add = endpoint.received[1]
    assert add["message"]["attributes"] == {
        "eventType": "SECRET_VERSION_ADD",
        "dataFormat": "JSON_API_V1",
        "secretId": secret,
        "versionId": version,
    }
    assert add["subscription"] == "projects/p/subscriptions/secretmanager-emulator-push"
    assert decoded(add)["name"] == version
    assert decoded(add)["state"] == "ENABLED"
    assert "versionId" not in endpoint.received[0]["message"]["attributes"]
    assert decoded(endpoint.received[4])["labels"] == {"a": "b"}
    assert {"messageId", "publishTime"} <= set(add["message"])
    everything = json.dumps(endpoint.received).encode()
    assert VALUE not in everything
    assert base64.b64encode(VALUE) not in everything
    assert emulator.events.delivered == 7


async def test_topics_on_a_secret_choose_the_subscriptions(endpoint: Endpoint) -> None:
    emulator, client = await start(endpoint.url, all_secrets=False)
    await client.create_secret(
        parent="projects/p", secret_id="quiet", secret={"replication": {"automatic": {}}}
    )
    await client.create_secret(
        parent="projects/p", secret_id="loud",
        secret={
            "replication": {"automatic": {}},
            "topics": [{"name": "projects/p/topics/a"}, {"name": "projects/q/topics/b"}],
        },
    )
    await emulator.events.drain()
    await emulator.stop()
    assert [e["subscription"] for e in endpoint.received] == [
        "projects/p/subscriptions/a-push", "projects/q/subscriptions/b-push",
    ]
    assert {e["message"]["attributes"]["secretId"] for e in endpoint.received} == {
        "projects/p/secrets/loud"
    }


async def test_failed_deliveries_are_counted_and_never_fail_the_rpc(endpoint: Endpoint) -> None:
    endpoint.status = 500
    emulator, client = await start(endpoint.url, all_secrets=True)
    created = await client.create_secret(
        parent="projects/p", secret_id="db", secret={"replication": {"automatic": {}}}
    )
    await emulator.events.drain()
    assert created.name == "projects/p/secrets/db"
    assert (emulator.events.delivered, emulator.events.failed) == (0, 1)
    await emulator.stop()


async def test_unreachable_endpoint_is_counted(unused_tcp_port: int) -> None:
    emulator, client = await start(f"http://127.0.0.1:{unused_tcp_port}/", all_secrets=True)
    await client.create_secret(
        parent="projects/p", secret_id="db", secret={"replication": {"automatic": {}}}
    )
    await emulator.events.drain()
    assert emulator.events.failed == 1
    await emulator.stop()
