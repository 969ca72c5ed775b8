"""The Secret Manager emulator: a grpc.aio server plus the instruments tests read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc

from kes_emulators.gsm.control import Counters, Faults, Quotas
from kes_emulators.gsm.events import EventPublisher, PushAuth
from kes_emulators.gsm.iam import Iam
from kes_emulators.gsm.seed import apply_seed
from kes_emulators.gsm.service import SecretManagerService
from kes_emulators.gsm.store import SecretStore
from kes_emulators.serving import BackgroundLoop

SERVER_OPTIONS = [
    # gRPC binds with SO_REUSEPORT by default: a taken port would "work" and split traffic.
    ("grpc.so_reuseport", 0),
    # gRPC core cancels calls queued beyond 3,000 (or for over 30 s) before the
    # application takes them; GCP serves such bursts, or answers by quota. Calls wait
    # their turn here, bounded by the client's own deadline.
    ("grpc.server.max_pending_requests", 1_000_000),
    ("grpc.server.max_pending_requests_hard_limit", 1_000_000),
    ("grpc.server_max_unrequested_time_in_server", 24 * 3600),
]


class SecretManagerEmulator:
    """Serves `google.cloud.secretmanager.v1.SecretManagerService` on plaintext gRPC.

    Point clients at `address` (`SECRET_MANAGER_EMULATOR_HOST`). `iam`, `quotas`,
    `faults` and `counters` are live: change or read them while it serves.
    `clock` (seconds since the epoch) drives create times and quota windows.
    Events are posted to `notify_url` as Pub/Sub push deliveries, signed with
    `push_auth` when given.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        quotas: Quotas | None = None,
        notify_url: str | None = None,
        notify_all_secrets: bool = True,
        push_auth: PushAuth | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.store = SecretStore(clock)
        self.iam = Iam()
        self.quotas = quotas or Quotas()
        self.faults = Faults()
        self.counters = Counters()
        self.events = EventPublisher(
            notify_url, all_secrets=notify_all_secrets, clock=clock, auth=push_auth
        )
        self.service = SecretManagerService(
            self.store, self.iam, self.quotas, self.faults, self.counters, self.events, clock
        )
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        if self._server is None:
            raise RuntimeError("the Secret Manager emulator is not started")
        return f"{self.host}:{self.port}"

    def seed(self, section: Mapping[str, Any]) -> int:
        """Load the `secretmanager:` section of a seed file; returns the secret count."""
        return apply_seed(self.store, self.iam, section)

    async def start(self) -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        server.add_generic_rpc_handlers(self.service.handlers())
        self.port = server.add_insecure_port(f"{self.host}:{self.port}")
        await server.start()
        await self.events.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None
        await self.events.stop()

    @contextmanager
    def background(self) -> Iterator[SecretManagerEmulator]:
        """Serve from a background thread, for synchronous callers."""
        with BackgroundLoop("kes-gsm-emulator") as loop:
            loop.run(self.start())
            try:
                yield self
            finally:
                loop.run(self.stop())
