"""``add_routes``: the status pages, the JSON API and their static files on one aiohttp app.

>>> recent = add_routes(app, daemon, token=lambda: config.agent.api_token,  # doctest: +SKIP
...                     basic_auth=lambda: config.agent.web_basic_auth)
>>> recent.record(sample)  # optional: after each ICMP sample, for a sparkline without gaps
... # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from netwatch.web.api import add_api_routes, json_errors
from netwatch.web.backend import Backend
from netwatch.web.pages import add_page_routes
from netwatch.web.recent import Recent
from netwatch.web.security import (
    BasicAuthSource,
    TokenSource,
    basic_auth_middleware,
    security_headers,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SYNC_SECONDS = 5.0
# The recent-ICMP memory of an app, for the daemon to feed: ``app[RECENT].record(sample)``.
RECENT = web.AppKey("netwatch_recent", Recent)


def add_routes(
    app: web.Application,
    backend: Backend,
    token: TokenSource,
    *,
    basic_auth: BasicAuthSource | None = None,
    recent: Recent | None = None,
    sync_seconds: float = SYNC_SECONDS,
) -> Recent:
    """Register ``/``, ``/sites/{id}``, ``/devices/{id}``, ``/alerts``, ``/availability``,
    ``/static/`` and ``/api/v1/...`` on ``app`` (before it starts).

    ``token`` and ``basic_auth`` are read at every request, so a reload applies at once.
    Returns the recent-ICMP memory, which a background task fills from the backend's state
    every ``sync_seconds`` while the app runs.
    """
    recent = recent if recent is not None else Recent()
    app[RECENT] = recent
    app.middlewares.append(security_headers)
    if basic_auth is not None:
        app.middlewares.append(basic_auth_middleware(basic_auth, token))
    app.middlewares.append(json_errors)
    add_api_routes(app, backend, token, recent)
    add_page_routes(app, backend, recent)
    app.router.add_static("/static/", STATIC, append_version=False)

    async def keep_recent(_: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            known: object = None
            while True:
                try:
                    inventory = backend.inventory
                    if inventory is not known:  # a reload: forget removed devices
                        recent.forget(inventory.devices)
                        known = inventory
                    recent.sync(backend.state)
                except Exception:  # a bug here must not end the page's memory for good
                    log.exception("web: reading recent ICMP results failed")
                await asyncio.sleep(sync_seconds)

        task = asyncio.create_task(loop(), name="web-recent")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(keep_recent)
    return recent
