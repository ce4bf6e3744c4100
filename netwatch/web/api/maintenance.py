"""``GET``/``POST /api/v1/maintenance`` and ``DELETE /api/v1/maintenance/{id}``: planned
maintenance windows (changes need the bearer token)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web

from netwatch.instants import LATEST
from netwatch.settings.alerting import MaintenanceWindow, parse_recurrence
from netwatch.web import views
from netwatch.web.api.context import Context
from netwatch.web.api.request import (
    MAX_PARAM,
    MAX_WINDOW,
    PREFIX,
    BadRequest,
    body,
    date_time,
    duration,
    text,
)

log = logging.getLogger(__name__)

FIELDS: dict[str, type | tuple[type, ...]] = {
    "target": str,
    "start": str,
    "duration": (int, float, str),
    "recurrence": str,
    "reason": str,
}


async def list_windows(_: web.Request, api: Context) -> web.Response:
    now = api.backend.clock()
    items = [views.window_json(w, now) for w in api.backend.engine.windows()]
    return web.json_response({"windows": items})


def _window(data: Mapping[str, Any], api: Context) -> MaintenanceWindow:
    """The window the body describes, every field checked (a 400 names the wrong one)."""
    inv = api.backend.inventory
    target = text(data, "target")
    if target not in inv.sites and target not in inv.devices:
        raise BadRequest(f"target must be a site or device id, not {target[:MAX_PARAM]!r}")
    if "start" not in data or "duration" not in data:
        raise BadRequest('start and duration are required, e.g. "2026-11-30T22:00", "2h"')
    start = date_time(data, "start", api.tz())
    seconds = duration(data["duration"], "duration", MAX_WINDOW)
    if start.timestamp() + seconds >= LATEST:
        raise BadRequest("start + duration must end before 9999-01-01 (UTC)")
    try:
        recurrence = parse_recurrence(text(data, "recurrence", "none"))
    except ValueError:
        raise BadRequest("recurrence must be none, daily or weekly") from None
    try:
        return MaintenanceWindow(
            id=f"m-{secrets.token_hex(6)}",
            target=target,
            start=start,
            duration=timedelta(seconds=seconds),
            recurrence=recurrence,
            reason=text(data, "reason"),
            timezone=api.tz(),
        )
    except ValueError as exc:  # the checks above should have caught it: still a 400
        raise BadRequest(str(exc)) from None


async def add_window(request: web.Request, api: Context) -> web.Response:
    api.authorize(request)
    window = _window(await body(request, FIELDS), api)
    api.backend.engine.add_window(window)
    log.info("maintenance window %s on %s added over the API", window.id, window.target)
    return web.json_response(views.window_json(window, api.backend.clock()), status=201)


async def delete_window(request: web.Request, api: Context) -> web.Response:
    api.authorize(request)
    window_id = request.match_info["id"]
    if not api.backend.engine.remove_window(window_id):
        raise BadRequest(f"no maintenance window {window_id[:MAX_PARAM]!r}", 404)
    log.info("maintenance window %s removed over the API", window_id)
    return web.json_response({"id": window_id, "deleted": True})


def add_routes(router: web.UrlDispatcher, api: Context) -> None:
    router.add_get(f"{PREFIX}/maintenance", api.bind(list_windows))
    router.add_post(f"{PREFIX}/maintenance", api.bind(add_window))
    router.add_delete(f"{PREFIX}/maintenance/{{id}}", api.bind(delete_window))
