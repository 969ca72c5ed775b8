"""The one error every part of the emulator raises: a gRPC status code and GCP's message."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]
from google.rpc import status_pb2

# The trailer carrying a google.rpc.Status with typed details, which google-api-core
# reads into `exc.reason`, `exc.domain` and `exc.metadata`.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class RpcError(Exception):
    """A failed call: the gRPC status code, GCP's message and its typed details
    (google.rpc.ErrorInfo and the like), as GCP sends them."""

    def __init__(self, code: grpc.StatusCode, message: str,
                 details: Sequence[Message] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = tuple(details)

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        if not self.details:
            return ()
        packed = []
        for detail in self.details:
            wrapped = any_pb2.Any()
            wrapped.Pack(detail)
            packed.append(wrapped)
        status = status_pb2.Status(code=self.code.value[0], message=self.message,
                                   details=packed)
        return ((STATUS_DETAILS_KEY, status.SerializeToString()),)


def invalid(message: str) -> RpcError:
    return RpcError(grpc.StatusCode.INVALID_ARGUMENT, message)


def unimplemented(message: str) -> RpcError:
    """A real GCP behaviour the emulator does not reproduce: said out loud, never faked."""
    return RpcError(grpc.StatusCode.UNIMPLEMENTED, message)
