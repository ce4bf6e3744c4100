"""The connection guard on a real aiohttp server on 127.0.0.1: busy connections are never
evicted, idle ones are, a full house of busy ones refuses newcomers, a slow reader of a big
response is kept while it reads, and TLS handshakes that never come are cut off."""

from __future__ import annotations

import asyncio
import resource
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web

from netwatch.web.guard import ConnectionGuard, connection_limit, serve
from netwatch.web.security import server_ssl_context

BIG = 8 * 1024 * 1024


@dataclass
class Server:
    guard: ConnectionGuard
    port: int
    release: asyncio.Event  # lets /slow answer


def app(release: asyncio.Event) -> web.Application:
    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="slow done")

    async def fast(_: web.Request) -> web.Response:
        return web.Response(text="fast")

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * BIG)

    application = web.Application()
    application.router.add_get("/slow", slow)
    application.router.add_get("/fast", fast)
    application.router.add_get("/big", big)
    return application


async def start(
    guard: ConnectionGuard, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, Server]:
    release = asyncio.Event()
    runner, site = await serve(app(release), guard, "127.0.0.1", 0, ssl_context=ssl_context)
    return runner, Server(guard, site.ports[0], release)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    runner, s = await start(ConnectionGuard(max_connections=3, header_timeout=1.0))
    yield s
    s.release.set()
    await runner.cleanup()


async def open_raw(
    port: int, data: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if data:
        writer.write(data)
        await writer.drain()
    return reader, writer


async def closed(reader: asyncio.StreamReader, within: float) -> bool:
    """The server closed the connection within ``within`` seconds (all it sent is read)."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


GET_SLOW = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
HALF = b"GET /fast HTTP/1.1\r\nHost: x\r\n"


async def test_a_new_connection_evicts_the_idle_one_never_the_busy_one(server: Server) -> None:
    busy_r, busy_w = await open_raw(server.port, GET_SLOW)
    idle = [await open_raw(server.port, HALF) for _ in range(2)]
    await asyncio.sleep(0.1)
    assert server.guard.open == 3
    newcomer = await open_raw(server.port, HALF)
    assert await closed(idle[0][0], 0.5)  # the one idle the longest made room
    assert not await closed(idle[1][0], 0.1)
    assert not await closed(newcomer[0], 0.1)
    assert server.guard.evicted == 1
    # The busy request was untouched and is answered when its handler finishes.
    server.release.set()
    assert b"slow done" in await asyncio.wait_for(busy_r.read(4096), 2)
    for _, w in [(busy_r, busy_w), *idle, newcomer]:
        w.close()


async def test_when_every_connection_is_busy_a_newcomer_is_refused(server: Server) -> None:
    busy = [await open_raw(server.port, GET_SLOW) for _ in range(3)]
    await asyncio.sleep(0.1)
    newcomer_r, newcomer_w = await open_raw(server.port, HALF)
    assert await closed(newcomer_r, 0.5)
    assert server.guard.refused == 1
    server.release.set()
    for r, w in busy:
        assert b"slow done" in await asyncio.wait_for(r.read(4096), 2)
        w.close()
    newcomer_w.close()


async def test_a_half_sent_header_is_closed_after_the_timeout_and_counted(server: Server) -> None:
    reader, writer = await open_raw(server.port, HALF)
    assert not await closed(reader, 0.6)
    assert await closed(reader, 1.5)
    assert server.guard.timed_out == 1
    assert server.guard.open == 0
    writer.close()


async def test_a_slow_reader_of_a_big_response_keeps_its_connection(server: Server) -> None:
    reader, writer = await open_raw(server.port, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    got = 0
    async with asyncio.timeout(20):
        while got < BIG:  # ~2.5 MB/s: longer than the 1 s header timeout, several times over
            chunk = await reader.read(64 * 1024)
            assert chunk, f"closed after {got} bytes"
            got += len(chunk)
            await asyncio.sleep(0.025)
    assert got >= BIG  # every byte, though sending took longer than the timeout
    # Then idle: closed by the timeout like any other (the kernel still delivers what it holds).
    assert await closed(reader, 2.0)
    writer.close()


async def test_tls_through_the_guard_and_a_handshake_that_never_comes(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    tls = server_ssl_context(str(cert_file), str(key_file))
    runner, s = await start(ConnectionGuard(max_connections=8, header_timeout=1.0), tls)
    try:
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        async with aiohttp.ClientSession() as session:
            url = f"https://127.0.0.1:{s.port}/fast"
            async with session.get(url, ssl=client_ctx) as resp:
                assert resp.status == 200
                assert await resp.text() == "fast"
        reader, writer = await open_raw(s.port)  # TCP only: no ClientHello
        assert await closed(reader, 2.5)
        writer.close()
    finally:
        await runner.cleanup()


async def test_a_flood_of_tls_handshakes_that_never_come_is_bounded(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    tls = server_ssl_context(str(cert_file), str(key_file))
    runner, s = await start(ConnectionGuard(max_connections=4, header_timeout=10.0), tls)
    try:
        silent = []
        for _ in range(6):  # no ClientHello: each holds a handshake slot
            silent.append(await open_raw(s.port))
            await asyncio.sleep(0.05)
        # The two oldest gave way at once, long before the 10 s handshake timeout.
        assert await closed(silent[0][0], 1.0)
        assert await closed(silent[1][0], 1.0)
        assert not await closed(silent[5][0], 0.2)
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        async with aiohttp.ClientSession() as session:
            url = f"https://127.0.0.1:{s.port}/fast"
            async with session.get(url, ssl=client_ctx) as resp:
                assert resp.status == 200
        for _, w in silent:
            w.close()
    finally:
        await runner.cleanup()


async def test_the_port_in_use_is_an_oserror() -> None:
    runner, s = await start(ConnectionGuard())
    try:
        with pytest.raises(OSError, match="in use"):
            await serve(app(asyncio.Event()), ConnectionGuard(), "127.0.0.1", s.port)
    finally:
        await runner.cleanup()


def test_the_limit_is_at_most_a_quarter_of_the_open_files() -> None:
    assert connection_limit(512, 256) == 64
    assert connection_limit(512, 65536) == 512
    assert connection_limit(512, 20) == 16
    assert connection_limit(512, resource.RLIM_INFINITY) == 512
