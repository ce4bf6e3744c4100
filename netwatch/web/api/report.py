"""``GET /api/v1/report``: the availability report (json, csv, html or table), the same one
``netwatch report`` prints."""

from __future__ import annotations

import asyncio

from aiohttp import web

from netwatch.errors import HistoryError
from netwatch.history import formats, report
from netwatch.i18n import language
from netwatch.web.api.context import Context
from netwatch.web.api.request import PREFIX, BadRequest, param, period

# The HTML report is one self-contained document: nothing to load, only its own <style> block.
REPORT_CSP = (
    f"default-src 'none'; style-src {formats.STYLE_HASH}; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
CONTENT_TYPES = {"csv": "text/csv", "html": "text/html", "table": "text/plain"}


async def get_report(request: web.Request, api: Context) -> web.Response:
    inv = api.backend.inventory
    start, end = period(request, api.tz(), None, api.backend.clock())
    by = param(request, "by") or "site"
    level = param(request, "level")
    fmt = param(request, "format") or "json"
    if fmt not in formats.FORMATS:
        raise BadRequest(f"format must be one of {', '.join(formats.FORMATS)}")
    store = api.store()
    try:
        built = await asyncio.to_thread(
            report.build_report, store, inv.sites, inv.devices,
            start=start, end=end, by=by, level=level, tz=api.tz(), now=api.backend.clock(),
        )  # fmt: skip
    except ValueError as exc:
        raise BadRequest(str(exc).replace("--", "")) from None
    except HistoryError as exc:
        raise BadRequest(str(exc), 503) from exc
    if fmt == "json":
        return web.json_response(built.to_json())
    lang = language(param(request, "lang") or inv.config.agent.language)
    text = formats.render(built, fmt, lang)
    response = web.Response(body=text, content_type=CONTENT_TYPES[fmt], charset="utf-8")
    if fmt == "html":  # the pages' CSP forbids inline style; this one allows its own
        response.headers["Content-Security-Policy"] = REPORT_CSP
    return response


def add_routes(router: web.UrlDispatcher, api: Context) -> None:
    router.add_get(f"{PREFIX}/report", api.bind(get_report))
