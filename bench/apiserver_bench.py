"""Throughput and memory of the emulated Kubernetes API server.

Run `python -m bench.apiserver_bench`. The server runs in its own process and serves
HTTPS, as under `kes emulate`, holding 10,000 Secrets; this process drives it with
aiohttp and prints requests per second for get, list and patch, and the server's
memory: once as the admin with RBAC off, once as a service account with RBAC on
(every request authorized through a ClusterRoleBinding). The CPU count and load
average are printed with the results, because other work on the machine shows in them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp

OBJECTS = 10_000
NAMESPACES = 100
BENCH_ROLE = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "bench"},
     "rules": [{"apiGroups": [""], "resources": ["secrets"],
                "verbs": ["get", "list", "patch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "bench"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                 "name": "bench"},
     "subjects": [{"kind": "ServiceAccount", "name": "bench", "namespace": "default"}]},
]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _serve(conn: Connection, objects: int, rbac: bool) -> None:
    from kes_emulators.apiserver import ApiServer

    async def main() -> None:
        server = ApiServer(tls=True, rbac=rbac)
        before = _rss_bytes()
        namespaces = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{n}"}}
            for n in range(NAMESPACES)
        ]
        secrets = [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": f"secret-{i}",
                    "namespace": f"ns-{i % NAMESPACES}",
                    "labels": {"app": f"app-{i % 10}"},
                },
                "data": {"token": "dG9rZW4tdmFsdWU=", "user": "a2Vz"},
            }
            for i in range(objects)
        ]
        server.load(namespaces + secrets + BENCH_ROLE)
        await server.start()
        await server.gc_idle()
        memory = _rss_bytes() - before
        token = (server.create_service_account_token("default", "bench") if rbac
                 else server.admin_token)
        with tempfile.TemporaryDirectory() as tmp:
            path = server.write_kubeconfig(Path(tmp, "kubeconfig"), token)
            ca = path.with_name(path.name + ".ca.crt").read_bytes()
        conn.send((server.url, token, ca, memory))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await server.stop()

    asyncio.run(main())


async def _rate(
    name: str, requests: int, concurrency: int, call: Callable[[int], Awaitable[None]]
) -> float:
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            await call(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    rate = requests / (time.perf_counter() - started)
    print(f"  {name:<38} {rate:8.0f} requests/s")
    return rate


async def _drive(url: str, token: str, ca: bytes, requests: int, concurrency: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    context = ssl.create_default_context(cadata=ca.decode())
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=context)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def expect(response: aiohttp.ClientResponse) -> None:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{response.method} {response.url}: {response.status}")

        def secret_path(i: int) -> str:
            i %= OBJECTS
            return f"{url}/api/v1/namespaces/ns-{i % NAMESPACES}/secrets/secret-{i}"

        async def get(i: int) -> None:
            async with session.get(secret_path(i)) as response:
                await expect(response)

        async def list_namespace(i: int) -> None:
            async with session.get(
                f"{url}/api/v1/namespaces/ns-{i % NAMESPACES}/secrets"
            ) as response:
                await expect(response)

        async def list_page(i: int) -> None:
            async with session.get(
                f"{url}/api/v1/secrets?limit=100&labelSelector=app%3Dapp-{i % 10}"
            ) as response:
                await expect(response)

        async def patch(i: int) -> None:
            body = json.dumps({"metadata": {"annotations": {"bench": str(i)}}})
            async with session.patch(
                secret_path(i), data=body, headers={"Content-Type": "application/merge-patch+json"}
            ) as response:
                await expect(response)

        await _rate("get (one Secret)", requests, concurrency, get)
        await _rate(
            f"list (a namespace, {OBJECTS // NAMESPACES} Secrets)",
            requests,
            concurrency,
            list_namespace,
        )
        await _rate(
            "list (all, labelSelector, limit=100)", max(requests // 10, 1), concurrency, list_page
        )
        await _rate("patch (merge, one annotation)", requests, concurrency, patch)


def _machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
            f"load average {load}")


def _measure(rbac: bool, requests: int, concurrency: int) -> None:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child, OBJECTS, rbac), daemon=True)
    server.start()
    url, token, ca, memory = parent.recv()
    who = "a service account, RBAC on" if rbac else "the admin, RBAC off"
    print(f"HTTPS as {who}; {OBJECTS} Secrets in {NAMESPACES} namespaces, "
          f"{concurrency} concurrent clients")
    print(f"  server memory for {OBJECTS} Secrets: {memory / 2**20:.1f} MiB")
    print(f"  before: {_machine()}")
    try:
        asyncio.run(_drive(url, token, ca, requests, concurrency))
    finally:
        print(f"  after:  {_machine()}")
        parent.send("stop")
        server.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    for rbac in (False, True):
        _measure(rbac, args.requests, args.concurrency)


if __name__ == "__main__":
    main()
