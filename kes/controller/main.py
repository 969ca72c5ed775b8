"""`kes controller`: assemble the parts and run them until stopped.

Start-up lists ExternalSecrets, managed Secrets and (when enforced) namespaces
once to fill the cache, then the watches keep it current and the poller syncs
from it. Readiness means that first listing is done.

kes, not kopf, handles SIGTERM and SIGINT (kopf installs its own handlers when it
starts; kes installs its own again right after). A stop then runs in this order:
the poller schedules nothing new and the syncs in flight finish their writes (for
at most SHUTDOWN_GRACE seconds, then they are cancelled; what still waits is synced
by the next controller), leadership renewal ends,
the watches stop, the Lease is released, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable

from kes.api import MANAGED_SELECTOR
from kes.controller.cache import ClusterCache
from kes.controller.fetch import CONTROLLER_RETRY, Fetcher
from kes.controller.handlers import EventHandlers
from kes.controller.health import serve_health
from kes.controller.heartbeat import StatusHeartbeat
from kes.controller.leader import LeaderElector, LeaseConfig
from kes.controller.metrics import ControllerMetrics
from kes.controller.poller import Poller
from kes.controller.reconcile import Reconciler
from kes.controller.render_worker import RenderBudget, RenderWorkers
from kes.controller.settings import ControllerSettings, settings_from_env
from kes.controller.writer import SecretWriter
from kes.errors import KesError
from kes.gsm import SecretManager
from kes.kube import EXTERNALSECRETS, NAMESPACES, SECRETS, Cluster, Kube, KubeError, load_cluster
from kes.kube.watch import Watch, run_watches, stop_on_signals
from kes.logs import configure_logging

log = logging.getLogger("kes.controller")

SHUTDOWN_GRACE = 20.0
"""Seconds a stop waits for the syncs in flight; below Kubernetes' default 30 s grace."""


class Controller:
    def __init__(
        self,
        settings: ControllerSettings,
        cluster: Cluster,
        gsm: SecretManager,
        metrics: ControllerMetrics,
        on_watching: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_watching` runs once kopf has started (and set its signal handlers)."""
        self.settings = settings
        self._on_watching = on_watching
        self.metrics = metrics
        self._cluster = cluster
        self.kube = Kube(cluster, metrics.on_kube_request)
        self.cache = ClusterCache(settings.instance_id, settings.default_project)
        fetcher = Fetcher(gsm, settings.max_concurrent_fetches, settings.access_rate_per_project)
        writer = SecretWriter(self.kube)
        self.renderer = RenderWorkers(settings.render_workers, RenderBudget(
            settings.render_cpu_seconds, settings.render_timeout,
            settings.render_memory_mib * 1024 * 1024,
        ))
        reconciler = Reconciler(settings, self.cache, writer, self.renderer, metrics)
        self.heartbeat = StatusHeartbeat(settings, self.cache, writer)
        self.poller = Poller(settings, self.cache, fetcher, reconciler, self.heartbeat, metrics)
        self.handlers = EventHandlers(self.cache, self.poller)
        self.ready = asyncio.Event()
        self.standing_by = False

    @property
    def serving_ready(self) -> bool:
        """Ready for traffic: lists done, or a standby waiting for the Lease."""
        return self.ready.is_set() or self.standing_by

    def _watches(self) -> list[Watch]:
        watches = [
            Watch(EXTERNALSECRETS, self.handlers.externalsecret),
            Watch(SECRETS, self.handlers.secret, label_selector=MANAGED_SELECTOR),
        ]
        if self.settings.enforce_namespace_annotations:
            watches.append(Watch(NAMESPACES, self.handlers.namespace))
        return watches

    async def prime(self) -> None:
        """List what the watches will follow, once, and fill the cache from it."""
        namespaces = self.settings.watched_namespaces or (None,)
        self.poller.listing()
        try:
            if self.settings.enforce_namespace_annotations:
                for obj in await self.kube.list(NAMESPACES):
                    self.handlers.namespace(None, obj)
            secrets = 0
            for namespace in namespaces:
                for obj in await self.kube.list(SECRETS, namespace,
                                                label_selector=MANAGED_SELECTOR):
                    self.handlers.secret(None, obj)
                    secrets += 1
            for namespace in namespaces:
                for obj in await self.kube.list(EXTERNALSECRETS, namespace):
                    self.handlers.externalsecret(None, obj)
        except KubeError as e:
            hint = " (is crds/externalsecret.yaml applied?)" if e.not_found else ""
            raise KesError(f"{e}{hint}") from None
        self.ready.set()
        log.info(
            "initial lists done",
            extra={"externalsecrets": len(self.cache.records), "secrets": secrets},
        )

    async def run(self, stop: asyncio.Event) -> bool:
        """Run until `stop` is set; the syncs in flight complete first.

        False when leadership was lost: the process should exit non-zero and restart.
        """
        elector = None
        if self.settings.leader_election:
            elector = LeaderElector(
                self.kube,
                LeaseConfig(
                    self.settings.lease_namespace,
                    self.settings.lease_name,
                    self.settings.identity,
                    self.settings.lease_duration,
                    self.settings.renew_deadline,
                    self.settings.retry_period,
                ),
            )
            self.standing_by = True
            if not await elector.acquire(stop):
                return True
            self.standing_by = False
        try:
            await self.prime()
            return await self._serve(stop, elector)
        finally:
            if elector is not None:
                await elector.release()

    async def _serve(self, stop: asyncio.Event, elector: LeaderElector | None) -> bool:
        operator_stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        operator = asyncio.create_task(run_watches(
            self._cluster, self._watches(), self.settings.watched_namespaces, operator_stop,
            on_started=self._on_watching, identity=self.settings.identity,
        ))
        poller = asyncio.create_task(self.poller.run(stop))
        heartbeat = asyncio.create_task(self.heartbeat.run(stop))
        stopped = asyncio.ensure_future(stop.wait())
        tasks = {operator, poller, heartbeat, stopped}
        leadership = asyncio.ensure_future(elector.keep(stop)) if elector else None
        if leadership is not None:
            tasks.add(leadership)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        kept = leadership is None or not leadership.done() or stop.is_set()
        stop.set()
        if kept:
            # The syncs in flight end with their writes done (each request is bounded).
            _, late = await asyncio.wait({poller}, timeout=SHUTDOWN_GRACE)
            if late:
                log.warning("syncs in flight cut short", extra={"grace_seconds": SHUTDOWN_GRACE})
        # Otherwise leadership was lost: a standby may take over soon, so no new request.
        for task in (poller, heartbeat):
            task.cancel()
        await asyncio.wait({poller, heartbeat})
        for task in (poller, heartbeat):
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error
        if leadership is not None:
            await leadership
        # kopf cancels every task started after it: stop it only when kes's are done.
        if not operator_stop.done():
            operator_stop.set_result(None)
        await operator
        return kept


async def run_controller(settings: ControllerSettings, cluster: Cluster) -> bool:
    """The process: controller, metrics and health, stopped by SIGTERM or SIGINT.

    False when leadership was lost."""
    stop = asyncio.Event()
    take_signals = stop_on_signals(stop)
    metrics = ControllerMetrics()
    gsm = SecretManager(on_call=metrics.on_gsm_call, retry=CONTROLLER_RETRY)
    controller = Controller(settings, cluster, gsm, metrics, on_watching=take_signals)
    try:
        runner = await serve_health(controller, settings.metrics_host, settings.metrics_port)
        try:
            return await controller.run(stop)
        finally:
            await runner.cleanup()
    finally:
        await controller.renderer.close()
        await controller.kube.close()
        await gsm.close()


def main(kubeconfig: str | None, context: str | None, project: str | None) -> int:
    """`kes controller`: exit 2 on bad configuration, 1 on a failed start or lost
    leadership, 0 after a stop."""
    try:
        settings = settings_from_env(os.environ, default_project=project)
        configure_logging(settings.log_level)
        cluster = load_cluster(kubeconfig, context)
    except KesError as e:
        print(f"kes controller: {e}", file=sys.stderr)
        return 2
    try:
        kept = asyncio.run(run_controller(settings, cluster))
    except KesError as e:
        logging.getLogger("kes.controller").error("stopped", extra={"error": str(e)})
        return 1
    return 0 if kept else 1
