"""`kes controller`: assemble the parts and run them until stopped.

Start-up lists ExternalSecrets, managed Secrets and (when enforced) namespaces
once to fill the cache, then the watches keep it current and the poller syncs
from it. Readiness means that first listing is done.

kes, not kopf, handles SIGTERM and SIGINT (kopf installs its own handlers when it
starts; kes installs its own again right after). A stop then runs in this order:
the poller schedules nothing new and the running cycle finishes its writes (for
at most SHUTDOWN_GRACE seconds, then it is cancelled), leadership renewal ends,
the watches stop, the Lease is released, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import kopf
import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kes.api import GROUP, MANAGED_BY, MANAGED_BY_LABEL, PLURAL, VERSION
from kes.controller.cache import ClusterCache
from kes.controller.cluster import Cluster, load_cluster
from kes.controller.fetch import CONTROLLER_RETRY, Fetcher
from kes.controller.handlers import EventHandlers, build_registry
from kes.controller.health import serve_health
from kes.controller.leader import LeaderElector, LeaseConfig
from kes.controller.logs import configure_logging
from kes.controller.metrics import ControllerMetrics
from kes.controller.poller import Poller
from kes.controller.settings import ControllerSettings, settings_from_env
from kes.controller.writer import REQUEST_TIMEOUT, KubeWriter
from kes.errors import KesError
from kes.gsm import SecretManager

log = logging.getLogger("kes.controller")

SHUTDOWN_GRACE = 20.0
"""Seconds a stop waits for the running cycle; below Kubernetes' default 30 s grace."""


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
        self.cache = ClusterCache(settings.instance_id, settings.default_project)
        self.writer = KubeWriter(cluster.api_client, metrics.on_kube_request)
        fetcher = Fetcher(gsm, settings.max_concurrent_fetches, settings.access_rate_per_project)
        self.poller = Poller(settings, self.cache, fetcher, self.writer, metrics)
        self.handlers = EventHandlers(self.cache, self.poller)
        self.ready = asyncio.Event()
        self.standing_by = False

    @property
    def serving_ready(self) -> bool:
        """Ready for traffic: lists done, or a standby waiting for the Lease."""
        return self.ready.is_set() or self.standing_by

    # ---- start-up lists ------------------------------------------------------------

    def _list(
        self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> list[dict[str, Any]]:
        self.metrics.on_kube_request("list", what)
        try:
            response = fn(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kw)
            body = json.loads(response.data)
        except ApiException as e:
            hint = " (is crds/externalsecret.yaml applied?)" if e.status == 404 else ""
            raise KesError(f"cannot list {what}: HTTP {e.status} {e.reason}{hint}") from None
        except urllib3.exceptions.HTTPError as e:
            raise KesError(f"cannot list {what}: the API server cannot be reached: {e}") from None
        items: list[dict[str, Any]] = body.get("items") or []
        return items

    def _initial_objects(
        self,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        core = k8s.CoreV1Api(self._cluster.api_client)
        custom = k8s.CustomObjectsApi(self._cluster.api_client)
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        externalsecrets: list[dict[str, Any]] = []
        secrets: list[dict[str, Any]] = []
        if self.settings.watched_namespaces:
            for ns in self.settings.watched_namespaces:
                externalsecrets += self._list(
                    PLURAL, custom.list_namespaced_custom_object, GROUP, VERSION, ns, PLURAL
                )
                secrets += self._list(
                    "secrets", core.list_namespaced_secret, ns, label_selector=selector
                )
        else:
            externalsecrets = self._list(
                PLURAL, custom.list_cluster_custom_object, GROUP, VERSION, PLURAL
            )
            secrets = self._list(
                "secrets", core.list_secret_for_all_namespaces, label_selector=selector
            )
        namespaces = (
            self._list("namespaces", core.list_namespace)
            if self.settings.enforce_namespace_annotations
            else []
        )
        return externalsecrets, secrets, namespaces

    async def prime(self) -> None:
        externalsecrets, secrets, namespaces = await asyncio.to_thread(self._initial_objects)
        for obj in namespaces:
            self.handlers.namespace(None, obj)
        for obj in secrets:
            self.handlers.secret(None, obj)
        for obj in externalsecrets:
            self.handlers.externalsecret(None, obj)
        self.ready.set()
        log.info(
            "initial lists done",
            extra={"externalsecrets": len(self.cache.externalsecrets), "secrets": len(secrets)},
        )

    # ---- running -------------------------------------------------------------------

    def _kopf_settings(self) -> kopf.OperatorSettings:
        settings = kopf.OperatorSettings()
        settings.posting.enabled = False  # kes posts its own Events, only on transitions
        settings.scanning.disabled = True  # no CRD or namespace scanning: fewer permissions
        settings.peering.standalone = True  # one replica is active; see leader election
        # (group, version, plural): "v1/secrets" would name a group "v1" and match nothing.
        settings.watching.label_selectors["", "v1", "secrets"] = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        return settings

    async def _login(self, **_: Any) -> kopf.ConnectionInfo:
        return self._cluster.connection()

    async def run(self, stop: asyncio.Event) -> bool:
        """Run until `stop` is set; the cycle in progress completes first.

        False when leadership was lost: the process should exit non-zero and restart.
        """
        elector = None
        if self.settings.leader_election:
            elector = LeaderElector(
                self._cluster.api_client,
                LeaseConfig(
                    self.settings.lease_namespace,
                    self.settings.lease_name,
                    self.settings.identity,
                    self.settings.lease_duration,
                    self.settings.renew_deadline,
                    self.settings.retry_period,
                ),
                self.metrics.on_kube_request,
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

    async def _watch(self, stop_flag: asyncio.Future[None]) -> None:
        """kopf's operator, split so kes can take the signals back once kopf set its own."""
        existing = asyncio.all_tasks()
        tasks = await kopf.spawn_tasks(
            registry=build_registry(self.handlers, self.settings, self._login),
            settings=self._kopf_settings(),
            clusterwide=not self.settings.watched_namespaces,
            namespaces=self.settings.watched_namespaces,
            standalone=True,
            stop_flag=stop_flag,
        )
        self._on_watching()
        await kopf.run_tasks(tasks, ignored=existing)

    async def _serve(self, stop: asyncio.Event, elector: LeaderElector | None) -> bool:
        operator_stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        operator = asyncio.create_task(self._watch(operator_stop))
        poller = asyncio.create_task(self.poller.run(stop))
        stopped = asyncio.ensure_future(stop.wait())
        tasks = {operator, poller, stopped}
        leadership = asyncio.ensure_future(elector.keep(stop)) if elector else None
        if leadership is not None:
            tasks.add(leadership)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        kept = leadership is None or not leadership.done() or stop.is_set()
        stop.set()
        if kept:
            # The cycle in flight ends with its writes done (each request is bounded).
            _, late = await asyncio.wait({poller}, timeout=SHUTDOWN_GRACE)
            if late:
                log.warning("running cycle cut short", extra={"grace_seconds": SHUTDOWN_GRACE})
        # Otherwise leadership was lost: a standby may take over soon, so no new request.
        poller.cancel()
        await asyncio.wait({poller})
        if not poller.cancelled() and (error := poller.exception()) is not None:
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
    loop = asyncio.get_running_loop()

    def take_signals() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

    take_signals()
    metrics = ControllerMetrics()
    gsm = SecretManager(on_call=metrics.on_gsm_call, retry=CONTROLLER_RETRY)
    controller = Controller(settings, cluster, gsm, metrics, on_watching=take_signals)
    try:
        runner = await serve_health(controller, "0.0.0.0", settings.metrics_port)
        try:
            return await controller.run(stop)
        finally:
            await runner.cleanup()
    finally:
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
