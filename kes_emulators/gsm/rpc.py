"""The one error every part of the emulator raises: a gRPC status code and GCP's message."""

from __future__ import annotations

import grpc


class RpcError(Exception):
    """A failed call: the gRPC status code and GCP's message for it."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> RpcError:
    return RpcError(grpc.StatusCode.INVALID_ARGUMENT, message)


def unimplemented(message: str) -> RpcError:
    """A real GCP behaviour the emulator does not reproduce: said out loud, never faked."""
    return RpcError(grpc.StatusCode.UNIMPLEMENTED, message)
