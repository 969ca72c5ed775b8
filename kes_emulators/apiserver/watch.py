"""Watch streams: replay from history, live fan-out, bookmarks, timeouts, forced endings."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kes_emulators.apiserver import errors, views
from kes_emulators.apiserver.resources import ResourceType
from kes_emulators.apiserver.store import Event, Obj, Store

Matcher = Callable[[Obj], bool]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
# How often an idle watch checks that its client is still there.
LIVENESS_CHECK_SECONDS = 5.0


class WatchStream:
    """One client's watch: a filtered subscription to a storage, written as JSON lines."""

    def __init__(self, rtype: ResourceType, shape: str, include_object: str,
                 matches: Matcher) -> None:
        self.rtype = rtype
        self.shape = shape
        self.include_object = include_object
        self.matches = matches
        self.queue: asyncio.Queue[tuple[str, Obj] | None] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None

    def offer(self, event: Event) -> None:
        change = self.translate(event)
        if change is not None:
            self.queue.put_nowait(change)

    def translate(self, event: Event) -> tuple[str, Obj] | None:
        """The event as this watcher sees it: objects entering or leaving its selection
        become ADDED or DELETED, as the real server's filtered watches do."""
        now_in = self.matches(event.obj)
        if event.type == "MODIFIED":
            was_in = event.old is not None and self.matches(event.old)
            if now_in and not was_in:
                return ("ADDED", event.obj)
            if was_in and not now_in:
                return ("DELETED", _left_selection(event))
        return (event.type, event.obj) if now_in else None

    def close(self) -> None:
        """End the stream cleanly: the last chunk is written and the response completes."""
        self.queue.put_nowait(None)

    def abort(self) -> None:
        """Cut the connection mid-stream, as a crashed server or a broken network would."""
        if self.transport is not None:
            self.transport.abort()
        self.queue.put_nowait(None)

    def line(self, event_type: str, obj: Obj) -> bytes:
        body = views.object_body(self.rtype, self.shape, obj, self.include_object)
        return json.dumps({"type": event_type, "object": body},
                          separators=(",", ":")).encode() + b"\n"

    def bookmark(self, rv: int, initial_events_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_events_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        kind, api_version = self.rtype.kind, self.rtype.api_version
        if self.shape in (views.METADATA, views.METADATA_LIST):
            kind, api_version = views.METADATA, "meta.k8s.io/v1"
        body = {"kind": kind, "apiVersion": api_version, "metadata": meta}
        return json.dumps({"type": "BOOKMARK", "object": body},
                          separators=(",", ":")).encode() + b"\n"


def _left_selection(event: Event) -> Obj:
    """What the real watch cache sends for an object leaving a filtered watch: its
    previous state (the last one the watcher was entitled to) at the new resourceVersion."""
    assert event.old is not None
    meta = dict(event.old["metadata"], resourceVersion=event.obj["metadata"]["resourceVersion"])
    return dict(event.old, metadata=meta)


def error_line(error: errors.ApiError) -> bytes:
    return json.dumps({"type": "ERROR", "object": error.status()}).encode() + b"\n"


async def serve(
    request: web.Request,
    store: Store,
    stream: WatchStream,
    *,
    since: int | None,
    initial: list[Obj] | None,
    initial_events_end: bool,
    bookmarks: bool,
    timeout: float,
    bookmark_interval: float,
    expire_now: bool,
    on_open: Callable[[WatchStream], None],
    on_close: Callable[[WatchStream], None],
) -> web.StreamResponse:
    """Stream events until the timeout, the client leaving, or the server closing it.

    `since` replays history after that rv; `initial` sends synthetic ADDED events first.
    Replay and subscription happen without yielding, so no commit falls between them.
    """
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    key = stream.rtype.storage_key
    backlog: list[bytes] = []
    if expire_now:
        backlog.append(error_line(errors.expired(f"too old resource version: {since or 0} "
                                                 f"({store.compacted_rv + 1})")))
    else:
        if initial is not None:
            backlog.extend(stream.line("ADDED", obj) for obj in initial)
            if initial_events_end:
                backlog.append(stream.bookmark(store.rv, initial_events_end=True))
        if since is not None:
            replay = store.events_since(key, since)
            if replay is None:
                backlog.append(error_line(errors.expired(
                    f"too old resource version: {since} ({store.compacted_rv + 1})")))
                expire_now = True
            else:
                for event in replay:
                    change = stream.translate(event)
                    if change is not None:
                        backlog.append(stream.line(*change))
        if not expire_now:
            stream.transport = request.transport
            store.subscribe(key, stream)
            on_open(stream)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        await response.prepare(request)
        if backlog:
            await response.write(b"".join(backlog))
        if expire_now:
            return response
        # Bookmarks only for a client that asked; no deadline ever lies in the past for
        # long, so every wait below is a real wait (never a zero-timeout spin).
        next_bookmark = loop.time() + bookmark_interval if bookmarks else math.inf
        while True:
            now = loop.time()
            if now >= deadline:
                if bookmarks:
                    await response.write(stream.bookmark(store.rv))
                break
            if now >= next_bookmark:
                await response.write(stream.bookmark(store.rv))
                next_bookmark = now + bookmark_interval
                continue
            wait = min(deadline, next_bookmark, now + LIVENESS_CHECK_SECONDS) - now
            try:
                item = await asyncio.wait_for(stream.queue.get(), wait)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    break  # the client left while nothing happened
                continue
            if item is None:
                break
            chunk = [stream.line(*item)]
            while not stream.queue.empty():
                more = stream.queue.get_nowait()
                if more is None:
                    await response.write(b"".join(chunk))
                    return response
                chunk.append(stream.line(*more))
            await response.write(b"".join(chunk))
    except ConnectionResetError:
        pass  # the client left
    finally:
        store.unsubscribe(key, stream)
        on_close(stream)
    return response
