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
    """Lets through at most ``burst`` identical lines (same logger, level and text), and at most
    ``template_burst`` lines of one message template, per ``interval`` seconds; the first line
    after a quiet spell says how many were dropped.

    Identical text is the error storm (``accept failed: Too many open files`` written 717 MB in
    three minutes); lines of one template with other arguments are usually events, one per
    device (``device r1 is down``), and pass until a much higher bound.

    >>> f = RepeatFilter(burst=2, template_burst=4, interval=60.0, clock=lambda: 0.0)
    >>> [f.filter(logging.makeLogRecord({"msg": "boom %s", "args": (1,)})) for _ in range(3)]
    [True, True, False]
    >>> [f.filter(logging.makeLogRecord({"msg": "boom %s", "args": (i,)})) for i in range(2, 4)]
    [True, False]
    """

    MAX_KEYS = 1000  # lines alike remembered; past that, those whose interval is over are let go

    def __init__(
        self,
        burst: int = 10,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        template_burst: int = 300,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.template_burst = max(burst, template_burst)
        self.interval = interval
        self._clock = clock
        # key -> [start of its interval, lines in it, lines dropped in it]
        self._seen: dict[tuple[str, int, str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        text = record.getMessage()
        same = self._count((record.name, record.levelno, "text", text), now)
        alike = self._count((record.name, record.levelno, "template", str(record.msg)), now)
        if same[1] > self.burst or alike[1] > self.template_burst:
            same[2] += 1
            alike[2] += 1
            return False
        dropped = int(same[2] if same[1] == 1 else 0) or int(alike[2] if alike[1] == 1 else 0)
        if same[1] == 1 and alike[1] == 1:
            same[2] = alike[2] = 0
        note = ""
        if dropped:
            note = f" (… repeated {dropped} times, not logged, in the {self.interval:g} s before)"
        elif same[1] == self.burst or alike[1] == self.template_burst:
            limit = self.burst if same[1] == self.burst else self.template_burst
            note = (
                f" ({limit} lines like this: more are not logged for up to"
                f" {self.interval:g} s, only counted)"
            )
        if note:
            record.msg = text + note
            record.args = None
        return True

    def _count(self, key: tuple[str, int, str, str], now: float) -> list[float]:
        """The key's [interval start, lines, dropped], this line counted; a new interval keeps
        the dropped count of the last one until it is reported."""
        seen = self._seen.get(key)
        if seen is None or now - seen[0] >= self.interval:
            if seen is None and len(self._seen) >= self.MAX_KEYS:
                self._forget(now)
            seen = self._seen[key] = [now, 0, seen[2] if seen is not None else 0]
        seen[1] += 1
        return seen

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
