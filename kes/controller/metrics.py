"""Prometheus metrics: KES's two per ExternalSecret (same names, labels and types) and
kes's own.

KES synced every ExternalSecret once per poll and counted each sync, so its users'
alerts (Prow's: `increase(kubernetes_external_secrets_sync_calls_count{status!=
"success"}[1m]) > 1.5`) expect a failing object's error count to grow every
interval and a healthy one's success count likewise. kes checks every version once
per interval but syncs only what changed, so it counts the same way without doing
the work: a series keeps its state and adds one call per elapsed interval, computed
when scraped. The per-object series are written as text directly (no sample objects),
so a scrape at 10,000 ExternalSecrets costs milliseconds.

Each controller has its own registry, so several can run in one process (tests).
Labels name objects and methods, never values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.utils import floatToGoString

from kes.api import BACKEND_TYPE
from kes.kube import Key

SYNC_CALLS = "kubernetes_external_secrets_sync_calls_count"
LAST_STATE = "kubernetes_external_secrets_last_sync_call_state"
LAST_SUCCESS = "kes_last_successful_sync_timestamp_seconds"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass
class _Series:
    """One ExternalSecret's calls: counted ones, plus one per interval in its state."""

    labels: str  # 'backend="...",name="...",namespace="..."'
    successes: int = 0
    errors: int = 0
    ok: bool = True
    since: float = 0.0
    """When the last call was counted (epoch seconds)."""
    interval: float = 0.0
    """Seconds between counted calls while nothing happens; 0: counted only when synced."""
    last_success: float | None = None

    def ticks(self, now: float) -> int:
        if self.interval <= 0 or now <= self.since:
            return 0
        return math.floor((now - self.since) / self.interval)

    def settle(self, now: float) -> None:
        """Count the calls the intervals since the last one stand for."""
        ticks = self.ticks(now)
        if ticks:
            if self.ok:
                self.successes += ticks
                self.last_success = self.since + ticks * self.interval
            else:
                self.errors += ticks
            self.since += ticks * self.interval


class ControllerMetrics:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._series: dict[Key, _Series] = {}
        self.registry = CollectorRegistry()
        self.gsm_calls = Counter(
            "kes_gsm_calls",
            "Secret Manager RPC attempts, by method and gRPC code",
            ["method", "code"],
            registry=self.registry,
        )
        self.kube_requests = Counter(
            "kes_kubernetes_requests",
            "Kubernetes API requests made outside the watches, by verb and resource",
            ["verb", "resource"],
            registry=self.registry,
        )
        self.sync_seconds = Histogram(
            "kes_sync_duration_seconds",
            "Duration of one ExternalSecret's sync (values, render, writes, status)",
            registry=self.registry,
        )
        self.renders = Counter(
            "kes_renders",
            "ExternalSecrets rendered into a desired Secret (only when their inputs changed)",
            registry=self.registry,
        )
        self.polled = Counter(
            "kes_polled_versions",
            "GSM versions fetched because their interval came due",
            registry=self.registry,
        )

    def on_gsm_call(self, method: str, code: str) -> None:
        self.gsm_calls.labels(method=method, code=code).inc()

    def on_kube_request(self, verb: str, resource: str) -> None:
        self.kube_requests.labels(verb=verb, resource=resource).inc()

    def synced(self, key: Key, ok: bool, interval: float) -> None:
        """One sync of `key`: counted, and from now on once per `interval` (0: never)
        until the next."""
        now = self._clock()
        series = self._series.get(key)
        if series is None:
            namespace, name = key
            series = self._series[key] = _Series(
                f'backend="{BACKEND_TYPE}",name="{_label(name)}",namespace="{_label(namespace)}"'
            )
        else:
            series.settle(now)
        if ok:
            series.successes += 1
            series.last_success = now
        else:
            series.errors += 1
        series.ok, series.since, series.interval = ok, now, interval

    def forget(self, namespace: str, name: str) -> None:
        """Drop the series of a deleted ExternalSecret."""
        self._series.pop((namespace, name), None)

    def exposition(self) -> bytes:
        now = self._clock()
        calls = [f"# HELP {SYNC_CALLS} Syncs of an ExternalSecret, by outcome\n"
                 f"# TYPE {SYNC_CALLS} counter\n"]
        states = [f"# HELP {LAST_STATE} Result of the last sync of an ExternalSecret: "
                  f"1 ok, -1 error\n# TYPE {LAST_STATE} gauge\n"]
        successes = [f"# HELP {LAST_SUCCESS} Unix time of the last successful sync of an "
                     f"ExternalSecret\n# TYPE {LAST_SUCCESS} gauge\n"]
        for series in self._series.values():
            ticks = series.ticks(now)
            ok_count = series.successes + (ticks if series.ok else 0)
            error_count = series.errors + (0 if series.ok else ticks)
            labels = series.labels
            if ok_count:
                calls.append(f'{SYNC_CALLS}{{{labels},status="success"}} {ok_count}.0\n')
            if error_count:
                calls.append(f'{SYNC_CALLS}{{{labels},status="error"}} {error_count}.0\n')
            states.append(f"{LAST_STATE}{{{labels}}} {'1.0' if series.ok else '-1.0'}\n")
            last = series.last_success
            if series.ok and ticks:
                last = series.since + ticks * series.interval
            if last is not None:
                own = labels.split(",", 1)[1]  # kes's own series carry no backend label
                successes.append(f"{LAST_SUCCESS}{{{own}}} {floatToGoString(last)}\n")
        text = "".join(calls) + "".join(states) + "".join(successes)
        return text.encode() + generate_latest(self.registry)
