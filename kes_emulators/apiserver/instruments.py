"""What tests and benchmarks read and steer: request counters and injected faults."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    """One answered request. `resource` is `secrets`, `secrets/status`, or a non-resource path."""

    verb: str
    resource: str
    identity: str
    code: int
    namespace: str = ""


class RequestLog:
    """Counts of answered requests, filterable by any of their attributes."""

    def __init__(self) -> None:
        self._counts: Counter[Request] = Counter()

    def record(self, request: Request) -> None:
        self._counts[request] += 1

    def count(
        self,
        verb: str | None = None,
        resource: str | None = None,
        identity: str | None = None,
        code: int | None = None,
        namespace: str | None = None,
    ) -> int:
        return sum(
            n for r, n in self._counts.items()
            if (verb is None or r.verb == verb)
            and (resource is None or r.resource == resource)
            and (identity is None or r.identity == identity)
            and (code is None or r.code == code)
            and (namespace is None or r.namespace == namespace)
        )

    def all(self) -> dict[Request, int]:
        return dict(self._counts)

    def reset(self) -> None:
        self._counts.clear()


@dataclass
class _FailureRule:
    code: int
    remaining: int
    verb: str | None
    resource: str | None

    def matches(self, verb: str, resource: str) -> bool:
        return (self.verb is None or self.verb == verb) and (
            self.resource is None or self.resource == resource)


class Faults:
    """Faults the server injects: latency, failed requests, ended or expired watches."""

    def __init__(self) -> None:
        self.latency = 0.0
        # how `latency` is waited out; a test may swap in a recorder instead of a clock
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._rules: list[_FailureRule] = []
        self._expiries: list[_FailureRule] = []

    def fail_next(self, count: int = 1, *, code: int = 500, verb: str | None = None,
                  resource: str | None = None) -> None:
        """Answer the next `count` requests matching verb/resource with `code` (e.g. 500, 429)."""
        self._rules.append(_FailureRule(code, count, verb, resource))

    def take_failure(self, verb: str, resource: str) -> int | None:
        rule = _take(self._rules, verb, resource)
        return None if rule is None else rule.code

    def expire_next_watch(self, count: int = 1, *, resource: str | None = None) -> None:
        """The next `count` watches (of `resource`, or any) get an ERROR event with 410
        Expired and end."""
        self._expiries.append(_FailureRule(410, count, "watch", resource))

    def take_expiry(self, resource: str) -> bool:
        return _take(self._expiries, "watch", resource) is not None

    def clear(self) -> None:
        self.latency = 0.0
        self._rules.clear()
        self._expiries.clear()


def _take(rules: list[_FailureRule], verb: str, resource: str) -> _FailureRule | None:
    """The first rule matching, used up once."""
    for rule in rules:
        if rule.matches(verb, resource):
            rule.remaining -= 1
            if rule.remaining <= 0:
                rules.remove(rule)
            return rule
    return None
