"""Structured JSON logs, one object per line.

Every line logged while a reconcile runs carries `controller`, `key` and `reconcileID`,
taken from context variables the Manager sets around each reconcile: asyncio copies the
context into each task, so concurrent reconciles never mix their fields, and reconciler code
logs with a plain `logging.getLogger(__name__)`. Fields passed with `extra=` are included.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from aim_engine.api.meta import ObjectKey

controller_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("controller", default=None)
key_var: contextvars.ContextVar[ObjectKey | None] = contextvars.ContextVar("key", default=None)
reconcile_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("reconcile_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


@contextlib.contextmanager
def reconcile_context(controller: str, key: ObjectKey, reconcile_id: str) -> Iterator[None]:
    tokens = (controller_var.set(controller), key_var.set(key), reconcile_id_var.set(reconcile_id))
    try:
        yield
    finally:
        reconcile_id_var.reset(tokens[2])
        key_var.reset(tokens[1])
        controller_var.reset(tokens[0])


class ContextFilter(logging.Filter):
    """Copies the reconcile context into each record (at emit time, in the logging task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        controller = controller_var.get()
        if controller is not None:
            record.controller = controller
            key = key_var.get()
            if key is not None:
                record.key = str(key)
                record.namespace = key.namespace
                record.name_ = key.name
            record.reconcileID = reconcile_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for attr, value in vars(record).items():
            if attr not in _STANDARD:
                entry["name" if attr == "name_" else attr] = value
        if record.exc_info:
            entry["error"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str)


def configure_logging(level: str | int = "INFO", *, stream: TextIO | None = None) -> None:
    """Log to stderr (or `stream`) in JSON, with the reconcile context, replacing any
    handlers on the root logger."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # httpx2 logs every request at INFO; that is noise at our default level.
    logging.getLogger("httpx2").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(root.level, logging.WARNING))
