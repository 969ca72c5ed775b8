"""Prometheus metrics: KES's two (same names and labels) and kes's own.

Each controller has its own registry, so several can run in one process (tests).
Labels name objects and methods, never values.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import Metric

BACKEND = "gcpSecretsManager"
SYNC_CALLS = "kubernetes_external_secrets_sync_calls_count"
SyncLabels = tuple[str, str, str, str]  # name, namespace, backend, status


class _SyncCalls:
    """KES's counter under its exact name: prometheus_client would append `_total` to a
    Counter, which would break KES dashboards, so it is exposed as an untyped sample."""

    def __init__(self) -> None:
        self.counts: Tally[SyncLabels] = Tally()

    def collect(self) -> Iterator[Metric]:
        metric = Metric(SYNC_CALLS, "Syncs of an ExternalSecret, by outcome", "unknown")
        for (name, namespace, backend, status), value in sorted(self.counts.items()):
            labels = {"name": name, "namespace": namespace, "backend": backend, "status": status}
            metric.add_sample(SYNC_CALLS, labels, value)
        yield metric


class ControllerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sync_calls = _SyncCalls()
        self.registry.register(self.sync_calls)
        self.last_sync_state = Gauge(
            "kubernetes_external_secrets_last_sync_call_state",
            "Result of the last sync of an ExternalSecret: 1 ok, -1 error",
            ["name", "namespace", "backend"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "kes_last_successful_sync_timestamp_seconds",
            "Unix time of the last successful sync of an ExternalSecret",
            ["name", "namespace"],
            registry=self.registry,
        )
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
        self.cycle_seconds = Histogram(
            "kes_poll_cycle_duration_seconds",
            "Duration of one sync cycle (fetch, render, write)",
            registry=self.registry,
        )
        self.renders = Counter(
            "kes_renders",
            "ExternalSecrets rendered into a desired Secret (only when their inputs changed)",
            registry=self.registry,
        )
        self.cycle_fetches = Counter(
            "kes_poll_cycle_fetches",
            "Distinct GSM versions accessed by sync cycles",
            registry=self.registry,
        )

    def on_gsm_call(self, method: str, code: str) -> None:
        self.gsm_calls.labels(method=method, code=code).inc()

    def on_kube_request(self, verb: str, resource: str) -> None:
        self.kube_requests.labels(verb=verb, resource=resource).inc()

    def synced(self, namespace: str, name: str, ok: bool, when: float) -> None:
        self.sync_calls.counts[(name, namespace, BACKEND, "success" if ok else "error")] += 1
        self.last_sync_state.labels(name=name, namespace=namespace, backend=BACKEND).set(
            1 if ok else -1
        )
        if ok:
            self.last_success.labels(name=name, namespace=namespace).set(when)

    def forget(self, namespace: str, name: str) -> None:
        """Drop the series of a deleted ExternalSecret."""
        for status in ("success", "error"):
            self.sync_calls.counts.pop((name, namespace, BACKEND, status), None)
        self._remove(self.last_sync_state, name, namespace, BACKEND)
        self._remove(self.last_success, name, namespace)

    @staticmethod
    def _remove(metric: Counter | Gauge, *labels: str) -> None:
        try:
            metric.remove(*labels)
        except KeyError:
            return

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
