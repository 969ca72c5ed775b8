"""One JSON object per log line, with the `extra={...}` fields as keys.

Callers pass names, counts and error messages only; values never reach a log. A
logged exception is a bug's, so its message is left out: it may quote the value the
code choked on (`int('hunter2')`); its type and frames say where it broke.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        own = record.name == "kes" or record.name.startswith("kes.")
        for key, value in record.__dict__.items():
            # Other libraries' extras (kopf attaches its whole settings object) stay out.
            if own and key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = _without_messages(record.exc_info[1])
        return json.dumps(entry)


def _without_messages(error: BaseException) -> str:
    """The traceback Python would print, each exception's message left out."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__)
    return "\n".join(
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_tb(e.__traceback__)) + type(e).__qualname__
        for e in reversed(chain))


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kopf logs every watch event at INFO; its warnings and errors are what matter here.
    logging.getLogger("kopf").setLevel("DEBUG" if level == "debug" else "WARNING")
