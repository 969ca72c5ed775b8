"""The one gateway to GCP Secret Manager: clients, retries, integrity checks, errors.

Every part of kes that reads or writes Secret Manager goes through `SecretManager`.
It talks plaintext gRPC to `SECRET_MANAGER_EMULATOR_HOST` when that is set, and to
Google (Application Default Credentials, regional endpoints) otherwise. The client
library's own retry is switched off on every call so the policy here is the only
one, bounded by an overall deadline. Errors name the resource, never the data.

AddSecretVersion is not idempotent: it is retried on UNAVAILABLE and
RESOURCE_EXHAUSTED, which almost always mean the request was not applied, but not on
DEADLINE_EXCEEDED, after which the version may well exist. A connection lost after
the request was sent can still, rarely, leave a duplicate version; the hmac job
writes whole token maps, so a duplicate holds the same map and is harmless.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import google_crc32c
import grpc
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.api_core.gapic_v1 import routing_header
from google.auth.exceptions import DefaultCredentialsError
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcAsyncIOTransport,
)
from google.cloud.secretmanager_v1.services.secret_manager_service.transports.base import (
    DEFAULT_CLIENT_INFO,
)
from google.cloud.secretmanager_v1.types import service
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from kes.errors import KesError
from kes.names import SecretName, SecretVersionName

EMULATOR_HOST_ENV = "SECRET_MANAGER_EMULATOR_HOST"
_CLIENT_METADATA = DEFAULT_CLIENT_INFO.to_grpc_metadata()
"""The x-goog-api-client header the client library sends with every call."""

T = TypeVar("T")


class GsmError(KesError):
    """A Secret Manager call that failed; names the resource and the status, never data."""

    def __init__(self, resource: str, detail: str, code: str = "UNKNOWN") -> None:
        super().__init__(f"Secret Manager {code} for {resource}: {detail}")
        self.resource = resource
        self.detail = detail
        self.code = code


class NotFound(GsmError):
    pass


class PermissionDenied(GsmError):
    """PERMISSION_DENIED, or UNAUTHENTICATED: the caller may not do this."""


class FailedPrecondition(GsmError):
    """For example, the version is disabled or destroyed."""


class InvalidArgument(GsmError):
    pass


class Unavailable(GsmError):
    """UNAVAILABLE, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED still, after every retry."""


class CorruptPayload(GsmError):
    """The payload failed its data_crc32c check, or came without one, after one more try."""


_ERRORS: dict[str, type[GsmError]] = {
    "NOT_FOUND": NotFound,
    "PERMISSION_DENIED": PermissionDenied,
    "UNAUTHENTICATED": PermissionDenied,
    "FAILED_PRECONDITION": FailedPrecondition,
    "INVALID_ARGUMENT": InvalidArgument,
    "OUT_OF_RANGE": InvalidArgument,
    "UNAVAILABLE": Unavailable,
    "RESOURCE_EXHAUSTED": Unavailable,
    "DEADLINE_EXCEEDED": Unavailable,
}
CORRUPT_CODE = "DATA_LOSS"  # what on_call reports for a payload failing its checksum


@dataclass(frozen=True)
class SecretValue:
    name: SecretVersionName  # the resolved version: .../versions/N
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class VersionInfo:
    name: SecretVersionName
    state: str  # "ENABLED" | "DISABLED" | "DESTROYED"
    create_time: datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: waits initial, initial*multiplier, ... capped at maximum.

    `jitter` takes up to that fraction off each wait at random. The first attempt
    always runs; `deadline` (seconds since it started) bounds the retries: none
    starts with less than `min_attempt_time` left, and none runs past the deadline.
    No attempt runs longer than `attempt_timeout`.
    """

    initial: float = 0.2
    maximum: float = 10.0
    multiplier: float = 2.0
    deadline: float = 60.0
    jitter: float = 0.2
    attempt_timeout: float = 20.0
    min_attempt_time: float = 0.5

    def backoff(self, retry_number: int, draw: Callable[[], float] = random.random) -> float:
        """The wait before retry `retry_number` (1 for the first retry); `draw` is in [0, 1)."""
        wait = min(self.maximum, self.initial * self.multiplier ** (retry_number - 1))
        return wait * (1 - self.jitter * draw())

    def may_retry(self, elapsed: float) -> bool:
        """Whether a retry starting `elapsed` seconds after the first attempt has time to run."""
        return self.deadline - elapsed >= self.min_attempt_time

    def timeout(self, elapsed: float, *, first: bool) -> float:
        """The gRPC timeout of an attempt starting `elapsed` seconds after the first one.

        A deadline too short for even one attempt means "no retries", not "cut the
        only attempt short": the first attempt then gets the whole attempt_timeout.
        """
        remaining = self.deadline - elapsed
        if first and remaining < self.min_attempt_time:
            return self.attempt_timeout
        return min(self.attempt_timeout, max(remaining, self.min_attempt_time))


DEFAULT_RETRY = RetryPolicy()


def regional_endpoint(location: str) -> str:
    return f"secretmanager.{location}.rep.googleapis.com"


class _Corrupt(Exception):
    """One attempt whose payload failed or lacked its checksum; retried once, then reported."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SecretManager:
    """Secret Manager for kes: one per process, shared by everything that needs it."""

    def __init__(
        self,
        *,
        emulator_host: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        on_call: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`emulator_host` defaults to $SECRET_MANAGER_EMULATOR_HOST; `on_call(method,
        code)` runs after every attempt; `clock`/`sleep` measure and wait out backoff."""
        self.emulator_host = emulator_host or os.environ.get(EMULATOR_HOST_ENV) or None
        self.retry = retry
        self._on_call = on_call
        self._clock = clock
        self._sleep = sleep
        self._clients: dict[str | None, SecretManagerServiceAsyncClient] = {}

    def client(self, location: str | None) -> SecretManagerServiceAsyncClient:
        """The client for a location (its regional endpoint), made on first use."""
        key = None if self.emulator_host else location
        client = self._clients.get(key)
        if client is None:
            if self.emulator_host:
                channel = grpc.aio.insecure_channel(self.emulator_host)
                client = SecretManagerServiceAsyncClient(
                    transport=SecretManagerServiceGrpcAsyncIOTransport(channel=channel)
                )
            elif location is not None:
                client = SecretManagerServiceAsyncClient(
                    client_options=ClientOptions(api_endpoint=regional_endpoint(location))
                )
            else:
                client = SecretManagerServiceAsyncClient()
            self._clients[key] = client
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.transport.close()

    async def _call(
        self,
        method: str,
        resource: SecretName | SecretVersionName,
        invoke: Callable[[SecretManagerServiceAsyncClient, float], Awaitable[T]],
        *,
        idempotent: bool = True,
    ) -> T:
        """Run `invoke(client, timeout)` under the retry policy; map failures to GsmError.

        A call that is not `idempotent` is not retried after DEADLINE_EXCEEDED: the
        server may have applied it, and a retry would apply it twice.
        """
        policy = self.retry
        try:
            client = self.client(resource.location)
        except DefaultCredentialsError as error:
            raise PermissionDenied(
                str(resource), f"no Application Default Credentials: {error}", "UNAUTHENTICATED"
            ) from None
        started = self._clock()
        corrupt_attempts = 0

        def retryable(error: BaseException) -> bool:
            if isinstance(error, Unavailable):
                return idempotent or error.code != "DEADLINE_EXCEEDED"
            return isinstance(error, _Corrupt) and corrupt_attempts < 2

        # Tenacity's attempt n is the call's attempt n + 1: the first runs on its own.
        def wait(state: RetryCallState) -> float:
            return policy.backoff(state.attempt_number + 1)

        def stop(state: RetryCallState) -> bool:
            elapsed = self._clock() - started + (state.upcoming_sleep or 0.0)
            return not policy.may_retry(elapsed)

        async def attempt(first: bool) -> T:
            nonlocal corrupt_attempts
            timeout = policy.timeout(self._clock() - started, first=first)
            try:
                result = await invoke(client, timeout)
            except api_exceptions.GoogleAPICallError as error:
                code = error.grpc_status_code.name if error.grpc_status_code else "UNKNOWN"
                self._report(method, code)
                detail = str(error.message)
                if code == "DEADLINE_EXCEEDED" and not idempotent:
                    detail += "; not retried, since the call may have been applied"
                raise _ERRORS.get(code, GsmError)(str(resource), detail, code) from None
            except _Corrupt:
                corrupt_attempts += 1
                self._report(method, CORRUPT_CODE)
                raise
            self._report(method, "OK")
            return result

        try:
            # Nearly every call succeeds at once: the retry machinery waits for a failure.
            try:
                return await attempt(first=True)
            except (Unavailable, _Corrupt) as error:
                first_wait = policy.backoff(1)
                if not retryable(error) or not policy.may_retry(
                    self._clock() - started + first_wait
                ):
                    raise
            await self._sleep(first_wait)
            retrying = AsyncRetrying(
                retry=retry_if_exception(retryable), wait=wait, stop=stop, sleep=self._sleep,
                reraise=True,
            )
            async for attempt_state in retrying:
                with attempt_state:
                    return await attempt(first=False)
        except _Corrupt as error:
            raise CorruptPayload(str(resource), error.detail, CORRUPT_CODE) from None
        raise AssertionError("tenacity ended without a result or an error")

    def _report(self, method: str, code: str) -> None:
        if self._on_call is not None:
            self._on_call(method, code)

    async def access(self, version_name: SecretVersionName) -> SecretValue:
        """The exact bytes of a version (`latest`, a number or an alias)."""

        name = str(version_name)
        request = service.AccessSecretVersionRequest(name=name)
        metadata = (_CLIENT_METADATA, routing_header.to_grpc_metadata((("name", name),)))

        async def invoke(client: SecretManagerServiceAsyncClient, timeout: float) -> SecretValue:
            # The transport's own call, with the headers the client method would add: the
            # method around it costs a third of a call's CPU in request conversion and
            # retry settings kes replaces anyway, and the controller makes one call per
            # version every interval.
            call: Any = client.transport.access_secret_version
            try:
                response = await call(request, timeout=timeout, metadata=metadata)
            except grpc.aio.AioRpcError as error:
                raise api_exceptions.from_grpc_error(error) from None
            payload = service.AccessSecretVersionResponse.pb(response).payload
            if not payload.HasField("data_crc32c"):
                raise _Corrupt("response carried no data_crc32c")
            if int(google_crc32c.value(payload.data)) != payload.data_crc32c:
                raise _Corrupt("payload failed its data_crc32c check")
            return SecretValue(SecretVersionName.parse(response.name), bytes(payload.data))

        return await self._call("AccessSecretVersion", version_name, invoke)

    async def create_secret(
        self, secret_name: SecretName, labels: Mapping[str, str] | None = None
    ) -> bool:
        """Create the secret (automatic replication) unless it exists; True if created."""
        secret: dict[str, Any] = {"labels": dict(labels or {})}
        if secret_name.location is None:
            secret["replication"] = {"automatic": {}}

        async def invoke(client: SecretManagerServiceAsyncClient, timeout: float) -> None:
            await client.create_secret(
                request={"parent": secret_name.parent, "secret_id": secret_name.secret,
                         "secret": secret},
                retry=None,
                timeout=timeout,
            )

        try:
            await self._call("CreateSecret", secret_name, invoke)
        except GsmError as error:
            if error.code == "ALREADY_EXISTS":
                return False
            raise
        return True

    async def add_version(self, secret_name: SecretName, data: bytes) -> SecretVersionName:
        """Add a version holding `data` (checksum sent along); returns its name."""
        payload = {"data": data, "data_crc32c": int(google_crc32c.value(data))}

        async def invoke(
            client: SecretManagerServiceAsyncClient, timeout: float
        ) -> SecretVersionName:
            version = await client.add_secret_version(
                request={"parent": str(secret_name), "payload": payload}, retry=None,
                timeout=timeout,
            )
            return SecretVersionName.parse(version.name)

        return await self._call("AddSecretVersion", secret_name, invoke, idempotent=False)

    async def list_versions(self, secret_name: SecretName) -> list[VersionInfo]:
        """Every version of the secret, newest first."""
        versions: list[VersionInfo] = []
        page_token = ""
        while True:
            page, page_token = await self._list_page(secret_name, page_token)
            versions.extend(page)
            if not page_token:
                break
        return sorted(versions, key=lambda v: int(v.name.version), reverse=True)

    async def _list_page(
        self, secret_name: SecretName, page_token: str
    ) -> tuple[list[VersionInfo], str]:
        async def invoke(
            client: SecretManagerServiceAsyncClient, timeout: float
        ) -> tuple[list[VersionInfo], str]:
            pager = await client.list_secret_versions(
                request={"parent": str(secret_name), "page_token": page_token,
                         "page_size": 1000},
                retry=None,
                timeout=timeout,
            )
            page = [
                VersionInfo(SecretVersionName.parse(v.name), v.state.name, v.create_time)
                for v in pager.versions
            ]
            return page, str(pager.next_page_token)

        return await self._call("ListSecretVersions", secret_name, invoke)

    async def _change_state(self, method: str, version_name: SecretVersionName) -> None:
        async def invoke(client: SecretManagerServiceAsyncClient, timeout: float) -> None:
            change = {
                "EnableSecretVersion": client.enable_secret_version,
                "DisableSecretVersion": client.disable_secret_version,
                "DestroySecretVersion": client.destroy_secret_version,
            }[method]
            await change(request={"name": str(version_name)}, retry=None, timeout=timeout)

        await self._call(method, version_name, invoke)

    async def enable_version(self, version_name: SecretVersionName) -> None:
        await self._change_state("EnableSecretVersion", version_name)

    async def disable_version(self, version_name: SecretVersionName) -> None:
        await self._change_state("DisableSecretVersion", version_name)

    async def destroy_version(self, version_name: SecretVersionName) -> None:
        """Destroy the version's payload for good (its metadata stays)."""
        await self._change_state("DestroySecretVersion", version_name)
