"""Leader election on a coordination.k8s.io/v1 Lease: one replica syncs, others wait.

KES had none, so two replicas double-polled and fought (#633, #727). A standby
takes the Lease once its holder stops renewing for `lease_duration`; a leader
that cannot renew within `renew_deadline` stops (and is restarted) rather than
risk two writers. A clean stop releases the Lease so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("kes.controller.leader")

WriteCounter = Callable[[str, str], None]


def _micro(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: object) -> datetime | None:
    """RFC 3339 with any precision and offset (the client re-serializes what it sends)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str = "kes-controller"
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def held_by_other(lease: dict[str, Any], identity: str, now: datetime) -> bool:
    """Whether someone else holds this Lease and has renewed it recently enough."""
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder or holder == identity:
        return False
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    duration = float(spec.get("leaseDurationSeconds") or 0)
    return renewed is not None and now < renewed + timedelta(seconds=duration)


class LeaderElector:
    def __init__(self, api_client: k8s.ApiClient, config: LeaseConfig, count: WriteCounter) -> None:
        self._api = k8s.CoordinationV1Api(api_client)
        self._config = config
        self._count = count

    async def _call(self, verb: str, fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
        self._count(verb, "leases")
        extra = (
            {"_headers": {"Content-Type": "application/json"}}
            if verb in ("create", "update")
            else {}
        )
        response = await asyncio.to_thread(fn, *args, _preload_content=False, **extra)
        body: dict[str, Any] = json.loads(response.data)
        return body

    async def try_acquire_or_renew(self) -> bool:
        c = self._config
        now = datetime.now(UTC)
        try:
            lease = await self._call("get", self._api.read_namespaced_lease, c.name, c.namespace)
        except ApiException as e:
            if e.status != 404:
                return False
            lease = None
        spec = {
            "holderIdentity": c.identity,
            "leaseDurationSeconds": max(1, round(c.lease_duration)),
            "renewTime": _micro(now),
        }
        try:
            if lease is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": c.name, "namespace": c.namespace},
                    "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0},
                }
                await self._call("create", self._api.create_namespaced_lease, c.namespace, body)
                return True
            if held_by_other(lease, c.identity, now):
                return False
            old = lease.get("spec") or {}
            if old.get("holderIdentity") != c.identity:
                spec["acquireTime"] = _micro(now)
                spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
            lease["spec"] = {**old, **spec}
            await self._call(
                "update", self._api.replace_namespaced_lease, c.name, c.namespace, lease
            )
            return True
        except ApiException:
            return False  # lost a race (409) or the server failed: try again later

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this replica leads (True) or `stop` is set (False)."""
        while not stop.is_set():
            if await self.try_acquire_or_renew():
                log.info("became leader", extra={"lease": self._config.name})
                return True
            try:
                await asyncio.wait_for(stop.wait(), self._config.retry_period)
            except TimeoutError:
                continue
        return False

    async def keep(self, stop: asyncio.Event) -> None:
        """Renew until `stop`; returns early (leadership lost) if renewals fail too long."""
        loop = asyncio.get_running_loop()
        last_renewal = loop.time()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self._config.retry_period)
                return
            except TimeoutError:
                pass
            if await self.try_acquire_or_renew():
                last_renewal = loop.time()
            elif loop.time() - last_renewal > self._config.renew_deadline:
                log.error("lost leadership", extra={"lease": self._config.name})
                return

    async def release(self) -> None:
        """Give the Lease up so a standby need not wait for it to expire."""
        c = self._config
        try:
            lease = await self._call("get", self._api.read_namespaced_lease, c.name, c.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") != c.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            await self._call(
                "update", self._api.replace_namespaced_lease, c.name, c.namespace, lease
            )
        except ApiException:
            log.warning("lease not released", extra={"lease": c.name})
