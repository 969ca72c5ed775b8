"""Metric names and labels as KES exposed them, plus kes's own."""

from __future__ import annotations

from kes.controller.metrics import ControllerMetrics


def test_kes_metrics_keep_their_exact_names_and_labels() -> None:
    metrics = ControllerMetrics()
    metrics.synced("ns", "db", ok=True, when=1700000000.0)
    metrics.synced("ns", "db", ok=True, when=1700000001.0)
    metrics.synced("ns", "db", ok=False, when=1700000002.0)
    metrics.on_gsm_call("AccessSecretVersion", "OK")
    metrics.on_kube_request("update", "secrets")
    text = metrics.exposition().decode()
    lines = set(text.splitlines())
    assert (
        'kubernetes_external_secrets_sync_calls_count{backend="gcpSecretsManager",'
        'name="db",namespace="ns",status="success"} 2.0' in lines
    )
    assert (
        'kubernetes_external_secrets_sync_calls_count{backend="gcpSecretsManager",'
        'name="db",namespace="ns",status="error"} 1.0' in lines
    )
    assert (
        'kubernetes_external_secrets_last_sync_call_state{backend="gcpSecretsManager",'
        'name="db",namespace="ns"} -1.0' in lines
    )
    assert (
        'kes_last_successful_sync_timestamp_seconds{name="db",namespace="ns"} 1.700000001e+09'
        in lines
    )
    assert 'kes_gsm_calls_total{code="OK",method="AccessSecretVersion"} 1.0' in lines
    assert 'kes_kubernetes_requests_total{resource="secrets",verb="update"} 1.0' in lines


def test_forget_drops_a_deleted_resource() -> None:
    metrics = ControllerMetrics()
    metrics.synced("ns", "db", ok=True, when=1.0)
    metrics.forget("ns", "db")
    assert 'name="db"' not in metrics.exposition().decode()
