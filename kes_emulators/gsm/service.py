"""The gRPC face of the emulator: `google.cloud.secretmanager.v1.SecretManagerService`.

Each call goes through the same steps: count it, apply injected latency and
failures, authenticate, check IAM and quota, run it on the store, publish its
event. Messages are the protobuf classes shipped with google-cloud-secret-manager.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.cloud.secretmanager_v1.types import service
from google.iam.v1 import iam_policy_pb2
from google.protobuf import empty_pb2  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]

from kes_emulators.gsm.control import Counters, Faults, PayloadFault, Quotas
from kes_emulators.gsm.events import EventPublisher
from kes_emulators.gsm.iam import Iam
from kes_emulators.gsm.rpc import RpcError, invalid
from kes_emulators.gsm.store import (
    SecretPb,
    SecretStore,
    SecretVersionPb,
    State,
    parse_parent,
    parse_secret_name,
    parse_version_name,
)

SERVICE_NAME = "google.cloud.secretmanager.v1.SecretManagerService"

Handler = Callable[[Any, "str | None"], Message]


@dataclass(frozen=True)
class _Method:
    request: type[Message]
    response: type[Message]
    handle: Handler


def _secret_of(target: str) -> str | None:
    parts = target.split("/")
    if "secrets" in parts:
        end = parts.index("secrets") + 2
        return "/".join(parts[:end]) if len(parts) >= end else None
    return None


class SecretManagerService:
    """Serves the Secret Manager RPCs from a store, under IAM, quotas and faults."""

    def __init__(
        self,
        store: SecretStore,
        iam: Iam,
        quotas: Quotas,
        faults: Faults,
        counters: Counters,
        events: EventPublisher,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.iam = iam
        self.quotas = quotas
        self.faults = faults
        self.counters = counters
        self.events = events
        self.clock = clock
        self.methods: dict[str, _Method] = {
            "CreateSecret": _Method(
                service.CreateSecretRequest.pb(), SecretPb, self._create_secret),
            "GetSecret": _Method(service.GetSecretRequest.pb(), SecretPb, self._get_secret),
            "ListSecrets": _Method(
                service.ListSecretsRequest.pb(), service.ListSecretsResponse.pb(),
                self._list_secrets),
            "UpdateSecret": _Method(
                service.UpdateSecretRequest.pb(), SecretPb, self._update_secret),
            "DeleteSecret": _Method(
                service.DeleteSecretRequest.pb(), empty_pb2.Empty, self._delete_secret),
            "AddSecretVersion": _Method(
                service.AddSecretVersionRequest.pb(), SecretVersionPb, self._add_version),
            "GetSecretVersion": _Method(
                service.GetSecretVersionRequest.pb(), SecretVersionPb, self._get_version),
            "AccessSecretVersion": _Method(
                service.AccessSecretVersionRequest.pb(),
                service.AccessSecretVersionResponse.pb(), self._access_version),
            "ListSecretVersions": _Method(
                service.ListSecretVersionsRequest.pb(), service.ListSecretVersionsResponse.pb(),
                self._list_versions),
            "EnableSecretVersion": _Method(
                service.EnableSecretVersionRequest.pb(), SecretVersionPb,
                self._state_changer("enable", State.ENABLED, "SECRET_VERSION_ENABLE")),
            "DisableSecretVersion": _Method(
                service.DisableSecretVersionRequest.pb(), SecretVersionPb,
                self._state_changer("disable", State.DISABLED, "SECRET_VERSION_DISABLE")),
            "DestroySecretVersion": _Method(
                service.DestroySecretVersionRequest.pb(), SecretVersionPb,
                self._state_changer("destroy", State.DESTROYED, "SECRET_VERSION_DESTROY")),
            "TestIamPermissions": _Method(
                iam_policy_pb2.TestIamPermissionsRequest,
                iam_policy_pb2.TestIamPermissionsResponse, self._test_iam_permissions),
        }

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        known = grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    self._behavior(name),
                    request_deserializer=method.request.FromString,
                    response_serializer=method.response.SerializeToString,
                )
                for name, method in self.methods.items()
            },
        )
        return [known, _Unimplemented(self.counters)]

    def _behavior(
        self, name: str
    ) -> Callable[[Message, grpc.aio.ServicerContext], Awaitable[Message]]:
        handle = self.methods[name].handle

        async def behavior(request: Message, context: grpc.aio.ServicerContext) -> Message:
            self.counters.calls[name] += 1
            try:
                delay = self.faults.delay(name)
                if delay:
                    await asyncio.sleep(delay)
                self.faults.raise_injected(name)
                principal = self.iam.principal(context.invocation_metadata() or ())
                response = handle(request, principal)
            except RpcError as error:
                self.counters.results[(name, error.code.name)] += 1
                await context.abort(error.code, error.message, error.trailing_metadata())
            self.counters.results[(name, "OK")] += 1
            return response

        return behavior

    def _admit(
        self, method: str, principal: str | None, permission: str | None, target: str
    ) -> None:
        """IAM, then quota: GCP checks who you are before counting what you use."""
        project = target.split("/")[1]
        resources_checked = [f"projects/{project}"]
        secret = _secret_of(target)
        if secret is not None:
            resources_checked.append(secret)
        if permission is not None:
            self.iam.check(principal, permission, resources_checked, target)
        self.quotas.take(project, method, self.clock())

    def _publish(
        self, event: str, secret_name: str, resource: Message, version_name: str | None = None
    ) -> None:
        topics = [topic.name for topic in self.store.secret(secret_name).meta.topics]
        self.events.publish(event, secret_name, topics, resource, version_name)

    def _create_secret(self, request: Any, principal: str | None) -> Message:
        parse_parent(request.parent)
        self._admit("CreateSecret", principal, "secretmanager.secrets.create", request.parent)
        secret = self.store.create_secret(request.parent, request.secret_id, request.secret)
        self._publish("SECRET_CREATE", secret.name, secret)
        return secret

    def _get_secret(self, request: Any, principal: str | None) -> Message:
        parse_secret_name(request.name)
        self._admit("GetSecret", principal, "secretmanager.secrets.get", request.name)
        return self.store.get_secret(request.name)

    def _list_secrets(self, request: Any, principal: str | None) -> Message:
        parse_parent(request.parent)
        self._admit("ListSecrets", principal, "secretmanager.secrets.list", request.parent)
        page, token, total = self.store.list_secrets(
            request.parent, request.page_size, request.page_token, request.filter
        )
        return service.ListSecretsResponse.pb()(
            secrets=page, next_page_token=token, total_size=total
        )

    def _update_secret(self, request: Any, principal: str | None) -> Message:
        name = str(parse_secret_name(request.secret.name))
        self._admit("UpdateSecret", principal, "secretmanager.secrets.update", name)
        secret = self.store.update_secret(request.secret, list(request.update_mask.paths))
        self._publish("SECRET_UPDATE", name, secret)
        return secret

    def _delete_secret(self, request: Any, principal: str | None) -> Message:
        name = str(parse_secret_name(request.name))
        self._admit("DeleteSecret", principal, "secretmanager.secrets.delete", name)
        topics = [topic.name for topic in self.store.secret(name).meta.topics]
        deleted = self.store.delete_secret(name, request.etag)
        self.events.publish("SECRET_DELETE", name, topics, deleted)
        return empty_pb2.Empty()

    def _add_version(self, request: Any, principal: str | None) -> Message:
        name = str(parse_secret_name(request.parent))
        self._admit("AddSecretVersion", principal, "secretmanager.versions.add", name)
        payload = request.payload
        checksum = payload.data_crc32c if payload.HasField("data_crc32c") else None
        version = self.store.add_version(name, payload.data, checksum)
        self._publish("SECRET_VERSION_ADD", name, version, version.name)
        return version

    def _get_version(self, request: Any, principal: str | None) -> Message:
        parse_version_name(request.name)
        self._admit("GetSecretVersion", principal, "secretmanager.versions.get", request.name)
        return self.store.get_version(request.name)

    def _access_version(self, request: Any, principal: str | None) -> Message:
        parse_version_name(request.name)
        self._admit(
            "AccessSecretVersion", principal, "secretmanager.versions.access", request.name
        )
        accessed = self.store.access_version(request.name)
        fault = self.faults.take_payload_fault()
        response = service.AccessSecretVersionResponse.pb()(name=accessed.name)
        response.payload.data = accessed.data
        if fault is PayloadFault.WRONG_CHECKSUM:
            response.payload.data_crc32c = accessed.checksum ^ 0x1
        elif fault is not PayloadFault.NO_CHECKSUM:
            response.payload.data_crc32c = accessed.checksum
        return response

    def _list_versions(self, request: Any, principal: str | None) -> Message:
        name = str(parse_secret_name(request.parent))
        self._admit("ListSecretVersions", principal, "secretmanager.versions.list", name)
        page, token, total = self.store.list_versions(
            name, request.page_size, request.page_token, request.filter
        )
        return service.ListSecretVersionsResponse.pb()(
            versions=page, next_page_token=token, total_size=total
        )

    def _state_changer(self, verb: str, state: int, event: str) -> Handler:
        method = f"{verb.capitalize()}SecretVersion"

        def change(request: Any, principal: str | None) -> Message:
            secret_name, _ = parse_version_name(request.name)
            self._admit(method, principal, f"secretmanager.versions.{verb}", request.name)
            version = self.store.set_state(request.name, state, request.etag)
            self._publish(event, str(secret_name), version, version.name)
            return version

        return change

    def _test_iam_permissions(self, request: Any, principal: str | None) -> Message:
        name = parse_secret_name(request.resource)
        self._admit("TestIamPermissions", principal, None, request.resource)
        granted = self.iam.permissions(principal, [f"projects/{name.project}", str(name)])
        if any("*" in permission for permission in request.permissions):
            raise invalid("permissions: wildcards are not allowed in TestIamPermissions")
        return iam_policy_pb2.TestIamPermissionsResponse(
            permissions=[p for p in request.permissions if p in granted]
        )


class _Unimplemented(grpc.GenericRpcHandler):
    """Any RPC not served above: UNIMPLEMENTED, naming it, instead of a silent gap."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        counters = self._counters

        async def refuse(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            name = method.rsplit("/", 1)[-1]
            counters.calls[name] += 1
            counters.results[(name, "UNIMPLEMENTED")] += 1
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                f"Method {method} is not implemented by the Secret Manager emulator",
            )
            raise AssertionError("abort() returned")

        return grpc.unary_unary_rpc_method_handler(refuse)
