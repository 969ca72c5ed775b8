"""Throughput and memory of the emulated Kubernetes API server.

Run `python bench/apiserver_bench.py`. The server runs in its own process (as under
`kes emulate`) holding 10,000 Secrets; this process drives it over HTTP with aiohttp
and prints requests per second for get, list and patch, and the server's memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection

import aiohttp

OBJECTS = 10_000
NAMESPACES = 100


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _serve(conn: Connection, objects: int) -> None:
    from kes.testing.apiserver import ApiServer

    async def main() -> None:
        server = ApiServer(history=1000)
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
        server.load(namespaces + secrets)
        await server.start()
        await server.gc_idle()
        conn.send((server.url, server.admin_token, _rss_bytes() - before))
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


async def _drive(url: str, token: str, requests: int, concurrency: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child, OBJECTS), daemon=True)
    server.start()
    url, token, memory = parent.recv()
    print(
        f"kes API server emulator: {OBJECTS} Secrets in {NAMESPACES} namespaces, "
        f"{args.concurrency} concurrent clients"
    )
    print(f"  server memory for {OBJECTS} Secrets: {memory / 2**20:.1f} MiB")
    try:
        asyncio.run(_drive(url, token, args.requests, args.concurrency))
    finally:
        parent.send("stop")
        server.join(timeout=30)


if __name__ == "__main__":
    main()
