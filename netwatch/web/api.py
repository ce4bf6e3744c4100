"""The JSON API under ``/api/v1``: sites, devices, alerts, silences, maintenance, history and
reports. ``openapi.py`` documents every endpoint and a test checks the real responses against it.

Reading needs nothing (or the optional basic auth of the pages); anything that changes state
needs ``Authorization: Bearer <agent.api_token>``: 401 when it is missing or wrong, 403 when no
token is configured (changes over HTTP are then disabled). Every bad request is a 4xx with a JSON
body ``{"error": "..."}`` that says what to fix; nothing a client sends can cause a 500.

What the API accepts is bounded so it can always be held: a JSON body of at most ``MAX_BODY``
bytes (read no further) and ``MAX_DEPTH`` levels of nesting; dates and date-times in UTC years
1970 to 9998 (``instants.EARLIEST``/``LATEST``, checked before any conversion, so year
1 or 9999 with a ±14:00 offset is a 400, not an ``OverflowError``); durations positive and at
most ``MAX_SILENCE`` / ``MAX_WINDOW``. The same checks run when the daemon reads its saved
silences and windows back (the constructors of ``Silence`` and ``MaintenanceWindow``).

>>> add_api_routes(app, backend, token=lambda: secret, recent=Recent())  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from netwatch.configuration.values import parse_duration
from netwatch.errors import HistoryError
from netwatch.history import formats, report, schema
from netwatch.history.store import HistoryStore
from netwatch.i18n import language, zone
from netwatch.instants import LATEST, OutOfRange
from netwatch.inventory import Inventory
from netwatch.models import Secret, Status
from netwatch.settings.alerting import MaintenanceWindow, Silence, parse_recurrence
from netwatch.web import views
from netwatch.web.backend import Backend
from netwatch.web.openapi import document
from netwatch.web.recent import Recent

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_PARAM = 200  # characters in one query parameter or id
MAX_BODY = 16 * 1024  # bytes of a JSON request body
MAX_DEPTH = 4  # nesting of a JSON request body: an object of lists of ids is 2
MAX_LIST = 5000  # devices per page, targets per silence
MAX_PERIOD_DAYS = 400  # a history or report period: a year and some margin
MAX_SILENCE = 30 * 86400.0
MAX_WINDOW = 7 * 86400.0
MAX_TRANSITIONS = 2000
# The HTML report is one self-contained document: nothing to load, only its own <style> block.
REPORT_CSP = (
    f"default-src 'none'; style-src {formats.STYLE_HASH}; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
TokenSource = Callable[[], Secret | None]


class BadRequest(Exception):
    """A client error; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def bearer_ok(request: web.Request, token: Secret | None) -> bool:
    """The request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    if token is None:
        return False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    # aiohttp keeps bytes that are not UTF-8 as surrogates: give them back, never a 500.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        value.strip().encode("utf-8", "surrogateescape"), token.reveal().encode()
    )


def _authorize(request: web.Request, token: TokenSource) -> None:
    secret = token()
    if secret is None:
        raise BadRequest("changes over HTTP are disabled: set agent.api_token to enable them", 403)
    if not bearer_ok(request, secret):
        raise BadRequest("missing or wrong bearer token (Authorization: Bearer <token>)", 401)


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


# --------------------------------------------------------------------------- parsing


def _param(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"give {name} once")
    if not values or values[0] == "":
        return None
    value = values[0]
    if len(value) > MAX_PARAM:
        raise BadRequest(f"{name} is too long (at most {MAX_PARAM} characters)")
    return value


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = _param(request, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _status_param(request: web.Request) -> Status | None:
    text = _param(request, "status")
    if text is None:
        return None
    try:
        return Status(text)
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise BadRequest(f"status must be one of {names}") from None


def _site_param(inv: Inventory, request: web.Request, name: str = "site") -> str | None:
    site = _param(request, name)
    if site is not None and site not in inv.sites:
        raise BadRequest(f"unknown site {site!r}", 404)
    return site


def _period(
    request: web.Request, tz: str, default_seconds: float | None, now: float
) -> tuple[datetime, datetime]:
    """``from``/``to`` (``YYYY-MM-DD`` or ISO date-time; ``to`` exclusive) or ``month``."""
    start_text, end_text = _param(request, "from"), _param(request, "to")
    month = _param(request, "month")
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


async def _body(
    request: web.Request, allowed: Mapping[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """The JSON object body; unknown keys and wrong types are errors. An empty body is ``{}``."""
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
    if not raw.strip():
        return {}
    if _depth(raw) > MAX_DEPTH:
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


def _depth(raw: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text, brackets inside strings not counted
    (an upper bound for invalid JSON, which json.loads refuses anyway). Checked before
    parsing, so 8,000 nested lists are refused without recursing 8,000 deep."""
    depth = deepest = 0
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
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _text(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    return str(value).strip()


def _ids(data: Mapping[str, Any], key: str, known: Mapping[str, object]) -> tuple[str, ...]:
    items = data.get(key, [])
    if len(items) > MAX_LIST or not all(isinstance(i, str) for i in items):
        raise BadRequest(f"{key} must be a list of ids (at most {MAX_LIST})")
    unknown = [i for i in items if i not in known]
    if unknown:
        raise BadRequest(f"unknown {key.rstrip('s')} {unknown[0][:MAX_PARAM]!r}")
    return tuple(dict.fromkeys(items))


def _duration(value: object, key: str, limit: float) -> float:
    try:
        seconds = parse_duration(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise BadRequest(f'{key} must be a duration such as 3600, "2h" or "30m"') from None
    if not 0 < seconds <= limit:
        raise BadRequest(f"{key} must be more than 0 and at most {limit / 86400:g} days")
    return seconds


# --------------------------------------------------------------------------- history


def _former_transitions(
    conn: sqlite3.Connection, inv: Inventory, kind: str, subject: str, t0: float, t1: float
) -> tuple[float, list[tuple[Any, ...]]] | None:
    """For a merged site (``formerly`` and ``merged``): the merge instant, and its units'
    transitions in ``[t0, t1)`` before it as ``(at, status, cause, unit)``."""
    site = inv.sites.get(subject) if kind == "site" else None
    if site is None or not site.formerly or site.merged_at is None:
        return None
    marks = ",".join("?" * len(site.formerly))
    rows = conn.execute(
        "SELECT at, status, cause, subject FROM transitions WHERE kind = 'site' "
        f"AND subject IN ({marks}) AND at >= ? AND at < ? ORDER BY at, id LIMIT ?",
        (*site.formerly, t0, min(t1, site.merged_at), MAX_TRANSITIONS + 1),
    ).fetchall()
    return site.merged_at, rows


def _history(
    store: HistoryStore,
    inv: Inventory,
    kind: str,
    subject: str,
    start: datetime,
    end: datetime,
    tz: str,
    now: float,
) -> dict[str, Any]:
    """A subject's transitions in ``[start, end)`` (and its status before) and its
    availability over the period. Blocking: run it in a thread."""
    try:
        conn = schema.connect(store.path, readonly=True)
    except sqlite3.Error as exc:
        raise HistoryError(f"the history database cannot be read yet: {exc}") from exc
    t0, t1 = start.timestamp(), end.timestamp()
    try:
        rows = conn.execute(
            "SELECT at, status, cause FROM transitions WHERE kind = ? AND subject = ? "
            "AND at >= ? AND at < ? ORDER BY at, id LIMIT ?",
            (kind, subject, t0, t1, MAX_TRANSITIONS + 1),
        ).fetchall()
        before = conn.execute(
            "SELECT at, status, cause FROM transitions WHERE kind = ? AND subject = ? "
            "AND at < ? ORDER BY at DESC, id DESC LIMIT 1",
            (kind, subject, t0),
        ).fetchone()
        former = _former_transitions(conn, inv, kind, subject, t0, t1)
        if kind == "device":
            built = report.build_report(
                conn, inv.sites, {subject: inv.devices[subject]}, start=start, end=end,
                by="device", tz=tz, now=now,
            )  # fmt: skip
        else:
            built = report.build_report(
                conn, {subject: inv.sites[subject]}, {}, start=start, end=end, by="site", tz=tz,
                now=now,
            )  # fmt: skip
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot read the history database: {exc}") from exc
    finally:
        conn.close()

    def item(row: tuple[float, str, str | None]) -> dict[str, Any]:
        return {"at": views.iso(row[0], tz), "status": row[1], "cause": row[2]}

    items = [item(r) for r in rows]
    if former is not None:  # a merged site: its units' transitions before the merge, then its own
        until, unit_rows = former
        rows = [*unit_rows, *(r for r in rows if r[0] >= until)]
        items = [{**item(r), "subject": r[3]} if len(r) > 3 else item(r) for r in rows]
    return {
        "kind": kind,
        "id": subject,
        "from": start.isoformat(),
        "to": built.end.isoformat(),
        "status_before": item(before) if before else None,
        "transitions": items[:MAX_TRANSITIONS],
        "truncated": len(rows) > MAX_TRANSITIONS,
        "summary": built.rows[0].to_json() if built.rows else None,
    }


def recent_transitions(
    store: HistoryStore, kind: str, subject: str, limit: int, tz: str
) -> list[dict[str, Any]]:
    """The subject's last ``limit`` transitions, newest first (for the device page).
    Blocking; an unreadable database gives an empty list (the page still works)."""
    try:
        conn = schema.connect(store.path, readonly=True)
    except sqlite3.Error:
        return []
    try:
        rows = conn.execute(
            "SELECT at, status, cause FROM transitions WHERE kind = ? AND subject = ? "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (kind, subject, limit),
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    return [{"at": views.iso(a, tz), "status": s, "cause": c} for a, s, c in rows]


def _store(backend: Backend) -> HistoryStore:
    store = backend.history
    if store is None:
        raise BadRequest("history is disabled or its database could not be opened", 503)
    return store


# --------------------------------------------------------------------------- routes


def add_api_routes(
    app: web.Application, backend: Backend, token: TokenSource, recent: Recent
) -> None:
    """Register every ``/api/v1`` endpoint on ``app``."""

    def tz() -> str:
        return backend.inventory.config.agent.timezone

    async def sites(_: web.Request) -> web.Response:
        return web.json_response({"sites": views.site_tree(backend)})

    async def devices(request: web.Request) -> web.Response:
        inv = backend.inventory
        site = _site_param(inv, request)
        status = _status_param(request)
        q = _param(request, "q")
        limit = _int_param(request, "limit", 1000, 1, MAX_LIST)
        offset = _int_param(request, "offset", 0, 0, 10_000_000)
        rows = views.device_list(backend, site=site, status=status, q=q)
        return web.json_response(
            {"total": len(rows), "offset": offset, "devices": rows[offset : offset + limit]}
        )

    async def device(request: web.Request) -> web.Response:
        device_id = request.match_info["id"]
        dev = backend.inventory.devices.get(device_id)
        if dev is None:
            raise BadRequest(f"unknown device {device_id[:MAX_PARAM]!r}", 404)
        recent.sync(backend.state)
        out = views.device_detail(backend, dev, recent)
        store = backend.history
        out["transitions"] = (
            await asyncio.to_thread(recent_transitions, store, "device", dev.id, 20, tz())
            if store is not None
            else []
        )
        return web.json_response(out)

    async def alerts(_: web.Request) -> web.Response:
        return web.json_response({"alerts": views.alert_list(backend)})

    async def ack(request: web.Request) -> web.Response:
        _authorize(request, token)
        body = await _body(request, {"by": str})
        alert_id = request.match_info["id"]
        by = _text(body, "by") or "api"
        if not backend.engine.acknowledge(alert_id, by):
            raise BadRequest(f"no open alert {alert_id[:MAX_PARAM]!r}", 404)
        log.info("alert %s acknowledged by %r over the API", alert_id, by)
        return web.json_response({"id": alert_id, "acknowledged_by": by})

    async def silences(_: web.Request) -> web.Response:
        now = backend.clock()
        items = [s for s in backend.engine.silences() if s.until > now]
        return web.json_response({"silences": [views.silence_json(s, tz()) for s in items]})

    async def add_silence(request: web.Request) -> web.Response:
        _authorize(request, token)
        body = await _body(
            request,
            {"devices": list, "sites": list, "duration": (int, float, str), "by": str,
             "comment": str},
        )  # fmt: skip
        inv = backend.inventory
        devices_ = _ids(body, "devices", inv.devices)
        sites_ = _ids(body, "sites", inv.sites)
        if not devices_ and not sites_:
            raise BadRequest("name at least one device or site to silence")
        if "duration" not in body:
            raise BadRequest('duration is required, e.g. "2h"')
        now = backend.clock()
        seconds = _duration(body["duration"], "duration", MAX_SILENCE)
        silence = Silence(
            id=f"s-{secrets.token_hex(6)}",
            until=now + seconds,
            devices=devices_,
            sites=sites_,
            by=_text(body, "by") or "api",
            comment=_text(body, "comment"),
            created_at=now,
        )
        backend.engine.silence(silence)
        log.info(
            "silence %s for %s by %r over the API",
            silence.id,
            ", ".join((*devices_, *sites_)),
            silence.by,
        )
        return web.json_response(views.silence_json(silence, tz()), status=201)

    async def delete_silence(request: web.Request) -> web.Response:
        _authorize(request, token)
        silence_id = request.match_info["id"]
        if not backend.engine.unsilence(silence_id):
            raise BadRequest(f"no silence {silence_id[:MAX_PARAM]!r}", 404)
        log.info("silence %s removed over the API", silence_id)
        return web.json_response({"id": silence_id, "deleted": True})

    async def maintenance(_: web.Request) -> web.Response:
        now = backend.clock()
        items = [views.window_json(w, now) for w in backend.engine.windows()]
        return web.json_response({"windows": items})

    async def add_window(request: web.Request) -> web.Response:
        _authorize(request, token)
        body = await _body(
            request,
            {"target": str, "start": str, "duration": (int, float, str), "recurrence": str,
             "reason": str},
        )  # fmt: skip
        inv = backend.inventory
        target = _text(body, "target")
        if target not in inv.sites and target not in inv.devices:
            raise BadRequest(f"target must be a site or device id, not {target[:MAX_PARAM]!r}")
        if "start" not in body or "duration" not in body:
            raise BadRequest('start and duration are required, e.g. "2026-11-30T22:00", "2h"')
        try:
            start = report.parse_date(body["start"], tz())
        except OutOfRange as exc:
            raise BadRequest(str(exc).replace("the date", "start", 1)) from None
        except ValueError:
            raise BadRequest("start must be a date-time such as 2026-11-30T22:00") from None
        seconds = _duration(body["duration"], "duration", MAX_WINDOW)
        if start.timestamp() + seconds >= LATEST:
            raise BadRequest("start + duration must end before 9999-01-01 (UTC)")
        try:
            recurrence = parse_recurrence(_text(body, "recurrence", "none"))
        except ValueError:
            raise BadRequest("recurrence must be none, daily or weekly") from None
        try:
            window = MaintenanceWindow(
                id=f"m-{secrets.token_hex(6)}",
                target=target,
                start=start,
                duration=timedelta(seconds=seconds),
                recurrence=recurrence,
                reason=_text(body, "reason"),
                timezone=tz(),
            )
        except ValueError as exc:  # the checks above should have caught it: still a 400
            raise BadRequest(str(exc)) from None
        backend.engine.add_window(window)
        log.info("maintenance window %s on %s added over the API", window.id, target)
        return web.json_response(views.window_json(window, backend.clock()), status=201)

    async def delete_window(request: web.Request) -> web.Response:
        _authorize(request, token)
        window_id = request.match_info["id"]
        if not backend.engine.remove_window(window_id):
            raise BadRequest(f"no maintenance window {window_id[:MAX_PARAM]!r}", 404)
        log.info("maintenance window %s removed over the API", window_id)
        return web.json_response({"id": window_id, "deleted": True})

    async def history(request: web.Request) -> web.Response:
        inv = backend.inventory
        device_id, site_id = _param(request, "device"), _param(request, "site")
        if (device_id is None) == (site_id is None):
            raise BadRequest("give exactly one of device= or site=")
        if device_id is not None and device_id not in inv.devices:
            raise BadRequest(f"unknown device {device_id!r}", 404)
        if site_id is not None and site_id not in inv.sites:
            raise BadRequest(f"unknown site {site_id!r}", 404)
        now = backend.clock()
        start, end = _period(request, tz(), 86400.0, now)
        store = _store(backend)
        kind, subject = ("device", device_id) if device_id is not None else ("site", site_id)
        assert subject is not None
        try:
            out = await asyncio.to_thread(
                _history, store, inv, kind, subject, start, end, tz(), now
            )
        except HistoryError as exc:
            raise BadRequest(str(exc), 503) from exc
        return web.json_response(out)

    async def report_(request: web.Request) -> web.Response:
        inv = backend.inventory
        start, end = _period(request, tz(), None, backend.clock())
        by = _param(request, "by") or "site"
        level = _param(request, "level")
        fmt = _param(request, "format") or "json"
        if fmt not in formats.FORMATS:
            raise BadRequest(f"format must be one of {', '.join(formats.FORMATS)}")
        store = _store(backend)
        try:
            built = await asyncio.to_thread(
                report.build_report, store, inv.sites, inv.devices,
                start=start, end=end, by=by, level=level, tz=tz(), now=backend.clock(),
            )  # fmt: skip
        except ValueError as exc:
            raise BadRequest(str(exc).replace("--", "")) from None
        except HistoryError as exc:
            raise BadRequest(str(exc), 503) from exc
        if fmt == "json":
            return web.json_response(built.to_json())
        lang = language(_param(request, "lang") or inv.config.agent.language)
        body = formats.render(built, fmt, lang)
        types = {"csv": "text/csv", "html": "text/html", "table": "text/plain"}
        response = web.Response(body=body, content_type=types[fmt], charset="utf-8")
        if fmt == "html":  # the pages' CSP forbids inline style; this one allows its own
            response.headers["Content-Security-Policy"] = REPORT_CSP
        return response

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document())

    r = app.router
    r.add_get(f"{PREFIX}/sites", sites)
    r.add_get(f"{PREFIX}/devices", devices)
    r.add_get(f"{PREFIX}/devices/{{id}}", device)
    r.add_get(f"{PREFIX}/alerts", alerts)
    r.add_post(f"{PREFIX}/alerts/{{id}}/ack", ack)
    r.add_get(f"{PREFIX}/silences", silences)
    r.add_post(f"{PREFIX}/silences", add_silence)
    r.add_delete(f"{PREFIX}/silences/{{id}}", delete_silence)
    r.add_get(f"{PREFIX}/maintenance", maintenance)
    r.add_post(f"{PREFIX}/maintenance", add_window)
    r.add_delete(f"{PREFIX}/maintenance/{{id}}", delete_window)
    r.add_get(f"{PREFIX}/history", history)
    r.add_get(f"{PREFIX}/report", report_)
    r.add_get(f"{PREFIX}/openapi.json", openapi)
