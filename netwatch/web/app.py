"""netwatch's HTTP server: ``/metrics``, ``/sd``, ``/-/healthy``, ``/-/ready``, ``POST /-/reload``.

``/metrics`` is everything; at province scale (close to a million series) Prometheus scrapes it
in pieces instead: ``/sd`` lists one target per shard (each district's subtree, plus ``_agent``
for the agent's own series and the sites above the districts) for ``http_sd_configs``, and each
target is ``/metrics?shard=ID``. Rendering runs on one thread of its own, one scrape at a time:
a big scrape never stalls polls, and when Prometheus scrapes many shards at once the event loop
shares the interpreter with one renderer instead of one per shard (each render holds the GIL;
eleven together left the loop a twelfth of it for a second or more).

It only reads state; the one thing that changes state (reload) needs the bearer token from
``agent.api_token`` and is refused when none is configured.

>>> app = make_app(hooks)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from netwatch.web.backend import Backend
from netwatch.web.routes import add_routes
from netwatch.web.security import BasicAuthSource, TokenSource, token_refusal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the web layer may ask of the daemon."""

    ready: Callable[[], bool]
    reload: Callable[[], Awaitable[list[str]]]  # returns the problems; empty when applied
    token: TokenSource
    # The Prometheus text of one shard (None: everything); None when the shard is unknown.
    metrics: Callable[[str | None], bytes | None]
    shards: Callable[[], Sequence[str]]
    # Why the agent cannot write what it must keep (disk full...), or None: /-/ready says 503.
    storage_problem: Callable[[], str | None] = lambda: None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def healthy(_: web.Request) -> web.Response:
    return web.Response(text="netwatch is healthy\n")


def make_app(
    hooks: Hooks,
    backend: Backend | None = None,
    *,
    basic_auth: BasicAuthSource | None = None,
) -> web.Application:
    """The app; with a ``backend`` also the status pages and ``/api/v1`` (``web.routes``)."""
    renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netwatch-metrics")

    async def stop_renderer(_: web.Application) -> None:
        renderer.shutdown(wait=False, cancel_futures=True)

    async def metrics(request: web.Request) -> web.Response:
        shard = request.query.get("shard")
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(renderer, hooks.metrics, shard)
        if body is None:
            return _error(404, f"unknown shard {shard!r}: GET /sd lists them")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def service_discovery(request: web.Request) -> web.Response:
        """Prometheus ``http_sd_configs``: one target per shard, at the address asked."""
        target = request.host
        scheme = {"__scheme__": "https"} if request.secure else {}
        groups = [
            {"targets": [target], "labels": {"__param_shard": shard, "shard": shard, **scheme}}
            for shard in hooks.shards()
        ]
        return web.json_response(groups)

    async def ready(_: web.Request) -> web.Response:
        if not hooks.ready():
            return web.Response(status=503, text="netwatch is starting\n")
        problem = hooks.storage_problem()
        if problem is not None:
            return web.Response(status=503, text=f"netwatch is not ready: {problem}\n")
        return web.Response(text="netwatch is ready\n")

    async def reload(request: web.Request) -> web.Response:
        refused = token_refusal(request, hooks.token)
        if refused == 403:
            return _error(403, "reload over HTTP is disabled: set agent.api_token to enable it")
        if refused == 401:
            return _error(401, "missing or wrong bearer token")
        problems = await hooks.reload()
        if problems:
            return web.json_response({"error": "invalid config", "problems": problems}, status=400)
        return web.json_response({"status": "reloaded"})

    app = web.Application()
    app.on_cleanup.append(stop_renderer)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/sd", service_discovery)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    if backend is not None:
        add_routes(app, backend, hooks.token, basic_auth=basic_auth)
    return app
