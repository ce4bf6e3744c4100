"""``GET``/``POST /api/v1/silences`` and ``DELETE /api/v1/silences/{id}`` (changes need the
bearer token)."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web

from netwatch.settings.alerting import Silence
from netwatch.web import views
from netwatch.web.api.context import Context
from netwatch.web.api.request import (
    MAX_PARAM,
    MAX_SILENCE,
    PREFIX,
    BadRequest,
    body,
    duration,
    ids,
    text,
)

log = logging.getLogger(__name__)

FIELDS: dict[str, type | tuple[type, ...]] = {
    "devices": list,
    "sites": list,
    "duration": (int, float, str),
    "by": str,
    "comment": str,
}


async def list_silences(_: web.Request, api: Context) -> web.Response:
    now = api.backend.clock()
    items = [s for s in api.backend.engine.silences() if s.until > now]
    return web.json_response({"silences": [views.silence_json(s, api.tz()) for s in items]})


async def add_silence(request: web.Request, api: Context) -> web.Response:
    api.authorize(request)
    data = await body(request, FIELDS)
    inv = api.backend.inventory
    devices = ids(data, "devices", inv.devices)
    sites = ids(data, "sites", inv.sites)
    if not devices and not sites:
        raise BadRequest("name at least one device or site to silence")
    if "duration" not in data:
        raise BadRequest('duration is required, e.g. "2h"')
    now = api.backend.clock()
    seconds = duration(data["duration"], "duration", MAX_SILENCE)
    silence = Silence(
        id=f"s-{secrets.token_hex(6)}",
        until=now + seconds,
        devices=devices,
        sites=sites,
        by=text(data, "by") or "api",
        comment=text(data, "comment"),
        created_at=now,
    )
    api.backend.engine.silence(silence)
    targets = ", ".join((*devices, *sites))
    log.info("silence %s for %s by %r over the API", silence.id, targets, silence.by)
    return web.json_response(views.silence_json(silence, api.tz()), status=201)


async def delete_silence(request: web.Request, api: Context) -> web.Response:
    api.authorize(request)
    silence_id = request.match_info["id"]
    if not api.backend.engine.unsilence(silence_id):
        raise BadRequest(f"no silence {silence_id[:MAX_PARAM]!r}", 404)
    log.info("silence %s removed over the API", silence_id)
    return web.json_response({"id": silence_id, "deleted": True})


def add_routes(router: web.UrlDispatcher, api: Context) -> None:
    router.add_get(f"{PREFIX}/silences", api.bind(list_silences))
    router.add_post(f"{PREFIX}/silences", api.bind(add_silence))
    router.add_delete(f"{PREFIX}/silences/{{id}}", api.bind(delete_silence))
