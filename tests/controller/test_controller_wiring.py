"""kopf wiring and log output: what runs where, and what reaches a log line."""

from __future__ import annotations

import inspect
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import Configuration

from kes.api import MANAGED_SELECTOR
from kes.kube import EXTERNALSECRETS, NAMESPACES, SECRETS, Cluster
from kes.kube.watch import Watch, build_registry
from kes.logs import JsonFormatter, configure_logging


def ignore(event_type: str | None, obj: dict[str, Any]) -> None:
    """A handler that does nothing."""


def test_watch_handlers_run_on_the_event_loop_and_filter_nothing_client_side() -> None:
    watches = [Watch(EXTERNALSECRETS, ignore), Watch(SECRETS, ignore, MANAGED_SELECTOR),
               Watch(NAMESPACES, ignore)]
    registry = build_registry(Cluster(Configuration()), watches)
    handlers = registry._watching.get_all_handlers()
    assert [h.selector.any_name for h in handlers] == ["externalsecrets", "secrets", "namespaces"]
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


def test_a_logged_exception_keeps_its_frames_and_never_its_message() -> None:
    value = "".join(["hun", "ter2"])  # not in any source line a frame shows
    try:
        try:
            int(value)
        except ValueError as e:
            raise RuntimeError(f"while reading {value}") from e
    except RuntimeError:
        line = json.loads(JsonFormatter().format(record("kes.controller", exc_info=sys.exc_info())))
    text = line["exception"]
    assert "hunter2" not in text
    assert text.endswith("RuntimeError") and "ValueError" in text
    assert "test_a_logged_exception_keeps_its_frames_and_never_its_message" in text


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
