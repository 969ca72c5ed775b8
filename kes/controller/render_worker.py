"""Rendering in worker processes, each render on a budget.

Every ExternalSecret is a tenant's program: a template inside every documented limit
can still take minutes of CPU or a lot of memory. Rendered in the controller, it
would hold up the Lease renewal, /healthz and every other ExternalSecret. So renders
run in child processes (`RENDER_WORKERS` of them): each render has a CPU budget
(the kernel stops a child that goes past it), the whole of it a wall-clock budget
(the controller kills a child that takes longer), and each child a memory limit; a
render that goes over any of them is that object's error, and the next render
starts a fresh child. The controller's event loop only ever waits on a pipe.

The child reads pickled jobs from the controller (trusted) and answers in JSON, so
nothing a template does can make the controller unpickle what the child wrote.

    python -m kes.controller.render_worker MEMORY_BYTES    # the child; not for people
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import pickle
import resource
import signal
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from kes.codecs import decode_base64, encode_base64
from kes.errors import KesError
from kes.names import SecretVersionName
from kes.render import DesiredSecret, Payload, render_secret
from kes.spec import ExternalSecretSpec

_HEADER = struct.Struct(">I")
START_TIMEOUT = 60.0
"""Seconds a new worker may take to import what it renders with."""
MAX_REPLY_BYTES = 8 * 1024 * 1024
"""A reply holds one Secret (at most 1 MiB of data) and its metadata, as JSON."""


class RenderBudgetError(KesError):
    """A render went past its CPU, time or memory budget."""


@dataclass(frozen=True)
class RenderBudget:
    cpu_seconds: int = 2
    """CPU one render may use (whole seconds: the kernel counts them so)."""
    wall_seconds: float = 10.0
    """Time one render may take, waits included."""
    memory_bytes: int = 256 * 1024 * 1024
    """Address space of one worker process."""
    idle_seconds: float = 60.0
    """A worker with nothing to render for this long exits; the next render starts one.
    A steady cluster renders nothing, so its workers take no memory."""


def _desired_to_json(desired: DesiredSecret) -> dict[str, Any]:
    return {
        "name": desired.name, "namespace": desired.namespace, "type": desired.type,
        "labels": dict(desired.labels), "annotations": dict(desired.annotations),
        "data": {key: encode_base64(value) for key, value in desired.data.items()},
    }


def _desired_from_json(reply: Mapping[str, Any]) -> DesiredSecret:
    return DesiredSecret(
        name=str(reply["name"]), namespace=str(reply["namespace"]), type=str(reply["type"]),
        labels={str(k): str(v) for k, v in reply["labels"].items()},
        annotations={str(k): str(v) for k, v in reply["annotations"].items()},
        data={str(k): decode_base64(str(v)) for k, v in reply["data"].items()},
    )


# ---- the child ---------------------------------------------------------------------


def _read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    return stream.read(size)


def _write_frame(stream: BinaryIO, body: bytes) -> None:
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Payloads:
    """The child's payloads by content, most recent last: the same payload sent for many
    renders is parsed once while it stays among the last `max_bytes` of them."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._by_content: dict[bytes, Payload] = {}

    def interned(self, payload: Payload) -> Payload:
        known = self._by_content.pop(payload.data, None)
        if known is None:
            known = payload
            self._bytes += len(payload.data)
        self._by_content[payload.data] = known
        while self._bytes > self._max_bytes and len(self._by_content) > 1:
            oldest = next(iter(self._by_content))
            self._bytes -= len(oldest)
            del self._by_content[oldest]
        return known


_PAYLOADS = _Payloads()


def _render_one(job: tuple[Any, ...], memory_bytes: int) -> dict[str, Any]:
    name, namespace, spec, sent, cpu_seconds = job
    payloads = {ref: _PAYLOADS.interned(payload) for ref, payload in sent.items()}
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(_cpu_used()) + cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    try:
        return {"ok": _desired_to_json(render_secret(name, namespace, spec, payloads))}
    except KesError as e:
        return {"error": str(e)}
    except MemoryError:
        return {"error": f"rendering {namespace}/{name} needed more memory than the "
                         f"limit of {memory_bytes // (1024 * 1024)} MiB"}
    except RecursionError:
        return {"error": f"rendering {namespace}/{name} nested deeper than the renderer "
                         "allows"}
    except Exception as e:  # a bug in kes; the name of the error only, never its text
        return {"error": f"rendering {namespace}/{name} failed with {type(e).__name__}"}


READY = b"ready"
"""The child's first frame: imports done, budgets may start counting."""


def child_main(memory_bytes: int) -> None:
    """Serve render jobs from stdin until it closes."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _write_frame(stdout, READY)
    while (frame := _read_frame(stdin)) is not None:
        reply = _render_one(pickle.loads(frame), memory_bytes)
        _write_frame(stdout, json.dumps(reply).encode())


# ---- the controller's side ---------------------------------------------------------


class _Child:
    """One worker process, started when first needed and again after it died."""

    def __init__(self, budget: RenderBudget) -> None:
        self._budget = budget
        self._process: asyncio.subprocess.Process | None = None
        self._idle: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def rest(self) -> None:
        """Done for now: exit once idle for the budget's idle time."""
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(
            self._budget.idle_seconds, lambda: asyncio.ensure_future(self.stop()))

    async def _started(self) -> asyncio.subprocess.Process:
        """The worker, ready: a new one counts no render budget while it starts."""
        if self._process is None or self._process.returncode is not None:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kes.controller.render_worker",
                str(self._budget.memory_bytes),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
            assert process.stdout is not None
            try:
                async with asyncio.timeout(START_TIMEOUT):
                    (size,) = _HEADER.unpack(await process.stdout.readexactly(_HEADER.size))
                    ready = await process.stdout.readexactly(size)
            except (TimeoutError, asyncio.IncompleteReadError):
                ready = b""
            if ready != READY:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
                raise RenderBudgetError("the render worker did not start")
            self._process = process
        return self._process

    async def render(self, job: bytes, what: str) -> dict[str, Any]:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        process = await self._started()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(_HEADER.pack(len(job)) + job)
            await process.stdin.drain()
            async with asyncio.timeout(self._budget.wall_seconds):
                header = await process.stdout.readexactly(_HEADER.size)
                (size,) = _HEADER.unpack(header)
                if size > MAX_REPLY_BYTES:
                    raise RenderBudgetError(f"rendering {what} made too large an answer")
                reply: dict[str, Any] = json.loads(await process.stdout.readexactly(size))
                return reply
        except TimeoutError:
            await self.stop()
            raise RenderBudgetError(
                f"rendering {what} took longer than the limit of "
                f"{self._budget.wall_seconds:g} s") from None
        except (asyncio.IncompleteReadError, ConnectionError):
            code = await process.wait()
            self._process = None
            if code == -signal.SIGXCPU:
                raise RenderBudgetError(
                    f"rendering {what} used more than the CPU limit of "
                    f"{self._budget.cpu_seconds} s") from None
            raise RenderBudgetError(
                f"rendering {what} stopped the render worker (exit {code})") from None

    async def stop(self) -> None:
        process, self._process = self._process, None
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


class RenderWorkers:
    """Renders on `count` worker processes, one render per process at a time."""

    def __init__(self, count: int = 2, budget: RenderBudget = RenderBudget()) -> None:
        self._budget = budget
        self._children = [_Child(budget) for _ in range(count)]
        self._free: asyncio.Queue[_Child] = asyncio.Queue()
        for child in self._children:
            self._free.put_nowait(child)

    async def render(
        self, name: str, namespace: str, spec: ExternalSecretSpec,
        payloads: Mapping[SecretVersionName, Payload],
    ) -> DesiredSecret:
        """The desired Secret, or a KesError naming what went wrong or over budget."""
        job = pickle.dumps((name, namespace, spec, dict(payloads), self._budget.cpu_seconds))
        child = await self._free.get()
        try:
            reply = await child.render(job, f"{namespace}/{name}")
        finally:
            child.rest()
            self._free.put_nowait(child)
        if "error" in reply:
            raise KesError(str(reply["error"]))
        return _desired_from_json(reply["ok"])

    @property
    def running(self) -> int:
        """Worker processes alive now."""
        return sum(child.running for child in self._children)

    async def close(self) -> None:
        for child in self._children:
            await child.stop()


if __name__ == "__main__":
    child_main(int(sys.argv[1]))
