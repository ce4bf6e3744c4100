"""``GET /api/v1/alerts`` and ``POST /api/v1/alerts/{id}/ack`` (bearer token)."""

from __future__ import annotations

import logging

from aiohttp import web

from netwatch.web import views
from netwatch.web.api.context import Context
from netwatch.web.api.request import MAX_PARAM, PREFIX, BadRequest, body, text

log = logging.getLogger(__name__)


async def list_alerts(_: web.Request, api: Context) -> web.Response:
    return web.json_response({"alerts": views.alert_list(api.backend)})


async def acknowledge(request: web.Request, api: Context) -> web.Response:
    api.authorize(request)
    data = await body(request, {"by": str})
    alert_id = request.match_info["id"]
    by = text(data, "by") or "api"
    if not api.backend.engine.acknowledge(alert_id, by):
        raise BadRequest(f"no open alert {alert_id[:MAX_PARAM]!r}", 404)
    log.info("alert %s acknowledged by %r over the API", alert_id, by)
    return web.json_response({"id": alert_id, "acknowledged_by": by})


def add_routes(router: web.UrlDispatcher, api: Context) -> None:
    router.add_get(f"{PREFIX}/alerts", api.bind(list_alerts))
    router.add_post(f"{PREFIX}/alerts/{{id}}/ack", api.bind(acknowledge))
