"""Fixtures: the province backend and an aiohttp test client on the real web app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from netwatch.models import Secret
from netwatch.web.routes import add_routes
from tests.unit.web.backend import TOKEN, Province, build


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Province]:
    p = build(tmp_path)
    yield p
    if p.history is not None:
        p.history.close()


def make_app(p: Province, *, token: str | None = TOKEN) -> web.Application:
    app = web.Application()
    secret = Secret("env:NW_TOKEN", token) if token is not None else None
    add_routes(app, p, lambda: secret, recent=p.recent, sync_seconds=0.05)
    return app


@pytest.fixture
async def client(province: Province) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(make_app(province))) as c:
        yield c


AUTH = {"Authorization": f"Bearer {TOKEN}"}
