"""Warnings the handling of one request adds to its response, as `Warning` headers.

Any code on a request's path (object semantics, admission) calls `warn(text)`; the HTTP
layer collects them per request and answers `Warning: 299 - "<text>"`, as the real
server does (kubectl prints them). Work outside a request, such as the garbage
collector's writes, has nobody to tell and its warnings are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[list[str] | None] = ContextVar("kes_apiserver_warnings", default=None)


@contextmanager
def collecting() -> Iterator[list[str]]:
    """Collect the warnings of the request handled inside this block."""
    found: list[str] = []
    token = _current.set(found)
    try:
        yield found
    finally:
        _current.reset(token)


def warn(text: str) -> None:
    found = _current.get()
    if found is not None and text not in found:
        found.append(text)


def header(text: str) -> str:
    """The header value: code 299, no agent, the text quoted as Go's strconv.Quote does."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{quoted}"'
