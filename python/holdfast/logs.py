"""Structured logs: one JSON object per line on stderr.

Operators and log collectors read the same lines; each carries its facts as
fields (``extra={"fields": {...}}``) instead of prose to be parsed.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# The attribute of a LogRecord that holds a line's structured facts.
FIELDS = "fields"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, facts."""

    def format(self, record: logging.LogRecord) -> str:
        # The time is the record's own (taken by logging when the line was
        # made), so the formatter reads no clock.
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: str) -> None:
    """Send every holdfast log line to stderr as JSON, at ``level`` and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def fields(**facts: Any) -> dict[str, Any]:
    """``extra=`` for a log call: ``log.info("started", extra=fields(listen=...))``."""
    return {FIELDS: facts}
