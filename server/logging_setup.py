"""Structured logs: one JSON object per line, with counts and durations only, never participant data.

Code logs an event name and numbers (`log.info("match", extra={"fields": {...}})`); what is logged is
chosen by the caller, and callers pass counts, codes and durations, never ids, attributes or labels.
Exceptions are logged as their type and a stack of file:line:function, without their message (which
may quote input values).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from typing import IO, Any

LOGGER_NAME = "mentormatch.server"

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


class JsonLineFormatter(logging.Formatter):
    """`{"ts": ..., "level": ..., "logger": ..., "event": ..., **fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            # The format string alone: its arguments may quote the exception, and so input values.
            entry["event"] = str(record.msg).split(":", 1)[0]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
            entry["stack"] = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}"
                              for f in traceback.extract_tb(record.exc_info[2])]
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> logging.Logger:
    """Route the server's logger (and gRPC's Python logger) to JSON lines on `stream` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    for name in (LOGGER_NAME, "grpc"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    return logging.getLogger(LOGGER_NAME)


def server_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)
