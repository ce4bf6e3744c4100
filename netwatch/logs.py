"""Logging, set up once by the command line.

Three formats: ``text`` (timestamps, for a terminal), ``plain`` (no timestamps: journald adds
its own) and ``json`` (one object per line). ``auto`` picks ``plain`` under systemd
(``JOURNAL_STREAM`` or ``INVOCATION_ID`` set) and ``text`` otherwise.

A storm of one error (a full file table once wrote 717 MB of log in 3 minutes) cannot fill the
disk: :class:`RepeatFilter` lets the first few lines alike through in each minute and counts
the rest.

>>> setup_logging("plain", "info")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
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


class RepeatFilter(logging.Filter):
    """Lets through at most ``burst`` lines alike (same logger, level and message template)
    per ``interval`` seconds; the first line after a quiet spell says how many were dropped.

    >>> f = RepeatFilter(burst=2, interval=60.0, clock=lambda: 0.0)
    >>> [f.filter(logging.makeLogRecord({"msg": "boom %s", "args": (i,)})) for i in range(3)]
    [True, True, False]
    """

    MAX_KEYS = 1000  # lines alike remembered; past that, those whose interval is over are let go

    def __init__(
        self,
        burst: int = 10,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.interval = interval
        self._clock = clock
        # key -> [start of its interval, lines in it, lines dropped in it]
        self._seen: dict[tuple[str, int, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        key = (record.name, record.levelno, str(record.msg))
        seen = self._seen.get(key)
        if seen is None or now - seen[0] >= self.interval:
            dropped = int(seen[2]) if seen is not None else 0
            if seen is None and len(self._seen) >= self.MAX_KEYS:
                self._forget(now)
            self._seen[key] = [now, 1, 0]
            if dropped:
                record.msg = (
                    f"{record.getMessage()} (… repeated {dropped} times, not logged,"
                    f" in the {self.interval:g} s before)"
                )
                record.args = None
            return True
        seen[1] += 1
        if seen[1] <= self.burst:
            if seen[1] == self.burst:
                record.msg = (
                    f"{record.getMessage()} ({self.burst} lines like this: more are not"
                    f" logged for up to {self.interval:g} s, only counted)"
                )
                record.args = None
            return True
        seen[2] += 1
        return False

    def _forget(self, now: float) -> None:
        for key, seen in list(self._seen.items()):
            if now - seen[0] >= self.interval:
                del self._seen[key]
        if len(self._seen) >= self.MAX_KEYS:  # all in use: start over rather than grow
            self._seen.clear()


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
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # APScheduler logs every run at INFO; only its warnings matter to an operator.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
