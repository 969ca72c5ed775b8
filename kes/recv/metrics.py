"""The receiver's Prometheus metrics, in a registry of its own (several receivers may
share a process in tests). Labels name sources, results and reasons, never a route,
a payload or a key."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class RecvMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "kes_recv_deliveries",
            "Deliveries to /hook/ routes, by source (none for unknown routes), result and "
            "reason",
            ["source", "result", "reason"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "kes_recv_delivery_duration_seconds",
            "Time from the request head to the answer, body read included",
            ["source"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=self.registry,
        )
        self.refreshes = Counter(
            "kes_recv_refreshes",
            "ExternalSecret refreshes: requested, coalesced into a pending patch, patched, "
            "gone (deleted), retried, failed",
            ["result"],
            registry=self.registry,
        )
        self.indexed = Gauge(
            "kes_recv_indexed_externalsecrets",
            "ExternalSecrets whose spec the receiver holds",
            registry=self.registry,
        )

    def delivery(self, source: str, result: str, reason: str) -> None:
        self.deliveries.labels(source=source, result=result, reason=reason).inc()

    def refresh(self, result: str) -> None:
        self.refreshes.labels(result=result).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
