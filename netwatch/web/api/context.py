"""``Context``: what the ``/api/v1`` handlers are given, and how a module-level handler that
takes it is registered on a router.

>>> router.add_get(f"{PREFIX}/sites", api.bind(list_sites))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from netwatch.history.store import HistoryStore
from netwatch.web.api.request import BadRequest
from netwatch.web.backend import Backend
from netwatch.web.recent import Recent
from netwatch.web.security import TokenSource, token_refusal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Context:
    """The daemon as the API reads it, its token (read at each request) and its recent-ICMP
    memory."""

    backend: Backend
    token: TokenSource
    recent: Recent

    def tz(self) -> str:
        return self.backend.inventory.config.agent.timezone

    def bind(self, handler: Callable[[web.Request, Context], Awaitable[web.Response]]) -> Handler:
        """An aiohttp handler that calls ``handler(request, self)``."""

        async def bound(request: web.Request) -> web.StreamResponse:
            return await handler(request, self)

        return bound

    def authorize(self, request: web.Request) -> None:
        """Changes need the bearer token: 403 when none is configured, 401 when it is wrong."""
        refused = token_refusal(request, self.token)
        if refused == 403:
            raise BadRequest(
                "changes over HTTP are disabled: set agent.api_token to enable them", 403
            )
        if refused == 401:
            raise BadRequest("missing or wrong bearer token (Authorization: Bearer <token>)", 401)

    def store(self) -> HistoryStore:
        """The history store; a 503 when history is disabled or failed to open."""
        store = self.backend.history
        if store is None:
            raise BadRequest("history is disabled or its database could not be opened", 503)
        return store
