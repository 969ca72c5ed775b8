"""The receiver's HTTP side: `/hook/<route>` per endpoint, `/healthz`, `/readyz`, `/metrics`.

Built to face the internet: only POST reaches a source; an unknown route and a
wrong digest get the very same 404 (routes are compared in constant time); each
endpoint has its own rate limit, applied before any work; a body is read up to the
limit and within the read timeout; the request head and idle connections are bounded
by the header timeout (aiohttp's keep-alive timer runs from the connection's start
and closes a connection whose head is not complete by then). Refusals carry no
detail, no stack trace ever leaves, and logs name endpoints by position, never by
route, payload or key.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from kes.recv.action import Refresher
from kes.recv.config import Limits, RateLimit
from kes.recv.index import ExternalSecretIndex
from kes.recv.metrics import RecvMetrics
from kes.recv.registry import Endpoint
from kes.recv.source import Delivery, SecretUsers, Target, Verdict
from kes.recv.source import unavailable as unavailable_verdict

log = logging.getLogger("kes.recv")

_PLAIN = {"Content-Type": "text/plain; charset=utf-8"}
_REFUSALS = {
    400: "bad request",
    401: "unauthorized",
    404: "404: Not Found",
    405: "method not allowed",
    408: "request timeout",
    413: "request body too large",
    429: "too many requests",
    500: "internal server error",
    503: "unavailable",
}


def refusal(status: int, **headers: str) -> web.Response:
    """The one answer for each refusal: the same bytes whatever check failed."""
    return web.Response(status=status, text=_REFUSALS[status], headers=headers)


class TokenBucket:
    """`burst` deliveries at once, refilled at `per_second`."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._tokens = float(limit.burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._limit.burst,
                           self._tokens + (now - self._at) * self._limit.per_second)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class _TooLarge(Exception):
    pass


@dataclass
class _Hook:
    endpoint: Endpoint
    bucket: TokenBucket


class HookServer:
    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        limits: Limits,
        index: ExternalSecretIndex,
        refresher: Refresher,
        metrics: RecvMetrics,
        ready: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hooks = [_Hook(e, TokenBucket(e.config.rate_limit, clock)) for e in endpoints]
        self._limits = limits
        self._index = index
        self._refresher = refresher
        self._metrics = metrics
        self._ready = ready

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_no_stack_traces])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_route("*", "/hook/{route}", self._hook)
        app.router.add_route("*", "/{tail:.*}", _not_found)
        return app

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="ok")
        return web.Response(status=503, text="ExternalSecrets not listed yet")

    async def _metrics_page(self, _: web.Request) -> web.Response:
        self._metrics.indexed.set(len(self._index))
        return web.Response(body=self._metrics.exposition(), content_type="text/plain",
                            charset="utf-8")

    def _find(self, route: str) -> _Hook | None:
        """Every route is compared, in constant time: timing tells nothing of how close
        a guess came."""
        found = None
        for hook in self._hooks:
            if hmac.compare_digest(hook.endpoint.route.encode(), route.encode()):
                found = hook
        return found

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return refusal(405, Allow="POST")
        hook = self._find(request.match_info["route"])
        if hook is None:
            self._metrics.delivery("", "not_found", "unknown_route")
            return refusal(404)
        started = time.perf_counter()
        verdict = await self._check(hook, request)
        source = hook.endpoint.config.source
        refreshed = 0
        if verdict.target is not None:
            keys = self._targets(hook.endpoint, verdict.target)
            self._refresher.refresh(keys)
            refreshed = len(keys)
        self._metrics.delivery(source, verdict.result, verdict.reason)
        self._metrics.delivery_seconds.labels(source=source).observe(
            time.perf_counter() - started)
        (log.debug if verdict.result == "ignored" else log.info)(
            "delivery",
            extra={"endpoint": hook.endpoint.label, "result": verdict.result,
                   "reason": verdict.reason, "status": verdict.status,
                   "refreshed": refreshed, **_delivery_id(request)},
        )
        if verdict.status >= 300:
            response = refusal(verdict.status, **(
                {"Retry-After": "1"} if verdict.status == 429 else {}))
            return response
        return web.Response(status=verdict.status, text=verdict.text)

    async def _check(self, hook: _Hook, request: web.Request) -> Verdict:
        """Readiness, rate, size, then the source's own checks."""
        if not self._ready():
            return unavailable_verdict("not_ready")
        if not hook.bucket.take():
            return Verdict(429, "rate_limited", "rate_limited")
        limit = self._limits.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return Verdict(413, "too_large", "too_large")
        try:
            body = await self._read_body(request, limit)
        except _TooLarge:
            return Verdict(413, "too_large", "too_large")
        except TimeoutError:
            return Verdict(408, "timeout", "read_timeout")
        return await hook.endpoint.source.verify(Delivery(request.headers, body))

    async def _read_body(self, request: web.Request, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self._limits.read_timeout):
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise _TooLarge
                chunks.append(chunk)
        return b"".join(chunks)

    def _targets(self, endpoint: Endpoint, target: Target) -> list[tuple[str, str]]:
        scope = endpoint.config.refresh
        if isinstance(target, SecretUsers):
            return self._index.users_of(target.secret, scope, any_project=target.any_project)
        return self._index.select(scope)


def _delivery_id(request: web.Request) -> dict[str, str]:
    """The sender's id of a delivery, to find it in the sender's own logs."""
    delivery = request.headers.get("X-GitHub-Delivery")
    return {"delivery": delivery[:64]} if delivery else {}


async def _not_found(_: web.Request) -> web.Response:
    return refusal(404)


@web.middleware
async def _no_stack_traces(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as e:
        # The message may quote the request; the type and the frames say where it broke.
        log.error("request failed", extra={
            "error": type(e).__name__, "frames": "".join(traceback.format_tb(e.__traceback__)),
        })
        return refusal(500)


async def serve(app: web.Application, host: str, port: int,
                limits: Limits) -> tuple[web.AppRunner, int]:
    """Listen on host:port (port 0 picks one); the runner and the port bound."""
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, keepalive_timeout=limits.header_timeout,
        # No draining of a body left unread after a refusal: the connection just closes.
        lingering_time=0,
        # Bodies are verified as sent; a compressed one is no delivery kes accepts.
        auto_decompress=False,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]
