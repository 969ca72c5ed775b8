"""Event notifications as Pub/Sub push deliveries of Secret Manager's messages.

On GCP a secret lists Pub/Sub topics and a push subscription delivers to an HTTP
endpoint. The emulator has no Pub/Sub: it posts the push envelope a subscription
would post, straight to one URL. Deliveries run in order on a worker task, so a
slow or failing endpoint never holds up or fails the RPC that caused the event.
With `PushAuth`, each delivery carries the Google-signed OIDC token a subscription
with an authentication service account sends.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]

from kes_emulators.google_oidc import GoogleTokenIssuer

log = logging.getLogger(__name__)

DEFAULT_SUBSCRIPTION_ID = "secretmanager-emulator-push"


@dataclass(frozen=True)
class PushAuth:
    """A push subscription's authentication: `Authorization: Bearer <ID token>` for
    `service_account`, audience `audience` (Pub/Sub's default: the push URL)."""

    issuer: GoogleTokenIssuer
    service_account: str
    audience: str | None = None


class EventPublisher:
    """Posts one push envelope per event and topic to `url`.

    A secret with topics produces one delivery per topic (subscription
    `projects/P/subscriptions/<topic>-push`). With `all_secrets`, a secret without
    topics still produces one delivery, an emulator convenience GCP does not have.
    """

    def __init__(
        self,
        url: str | None,
        *,
        all_secrets: bool,
        clock: Callable[[], float],
        auth: PushAuth | None = None,
    ) -> None:
        self.url = url
        self.all_secrets = all_secrets
        self.auth = auth
        self.delivered = 0
        self.failed = 0
        self._clock = clock
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._worker = asyncio.create_task(self._deliver_forever())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def drain(self) -> None:
        """Wait until every event published so far was delivered or failed."""
        await self._queue.join()

    def publish(
        self,
        event_type: str,
        secret_name: str,
        topics: list[str],
        resource: Message,
        version_name: str | None = None,
    ) -> None:
        if self.url is None:
            return
        project = secret_name.split("/")[1]
        subscriptions = [_subscription_for(topic) for topic in topics]
        if not subscriptions and self.all_secrets:
            subscriptions = [f"projects/{project}/subscriptions/{DEFAULT_SUBSCRIPTION_ID}"]
        attributes = {
            "eventType": event_type,
            "dataFormat": "JSON_API_V1",
            "secretId": secret_name,
        }
        if version_name is not None:
            attributes["versionId"] = version_name
        data = base64.b64encode(json_format.MessageToJson(resource).encode()).decode()
        published = datetime.fromtimestamp(self._clock(), UTC).isoformat().replace("+00:00", "Z")
        for subscription in subscriptions:
            message_id = str(next(self._ids))
            self._queue.put_nowait(
                {
                    "message": {
                        "attributes": attributes,
                        "data": data,
                        "messageId": message_id,
                        "message_id": message_id,
                        "publishTime": published,
                        "publish_time": published,
                    },
                    "subscription": subscription,
                }
            )

    async def _deliver_forever(self) -> None:
        while True:
            envelope = await self._queue.get()
            try:
                await self._deliver(envelope)
            finally:
                self._queue.task_done()

    async def _deliver(self, envelope: dict[str, Any]) -> None:
        assert self._session is not None and self.url is not None
        event = envelope["message"]["attributes"]["eventType"]
        headers = {}
        if self.auth is not None:
            token = self.auth.issuer.mint(self.auth.audience or self.url,
                                          self.auth.service_account)
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with self._session.post(self.url, json=envelope, headers=headers) as response:
                if response.status < 300:
                    self.delivered += 1
                    return
                problem = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        self.failed += 1
        log.warning("event %s to %s not delivered: %s", event, self.url, problem)


def _subscription_for(topic: str) -> str:
    _, project, _, topic_id = topic.split("/")
    return f"projects/{project}/subscriptions/{topic_id}-push"
