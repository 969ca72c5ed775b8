"""Metric names, labels and types as KES exposed them, kes's own, and KES users' alerts
evaluated on scraped samples over time."""

from __future__ import annotations

import re

import pytest

from kes.controller.metrics import ControllerMetrics

DB = ("ns", "db")
LABELS = 'backend="gcpSecretsManager",name="db",namespace="ns"'
SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def samples(text: bytes) -> dict[str, float]:
    """`name{labels}` -> value, for every sample line."""
    found = {}
    for line in text.decode().splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            found[f"{match['name']}{{{match['labels'] or ''}}}"] = float(match["value"])
    return found


def test_kes_metrics_keep_their_exact_names_labels_and_types() -> None:
    clock = Clock()
    metrics = ControllerMetrics(clock)
    metrics.synced(DB, ok=True, interval=0)
    clock.now += 1
    metrics.synced(DB, ok=True, interval=0)
    clock.now += 1
    metrics.synced(DB, ok=False, interval=0)
    metrics.on_gsm_call("AccessSecretVersion", "OK")
    metrics.on_kube_request("update", "secrets")
    text = metrics.exposition()
    lines = set(text.decode().splitlines())
    assert "# TYPE kubernetes_external_secrets_sync_calls_count counter" in lines
    assert "# TYPE kubernetes_external_secrets_last_sync_call_state gauge" in lines
    assert f'kubernetes_external_secrets_sync_calls_count{{{LABELS},status="success"}} 2.0' in lines
    assert f'kubernetes_external_secrets_sync_calls_count{{{LABELS},status="error"}} 1.0' in lines
    assert f"kubernetes_external_secrets_last_sync_call_state{{{LABELS}}} -1.0" in lines
    assert (
        'kes_last_successful_sync_timestamp_seconds{name="db",namespace="ns"} 1.700000001e+09'
        in lines
    )
    assert 'kes_gsm_calls_total{code="OK",method="AccessSecretVersion"} 1.0' in lines
    assert 'kes_kubernetes_requests_total{resource="secrets",verb="update"} 1.0' in lines


def test_each_interval_counts_one_call_in_the_current_state() -> None:
    clock = Clock()
    metrics = ControllerMetrics(clock)
    calls = f"kubernetes_external_secrets_sync_calls_count{{{LABELS},status="
    metrics.synced(DB, ok=True, interval=10)
    clock.now += 35
    assert samples(metrics.exposition())[calls + '"success"}'] == 4
    metrics.synced(DB, ok=False, interval=10)  # three intervals of success were settled
    clock.now += 25
    counted = samples(metrics.exposition())
    assert (counted[calls + '"success"}'], counted[calls + '"error"}']) == (4, 3)
    assert counted[f"kubernetes_external_secrets_last_sync_call_state{{{LABELS}}}"] == -1


def test_a_resource_synced_once_is_counted_once() -> None:
    clock = Clock()
    metrics = ControllerMetrics(clock)
    metrics.synced(DB, ok=True, interval=0)
    clock.now += 1000
    assert samples(metrics.exposition())[
        f'kubernetes_external_secrets_sync_calls_count{{{LABELS},status="success"}}'] == 1


def test_label_values_are_escaped() -> None:
    metrics = ControllerMetrics(Clock())
    metrics.synced(("ns", 'odd"name\\'), ok=True, interval=0)
    assert 'name="odd\\"name\\\\"' in metrics.exposition().decode()


def test_forget_drops_a_deleted_resource() -> None:
    metrics = ControllerMetrics(Clock())
    metrics.synced(DB, ok=True, interval=10)
    metrics.forget(*DB)
    assert 'name="db"' not in metrics.exposition().decode()


def increase(points: list[tuple[float, float]], at: float, window: float) -> float | None:
    """Prometheus's increase(): the counter's growth over (at - window, at], extrapolated
    to the window's edges as its extrapolatedRate does; None with fewer than 2 samples."""
    inside = [(t, v) for t, v in points if at - window < t <= at]
    if len(inside) < 2:
        return None
    (first_t, first_v), (last_t, last_v) = inside[0], inside[-1]
    delta = last_v - first_v + sum(
        previous for (_, previous), (_, current) in zip(inside, inside[1:], strict=False)
        if current < previous)
    sampled = last_t - first_t
    to_start, to_end = first_t - (at - window), at - last_t
    average = sampled / (len(inside) - 1)
    if delta > 0 and first_v >= 0:
        to_start = min(to_start, sampled * (first_v / delta))
    threshold = average * 1.1
    extrapolate = sampled + (to_start if to_start < threshold else average / 2)
    extrapolate += to_end if to_end < threshold else average / 2
    return delta * extrapolate / sampled


def test_the_increase_evaluator_follows_prometheus() -> None:
    # A counter growing 1 per 10 s, scraped every 30 s: increase over 1m is 6.
    points = [(t, t / 10) for t in range(0, 300, 30)]
    assert increase(points, 270, 60) == pytest.approx(6.0)
    assert increase(points[:1], 0, 60) is None


def test_prows_alert_fires_while_failing_and_stops_after_recovery() -> None:
    """Prow's KES alert, `increase(kubernetes_external_secrets_sync_calls_count{status!=
    "success"}[1m]) > 1.5`, on 30 s scrapes of a 10 s controller: it fires on every
    evaluation while the ExternalSecret fails, however the controller backs off its
    Secret Manager calls, and is quiet once it has recovered."""
    clock = Clock(0.0)
    metrics = ControllerMetrics(clock)
    errors: list[tuple[float, float]] = []
    firing: dict[float, bool] = {}
    metrics.synced(DB, ok=True, interval=10)
    for second in range(0, 601):
        clock.now = float(second)
        if second == 120:
            metrics.synced(DB, ok=False, interval=10)  # fails; kes backs off its fetches
        if second == 400:
            metrics.synced(DB, ok=True, interval=10)  # recovered
        if second % 30 == 0:
            scraped = samples(metrics.exposition())
            series = f'kubernetes_external_secrets_sync_calls_count{{{LABELS},status="error"}}'
            if series in scraped:  # Prometheus has no sample before the first error
                errors.append((clock.now, scraped[series]))
            grown = increase(errors, clock.now, 60)
            firing[clock.now] = grown is not None and grown > 1.5
    assert not any(firing[t] for t in range(0, 150, 30))
    assert all(firing[t] for t in range(180, 400, 30))  # every evaluation while failing
    assert not any(firing[t] for t in range(480, 601, 30))
