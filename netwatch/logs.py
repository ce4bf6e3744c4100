"""Logging, set up once by the command line.

Three formats: ``text`` (timestamps, for a terminal), ``plain`` (no timestamps: journald adds
its own) and ``json`` (one object per line). ``auto`` picks ``plain`` under systemd
(``JOURNAL_STREAM`` or ``INVOCATION_ID`` set) and ``text`` otherwise.

>>> setup_logging("plain", "info")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

_TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_PLAIN = "<%(syslog)s>%(levelname)s %(name)s: %(message)s"
# sd-daemon(3) priority prefixes so journald keeps the level of each line.
_SYSLOG_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.syslog = _SYSLOG_PRIORITY.get(record.levelname, 6)
        return super().format(record)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def resolve_format(fmt: str, environ: Mapping[str, str] = os.environ) -> str:
    """``auto`` becomes ``plain`` under systemd and ``text`` elsewhere."""
    if fmt != "auto":
        return fmt
    return "plain" if ("JOURNAL_STREAM" in environ or "INVOCATION_ID" in environ) else "text"


_current = ("text", "info")  # what setup_logging last chose: format, level


def current_setup() -> tuple[str, str]:
    """The format and level of the last :func:`setup_logging`, for child processes to copy."""
    return _current


def setup_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure the root logger; calling it again replaces the previous set-up."""
    global _current
    handler = logging.StreamHandler(stream or sys.stderr)
    chosen = resolve_format(fmt)
    _current = (chosen, level.lower())
    if chosen == "json":
        handler.setFormatter(_JsonFormatter())
    elif chosen == "plain":
        handler.setFormatter(_PlainFormatter(_PLAIN))
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # APScheduler logs every run at INFO; only its warnings matter to an operator.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
