"""Leader election on a coordination.k8s.io/v1 Lease: one replica syncs, others wait.

KES had none, so two replicas double-polled and fought (#633, #727). A standby
takes the Lease once it has seen the holder's record unchanged for `lease_duration`
by its own clock (as client-go does: the replicas' clocks are never compared); a
leader that cannot renew within `renew_deadline` (each renewal is cut off at that
deadline) stops and is restarted. With renew_deadline < lease_duration the leader
stops before a standby may take over. A clean stop releases the Lease so a standby
takes over at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kes.kube import LEASES, Kube, KubeError

log = logging.getLogger("kes.controller.leader")


def _micro(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str = "kes-controller"
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class LeaseObserver:
    """When the Lease's record last changed, by the local monotonic clock."""

    def __init__(self) -> None:
        self._record: tuple[Any, ...] | None = None
        self._changed_at = 0.0

    def held_by_other(self, lease: Mapping[str, Any], identity: str, now: float) -> bool:
        """Whether someone else holds the Lease and its record changed within its duration."""
        spec = lease.get("spec") or {}
        record = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            spec.get("acquireTime"),
            spec.get("leaseDurationSeconds"),
        )
        if record != self._record:
            self._record, self._changed_at = record, now
        holder = spec.get("holderIdentity")
        if not holder or holder == identity:
            return False
        duration = float(spec.get("leaseDurationSeconds") or 0)
        return now < self._changed_at + duration


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        config: LeaseConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._config = config
        self._clock = clock
        self._observer = LeaseObserver()

    async def try_acquire_or_renew(self) -> bool:
        c = self._config
        now = datetime.now(UTC)
        spec = {
            "holderIdentity": c.identity,
            "leaseDurationSeconds": max(1, round(c.lease_duration)),
            "renewTime": _micro(now),
        }
        try:
            lease = await self._kube.get(LEASES, c.namespace, c.name)
            if lease is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": c.name, "namespace": c.namespace},
                    "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0},
                }
                await self._kube.create(LEASES, c.namespace, body)
                return True
            if self._observer.held_by_other(lease, c.identity, self._clock()):
                return False
            old = lease.get("spec") or {}
            if old.get("holderIdentity") != c.identity:
                spec["acquireTime"] = _micro(now)
                spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
            lease["spec"] = {**old, **spec}
            await self._kube.replace(LEASES, c.namespace, c.name, lease)
            return True
        except KubeError:
            return False  # lost a race (409), or the server failed: try again later

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
            remaining = last_renewal + self._config.renew_deadline - loop.time()
            try:
                renewed = remaining > 0 and await asyncio.wait_for(
                    self.try_acquire_or_renew(), remaining
                )
            except TimeoutError:
                renewed = False
            if renewed:
                last_renewal = loop.time()
            elif loop.time() - last_renewal >= self._config.renew_deadline:
                log.error("lost leadership", extra={"lease": self._config.name})
                return

    async def release(self) -> None:
        """Give the Lease up so a standby need not wait for it to expire."""
        c = self._config
        try:
            lease = await self._kube.get(LEASES, c.namespace, c.name)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != c.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            await self._kube.replace(LEASES, c.namespace, c.name, lease)
        except KubeError:
            log.warning("lease not released", extra={"lease": c.name})
