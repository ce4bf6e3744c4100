"""Pure parsers for the small value types of the configuration.

Each raises ``ValueError`` with a message that says what is wrong and what would be right; the
``Checker`` turns that message into a located ``Problem``.

>>> parse_duration("1m30s"), parse_duration(5)
(90.0, 5.0)

The range of times and durations netwatch accepts is :mod:`netwatch.instants`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from netwatch.instants import MAX_DURATION, OutOfRange, check_instant

DURATION_RANGE = "at most 10 years"  # netwatch.instants.MAX_DURATION
# Any count without a range of its own (down_after, count, flap_threshold...).
MAX_COUNT = 1_000_000
# Longer numbers are out of range whatever they say; not even converted (Python refuses to
# convert more than 4,300 digits, and a float overflows past about 308).
MAX_NUMBER_CHARS = 32
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Level names become Prometheus label names, so they follow its rules.
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def parse_duration(text: str | int | float) -> float:
    """Seconds from ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"1m30s"`` or a number.

    >>> parse_duration("500ms"), parse_duration("2h"), parse_duration(1.5)
    (0.5, 7200.0, 1.5)
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {text}")
    if isinstance(text, int) and abs(text) > MAX_DURATION:
        seconds = math.inf if text > 0 else -math.inf  # float() would overflow
    elif isinstance(text, int | float):
        seconds = float(text)
    else:
        compact = text.strip().replace(" ", "")
        if compact.startswith("-"):
            raise ValueError(f"a duration cannot be negative, got {shown(text)}")
        seconds = _parse_duration_text(compact, text)
    if math.isnan(seconds):
        raise ValueError(f"expected a finite duration, got {text}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {shown(text)}")
    if seconds > MAX_DURATION:
        raise OutOfRange(f"duration {shown(text)} is out of range: {DURATION_RANGE}")
    return seconds


def _parse_duration_text(compact: str, original: str) -> float:
    try:
        return float(compact)
    except ValueError:
        pass
    if not _DURATION.fullmatch(compact):
        raise ValueError(
            f"invalid duration {shown(original)!r}; write a number with a unit: ms, s, m, h or d "
            "(e.g. 500ms, 30s, 5m, 1h30m)"
        )
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(compact))


def shown(value: object) -> str:
    """A value for a message, cut short when it is long (a 400-digit number).

    >>> shown("1" + "0" * 400)
    '10000000000000000000… (401 characters)'
    """
    if isinstance(value, int) and value.bit_length() > 4 * MAX_NUMBER_CHARS:
        # str() refuses ints of more than 4,300 digits.
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = str(value)
    if len(text) <= MAX_NUMBER_CHARS:
        return text
    return f"{text[:20]}… ({len(text)} characters)"


def format_duration(seconds: float) -> str:
    """A short human form used in messages: ``30s``, ``1.5s``, ``500ms``.

    >>> format_duration(0.25), format_duration(6), format_duration(1.5)
    ('250ms', '6s', '1.5s')
    """
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


_LOCAL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def parse_local_date(text: str, timezone: str) -> float:
    """``2025-07-01`` (midnight) or ``2025-07-01 08:00[:30]`` in ``timezone``, as epoch seconds.

    >>> parse_local_date("2025-07-01", "Asia/Ho_Chi_Minh")
    1751302800.0
    """
    match = _LOCAL_DATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f'expected a local date like "2025-07-01" (or "2025-07-01 08:00"), got {text!r}'
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups(default="0"))
    try:
        when = datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(timezone))
    except ValueError as exc:
        raise ValueError(f"invalid date {text!r}: {exc}") from None
    return check_instant(when, f"the date {text!r}")


def check_address(text: str) -> str:
    """An IPv4 or IPv6 address or a DNS host name; returns it unchanged."""
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if labels[-1].isdigit() or all(part.isdigit() for part in labels):
        # A dotted numeric string is a broken IPv4 address, not a host name.
        raise ValueError(f"invalid IPv4 address {text!r}")
    if ":" in text:
        raise ValueError(f"invalid IPv6 address {text!r}")
    if len(text) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{text!r} is neither an IP address nor a valid host name")
    return text


def check_id(text: str) -> str:
    """Ids end up in metric labels and URLs: letters, digits, ``.``, ``_`` and ``-`` only."""
    if not _ID.fullmatch(text):
        raise ValueError(
            f"invalid id {text!r}; use only letters, digits, '.', '_' and '-' "
            "(put the full name with diacritics in 'name')"
        )
    return text


def check_label_name(text: str) -> str:
    """A hierarchy level name, which becomes a Prometheus label name."""
    if not _LABEL_NAME.fullmatch(text):
        raise ValueError(
            f"level name {text!r} cannot be a metric label; use ASCII letters, digits and '_'"
        )
    if text in ("device", "site", "role"):
        raise ValueError(f"level name {text!r} clashes with the {text!r} metric label")
    return text


def check_url(text: str) -> str:
    """An absolute http(s) URL with a host."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {text!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid URL {text!r}; expected http://HOST/... or https://HOST/...")
    if port == 0:
        raise ValueError(f"invalid URL {text!r}: port 0")
    return text


def url_host(url: str) -> str:
    """The host part of a URL already checked by :func:`check_url`."""
    return urlsplit(url).hostname or url


def check_email(text: str) -> str:
    if not _EMAIL.fullmatch(text):
        raise ValueError(f"invalid e-mail address {text!r}")
    return text


def parse_listen(text: str, *, any_port: bool = False) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` into its parts, the port within 1..65535 (or 0, "any
    free port", with ``any_port``: what tests bind to). The one parser of listen addresses.

    >>> parse_listen("[::1]:9430")
    ('::1', 9430)
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT (e.g. 0.0.0.0:9430 or [::1]:9430), got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ValueError(f"invalid IPv6 address {host!r} in {text!r}") from exc
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. [::1]:9430, got {text!r}")
    else:
        check_address(host)
    lowest = 0 if any_port else 1
    if not port_text.isdigit() or len(port_text) > 5 or not lowest <= int(port_text) <= 65535:
        raise ValueError(f"port must be a number from 1 to 65535, got {shown(port_text)!r}")
    return host, int(port_text)


def parse_status_range(text: str) -> tuple[int, int]:
    """``"200"`` or ``"200-399"`` into an inclusive range of HTTP status codes."""
    low_text, sep, high_text = text.partition("-")
    try:
        low = int(low_text.strip())
        high = int(high_text.strip()) if sep else low
    except ValueError:
        raise ValueError(
            f"invalid status {shown(text)!r}; expected a code like 200 or a range like 200-399"
        ) from None
    for code in (low, high):
        if not 100 <= code <= 599:
            raise ValueError(f"HTTP status {code} is outside 100..599")
    if low > high:
        raise ValueError(f"status range {text!r} is backwards")
    return low, high
