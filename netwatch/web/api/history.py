"""``GET /api/v1/history?device=ID|site=ID``: a subject's transitions over a period (a day by
default), its status before, and its availability over the period."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiohttp import web

from netwatch.errors import HistoryError
from netwatch.history.transitions import SubjectHistory, subject_history
from netwatch.web.api.context import Context
from netwatch.web.api.request import MAX_TRANSITIONS, PREFIX, BadRequest, param, period
from netwatch.web.transitions import transition_json


def _subject(request: web.Request, api: Context) -> tuple[str, str]:
    """``("device", id)`` or ``("site", id)``: exactly one, and known."""
    inv = api.backend.inventory
    device_id, site_id = param(request, "device"), param(request, "site")
    if device_id is None and site_id is not None:
        if site_id not in inv.sites:
            raise BadRequest(f"unknown site {site_id!r}", 404)
        return "site", site_id
    if device_id is None or site_id is not None:
        raise BadRequest("give exactly one of device= or site=")
    if device_id not in inv.devices:
        raise BadRequest(f"unknown device {device_id!r}", 404)
    return "device", device_id


def history_json(
    h: SubjectHistory, kind: str, subject: str, start: datetime, tz: str
) -> dict[str, Any]:
    rows: list[tuple[Any, ...]] = list(h.rows)
    if h.former is not None:  # a merged site: its units' transitions before the merge, then its own
        until, unit_rows = h.former
        rows = [*unit_rows, *(r for r in rows if r[0] >= until)]
    items = [transition_json(r, tz) for r in rows]
    return {
        "kind": kind,
        "id": subject,
        "from": start.isoformat(),
        "to": h.report.end.isoformat(),
        "status_before": transition_json(h.before, tz) if h.before else None,
        "transitions": items[:MAX_TRANSITIONS],
        "truncated": len(rows) > MAX_TRANSITIONS,
        "summary": h.report.rows[0].to_json() if h.report.rows else None,
    }


async def get_history(request: web.Request, api: Context) -> web.Response:
    kind, subject = _subject(request, api)
    inv, tz, now = api.backend.inventory, api.tz(), api.backend.clock()
    start, end = period(request, tz, 86400.0, now)
    store = api.store()
    try:
        h = await asyncio.to_thread(
            subject_history, store, inv.sites, inv.devices, kind, subject, (start, end),
            tz=tz, now=now, limit=MAX_TRANSITIONS,
        )  # fmt: skip
    except HistoryError as exc:
        raise BadRequest(str(exc), 503) from exc
    return web.json_response(history_json(h, kind, subject, start, tz))


def add_routes(router: web.UrlDispatcher, api: Context) -> None:
    router.add_get(f"{PREFIX}/history", api.bind(get_history))
