"""``GET /api/v1/sites``: the site tree with each site's status and device counts."""

from __future__ import annotations

from aiohttp import web

from netwatch.web import views
from netwatch.web.api.context import Context
from netwatch.web.api.request import PREFIX


async def list_sites(_: web.Request, api: Context) -> web.Response:
    return web.json_response({"sites": views.site_tree(api.backend)})


def add_routes(router: web.UrlDispatcher, api: Context) -> None:
    router.add_get(f"{PREFIX}/sites", api.bind(list_sites))
