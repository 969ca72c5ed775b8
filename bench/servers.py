"""The emulators of a benchmark, each in a process of its own.

    python -m bench.servers apiserver SCENARIO_JSON READY_FILE
    python -m bench.servers gsm SCENARIO_JSON READY_FILE

Each loads the scenario, serves, writes its addresses to READY_FILE (JSON) and serves
until killed. A small HTTP control endpoint beside it answers the benchmark's
questions (request counters, how many ExternalSecrets report SUCCESS, a Secret's
value) from inside the process, so asking costs the controller nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import yaml
from aiohttp import web

from bench.scenario import PROJECT, Scenario, payload
from kes_emulators.apiserver import ApiServer
from kes_emulators.gsm import SecretManagerEmulator

CRD = Path(__file__).resolve().parent.parent / "crds" / "externalsecret.yaml"


async def _control(routes: dict[str, Callable[[web.Request], Awaitable[web.Response]]]) -> int:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = runner.addresses[0][1]
    return port


async def serve_apiserver(scenario: Scenario, ready: Path) -> None:
    server = ApiServer(tls=True)  # keeps 5 minutes of watch history, as a real one
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scenario.namespace_of(i)}}
        for i in range(min(scenario.namespaces, scenario.externalsecrets))
    ]
    crd = yaml.safe_load(CRD.read_text())
    server.load([crd, *namespaces, *scenario.externalsecrets_manifests()])
    await server.start()
    es_type = server.registry.by_kind("kubernetes-client.io/v1", "ExternalSecret")
    secret_type = server.registry.by_kind("v1", "Secret")
    assert es_type is not None and secret_type is not None

    async def counts(_: web.Request) -> web.Response:
        requests: dict[str, int] = {}
        for request, n in server.requests.all().items():
            key = f"{request.verb} {request.resource} {request.code}"
            requests[key] = requests.get(key, 0) + n
        synced = sum(
            1 for obj in server.objects.items(es_type, None)
            if (obj.get("status") or {}).get("status") == "SUCCESS"
        )
        return web.json_response({"requests": requests, "synced": synced})

    async def secret_values(request: web.Request) -> web.Response:
        """?names=ns/name,...&key=K: each Secret's value of key K (base64), or null."""
        key = request.query["key"]
        found: dict[str, str | None] = {}
        for ref in request.query["names"].split(","):
            namespace, _, name = ref.partition("/")
            obj = server.store.get(secret_type.storage_key, namespace, name)
            found[ref] = ((obj or {}).get("data") or {}).get(key)
        return web.json_response(found)

    control = await _control({"/counts": counts, "/secret-values": secret_values})
    kubeconfig = server.write_kubeconfig(ready.with_suffix(".kubeconfig"))
    ready.write_text(json.dumps({"kubeconfig": str(kubeconfig), "control": control}))
    await asyncio.Event().wait()


async def serve_gsm(scenario: Scenario, ready: Path) -> None:
    emulator = SecretManagerEmulator()
    emulator.seed({"secrets": [
        {"name": f"projects/{PROJECT}/secrets/{secret_id}",
         "versions": [{"base64": base64.b64encode(payload(secret_id, 1)).decode()}]}
        for secret_id in scenario.secret_ids()
    ]})
    await emulator.start()

    async def counts(_: web.Request) -> web.Response:
        return web.json_response({"calls": dict(emulator.counters.calls)})

    control = await _control({"/counts": counts})
    ready.write_text(json.dumps({"address": emulator.address, "control": control}))
    await asyncio.Event().wait()


def main(argv: list[str]) -> None:
    role, scenario_json, ready = argv
    serve = {"apiserver": serve_apiserver, "gsm": serve_gsm}[role]
    asyncio.run(serve(Scenario.from_json(scenario_json), Path(ready)))


if __name__ == "__main__":
    main(sys.argv[1:])
