"""The emulator's instruments: per-project quotas, injected faults, call counters."""

from __future__ import annotations

import enum
import random
from collections import Counter, deque
from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2

from kes_emulators.gsm.rpc import RpcError

# Which per-minute quota each method draws on, as on GCP.
QUOTA_KIND = {
    "AccessSecretVersion": "access",
    "GetSecret": "read",
    "ListSecrets": "read",
    "GetSecretVersion": "read",
    "ListSecretVersions": "read",
    "TestIamPermissions": "read",
}  # every other method: "write"

_QUOTA_TITLE = {"access": "Access requests", "read": "Read requests", "write": "Write requests"}
SERVICE = "secretmanager.googleapis.com"


@dataclass
class Quotas:
    """Requests per project per minute, GCP's defaults; windows follow the emulator's
    clock. Enabled, a call over its quota answers RESOURCE_EXHAUSTED as GCP does (an
    ErrorInfo naming the quota's metric and limit); disabled, every call is served."""

    access_per_minute: int = 90000
    read_per_minute: int = 600
    write_per_minute: int = 600
    enabled: bool = True
    _used: Counter[tuple[str, str, int]] = field(default_factory=Counter, repr=False)

    def take(self, project: str, method: str, now: float) -> None:
        if not self.enabled:
            return
        kind = QUOTA_KIND.get(method, "write")
        limit: int = getattr(self, f"{kind}_per_minute")
        minute = int(now // 60)
        key = (project, kind, minute)
        if self._used[key] >= limit:
            raise quota_exceeded(project, kind, limit)
        self._used[key] += 1
        for stale in [k for k in self._used if k[2] < minute]:
            del self._used[stale]


def quota_exceeded(project: str, kind: str, limit: int) -> RpcError:
    title = _QUOTA_TITLE[kind]
    limit_title = f"{title} per minute per project"
    return RpcError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"Quota exceeded for quota metric '{title}' and limit '{limit_title}' of service "
        f"'{SERVICE}' for consumer 'project:{project}'.",
        [error_details_pb2.ErrorInfo(
            reason="RATE_LIMIT_EXCEEDED", domain="googleapis.com",
            metadata={
                "service": SERVICE,
                "consumer": f"projects/{project}",
                "quota_metric": f"{SERVICE}/{kind}_requests",
                "quota_limit": limit_title.title().replace(" ", ""),
                "quota_limit_value": str(limit),
                "quota_location": "global",
            })],
    )


class PayloadFault(enum.Enum):
    """What an AccessSecretVersion answer gets wrong about its checksum."""

    WRONG_CHECKSUM = "wrong data_crc32c"
    NO_CHECKSUM = "no data_crc32c"


@dataclass
class _Failure:
    code: grpc.StatusCode
    remaining: int
    message: str


class Faults:
    """Failures, latency and corruption to inject, per method name."""

    def __init__(self) -> None:
        self.latency: dict[str, float] = {}  # method (or "*") -> seconds added to each call
        self._next: dict[str, list[_Failure]] = {}
        self._rates: dict[str, tuple[grpc.StatusCode, float, random.Random]] = {}
        self._payload_faults: deque[PayloadFault] = deque()

    def fail_next(
        self, method: str, code: grpc.StatusCode, count: int = 1, message: str | None = None
    ) -> None:
        """Fail the next `count` calls of `method` with `code`."""
        text = message or f"{method} failed with {code.name} (injected by the emulator)"
        self._next.setdefault(method, []).append(_Failure(code, count, text))

    def error_rate(self, method: str, code: grpc.StatusCode, rate: float, seed: int = 0) -> None:
        """Fail a fraction of `method`'s calls, chosen by a seeded generator."""
        self._rates[method] = (code, rate, random.Random(seed))

    def corrupt_next(self, count: int = 1) -> None:
        """Answer the next `count` accesses with a payload whose data_crc32c is wrong."""
        self._payload_faults.extend([PayloadFault.WRONG_CHECKSUM] * count)

    def omit_checksum_next(self, count: int = 1) -> None:
        """Answer the next `count` accesses without data_crc32c (GCP always sends it)."""
        self._payload_faults.extend([PayloadFault.NO_CHECKSUM] * count)

    def clear(self) -> None:
        self.latency.clear()
        self._next.clear()
        self._rates.clear()
        self._payload_faults.clear()

    def delay(self, method: str) -> float:
        return self.latency.get(method, self.latency.get("*", 0.0))

    def raise_injected(self, method: str) -> None:
        queue = self._next.get(method)
        if queue:
            failure = queue[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                queue.pop(0)
            raise RpcError(failure.code, failure.message)
        rate = self._rates.get(method)
        if rate is not None:
            code, fraction, generator = rate
            if generator.random() < fraction:
                raise RpcError(code, f"{method} failed with {code.name} (injected error rate)")

    def take_payload_fault(self) -> PayloadFault | None:
        return self._payload_faults.popleft() if self._payload_faults else None


@dataclass
class Counters:
    """What the emulator was asked, for tests and benchmarks to assert on."""

    calls: Counter[str] = field(default_factory=Counter)  # method -> calls
    results: Counter[tuple[str, str]] = field(default_factory=Counter)  # (method, code name)

    def clear(self) -> None:
        self.calls.clear()
        self.results.clear()
