"""API errors and the `Status` bodies the real server answers them with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kes_emulators.apiserver.selectors import aggregate_messages

_REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "AlreadyExists",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}


@dataclass(frozen=True)
class Cause:
    """One entry of `details.causes`: a field and what is wrong with it."""

    reason: str
    message: str
    field: str


class ApiError(Exception):
    """A request failure that becomes a `Status` response."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASON_BY_CODE.get(code, "Unknown")
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(resource: str, group: str) -> str:
    """`secrets` or `externalsecrets.kubernetes-client.io`, as messages name resources."""
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        f'{qualified(resource, group)} "{name}" not found',
        details=_details(name, group, resource),
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{qualified(resource, group)} "{name}" already exists',
        details=_details(name, group, resource),
    )


def conflict(resource: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        reason="Conflict",
        details=_details(name, group, resource),
    )


STALE = ("the object has been modified; please apply your changes to the latest version "
         "and try again")


def invalid(kind: str, group: str, name: str, causes: Sequence[Cause]) -> ApiError:
    """422 with the real server's message: `Kind.group "name" is invalid: field: why, ...`."""
    summary = aggregate_messages(
        [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    )
    details = _details(name, group, kind)
    details["causes"] = [
        {"reason": c.reason, "message": c.message, "field": c.field} for c in causes
    ]
    message = f'{qualified(kind, group)} "{name}" is invalid: {summary}'
    return ApiError(422, message, details=details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def method_not_allowed() -> ApiError:
    """A verb the path does not serve, with the real server's generic message."""
    return ApiError(405, "the server does not allow this method on the requested resource",
                    details={})


def resource_not_found() -> ApiError:
    """A path that names nothing the server serves (as opposed to a missing object)."""
    return ApiError(404, "the server could not find the requested resource", details={})


def expired(message: str) -> ApiError:
    return ApiError(410, message)


def unsupported_media_type(content_type: str, accepted: Sequence[str]) -> ApiError:
    return ApiError(
        415,
        f"the body of the request was in an unknown format ({content_type or 'none'}) - "
        f"accepted media types include: {', '.join(accepted)}",
    )
