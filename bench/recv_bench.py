"""`kes recv` measured: how fast a Secret Manager change reaches the Secrets through it,
and how many signed deliveries it answers per second on one core.

Latency, per scenario (bench.scenario: N ExternalSecrets, D = 3 entries, K = N/10
secrets, so about 30 readers per secret): the API server emulator in a process of its
own (bench.servers), the real `kes controller` process polling every 10 minutes, the
real `kes recv` process, and the Secret Manager emulator pushing each new version to
it with a Google-signed OIDC token. Each change is timed as `python -m bench` times
propagation (bench.run.propagation): from AddSecretVersion until every reader's
Secret holds the new value. With polling at 10 minutes, every update seen came
through the receiver.

Throughput: `kes recv` pinned to CPU 0, the load pinned to CPU 1; GitHub deliveries
(HMAC-SHA256) and Pub/Sub pushes (RS256 OIDC token), pre-signed, 32 in flight.

    .venv/bin/python -m bench.recv_bench                      # N = 1,000 and 10,000
    .venv/bin/python -m bench.recv_bench --externalsecrets 1000 --changes 100
    .venv/bin/python -m bench.recv_bench --throughput-only
    .venv/bin/python -m bench.recv_bench --profile prof/      # cProfile of both processes
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.run import Emulators, GsmWriter, percentile, propagation, wait_for
from bench.scenario import PROJECT, Scenario, field_value, payload
from kes_emulators.apiserver import ApiServer
from kes_emulators.google_oidc import GoogleTokenIssuer
from kes_emulators.gsm import SecretManagerEmulator
from kes_emulators.gsm.events import PushAuth

ROOT = Path(__file__).resolve().parent.parent
CRD = yaml.safe_load((ROOT / "crds" / "externalsecret.yaml").read_text())
AUDIENCE = "https://recv.bench/kes-recv"
PUSH_SA = "gsm-push@bench-project.iam.gserviceaccount.com"
PUBSUB_KEY = b"bench-pubsub-route-key"
GITHUB_KEY = b"bench-github-key"


def logged_port(log: Path) -> int | None:
    for line in log.read_text().splitlines():
        if '"serving"' in line:
            port: int = json.loads(line)["port"]
            return port
    return None


@contextmanager
def process(args: list[str], log: Path, env: dict[str, str], cpu: int | None = None,
            profile: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    with log.open("w") as stderr:
        child = subprocess.Popen([sys.executable, *kes_command(args, profile)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=pin)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def recv_config(folder: Path, certs_url: str, github_refresh: dict[str, Any]) -> Path:
    (folder / "pubsub.key").write_bytes(PUBSUB_KEY)
    (folder / "github.key").write_bytes(GITHUB_KEY)
    path = folder / "recv.yaml"
    path.write_text(yaml.safe_dump({
        "kesRecvVersion": 1,
        "rateLimit": {"perSecond": 1_000_000, "burst": 1_000_000},
        "endpoints": [
            {"source": "GCPSecretManagerPubSub", "keyPath": "pubsub.key", "audience": AUDIENCE,
             "serviceAccount": PUSH_SA, "certsUrl": certs_url},
            {"source": "GitHub", "keyPath": "github.key", "refresh": github_refresh},
        ],
    }))
    return path


PROFILED = """
import cProfile, signal, sys
profiler, path = cProfile.Profile(), sys.argv.pop(1)
signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
def dump(*_):
    profiler.disable()
    profiler.dump_stats(path)
signal.signal(signal.SIGUSR2, dump)
from kes.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""Runs `kes` with cProfile on the event loop's thread between SIGUSR1 and SIGUSR2;
the first argument is where the profile goes."""


def kes_command(args: list[str], profile: Path | None) -> list[str]:
    if profile is None:
        return ["-m", "kes", *args]
    return ["-c", PROFILED, str(profile), *args]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["GRPC_VERBOSITY"] = "NONE"
    return env


# ---- latency ------------------------------------------------------------------------


@contextmanager
def apiserver(scenario: Scenario, work: Path) -> Iterator[tuple[str, int, int]]:
    """bench.servers' API server in a process of its own: (kubeconfig, control port, pid)."""
    ready = work / "apiserver.ready"
    server = subprocess.Popen([sys.executable, "-m", "bench.servers", "apiserver",
                               scenario.to_json(), str(ready)], cwd=ROOT)
    try:
        wait_for(ready.exists, "the API server emulator's start", timeout=600, every=0.1)
        started = json.loads(ready.read_text())
        yield started["kubeconfig"], started["control"], server.pid
    finally:
        server.kill()
        server.wait()


def warm_up(scenario: Scenario, cluster: Emulators) -> float:
    """One unmeasured change: the controller's watch still carries the echoes of its
    first sync's status writes, and a change waits behind them. Its generation is one
    the measured changes never write."""
    secret_id, generation = "shared-1", 1_000_000
    readers = scenario.readers_of(secret_id)
    GsmWriter(cluster.gsm_address).add_version(secret_id, generation)

    def holds() -> bool:
        for _, key, entry in readers:
            names = [name for name, k, _ in readers if k == key]
            wanted = base64.b64encode(field_value(secret_id, entry, generation).encode())
            if any(v != wanted.decode() for v in cluster.secret_values(names, key).values()):
                return False
        return True

    return wait_for(holds, "the warm-up change", timeout=300, every=0.05)


def latency(n: int, changes: int, profile: Path | None) -> dict[str, Any]:
    scenario = Scenario(f"recv-{n}", n, interval=600.0)
    with tempfile.TemporaryDirectory(prefix="kes-recv-bench-") as tmp, \
            GoogleTokenIssuer().background() as issuer, \
            apiserver(scenario, Path(tmp)) as (kubeconfig, control, pid):
        work = Path(tmp)
        config = recv_config(work, issuer.certs_url, {})
        recv_log = work / "recv.log"
        started = time.perf_counter()
        recv_profile = profile / f"recv-{n}.prof" if profile else None
        with process(["recv", "--config", str(config), "--listen", "127.0.0.1:0",
                      f"--kubeconfig={kubeconfig}"], recv_log, base_env(),
                     profile=recv_profile) as recv:
            wait_for(lambda: "watching ExternalSecrets" in recv_log.read_text(), "recv", 600)
            recv_ready = time.perf_counter() - started
            push_url = (f"http://127.0.0.1:{logged_port(recv_log)}/hook/"
                        f"{hashlib.sha256(PUBSUB_KEY).hexdigest()}")
            gsm = SecretManagerEmulator(notify_url=push_url,
                                        push_auth=PushAuth(issuer, PUSH_SA, AUDIENCE))
            gsm.seed({"secrets": [
                {"name": f"projects/{PROJECT}/secrets/{secret_id}",
                 "versions": [{"base64": base64.b64encode(payload(secret_id, 1)).decode()}]}
                for secret_id in scenario.secret_ids()]})
            with gsm.background():
                cluster = Emulators(kubeconfig, gsm.address, control, 0, {"apiserver": pid})
                env = {**base_env(), "SECRET_MANAGER_EMULATOR_HOST": gsm.address,
                       "POLLER_INTERVAL_MILLISECONDS": str(int(scenario.interval * 1000)),
                       "METRICS_PORT": "0", "LOG_LEVEL": "warning"}
                controller_profile = profile / f"controller-{n}.prof" if profile else None
                started = time.perf_counter()
                with process(["controller", f"--kubeconfig={kubeconfig}"],
                             work / "controller.log", env,
                             profile=controller_profile) as controller:
                    def converged() -> bool:
                        if controller.poll() is not None:
                            raise RuntimeError(f"kes controller exited with "
                                               f"{controller.returncode}")
                        return cluster.synced() >= n

                    wait_for(converged, "convergence", 3600)
                    convergence = time.perf_counter() - started
                    first_change = warm_up(scenario, cluster)
                    profiled = [p for p in (recv, controller) if profile]
                    for child in profiled:
                        child.send_signal(signal.SIGUSR1)
                    latencies = propagation(scenario, cluster, changes, timeout=60)
                    for child in profiled:
                        child.send_signal(signal.SIGUSR2)
                delivered, failed = gsm.events.delivered, gsm.events.failed
    return {
        "N": n, "D": scenario.entries, "K": scenario.distinct_versions,
        "readers_per_secret": n * scenario.entries / scenario.distinct_versions,
        "recv_ready_seconds": recv_ready, "convergence_seconds": convergence,
        "first_change_seconds": first_change, "changes": changes,
        "p50_seconds": percentile(latencies, 0.5), "p99_seconds": percentile(latencies, 0.99),
        "max_seconds": max(latencies), "pushes_delivered": delivered, "pushes_failed": failed,
    }


# ---- throughput -----------------------------------------------------------------------


def throughput(seconds: float, in_flight: int) -> dict[str, float]:
    os.sched_setaffinity(0, {1})
    one = Scenario("recv-throughput", 1)
    [manifest] = one.externalsecrets_manifests()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kes-recv-bench-") as tmp, \
            GoogleTokenIssuer().background() as issuer, ApiServer().background() as api:
        work = Path(tmp)
        namespace = manifest["metadata"]["namespace"]
        api.load([CRD, {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": namespace}}, manifest])
        kubeconfig = api.write_kubeconfig(work / "kubeconfig")
        # A push refreshes the one ExternalSecret: the coalesced patch is part of the work.
        config = recv_config(work, issuer.certs_url, {"namespace": namespace})
        log = work / "recv.log"
        with process(["recv", "--config", str(config), "--listen", "127.0.0.1:0",
                      f"--kubeconfig={kubeconfig}"], log, base_env(), cpu=0):
            wait_for(lambda: logged_port(log) is not None, "recv", 60, every=0.05)
            base = f"http://127.0.0.1:{logged_port(log)}"
            wait_for(lambda: ready(base), "recv ready", 60, every=0.05)
            github = []
            for i in range(100):
                body = json.dumps({"ref": "refs/heads/main", "after": f"{i:040x}",
                                   "repository": {"full_name": "org/repo"}}).encode()
                github.append((body, {
                    "Content-Type": "application/json", "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": f"d-{i}",
                    "X-Hub-Signature-256": "sha256=" + hmac.new(
                        GITHUB_KEY, body, hashlib.sha256).hexdigest()}))
            envelope = json.dumps({"message": {"attributes": {
                "eventType": "SECRET_VERSION_ADD",
                "secretId": f"projects/{PROJECT}/secrets/shared-0"}, "data": ""},
                "subscription": "s"}).encode()
            pubsub = [(envelope, {"Content-Type": "application/json",
                                  "Authorization": f"Bearer {issuer.mint(AUDIENCE, PUSH_SA)}"})
                      for _ in range(100)]
            for name, key, deliveries in (("GitHub (HMAC-SHA256)", GITHUB_KEY, github),
                                          ("Pub/Sub (RS256 OIDC)", PUBSUB_KEY, pubsub)):
                url = f"{base}/hook/{hashlib.sha256(key).hexdigest()}"
                results[name] = asyncio.run(load(url, deliveries, seconds, in_flight))
    return results


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


async def load(url: str, deliveries: list[tuple[bytes, dict[str, str]]], seconds: float,
               in_flight: int) -> float:
    done = 0
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as session:

        async def worker(start: int, until: float, count: bool) -> None:
            nonlocal done
            i = start
            while time.perf_counter() < until:
                body, headers = deliveries[i % len(deliveries)]
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if count:
                        statuses[response.status] = statuses.get(response.status, 0) + 1
                        done += 1
                i += 1

        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(i, warm, False) for i in range(in_flight)))
        began = time.perf_counter()
        await asyncio.gather(*(worker(i, began + seconds, True) for i in range(in_flight)))
        took = time.perf_counter() - began
    if set(statuses) != {202}:
        raise RuntimeError(f"unexpected answers: {statuses}")
    return done / took


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.recv_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--externalsecrets", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput run")
    parser.add_argument("--throughput-only", action="store_true")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="write cProfile data of kes recv and kes controller during the "
                        "measured changes to DIR")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    if not args.throughput_only:
        for n in args.externalsecrets:
            row = latency(n, args.changes, args.profile)
            print(f"N={row['N']:,} D={row['D']} K={row['K']:,} (~{row['readers_per_secret']:.0f} "
                  f"ExternalSecrets per secret), polling every 600 s: {row['changes']} changes")
            print(f"  recv ready {row['recv_ready_seconds']:.1f} s; controller converged "
                  f"{row['convergence_seconds']:.1f} s; the first change after it "
                  f"{row['first_change_seconds']:.1f} s (not counted)")
            print(f"  AddSecretVersion -> every reader's Secret holds it: "
                  f"p50 {row['p50_seconds'] * 1000:.0f} ms, p99 {row['p99_seconds'] * 1000:.0f} "
                  f"ms, max {row['max_seconds'] * 1000:.0f} ms")
            print(f"  pushes delivered {row['pushes_delivered']}, failed {row['pushes_failed']}",
                  flush=True)
    for name, rate in throughput(args.seconds, 32).items():
        print(f"recv on one core, {name}: {rate:.0f} deliveries/s")


if __name__ == "__main__":
    main()
