"""`kes recv`: read the configuration, list and watch ExternalSecrets, serve the hooks.

Start-up: the configuration and every key are read first (any fault stops the
start with exit code 2, before the cluster is contacted); the HTTP server starts
(`/readyz` answers 503 and hooks 503 until the ExternalSecrets are listed); the
list fills the index, then a watch keeps it current. SIGTERM or SIGINT stops, in
this order: no new connections, patches already queued are sent, the watch ends.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kes.errors import KesError
from kes.kube import EXTERNALSECRETS, Cluster, Kube, KubeError, load_cluster
from kes.kube.watch import Watch, run_watches, stop_on_signals
from kes.logs import configure_logging
from kes.recv.action import Refresher
from kes.recv.config import Limits, load_config
from kes.recv.index import ExternalSecretIndex
from kes.recv.metrics import RecvMetrics
from kes.recv.registry import Endpoint, build_endpoints
from kes.recv.server import HookServer, serve

log = logging.getLogger("kes.recv")


def watched_namespaces(endpoints: Sequence[Endpoint]) -> tuple[str, ...]:
    """The namespaces to watch; empty (the whole cluster) when any endpoint may refresh
    ExternalSecrets anywhere."""
    namespaces = [e.config.refresh.namespace for e in endpoints]
    if any(namespace is None for namespace in namespaces):
        return ()
    return tuple(sorted({n for n in namespaces if n is not None}))


@dataclass(frozen=True)
class Listen:
    host: str
    port: int


class Receiver:
    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        limits: Limits,
        cluster: Cluster,
        default_project: str | None,
        on_watching: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_watching` runs once kopf has started (and set its signal handlers)."""
        self.endpoints = list(endpoints)
        self._limits = limits
        self._cluster = cluster
        self._on_watching = on_watching
        self.metrics = RecvMetrics()
        self.kube = Kube(cluster)
        self.index = ExternalSecretIndex(default_project)
        self.refresher = Refresher(self.kube, count=self.metrics.refresh)
        self.ready = asyncio.Event()
        self.server = HookServer(endpoints, limits, self.index, self.refresher, self.metrics,
                                 self.ready.is_set)
        self.port: int | None = None

    async def run(self, listen: Listen, stop: asyncio.Event) -> None:
        try:
            runner, self.port = await serve(self.server.app(), listen.host, listen.port,
                                            self._limits)
        except OSError as e:
            raise KesError(f"cannot listen on {listen.host}:{listen.port}: {e.strerror}") from None
        log.info("serving", extra={"host": listen.host, "port": self.port})
        for endpoint in self.endpoints:
            log.info("endpoint", extra={"endpoint": endpoint.label, "route": endpoint.path,
                                        "key_path": str(endpoint.config.key_path)})
        self.refresher.start()
        namespaces = watched_namespaces(self.endpoints)
        operator_stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        operator: asyncio.Task[None] | None = None
        try:
            await self._list(namespaces)
            operator = asyncio.create_task(run_watches(
                self._cluster, [Watch(EXTERNALSECRETS, self.index.on_event)], namespaces,
                operator_stop, on_started=self._watching,
            ))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({operator, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
        finally:
            await runner.cleanup()
            await self.refresher.stop()
            if not operator_stop.done():
                operator_stop.set_result(None)
            if operator is not None:
                await operator
            for endpoint in self.endpoints:
                await endpoint.source.close()
            await self.kube.close()

    def _watching(self) -> None:
        log.info("watching ExternalSecrets")
        self._on_watching()

    async def _list(self, namespaces: tuple[str, ...]) -> None:
        try:
            for namespace in namespaces or (None,):
                for obj in await self.kube.list(EXTERNALSECRETS, namespace):
                    self.index.on_event(None, obj)
        except KubeError as e:
            hint = " (is crds/externalsecret.yaml applied?)" if e.not_found else ""
            raise KesError(f"{e}{hint}") from None
        self.ready.set()
        log.info("ExternalSecrets listed", extra={"indexed": len(self.index),
                                                  "namespaces": ",".join(namespaces) or "all"})


async def _run_process(endpoints: Sequence[Endpoint], limits: Limits, cluster: Cluster,
                       project: str | None, listen: Listen) -> None:
    """The process: the receiver until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    take_signals = stop_on_signals(stop)
    receiver = Receiver(endpoints, limits, cluster, project, on_watching=take_signals)
    await receiver.run(listen, stop)


def main(config_path: str, listen: tuple[str, int], kubeconfig: str | None,
         context: str | None, project: str | None, log_level: str) -> int:
    """`kes recv`: exit 2 on a bad configuration, 1 on a failed start, 0 after a stop."""
    configure_logging(log_level)
    try:
        config = load_config(config_path)
        endpoints = build_endpoints(config)
        cluster = load_cluster(kubeconfig, context)
    except KesError as e:
        print(f"kes recv: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_run_process(endpoints, config.limits, cluster, project, Listen(*listen)))
    except KesError as e:
        log.error("stopped", extra={"error": str(e)})
        return 1
    return 0
