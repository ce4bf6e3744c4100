"""The JSON API under ``/api/v1``: sites, devices, alerts, silences, maintenance, history and
reports. ``openapi.py`` documents every endpoint and a test checks the real responses against it.

Reading needs nothing (or the optional basic auth of the pages); anything that changes state
needs ``Authorization: Bearer <agent.api_token>``: 401 when it is missing or wrong, 403 when no
token is configured (changes over HTTP are then disabled). Every bad request is a 4xx with a JSON
body ``{"error": "..."}`` that says what to fix; nothing a client sends can cause a 500.

What the API accepts is bounded so it can always be held: a JSON body of at most ``MAX_BODY``
bytes (read no further) and ``MAX_DEPTH`` levels of nesting; dates and date-times in UTC years
1970 to 9998 (``configuration.values.EARLIEST``/``LATEST``, checked before any conversion, so year
1 or 9999 with a ±14:00 offset is a 400, not an ``OverflowError``); durations positive and at
most ``MAX_SILENCE`` / ``MAX_WINDOW``. The same checks run when the daemon reads its saved
silences and windows back (the constructors of ``Silence`` and ``MaintenanceWindow``).

One module per resource (``sites``, ``devices``, ``alerts``, ``silences``, ``maintenance``,
``history``, ``report``), each a few module-level handlers and one ``add_routes(router, api)``;
``request`` holds the limits and the parsing they share, ``context`` what they are given.

>>> add_api_routes(app, backend, token=lambda: secret, recent=Recent())  # doctest: +SKIP
"""

from __future__ import annotations

from aiohttp import web

from netwatch.web.api import alerts, devices, history, maintenance, report, silences, sites
from netwatch.web.api.context import Context
from netwatch.web.api.request import PREFIX, BadRequest, json_errors
from netwatch.web.backend import Backend
from netwatch.web.openapi import document
from netwatch.web.recent import Recent
from netwatch.web.security import TokenSource

__all__ = ["PREFIX", "BadRequest", "Context", "TokenSource", "add_api_routes", "json_errors"]

RESOURCES = (sites, devices, alerts, silences, maintenance, history, report)


async def openapi(_: web.Request) -> web.Response:
    return web.json_response(document())


def add_api_routes(
    app: web.Application, backend: Backend, token: TokenSource, recent: Recent
) -> None:
    """Register every ``/api/v1`` endpoint on ``app``."""
    api = Context(backend, token, recent)
    for resource in RESOURCES:
        resource.add_routes(app.router, api)
    app.router.add_get(f"{PREFIX}/openapi.json", openapi)
