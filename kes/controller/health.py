"""The HTTP side of the process: /metrics for Prometheus, /healthz and /readyz for
the kubelet."""

from __future__ import annotations

import logging
from typing import Protocol

from aiohttp import web

from kes.controller.metrics import ControllerMetrics
from kes.errors import KesError

log = logging.getLogger("kes.controller")


class Observed(Protocol):
    """What the endpoints read: the metrics, and whether to answer ready."""

    metrics: ControllerMetrics

    @property
    def serving_ready(self) -> bool: ...


def health_app(controller: Observed) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=controller.metrics.exposition(), content_type="text/plain", charset="utf-8"
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if controller.serving_ready:
            return web.Response(text="ok")
        return web.Response(status=503, text="initial lists not done")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve_health(controller: Observed, host: str, port: int) -> web.AppRunner:
    """Serve /metrics, /healthz and /readyz; port 0 picks a free port (logged)."""
    runner = web.AppRunner(health_app(controller), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as e:
        await runner.cleanup()
        raise KesError(f"cannot serve metrics on port {port}: {e.strerror}") from None
    log.info("serving metrics and health", extra={"port": runner.addresses[0][1]})
    return runner
