"""`python -m bench --smoke`: the real controller process at N = 200 costs exactly what
the design says in a steady window: one access per distinct version per interval, no
render, and no Kubernetes request but the lastSync heartbeats due in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_steady_window_costs_k_accesses_per_interval_and_nothing_else() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"], cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["steady_gsm_accesses_per_cycle"] == figures["K"] == 20
    heartbeats = figures["steady_heartbeats_due"]  # each at its own phase of the hour
    assert figures["steady_kube_requests"] == (
        {"patch externalsecrets/status": heartbeats} if heartbeats else {})
    assert figures["steady_renders"] == 0
    # Start-up: every ExternalSecret created and reported once, nothing else written.
    writes = figures["convergence_kube_requests"]
    assert writes["create secrets"] == writes["patch externalsecrets/status"] == 200
