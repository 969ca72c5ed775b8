"""Event notifications: Pub/Sub push envelopes posted to a local aiohttp endpoint."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp import web
from google.auth.transport import requests as google_requests
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcAsyncIOTransport,
)
from google.oauth2 import id_token

from kes_emulators.google_oidc import GoogleTokenIssuer
from kes_emulators.gsm import SecretManagerEmulator
from kes_emulators.gsm.events import PushAuth
from kes_emulators.launcher import PUSH_SERVICE_ACCOUNT, LaunchOptions, launch_secret_manager

VALUE = b"s3cr3t-never-in-an-event"


class Endpoint:
    """A push endpoint that records what it receives and answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.status = 204
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        if "Authorization" in request.headers:
            self.authorizations.append(request.headers["Authorization"])
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
    assert endpoint.authorizations == []  # no push_auth: no token, as without one on GCP


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


async def test_push_deliveries_carry_a_google_oidc_token(endpoint: Endpoint) -> None:
    issuer = GoogleTokenIssuer()
    await issuer.start()
    emulator = SecretManagerEmulator(
        notify_url=endpoint.url,
        push_auth=PushAuth(issuer, "push@p.iam.gserviceaccount.com"),
    )
    await emulator.start()
    channel = grpc.aio.insecure_channel(emulator.address)
    client = SecretManagerServiceAsyncClient(
        transport=SecretManagerServiceGrpcAsyncIOTransport(channel=channel)
    )
    await client.create_secret(
        parent="projects/p", secret_id="db", secret={"replication": {"automatic": {}}}
    )
    await emulator.events.drain()
    await emulator.stop()
    [authorization] = endpoint.authorizations
    scheme, _, token = authorization.partition(" ")
    assert scheme == "Bearer"

    def verify() -> Any:
        # google-auth's own path: it fetches the issuer's certificates over HTTP.
        return id_token.verify_token(
            token, google_requests.Request(), audience=endpoint.url, certs_url=issuer.certs_url
        )

    claims = await asyncio.to_thread(verify)
    await issuer.stop()
    assert claims["iss"] == "https://accounts.google.com"
    assert (claims["email"], claims["email_verified"]) == ("push@p.iam.gserviceaccount.com", True)
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["sub"] == claims["azp"] and claims["sub"].isdigit()


async def test_kes_emulate_signs_the_pushes_it_posts(endpoint: Endpoint) -> None:
    running = await launch_secret_manager(LaunchOptions(gsm_notify_url=endpoint.url), None)
    try:
        certs_url = running.endpoints[-1].rpartition(" ")[2]
        channel = grpc.aio.insecure_channel(running.environment["SECRET_MANAGER_EMULATOR_HOST"])
        client = SecretManagerServiceAsyncClient(
            transport=SecretManagerServiceGrpcAsyncIOTransport(channel=channel)
        )
        await client.create_secret(
            parent="projects/p", secret_id="db", secret={"replication": {"automatic": {}}}
        )
        for _ in range(200):
            if endpoint.authorizations:
                break
            await asyncio.sleep(0.01)
        [authorization] = endpoint.authorizations
        claims = await asyncio.to_thread(
            id_token.verify_token, authorization.partition(" ")[2], google_requests.Request(),
            audience=endpoint.url, certs_url=certs_url,
        )
        assert claims["email"] == PUSH_SERVICE_ACCOUNT
    finally:
        await running.stop()
