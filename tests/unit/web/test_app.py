"""``make_app`` with a backend serves the pages and the API next to /metrics and the probes."""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp.test_utils import TestClient, TestServer

from netwatch.models import Secret
from netwatch.web.app import Hooks, make_app
from netwatch.web.routes import RECENT
from tests.unit.web.backend import TOKEN, Province


async def test_make_app_with_a_backend_keeps_metrics_and_adds_the_status_page(
    province: Province,
) -> None:
    async def reload() -> list[str]:
        return []

    hooks = Hooks(
        ready=lambda: True,
        reload=reload,
        token=lambda: Secret("env:NW_TOKEN", TOKEN),
        metrics=lambda shard: b"netwatch_up 1\n" if shard is None else None,
        shards=lambda: ["_agent"],
    )
    app = make_app(hooks, province)
    assert app[RECENT].icmp("nk-rtr") == []
    async with TestClient(TestServer(app)) as c:
        assert await (await c.get("/metrics")).text() == "netwatch_up 1\n"
        assert (await c.get("/-/ready")).status == 200
        assert (await c.get("/")).status == 200
        sites = await (await c.get("/api/v1/sites")).json()
        assert sites["sites"][0]["id"] == "can-tho"
        assert (await c.post("/-/reload")).status == 401


async def test_make_app_without_a_backend_has_no_pages() -> None:
    async def reload() -> list[str]:
        return []

    hooks = Hooks(lambda: True, reload, lambda: None, lambda shard: b"", lambda: [])
    async with TestClient(TestServer(make_app(hooks))) as c:
        assert (await c.get("/")).status == 404
        assert (await c.get("/metrics")).status == 200


async def test_reload_needs_the_same_bearer_token_as_the_api() -> None:
    """POST /-/reload: 403 without a configured token, 401 with a wrong one, 200 with it."""
    token: list[Secret | None] = [None]
    reloads = 0

    async def reload() -> list[str]:
        nonlocal reloads
        reloads += 1
        return []

    hooks = Hooks(lambda: True, reload, lambda: token[0], lambda shard: b"", lambda: [])
    good = {"Authorization": f"Bearer {TOKEN}"}
    async with TestClient(TestServer(make_app(hooks))) as c:
        assert (await c.post("/-/reload", headers=good)).status == 403
        token[0] = Secret("env:NW_TOKEN", TOKEN)
        wrong = {"Authorization": "Bearer not-it"}
        assert (await c.post("/-/reload", headers=wrong)).status == 401
        resp = await c.post("/-/reload", headers=good)
        assert resp.status == 200, await resp.text()
    assert reloads == 1


async def test_shards_scraped_together_are_rendered_one_at_a_time() -> None:
    """Each render holds the GIL: eleven in parallel starved the event loop (polls skipped)."""
    lock = threading.Lock()
    running = most = 0

    def render(shard: str | None) -> bytes:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)  # a render (in its thread; the event loop is free meanwhile)
        with lock:
            running -= 1
        return f'netwatch_shard{{shard="{shard}"}} 1\n'.encode()

    async def reload() -> list[str]:
        return []

    shards = [f"h{i}" for i in range(6)]
    hooks = Hooks(lambda: True, reload, lambda: None, render, lambda: shards)
    async with TestClient(TestServer(make_app(hooks))) as c:

        async def scrape(shard: str) -> str:
            return await (await c.get("/metrics", params={"shard": shard})).text()

        bodies = await asyncio.gather(*(scrape(s) for s in shards))
    assert bodies == [f'netwatch_shard{{shard="{s}"}} 1\n' for s in shards]
    assert most == 1


async def test_ready_is_503_with_the_reason_while_storage_fails() -> None:
    """/-/ready: 200 while the files can be written, 503 naming the failing store otherwise."""

    async def reload() -> list[str]:
        return []

    problem: list[str | None] = [None]
    hooks = Hooks(lambda: True, reload, lambda: None, lambda shard: b"", lambda: [],
                  storage_problem=lambda: problem[0])  # fmt: skip
    async with TestClient(TestServer(make_app(hooks))) as c:
        assert (await c.get("/-/ready")).status == 200
        problem[0] = "cannot write outbox (database or disk is full)"
        resp = await c.get("/-/ready")
        assert resp.status == 503
        assert "outbox (database or disk is full)" in await resp.text()
        problem[0] = None
        assert (await c.get("/-/ready")).status == 200
