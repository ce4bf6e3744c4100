"""``GET /api/v1/devices`` (filtered, paged) and ``GET /api/v1/devices/{id}``."""

from __future__ import annotations

from aiohttp import web

from netwatch.web import device_views
from netwatch.web.api.context import Context
from netwatch.web.api.request import (
    MAX_LIST,
    MAX_PARAM,
    PREFIX,
    BadRequest,
    int_param,
    param,
    site_param,
    status_param,
)
from netwatch.web.transitions import device_transitions


async def list_devices(request: web.Request, api: Context) -> web.Response:
    site = site_param(api.backend.inventory, request)
    status = status_param(request)
    q = param(request, "q")
    limit = int_param(request, "limit", 1000, 1, MAX_LIST)
    offset = int_param(request, "offset", 0, 0, 10_000_000)
    rows = device_views.device_list(api.backend, site=site, status=status, q=q)
    return web.json_response(
        {"total": len(rows), "offset": offset, "devices": rows[offset : offset + limit]}
    )


async def get_device(request: web.Request, api: Context) -> web.Response:
    backend = api.backend
    device_id = request.match_info["id"]
    dev = backend.inventory.devices.get(device_id)
    if dev is None:
        raise BadRequest(f"unknown device {device_id[:MAX_PARAM]!r}", 404)
    api.recent.sync(backend.state)
    out = device_views.device_detail(backend, dev, api.recent)
    out["transitions"] = await device_transitions(backend, dev.id, api.tz())
    return web.json_response(out)


def add_routes(router: web.UrlDispatcher, api: Context) -> None:
    router.add_get(f"{PREFIX}/devices", api.bind(list_devices))
    router.add_get(f"{PREFIX}/devices/{{id}}", api.bind(get_device))
