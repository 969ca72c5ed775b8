"""Run the real controller on a loop of its own, for synchronous test code.

Tests drive the controller from plain code while it keeps running, and read its
state between steps. It is the real one (kopf watches, the official client, the GSM
gateway); only the process around it differs from `kes controller`, which the
process tests and the benchmarks run as it is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from kes.controller.main import Controller
from kes.controller.metrics import ControllerMetrics
from kes.controller.poller import CycleReport
from kes.controller.settings import ControllerSettings
from kes.gsm import RetryPolicy, SecretManager
from kes.kube import load_cluster
from kes_emulators.serving import BackgroundLoop

T = TypeVar("T")


class BackgroundController:
    """`with BackgroundController(...) as c:` runs until the block ends, then stops cleanly."""

    def __init__(
        self,
        settings: ControllerSettings,
        kubeconfig: str,
        gsm_host: str,
        retry: RetryPolicy,
    ) -> None:
        self._background = BackgroundLoop("kes-controller")
        self.metrics = ControllerMetrics()
        cluster = load_cluster(kubeconfig)

        async def build() -> tuple[Controller, asyncio.Event, SecretManager]:
            gsm = SecretManager(
                emulator_host=gsm_host, retry=retry, on_call=self.metrics.on_gsm_call
            )
            return Controller(settings, cluster, gsm, self.metrics), asyncio.Event(), gsm

        self.controller, self._stop, self._gsm = self._on_loop(build())
        self._running: concurrent.futures.Future[bool] | None = None

    def _on_loop(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return self._background.run(coro, timeout)

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60.0) -> T:
        """Run a coroutine on the controller's loop (its state is single-threaded)."""
        return self._on_loop(make(), timeout)

    def read(self, fn: Callable[[], T]) -> T:
        """Evaluate `fn` on the controller's loop, between its steps."""

        async def call() -> T:
            return fn()

        return self._on_loop(call())

    def full_cycle(self) -> CycleReport:
        """One cycle with every polled version due at once: the worst-case burst."""
        return self.run(lambda: self.controller.poller.run_cycle(math.inf))

    def start(self) -> None:
        self._running = asyncio.run_coroutine_threadsafe(
            self.controller.run(self._stop), self._background.loop
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask for a graceful stop and wait for it; the result of Controller.run."""
        self._background.loop.call_soon_threadsafe(self._stop.set)
        assert self._running is not None
        return self._running.result(timeout)

    @property
    def running(self) -> bool:
        return self._running is not None and not self._running.done()

    def close(self) -> None:
        if self.running:
            self.stop()
        self._on_loop(self._gsm.close())
        self._on_loop(self.controller.renderer.close())
        self._on_loop(self.controller.kube.close())
        self._background.close()

    def __enter__(self) -> BackgroundController:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
