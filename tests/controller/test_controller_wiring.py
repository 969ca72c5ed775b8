"""kopf wiring and log output: what runs where, and what reaches a log line."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from kes.controller.handlers import build_registry
from kes.controller.logs import JsonFormatter, configure_logging
from kes.controller.settings import ControllerSettings


async def login(**_: Any) -> kopf.ConnectionInfo:
    return kopf.ConnectionInfo(server="http://unused")


def test_watch_handlers_run_on_the_event_loop_and_filter_nothing_client_side() -> None:
    settings = ControllerSettings(enforce_namespace_annotations=True)
    registry = build_registry(None, settings, login)  # type: ignore[arg-type]
    handlers = registry._watching.get_all_handlers()
    assert [h.fn.__name__ for h in handlers] == ["on_externalsecret", "on_secret", "on_namespace"]
    # A plain def would run in kopf's thread pool, racing the poller over the cache.
    assert all(inspect.iscoroutinefunction(h.fn) for h in handlers)
    # A label filter would drop the DELETED event of a Secret that lost its label.
    assert all(h.labels is None for h in handlers)


def record(name: str, **extra: Any) -> logging.LogRecord:
    return logging.makeLogRecord({"name": name, "msg": "hello", "levelname": "INFO", **extra})


def test_only_kes_extra_fields_reach_a_line() -> None:
    formatter = JsonFormatter()
    kes_line = json.loads(formatter.format(record("kes.controller", externalsecret="ns/db")))
    assert kes_line["externalsecret"] == "ns/db"
    kopf_line = json.loads(formatter.format(record("kopf.objects", settings="<huge repr>")))
    assert "settings" not in kopf_line
    assert kopf_line["message"] == "hello"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    kopf_level = logging.getLogger("kopf").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("kopf").setLevel(kopf_level)


@pytest.mark.usefixtures("restored_logging")
def test_kopf_speaks_only_of_warnings_unless_debugging() -> None:
    configure_logging("info")
    assert logging.getLogger("kopf.objects").getEffectiveLevel() == logging.WARNING
    configure_logging("debug")
    assert logging.getLogger("kopf.objects").getEffectiveLevel() == logging.DEBUG
