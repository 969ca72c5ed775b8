"""One scenario, measured: the real `kes controller` against emulators in their own
processes, CPU and memory from /proc, calls from the emulators' own counters.

Figures (all per scenario):
- convergence: seconds from the controller's start until every ExternalSecret
  reports SUCCESS, and the controller's CPU seconds until then;
- steady: over whole poll intervals once the controller's CPU per interval stopped
  falling after convergence (the tail of the initial sync), controller CPU seconds,
  Secret Manager accesses and Kubernetes requests by verb, per interval;
- memory: the controller's RSS (its render workers included) once steady;
- scrape: CPU seconds and bytes of one /metrics scrape;
- propagation: seconds from AddSecretVersion until every Secret using the version
  holds the new value, by polling (p50, p99);
- KES's design for the same scenario, computed: N x D accesses, a GET and a PUT per
  Secret and a status write per ExternalSecret, every interval.
"""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.cloud.secretmanager_v1 import SecretManagerServiceClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

from bench import procfs
from bench.scenario import PROJECT, Scenario, field_value, payload
from kes.controller.schedule import phase
from kes.names import SecretVersionName

STATUS_REFRESH_SECONDS = 3600.0
"""The controller's default lastSync heartbeat period (fewer objects than 50 a second)."""
ACCESS_PRICE = 0.03 / 10_000
"""US dollars per Secret Manager access operation (GCP's list price)."""
MONTH = 30 * 24 * 3600
STEADY_VERBS = ("get", "list", "create", "update", "patch", "delete")


def _get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as answer:
        return json.loads(answer.read())


def wait_for(probe: Callable[[], bool], what: str, timeout: float, every: float = 0.2) -> float:
    """Seconds until `probe()` held; TimeoutError naming `what` otherwise."""
    started = time.monotonic()
    while not probe():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(every)
    return time.monotonic() - started


@dataclass
class Emulators:
    kubeconfig: str
    gsm_address: str
    apiserver_control: int
    gsm_control: int
    pids: dict[str, int]

    def requests(self) -> dict[str, int]:
        counts: dict[str, int] = _get_json(self.apiserver_control, "/counts")["requests"]
        return counts

    def synced(self) -> int:
        return int(_get_json(self.apiserver_control, "/counts")["synced"])

    def accesses(self) -> int:
        calls = _get_json(self.gsm_control, "/counts")["calls"]
        return int(calls.get("AccessSecretVersion", 0))

    def secret_values(self, names: list[str], key: str) -> dict[str, str | None]:
        query = urllib.parse.urlencode({"names": ",".join(names), "key": key})
        values: dict[str, str | None] = _get_json(self.apiserver_control,
                                                  f"/secret-values?{query}")
        return values


@contextmanager
def emulators(scenario: Scenario, workdir: Path) -> Iterator[Emulators]:
    """Start the API server and Secret Manager emulators, each in its own process."""
    with ExitStack() as stack:
        ready = {}
        pids = {}
        for role in ("apiserver", "gsm"):
            ready[role] = workdir / f"{role}.ready"
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.servers", role, scenario.to_json(),
                 str(ready[role])],
                cwd=Path(__file__).resolve().parent.parent,
            )
            stack.callback(_kill, process)
            pids[role] = process.pid
        for role, path in ready.items():
            wait_for(path.exists, f"the {role} emulator's start", timeout=600, every=0.1)
        api = json.loads(ready["apiserver"].read_text())
        gsm = json.loads(ready["gsm"].read_text())
        yield Emulators(api["kubeconfig"], gsm["address"], api["control"], gsm["control"], pids)


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


@dataclass
class Controller:
    process: subprocess.Popen[bytes]
    metrics_port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def scrape(self) -> bytes:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=60) as answer:
            body: bytes = answer.read()
            return body

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"kes controller exited with {self.process.returncode}")


@contextmanager
def controller(scenario: Scenario, cluster: Emulators, workdir: Path,
               env: dict[str, str] | None = None) -> Iterator[Controller]:
    """`kes controller` as deployed, its log in the work folder."""
    environment = {
        **os.environ,
        "SECRET_MANAGER_EMULATOR_HOST": cluster.gsm_address,
        "POLLER_INTERVAL_MILLISECONDS": str(int(scenario.interval * 1000)),
        "METRICS_PORT": str(_free_port()),
        "LOG_LEVEL": "warning",
        **(env or {}),
    }
    log = (workdir / "controller.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "kes", "controller", f"--kubeconfig={cluster.kubeconfig}"],
        env=environment, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield Controller(process, int(environment["METRICS_PORT"]))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                _kill(process)
        log.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def metric(body: bytes, name: str) -> float:
    """The sum of every sample of `name` in a Prometheus exposition."""
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


class GsmWriter:
    def __init__(self, address: str) -> None:
        channel = grpc.insecure_channel(address)
        self.client = SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel))

    def add_version(self, secret_id: str, generation: int) -> None:
        self.client.add_secret_version(request={
            "parent": f"projects/{PROJECT}/secrets/{secret_id}",
            "payload": {"data": payload(secret_id, generation)},
        })


def _kube_by_verb(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    by_verb: dict[str, int] = {}
    for key, n in after.items():
        delta = n - before.get(key, 0)
        if delta:
            verb, resource, _ = key.split(" ")
            if "watch" not in verb:
                by_verb[f"{verb} {resource}"] = by_verb.get(f"{verb} {resource}", 0) + delta
    return by_verb


def propagation(scenario: Scenario, cluster: Emulators, changes: int,
                timeout: float) -> list[float]:
    """Seconds from AddSecretVersion until every Secret using it holds the new value."""
    writer = GsmWriter(cluster.gsm_address)
    latencies = []
    shared = max(1, scenario.shared_secrets)
    for change in range(changes):
        secret_id = f"shared-{(change * 37) % shared}"
        readers = scenario.readers_of(secret_id)
        generation = 2 + change
        expected = {(name, key): base64.b64encode(
            field_value(secret_id, entry, generation).encode()).decode()
            for name, key, entry in readers}

        started = time.monotonic()
        writer.add_version(secret_id, generation)
        wait_for(lambda wanted=expected: _holds(cluster, wanted),  # type: ignore[misc]
                 f"version {generation} of {secret_id} in every Secret", timeout, every=0.02)
        latencies.append(time.monotonic() - started)
    return latencies


def _holds(cluster: Emulators, expected: dict[tuple[str, str], str]) -> bool:
    """Whether every (Secret, key) holds its expected value."""
    for key in {k for _, k in expected}:
        names = [n for n, k in expected if k == key]
        values = cluster.secret_values(names, key)
        if any(values[n] != expected[(n, key)] for n in names):
            return False
    return True


def quiet_start(scenario: Scenario) -> float:
    """The next monotonic time at which no version is due for longest: the middle of the
    widest gap between the versions' phases. A window from one such time to another a
    whole number of intervals later sees every version fetched exactly once per
    interval (the controller and this process share the system's monotonic clock)."""
    interval = scenario.interval
    names = [SecretVersionName(PROJECT, s, "latest") for s in scenario.secret_ids()]
    offsets = sorted(phase(name, interval) for name in names)
    gaps = [((offsets[(i + 1) % len(offsets)] - offset) % interval or interval, offset)
            for i, offset in enumerate(offsets)]
    width, start = max(gaps)
    middle = (start + width / 2) % interval
    now = time.monotonic()
    return middle + interval * (math.floor((now - middle) / interval) + 1)


SETTLE_MAX_INTERVALS = 12


def settle(pid: int, interval: float) -> int:
    """Wait out the initial sync's tail: after every Secret is written the controller
    still reads the watch events of its own writes (one per Secret and status). Returns
    the intervals waited: until one cost no less CPU than the one before, at most
    SETTLE_MAX_INTERVALS."""
    before = procfs.family_cpu_seconds(pid)
    previous = math.inf
    for waited in range(1, SETTLE_MAX_INTERVALS + 1):
        time.sleep(interval)
        now = procfs.family_cpu_seconds(pid)
        spent, before = now - before, now
        if spent >= previous:
            return waited
        previous = spent
    return SETTLE_MAX_INTERVALS


def heartbeats_due(scenario: Scenario, period: float, start: float, end: float) -> int:
    """How many lastSync refreshes fall in [start, end): each ExternalSecret's sits at a
    fixed phase of the period, from a hash of its namespace/name (heartbeat.py)."""
    count = 0
    for index in range(scenario.externalsecrets):
        name = f"{scenario.namespace_of(index)}/es-{index:06d}"
        slot = phase(name, period)
        first = slot + period * math.ceil((start - slot) / period)
        count += first < end
    return count


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


@contextmanager
def profiled(pid: int, output: Path | None) -> Iterator[None]:
    """py-spy samples the process and its render workers while the block runs, the
    thread holding the GIL only (so the stacks show CPU, not waits); collapsed stacks in
    `output`; nothing when `output` is None."""
    if output is None:
        yield
        return
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
         "--subprocesses", "--gil", "--rate", "100", "--format", "raw",
         "--output", str(output), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def run(scenario: Scenario, *, steady_intervals: int = 3, changes: int = 20,
        env: dict[str, str] | None = None, profile: Path | None = None) -> dict[str, Any]:
    n, d, k = scenario.externalsecrets, scenario.entries, scenario.distinct_versions
    figures: dict[str, Any] = {"scenario": scenario.name, "N": n, "D": d, "K": k,
                               "namespaces": scenario.namespaces, "interval": scenario.interval}
    with tempfile.TemporaryDirectory(prefix="kes-bench-") as tmp, \
            emulators(scenario, Path(tmp)) as cluster:
        started = time.monotonic()
        with controller(scenario, cluster, Path(tmp), env) as process:
            pid = process.pid

            def converged() -> bool:
                process.check_running()
                return cluster.synced() >= n

            with profiled(pid, profile and profile / f"{scenario.name}-converge.txt"):
                wait_for(converged, "convergence", timeout=max(120.0, n * 0.05))
            figures["convergence_seconds"] = time.monotonic() - started
            figures["convergence_cpu_seconds"] = procfs.family_cpu_seconds(pid)
            figures["convergence_gsm_accesses"] = cluster.accesses()
            figures["convergence_kube_requests"] = _kube_by_verb({}, cluster.requests())
            figures["settle_intervals"] = settle(pid, scenario.interval)
            window = quiet_start(scenario)
            time.sleep(max(0.0, window - time.monotonic()))
            cpu, accesses, kube = (procfs.family_cpu_seconds(pid), cluster.accesses(),
                                   cluster.requests())
            renders = metric(process.scrape(), "kes_renders_total")
            with profiled(pid, profile and profile / f"{scenario.name}-steady.txt"):
                end = window + steady_intervals * scenario.interval
                time.sleep(max(0.0, end - time.monotonic()))
            cycles = steady_intervals
            figures["steady_cpu_seconds_per_cycle"] = (
                procfs.family_cpu_seconds(pid) - cpu) / cycles
            figures["steady_gsm_accesses_per_cycle"] = (cluster.accesses() - accesses) / cycles
            figures["steady_kube_requests"] = _kube_by_verb(kube, cluster.requests())
            figures["steady_heartbeats_due"] = heartbeats_due(
                scenario, STATUS_REFRESH_SECONDS, window, end)
            figures["steady_renders"] = metric(process.scrape(), "kes_renders_total") - renders
            figures["rss_bytes"] = procfs.family_rss_bytes(pid)
            before = procfs.cpu_seconds(pid)
            sizes = [len(process.scrape()) for _ in range(5)]
            figures["scrape_cpu_seconds"] = (procfs.cpu_seconds(pid) - before) / len(sizes)
            figures["scrape_bytes"] = sizes[-1]
            if changes:
                latencies = propagation(scenario, cluster, changes,
                                        timeout=scenario.interval * 4 + 30)
                figures["propagation_p50_seconds"] = percentile(latencies, 0.5)
                figures["propagation_p99_seconds"] = percentile(latencies, 0.99)
                figures["propagation_changes"] = changes
        figures["emulator_cpu_seconds"] = {
            role: _cpu_or_none(other) for role, other in cluster.pids.items()}
    figures["kes_design"] = kes_design(scenario)
    figures["monthly_gsm_cost_usd"] = round(
        figures["steady_gsm_accesses_per_cycle"] * MONTH / scenario.interval * ACCESS_PRICE, 2)
    return figures


def _cpu_or_none(pid: int) -> float | None:
    try:
        return procfs.cpu_seconds(pid)
    except OSError:
        return None


def kes_design(scenario: Scenario) -> dict[str, Any]:
    """What KES (one poller per ExternalSecret, fetch every key, GET and PUT every
    Secret and write every status, each poll) costs for the same scenario."""
    n, d = scenario.externalsecrets, scenario.entries
    accesses = n * d
    return {
        "gsm_accesses_per_cycle": accesses,
        "kube_requests_per_cycle": {"get secrets": n, "update secrets": n,
                                    "patch externalsecrets/status": n},
        "monthly_gsm_cost_usd": round(accesses * MONTH / scenario.interval * ACCESS_PRICE, 2),
        "gsm_accesses_per_minute": accesses * 60 / scenario.interval,
    }
