"""Waiting for whichever comes first: a wake-up, a stop, or a deadline."""

from __future__ import annotations

import asyncio


async def first_of(wake: asyncio.Event, stop: asyncio.Event, timeout: float | None) -> None:
    """Return when `wake` or `stop` is set, or after `timeout` seconds (None: no limit)."""
    waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
    _, pending = await asyncio.wait(waiters, timeout=timeout,
                                    return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
