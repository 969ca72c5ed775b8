"""How fast a Secret Manager change reaches the cluster through `kes recv`, and how many
signed deliveries the receiver verifies per second on one core.

Latency: N ExternalSecrets, each with D data entries from D of K shared secrets (so
each secret has about N*D/K users), synced by the real `kes controller` process with
polling at 10 minutes; the Secret Manager emulator pushes each new version, with its
OIDC token, to the real `kes recv` process, which annotates the users. Measured per
change, from AddSecretVersion returning to the API server storing each user's Secret
with the new value (a store listener timestamps the writes, no polling).

Throughput: `kes recv` pinned to CPU 0, the load pinned to CPU 1; GitHub deliveries
(HMAC-SHA256) and Pub/Sub pushes (RS256 OIDC token), pre-signed, 32 in flight.

    .venv/bin/python bench/recv_bench.py --externalsecrets 1000 --changes 100
    .venv/bin/python bench/recv_bench.py --throughput-only
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from kes.gsm import RetryPolicy, SecretManager
from kes.names import SecretName
from kes_emulators.apiserver import ApiServer
from kes_emulators.apiserver.store import Event
from kes_emulators.google_oidc import GoogleTokenIssuer
from kes_emulators.gsm import SecretManagerEmulator
from kes_emulators.gsm.events import PushAuth

ROOT = Path(__file__).resolve().parent.parent
CRD = yaml.safe_load((ROOT / "crds" / "externalsecret.yaml").read_text())
PROJECT = "bench-project"
NAMESPACE = "bench"
AUDIENCE = "https://recv.bench/kes-recv"
PUSH_SA = "gsm-push@bench-project.iam.gserviceaccount.com"
PUBSUB_KEY = b"bench-pubsub-route-key"
GITHUB_KEY = b"bench-github-key"
REQUESTED_AT = "externalsecrets.kubernetes-client.io/requested-at"


def externalsecret(index: int, secrets: int, entries: int) -> dict[str, Any]:
    data = [{"key": f"shared-{(index + k * 7) % secrets}", "name": f"key{k}"}
            for k in range(entries)]
    return {
        "apiVersion": "kubernetes-client.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": f"es-{index:05d}", "namespace": NAMESPACE},
        "spec": {"backendType": "gcpSecretsManager", "projectId": PROJECT, "data": data},
    }


def wait_until(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


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


def recv_config(folder: Path, certs_url: str, github_names: list[str]) -> Path:
    (folder / "pubsub.key").write_bytes(PUBSUB_KEY)
    (folder / "github.key").write_bytes(GITHUB_KEY)
    path = folder / "recv.yaml"
    path.write_text(yaml.safe_dump({
        "kesRecvVersion": 1,
        "rateLimit": {"perSecond": 1_000_000, "burst": 1_000_000},
        "endpoints": [
            {"source": "GCPSecretManagerPubSub", "keyPath": "pubsub.key", "audience": AUDIENCE,
             "serviceAccount": PUSH_SA, "certsUrl": certs_url},
            {"source": "GitHub", "keyPath": "github.key",
             "refresh": {"namespace": NAMESPACE, "names": github_names}},
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


class SecretWrites:
    """Timestamps, in the API server's own loop, when each ExternalSecret is annotated
    and when each Secret first holds the new value."""

    def __init__(self) -> None:
        self.expected: bytes | None = None
        self.waiting: set[str] = set()
        self.seen: dict[str, float] = {}
        self.annotated: dict[str, float] = {}
        self.done = threading.Event()

    def listen(self, event: Event) -> None:
        if self.expected is None:
            return
        name = event.obj["metadata"]["name"]
        if event.key == ("kubernetes-client.io", "externalsecrets"):
            if name in self.waiting and name not in self.annotated and event.old is not None:
                before = (event.old["metadata"].get("annotations") or {}).get(REQUESTED_AT)
                after = (event.obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
                if after != before:
                    self.annotated[name] = time.perf_counter()
            return
        if event.key != ("", "secrets"):
            return
        if name not in self.waiting or name in self.seen:
            return
        values = {base64.b64decode(v) for v in (event.obj.get("data") or {}).values()}
        if self.expected in values:
            self.seen[name] = time.perf_counter()
            if self.seen.keys() >= self.waiting:
                self.done.set()

    def expect(self, value: bytes, names: set[str]) -> None:
        self.seen, self.annotated, self.waiting = {}, {}, names
        self.done = threading.Event()
        self.expected = value


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency(n: int, entries: int, changes: int, seed: int, interval: float,
            profile: Path | None) -> dict[str, Any]:
    secrets = max(1, n // 10)
    folder = Path(tempfile.mkdtemp(prefix="kes-recv-bench-"))
    users: dict[str, set[str]] = {}
    manifests = [externalsecret(i, secrets, entries) for i in range(n)]
    for manifest in manifests:
        for item in manifest["spec"]["data"]:
            users.setdefault(item["key"], set()).add(manifest["metadata"]["name"])
    writes = SecretWrites()
    with GoogleTokenIssuer().background() as issuer, ApiServer().background() as api:
        api.load([CRD, {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": NAMESPACE}}])
        api.load(manifests)
        api.call(lambda: api.store.listeners.append(writes.listen))
        recv_kc = api.write_kubeconfig(
            folder / "recv.kubeconfig", api.create_service_account_token("kes-system", "recv"))
        ctl_kc = api.write_kubeconfig(
            folder / "ctl.kubeconfig", api.create_service_account_token("kes-system", "ctl"))
        config = recv_config(folder, issuer.certs_url, [])
        recv_log = folder / "recv.log"
        started = time.perf_counter()
        recv_profile = profile / f"recv-{n}.prof" if profile else None
        with process(["recv", "--config", str(config), "--listen", "127.0.0.1:0",
                      "--kubeconfig", str(recv_kc)], recv_log, base_env(),
                     profile=recv_profile) as recv:
            wait_until(lambda: "watching ExternalSecrets" in recv_log.read_text(), "recv", 600)
            recv_ready = time.perf_counter() - started
            port = logged_port(recv_log)
            push_url = f"http://127.0.0.1:{port}/hook/{hashlib.sha256(PUBSUB_KEY).hexdigest()}"
            gsm = SecretManagerEmulator(notify_url=push_url,
                                        push_auth=PushAuth(issuer, PUSH_SA, AUDIENCE))
            with gsm.background():
                gsm.seed({"secrets": [
                    {"name": f"projects/{PROJECT}/secrets/shared-{s}",
                     "versions": [{"data": f"initial-{s}"}]} for s in range(secrets)]})
                env = {**base_env(), "SECRET_MANAGER_EMULATOR_HOST": gsm.address,
                       "POLLER_INTERVAL_MILLISECONDS": "600000", "METRICS_PORT": "0",
                       "LOG_LEVEL": "warning"}
                started = time.perf_counter()
                controller_profile = profile / f"controller-{n}.prof" if profile else None
                with process(["controller", "--kubeconfig", str(ctl_kc)],
                             folder / "controller.log", env,
                             profile=controller_profile) as controller:
                    wait_until(lambda: synced(api) == n, "the first sync", 3600)
                    first_sync = time.perf_counter() - started
                    # The controller's watch still carries the echoes of its first sync's
                    # status writes; a change waits behind them. One unmeasured change
                    # waits them out, so the figures are the steady state.
                    [warm_up] = run_changes(gsm, users, writes, 1, seed + 1, interval)
                    profiled = [p for p in (recv, controller) if profile]
                    for child in profiled:
                        child.send_signal(signal.SIGUSR1)
                    samples = run_changes(gsm, users, writes, changes, seed, interval)
                    for child in profiled:
                        child.send_signal(signal.SIGUSR2)
                    delivered, failed = gsm.events.delivered, gsm.events.failed
    last = [s.last_secret for s in samples]
    first = [s.first_secret for s in samples]
    return {
        "worst": sorted(samples, key=lambda s: -s.last_secret)[:5],
        "patch_p50": percentile([s.last_patch for s in samples], 0.5),
        "patch_p99": percentile([s.last_patch for s in samples], 0.99),
        "p90": percentile(last, 0.9),
        "n": n, "entries": entries, "secrets": secrets, "changes": len(samples),
        "users_per_secret": statistics.mean(len(v) for v in users.values()),
        "recv_ready_s": recv_ready, "first_sync_s": first_sync,
        "warm_up": warm_up.last_secret,
        "all_users_p50": percentile(last, 0.5), "all_users_p99": percentile(last, 0.99),
        "first_user_p50": percentile(first, 0.5), "first_user_p99": percentile(first, 0.99),
        "max": max(last), "pushes_delivered": delivered, "pushes_failed": failed,
    }


def synced(api: ApiServer) -> int:
    def count() -> int:
        objects = api.store._data.get(("kubernetes-client.io", "externalsecrets"), {})
        return sum(1 for obj in objects.get(NAMESPACE, {}).values()
                   if (obj.get("status") or {}).get("status") == "SUCCESS")
    return api.call(count)


@dataclass(frozen=True)
class Sample:
    change: int
    at: float
    """Seconds since the first change."""
    first_secret: float
    last_secret: float
    first_patch: float
    last_patch: float


def run_changes(gsm: SecretManagerEmulator, users: dict[str, set[str]], writes: SecretWrites,
                changes: int, seed: int, interval: float) -> list[Sample]:
    """`interval`: seconds from one AddSecretVersion to the next, at least; below the
    receiver's one-second window, a change can wait for an annotation of the last one."""
    chosen = random.Random(seed)
    keys = sorted(users)
    samples: list[Sample] = []
    began = time.perf_counter()

    async def add_all() -> None:
        manager = SecretManager(emulator_host=gsm.address,
                                retry=RetryPolicy(initial=0.01, maximum=0.1, deadline=10.0))
        try:
            for change in range(changes):
                key = chosen.choice(keys)
                value = f"change-{change}-{key}".encode()
                writes.expect(value, set(users[key]))
                await manager.add_version(SecretName(PROJECT, key), value)
                added = time.perf_counter()
                if not await asyncio.to_thread(writes.done.wait, 30):
                    raise TimeoutError(f"change {change}: {len(writes.seen)} of "
                                       f"{len(writes.waiting)} Secrets in 30 s")
                times = [t - added for t in writes.seen.values()]
                patched = [t - added for t in writes.annotated.values()] or [float("nan")]
                samples.append(Sample(change, added - began, min(times), max(times),
                                      min(patched), max(patched)))
                await asyncio.sleep(max(0.0, added + interval - time.perf_counter()))
        finally:
            await manager.close()

    asyncio.run(add_all())
    return samples


# ---- throughput -----------------------------------------------------------------------


def throughput(seconds: float, in_flight: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="kes-recv-bench-"))
    os.sched_setaffinity(0, {1})
    results: dict[str, float] = {}
    with GoogleTokenIssuer().background() as issuer, ApiServer().background() as api:
        api.load([CRD, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
                  externalsecret(0, 1, 1)])
        kubeconfig = api.write_kubeconfig(folder / "kubeconfig")
        config = recv_config(folder, issuer.certs_url, ["es-00000"])
        log = folder / "recv.log"
        with process(["recv", "--config", str(config), "--listen", "127.0.0.1:0",
                      "--kubeconfig", str(kubeconfig)],
                     log, base_env(), cpu=0):
            wait_until(lambda: logged_port(log) is not None, "recv", 60)
            base = f"http://127.0.0.1:{logged_port(log)}/hook/"
            wait_until(lambda: ready(base), "recv ready", 60)
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
                url = base + hashlib.sha256(key).hexdigest()
                results[name] = asyncio.run(load(url, deliveries, seconds, in_flight))
    return results


def ready(base: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(base.replace("/hook/", "/readyz"), timeout=2) as answer:
            return answer.status == 200
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--externalsecrets", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--entries", type=int, default=3, help="data entries per ExternalSecret")
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=1.2,
                        help="seconds between changes, at least (default %(default)s)")
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
            row = latency(n, args.entries, args.changes, args.seed, args.interval,
                          args.profile)
            print(f"N={row['n']} D={row['entries']} K={row['secrets']} "
                  f"(~{row['users_per_secret']:.0f} ExternalSecrets per secret), "
                  f"{row['changes']} changes {args.interval} s apart, polling every 600 s")
            print(f"  recv ready in {row['recv_ready_s']:.1f} s; controller's first sync "
                  f"{row['first_sync_s']:.1f} s; the change right after it "
                  f"{row['warm_up']:.1f} s (not counted)")
            print(f"  AddSecretVersion -> every user's Secret updated: "
                  f"p50 {row['all_users_p50'] * 1000:.0f} ms, "
                  f"p99 {row['all_users_p99'] * 1000:.0f} ms, max {row['max'] * 1000:.0f} ms")
            print(f"  AddSecretVersion -> first user's Secret updated:  "
                  f"p50 {row['first_user_p50'] * 1000:.0f} ms, "
                  f"p99 {row['first_user_p99'] * 1000:.0f} ms")
            print(f"  AddSecretVersion -> last user annotated by recv:  "
                  f"p50 {row['patch_p50'] * 1000:.0f} ms, p99 {row['patch_p99'] * 1000:.0f} ms; "
                  f"all users' Secrets p90 {row['p90'] * 1000:.0f} ms")
            print(f"  pushes delivered {row['pushes_delivered']}, failed {row['pushes_failed']}")
            for sample in row["worst"]:
                print(f"  slowest: change {sample.change} at {sample.at:.1f} s: annotated "
                      f"{sample.first_patch * 1000:.0f}-{sample.last_patch * 1000:.0f} ms, "
                      f"Secrets {sample.first_secret * 1000:.0f}-"
                      f"{sample.last_secret * 1000:.0f} ms", flush=True)
    for name, rate in throughput(args.seconds, 32).items():
        print(f"recv on one core, {name}: {rate:.0f} deliveries/s")


if __name__ == "__main__":
    main()
