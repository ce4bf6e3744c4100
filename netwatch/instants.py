"""The instants and spans netwatch accepts, as an operator writes them or a file stores them.

Times an operator writes (a maintenance window, a silence, a report period) must fall in
``[EARLIEST, LATEST)``: UTC years 1970 to 9998, ends included. Every such instant has a POSIX
timestamp and stays a valid ``datetime`` in any UTC offset (at most ±24 h); year 1 or 9999 with
a ±14:00 offset would otherwise overflow when converted (``OverflowError``), far from where it
was written. Durations are positive and at most ``MAX_DURATION`` (ten years).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC).timestamp()  # 0.0
LATEST = datetime(9999, 1, 1, tzinfo=UTC).timestamp()  # exclusive: the last year is 9998
MAX_DURATION = 10 * 365.25 * 86400.0  # ten years: the longest span anything may last


class OutOfRange(ValueError):
    """A time or duration that parses but lies outside what netwatch accepts."""


def check_epoch(ts: float, what: str) -> float:
    """``ts`` (epoch seconds) if it is finite and in ``[EARLIEST, LATEST)``; ValueError else.

    >>> check_epoch(1.8e9, "until")
    1800000000.0
    """
    if not math.isfinite(ts) or not EARLIEST <= ts < LATEST:
        raise OutOfRange(f"{what} must be between 1970-01-01 and 9998-12-31 (UTC)")
    return ts


def check_instant(when: datetime, what: str) -> float:
    """The epoch seconds of an aware ``when`` in ``[EARLIEST, LATEST)``; ValueError otherwise
    (never the ``OverflowError`` a conversion of year 1 or 9999 would raise later).

    >>> try:
    ...     check_instant(datetime(1, 1, 1, tzinfo=UTC), "start")
    ... except OutOfRange as exc:
    ...     print(exc)
    start must be between 1970-01-01 and 9998-12-31 (UTC)
    """
    if when.tzinfo is None:
        raise ValueError(f"{what} must carry a UTC offset or time zone")
    try:
        ts = when.timestamp()  # computed without a conversion: it cannot overflow
    except (OverflowError, ValueError):  # pragma: no cover - defensive
        ts = math.nan
    return check_epoch(ts, what)
