"""The status pages: server-rendered HTML that ``static/netwatch.js`` refreshes from the API.

- ``/``: the site tree, worst first, with status colours and device counts; filter and search.
- ``/sites/{id}``: a site's devices (its whole subtree), worst first.
- ``/devices/{id}``: checks, ICMP RTT and loss (sparkline), interfaces, host resources, history.
- ``/alerts``: open alerts with acknowledge and silence (API token kept in sessionStorage).
- ``/availability?month=YYYY-MM``: the monthly availability report.

The pages render the same ``views`` the API returns, so a refresh by script shows exactly what a
reload would. Vietnamese by default (``agent.language``); ``?lang=en`` switches and a cookie
keeps the choice.

>>> add_page_routes(app, backend, recent)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import urlencode

from aiohttp import web

from netwatch.errors import HistoryError
from netwatch.history import report
from netwatch.i18n import zone
from netwatch.web import device_views, views
from netwatch.web.backend import Backend
from netwatch.web.device_sections import device_main
from netwatch.web.layout import Page
from netwatch.web.recent import Recent
from netwatch.web.render import e
from netwatch.web.sections import alerts_main, availability_main, index_main, site_main
from netwatch.web.transitions import device_transitions

PageHandler = Callable[[Page, Backend, Recent], Awaitable[web.Response]]


def not_found(p: Page) -> web.Response:
    return p.respond(
        p.t("web_not_found"), "none", f"<h1>{e(p.t('web_not_found'))}</h1>", status=404
    )


async def index(p: Page, backend: Backend, _: Recent) -> web.Response:
    main = index_main(p, views.site_tree(backend))
    return p.respond(p.t("web_title"), "index", main, api="/api/v1/sites")


async def site(p: Page, backend: Backend, _: Recent) -> web.Response:
    site_id = p.request.match_info["id"]
    if site_id not in backend.inventory.sites:
        return not_found(p)
    name = backend.inventory.sites[site_id].name or site_id
    api = f"/api/v1/devices?{urlencode({'site': site_id})}"
    return p.respond(name, "site", site_main(p, backend, site_id), api=api)


async def device(p: Page, backend: Backend, recent: Recent) -> web.Response:
    dev = backend.inventory.devices.get(p.request.match_info["id"])
    if dev is None:
        return not_found(p)
    recent.sync(backend.state)
    d = device_views.device_detail(backend, dev, recent)
    d["transitions"] = await device_transitions(backend, dev.id, p.tz)
    api = f"/api/v1/devices/{dev.id}"
    return p.respond(d["name"], "device", device_main(p, d), api=api)


async def alerts(p: Page, backend: Backend, _: Recent) -> web.Response:
    return p.respond(
        p.t("web_alerts_title"), "alerts", alerts_main(p, backend), api="/api/v1/alerts"
    )


async def availability(p: Page, backend: Backend, _: Recent) -> web.Response:
    inv = backend.inventory
    now = datetime.fromtimestamp(backend.clock(), zone(p.tz))
    month = p.request.query.get("month", "") or now.strftime("%Y-%m")
    by = p.request.query.get("by", "site")
    levels = sorted({s.level for s in inv.sites.values()})
    if by not in ("site", "device", "service", *levels):
        by = "site"
    try:
        start, end = report.month_period(month[:20], p.tz)
    except ValueError:
        month = now.strftime("%Y-%m")
        start, end = report.month_period(month, p.tz)
    built: report.Report | None = None
    store = backend.history
    if store is not None:
        try:
            built = await asyncio.to_thread(
                report.build_report, store, inv.sites, inv.devices,
                start=start, end=end, by=by, tz=p.tz, now=backend.clock(),
            )  # fmt: skip
        except (HistoryError, ValueError):
            built = None
    main = availability_main(p, built, month, by, levels)
    return p.respond(p.t("web_availability_title"), "availability", main)


def add_page_routes(app: web.Application, backend: Backend, recent: Recent) -> None:
    """Register the HTML pages on ``app``."""

    def bind(handler: PageHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def bound(request: web.Request) -> web.Response:
            return await handler(Page(request, backend), backend, recent)

        return bound

    r = app.router
    r.add_get("/", bind(index))
    r.add_get("/sites/{id}", bind(site))
    r.add_get("/devices/{id}", bind(device))
    r.add_get("/alerts", bind(alerts))
    r.add_get("/availability", bind(availability))
