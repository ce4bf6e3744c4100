"""What every ``/api/v1`` handler shares: the limits, reading query parameters and JSON bodies,
durations and periods, and client errors as ``{"error": "..."}``.

Every check raises ``BadRequest``; the ``json_errors`` middleware turns it into the JSON answer,
so a handler reads as the happy path.

>>> limit = int_param(request, "limit", 1000, 1, MAX_LIST)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from netwatch.configuration.values import parse_duration
from netwatch.history import report
from netwatch.i18n import zone
from netwatch.instants import OutOfRange
from netwatch.inventory import Inventory
from netwatch.models import Status

log = logging.getLogger("netwatch.web.api")  # the name it had before the package split

PREFIX = "/api/v1"
MAX_PARAM = 200  # characters in one query parameter or id
MAX_BODY = 16 * 1024  # bytes of a JSON request body
MAX_DEPTH = 4  # nesting of a JSON request body: an object of lists of ids is 2
MAX_LIST = 5000  # devices per page, targets per silence
MAX_PERIOD_DAYS = 400  # a history or report period: a year and some margin
MAX_SILENCE = 30 * 86400.0
MAX_WINDOW = 7 * 86400.0
MAX_TRANSITIONS = 2000


class BadRequest(Exception):
    """A client error; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    """Under ``/api/``: client errors, unknown paths and wrong methods answer JSON, and a bug
    answers a JSON 500 without details (they go to the log)."""
    if not request.path.startswith("/api/"):
        response: web.StreamResponse = await handler(request)
        return response
    try:
        response = await handler(request)
        return response
    except BadRequest as exc:
        return error(exc.status, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, exc.reason)
    except Exception:
        log.exception("API request %s %s failed", request.method, request.path)
        return error(500, "internal error; the agent's log has the details")


# --------------------------------------------------------------------------- query parameters


def param(request: web.Request, name: str) -> str | None:
    """The query parameter ``name``, given at most once; ``None`` when absent or empty."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"give {name} once")
    if not values or values[0] == "":
        return None
    value = values[0]
    if len(value) > MAX_PARAM:
        raise BadRequest(f"{name} is too long (at most {MAX_PARAM} characters)")
    return value


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = param(request, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def status_param(request: web.Request) -> Status | None:
    text = param(request, "status")
    if text is None:
        return None
    try:
        return Status(text)
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise BadRequest(f"status must be one of {names}") from None


def site_param(inv: Inventory, request: web.Request, name: str = "site") -> str | None:
    site = param(request, name)
    if site is not None and site not in inv.sites:
        raise BadRequest(f"unknown site {site!r}", 404)
    return site


def period(
    request: web.Request, tz: str, default_seconds: float | None, now: float
) -> tuple[datetime, datetime]:
    """``from``/``to`` (``YYYY-MM-DD`` or ISO date-time; ``to`` exclusive) or ``month``."""
    start_text, end_text = param(request, "from"), param(request, "to")
    month = param(request, "month")
    try:
        if month is not None or default_seconds is None or start_text or end_text:
            if month is None and start_text is None and end_text is None:
                month = datetime.fromtimestamp(now, zone(tz)).strftime("%Y-%m")
            start, end = report.report_period(start_text, end_text, month, tz)
        else:
            end = datetime.fromtimestamp(now, zone(tz))
            start = end - timedelta(seconds=default_seconds)
    except ValueError as exc:
        raise BadRequest(str(exc).replace("--", "")) from None
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise BadRequest(f"the period is too long (at most {MAX_PERIOD_DAYS} days)")
    return start, end


# --------------------------------------------------------------------------- JSON bodies


async def body(
    request: web.Request, allowed: Mapping[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """The JSON object body; unknown keys and wrong types are errors. An empty body is ``{}``."""
    raw = await _read_bounded(request)
    if not raw.strip():
        return {}
    if depth(raw) > MAX_DEPTH:
        raise BadRequest(f"the body nests too deeply (at most {MAX_DEPTH} levels)")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    for key, value in data.items():
        if key not in allowed:
            raise BadRequest(f"unknown field {key!r}; allowed: {', '.join(allowed)}")
        # JSON true/false are Python ints too: a bool is never a valid number or text here.
        if isinstance(value, bool) or not isinstance(value, allowed[key]):
            raise BadRequest(f"{key} has the wrong type")
        if isinstance(value, str) and len(value) > 500:
            raise BadRequest(f"{key} is too long (at most 500 characters)")
    return data


async def _read_bounded(request: web.Request) -> bytes:
    """The body, refused with a 413 beyond ``MAX_BODY`` bytes."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadRequest(f"the body is too large (at most {MAX_BODY} bytes)", 413)
    # At most MAX_BODY + 1 bytes are read, also from a chunked body without a length (aiohttp
    # alone would buffer up to its client_max_size, 1 MiB, before refusing).
    raw = b""
    while len(raw) <= MAX_BODY:
        chunk = await request.content.read(MAX_BODY + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is too large (at most {MAX_BODY} bytes)", 413)
    return raw


def depth(raw: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text, brackets inside strings not counted
    (an upper bound for invalid JSON, which json.loads refuses anyway). Checked before
    parsing, so 8,000 nested lists are refused without recursing 8,000 deep."""
    level = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            level += 1
            deepest = max(deepest, level)
        elif byte in (0x5D, 0x7D):  # ] }
            level -= 1
    return deepest


def text(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    return str(value).strip()


def ids(data: Mapping[str, Any], key: str, known: Mapping[str, object]) -> tuple[str, ...]:
    items = data.get(key, [])
    if len(items) > MAX_LIST or not all(isinstance(i, str) for i in items):
        raise BadRequest(f"{key} must be a list of ids (at most {MAX_LIST})")
    unknown = [i for i in items if i not in known]
    if unknown:
        raise BadRequest(f"unknown {key.rstrip('s')} {unknown[0][:MAX_PARAM]!r}")
    return tuple(dict.fromkeys(items))


def duration(value: object, key: str, limit: float) -> float:
    try:
        seconds = parse_duration(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise BadRequest(f'{key} must be a duration such as 3600, "2h" or "30m"') from None
    if not 0 < seconds <= limit:
        raise BadRequest(f"{key} must be more than 0 and at most {limit / 86400:g} days")
    return seconds


def date_time(data: Mapping[str, Any], key: str, tz: str) -> datetime:
    """A date-time field (``2026-11-30T22:00``, in ``tz`` unless it has an offset), within
    the years 1970 to 9998 UTC."""
    try:
        return report.parse_date(data[key], tz)
    except OutOfRange as exc:
        raise BadRequest(str(exc).replace("the date", key, 1)) from None
    except ValueError:
        raise BadRequest(f"{key} must be a date-time such as 2026-11-30T22:00") from None
