"""Basic auth for the pages, TLS from cert/key files, and the headers every page carries."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from netwatch.errors import NetwatchError
from netwatch.models import Secret
from netwatch.web.routes import add_routes
from netwatch.web.security import server_ssl_context
from tests.unit.web.backend import TOKEN, Province

PASSWORD = "pw-Đà-Nẵng-42"


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def app_with_basic_auth(p: Province) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text="netwatch_up 1\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    token = Secret("env:NW_TOKEN", TOKEN)
    add_routes(app, p, lambda: token, basic_auth=lambda: ("cntt", Secret("env:PW", PASSWORD)))
    return app


async def test_basic_auth_guards_pages_and_api_but_not_metrics(province: Province) -> None:
    async with TestClient(TestServer(app_with_basic_auth(province))) as c:
        for path in ("/", "/devices/core-rtr", "/static/netwatch.js", "/api/v1/sites"):
            resp = await c.get(path)
            assert resp.status == 401, path
            assert resp.headers["WWW-Authenticate"].startswith("Basic")
            assert PASSWORD not in await resp.text()
        assert (await c.get("/api/v1/sites")).content_type == "application/json"
        for bad in (
            basic("cntt", "wrong"),
            basic("other", PASSWORD),
            {"Authorization": "Basic !!!"},
            {"Authorization": "Basic " + "QQ=="},
        ):
            assert (await c.get("/", headers=bad)).status == 401
        assert (await c.get("/", headers=basic("cntt", PASSWORD))).status == 200
        assert (await c.get("/metrics")).status == 200
        # The page's fetch sends the bearer token instead of the basic credentials.
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert (await c.get("/api/v1/alerts", headers=bearer)).status == 200


async def test_pages_carry_protective_headers(
    client: TestClient[web.Request, web.Application],
) -> None:
    resp = await client.get("/")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"


def test_tls_context_from_pem_files(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ctx = server_ssl_context(str(cert_file), str(key_file))
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    with pytest.raises(NetwatchError, match="cannot read"):
        server_ssl_context(str(tmp_path / "missing.crt"), str(key_file))
    with pytest.raises(NetwatchError, match="not a matching PEM"):
        server_ssl_context(str(key_file), str(key_file))


async def test_the_page_is_served_over_tls(tmp_path: Path, province: Province) -> None:
    """A real TLS server with the context: a client trusting the CA gets the page."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    app = web.Application()
    add_routes(app, province, lambda: None)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(
        runner, "127.0.0.1", 0, ssl_context=server_ssl_context(str(cert_file), str(key_file))
    )
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        import aiohttp

        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{port}/", ssl=client_ctx) as resp:
                assert resp.status == 200
                assert "Quận Ninh Kiều" in await resp.text()
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.get(f"https://127.0.0.1:{port}/")
    finally:
        await runner.cleanup()
