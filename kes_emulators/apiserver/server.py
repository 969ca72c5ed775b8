"""`ApiServer`: wires the store, semantics, controllers and HTTP together and serves them."""

from __future__ import annotations

import asyncio
import copy
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from kes_emulators.apiserver import bodies, certs, kubeconfig, rbac
from kes_emulators.apiserver.auth import Authorization, Identities, service_account_user
from kes_emulators.apiserver.controllers import Controllers
from kes_emulators.apiserver.errors import ApiError
from kes_emulators.apiserver.http import HttpApi, Settings
from kes_emulators.apiserver.instruments import Faults, RequestLog
from kes_emulators.apiserver.objects import Objects
from kes_emulators.apiserver.resources import CRD_KEY, Registry, ResourceType
from kes_emulators.apiserver.store import HISTORY_LIMIT, HISTORY_SECONDS, Event, Obj, Store
from kes_emulators.seed import SeedError
from kes_emulators.serving import BackgroundLoop

T = TypeVar("T")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ApiServer:
    """An emulated Kubernetes API server on a local port.

    `rbac=False` allows every authenticated or anonymous request; `rbac=True` authorizes
    each one through RBAC (the admin token, group system:masters, always passes).
    Watches and continued lists resume from any resourceVersion of the last
    `history_seconds` (at most `history_limit` events) and answer 410 Gone before that;
    `clock` (monotonic seconds) measures that window. Watches that ask for bookmarks get
    one every `bookmark_interval` seconds.
    """

    def __init__(self, *, rbac: bool = False, tls: bool = False,
                 history_seconds: float = HISTORY_SECONDS,
                 history_limit: int = HISTORY_LIMIT,
                 clock: Callable[[], float] = time.monotonic,
                 bookmark_interval: float = 60.0) -> None:
        if not bookmark_interval > 0:
            raise ValueError("bookmark_interval must be a positive number of seconds")
        self.store = Store(history_seconds, history_limit, clock)
        self.registry = Registry()
        self.objects = Objects(self.store, self.registry)
        self.identities = Identities(store=self.store)
        self.authorization = Authorization(self.store, rbac)
        self.requests = RequestLog()
        self.faults = Faults()
        self.controllers = Controllers(self.store, self.registry, self.objects)
        self.store.listeners.append(self._serve_crds)
        self._settings = Settings(bookmark_interval=bookmark_interval)
        self._http = HttpApi(self.store, self.registry, self.objects, self.identities,
                             self.authorization, self.requests, self.faults, self._settings)
        self._tls = tls
        self._certificate: certs.ServerCertificate | None = None
        self._runner: web.AppRunner | None = None
        self._background: BackgroundLoop | None = None
        self.url = ""
        self._bootstrap()

    # lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=bodies.MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._http.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        context = None
        if self._tls:
            self._certificate = certs.issue(sorted({host, "127.0.0.1", "localhost"}))
            context = _ssl_context(self._certificate)
        site = web.TCPSite(self._runner, host, port, ssl_context=context)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"{'https' if self._tls else 'http'}://{shown}:{bound_port}"
        self._settings.host_port = f"{shown}:{bound_port}"
        self.controllers.start()

    async def stop(self) -> None:
        self.drop_watches()
        await self.controllers.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextmanager
    def background(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[ApiServer]:
        """Serve from a background thread, for synchronous callers."""
        with BackgroundLoop("kes-apiserver") as loop:
            loop.run(self.start(host, port))
            self._background = loop
            try:
                yield self
            finally:
                loop.run(self.stop())
                self._background = None

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the serving loop when serving in the background (store access is
        single-threaded), directly otherwise."""
        loop = self._background
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop.loop:
            return fn()

        async def run() -> T:
            return fn()

        return loop.run(run())

    async def gc_idle(self) -> None:
        """Wait until garbage collection and cleanup have processed every change so far."""
        await self.controllers.idle()

    def wait_idle(self) -> None:
        """`gc_idle` for synchronous callers of a `background()` server."""
        assert self._background is not None, "only for a server started with background()"
        self._background.run(self.gc_idle())

    # identities

    @property
    def admin_token(self) -> str:
        return self.identities.admin_token

    @property
    def rbac(self) -> bool:
        return self.authorization.enabled

    @rbac.setter
    def rbac(self, enabled: bool) -> None:
        self.authorization.enabled = enabled

    def create_service_account_token(self, namespace: str, name: str) -> str:
        """A bearer token for `system:serviceaccount:<namespace>:<name>`; creates the
        namespace and service account when missing."""
        def ensure() -> str:
            if self.store.get(("", "namespaces"), "", namespace) is None:
                self.objects.create(self._type("", "namespaces"), "",
                                    {"metadata": {"name": namespace}}, dry_run=False)
            if self.store.get(("", "serviceaccounts"), namespace, name) is None:
                self.objects.create(self._type("", "serviceaccounts"), namespace,
                                    {"metadata": {"name": name}}, dry_run=False)
            return self.identities.add(service_account_user(namespace, name))

        return self.call(ensure)

    def write_kubeconfig(self, path: str | os.PathLike[str], token: str | None = None) -> Path:
        """Write a kubeconfig for `token` (default: the admin); the CA lands next to it."""
        token = token or self.admin_token
        user = self.identities.authenticate(f"Bearer {token}").name
        ca = self._certificate.ca_pem if self._certificate else None
        return kubeconfig.write(path, url=self.url, token=token, user=user, ca_pem=ca)

    # instruments

    def drop_watches(self, *, abort: bool = False) -> None:
        """End every open watch now: cleanly (the response completes, as when a server
        ends a watch), or with `abort=True` by cutting the connection mid-stream, as a
        crashed server or a broken network does."""
        def end_all() -> None:
            for stream in list(self._settings.open_watches):
                if abort:
                    stream.abort()
                else:
                    stream.close()

        self.call(end_all)

    def open_watches(self) -> int:
        return self.call(lambda: len(self._settings.open_watches))

    def compact(self) -> None:
        """Forget the event history: watches and continue tokens from before answer 410."""
        self.call(self.store.compact)

    # seeding

    def load(self, objects: Iterable[Any]) -> None:
        """Create objects (the `kubernetes:` seed section): namespaces and CRDs first.
        A malformed entry raises `SeedError` naming its index before anything is created."""
        entries = [_check_seed_entry(index, raw) for index, raw in enumerate(objects)]

        def order(entry: tuple[int, Obj]) -> int:
            return {"Namespace": 0, "CustomResourceDefinition": 1}.get(entry[1]["kind"], 2)

        def create_all() -> None:
            for index, obj in sorted(entries, key=order):
                self._load_one(obj, f"seed object [{index}]")

        self.call(create_all)

    def _load_one(self, obj: Obj, where: str = "bootstrap object") -> None:
        api_version, kind = obj["apiVersion"], obj["kind"]
        name = obj["metadata"].get("name", "<unnamed>")
        rtype = self.registry.by_kind(api_version, kind)
        if rtype is None:
            raise SeedError(f"{where} {kind} {name!r}: no resource serves "
                            f"apiVersion {api_version!r} kind {kind!r}")
        namespace = obj["metadata"].get("namespace") or ("default" if rtype.namespaced else "")
        try:
            self.objects.create(rtype, namespace, obj, dry_run=False)
        except ApiError as exc:
            raise SeedError(f"{where} {kind} {name!r}: {exc.message}") from exc

    # internals

    def _type(self, group: str, plural: str) -> ResourceType:
        rtype = self.registry.any_version((group, plural))
        assert rtype is not None
        return rtype

    def _bootstrap(self) -> None:
        for name in INITIAL_NAMESPACES:
            self.objects.create(self._type("", "namespaces"), "", {"metadata": {"name": name}},
                                dry_run=False)
        for obj in rbac.bootstrap_objects():
            self._load_one(copy.deepcopy(dict(obj)))

    def _serve_crds(self, event: Event) -> None:
        if event.key != CRD_KEY:
            return
        if event.type == "DELETED":
            spec = event.obj["spec"]
            self.registry.forget_crd(event.obj["metadata"]["name"])
            gone = (spec["group"], spec["names"]["plural"])
            for stream in list(self._settings.open_watches):
                if stream.rtype.storage_key == gone:  # as the real server ends them
                    stream.close()
        else:
            self.registry.serve_crd(event.obj)


def _check_seed_entry(index: int, raw: Any) -> tuple[int, Obj]:
    """A deep copy of one seed entry once its shape is an object's: a mapping with string
    `apiVersion` and `kind` and a mapping `metadata` with string name/namespace."""
    where = f"seed object [{index}]"
    if not isinstance(raw, Mapping):
        raise SeedError(f"{where}: must be a mapping (a Kubernetes object), "
                        f"not {type(raw).__name__}")
    obj = copy.deepcopy(dict(raw))
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise SeedError(f"{where}: {key} must be a non-empty string")
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise SeedError(f"{where} {obj['kind']}: metadata must be a mapping, "
                        f"not {type(metadata).__name__}")
    for key in ("name", "namespace", "generateName"):
        if key in metadata and not isinstance(metadata[key], str):
            raise SeedError(f"{where} {obj['kind']}: metadata.{key} must be a string")
    return index, obj


def _ssl_context(certificate: certs.ServerCertificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert_path.write_bytes(certificate.cert_pem)
        key_path.write_bytes(certificate.key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context
