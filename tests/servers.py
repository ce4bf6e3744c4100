"""Real loopback servers for the service-check tests: HTTPS (aiohttp), SMTP (aiosmtpd),
a silent TCP port, a closed port and a DNS server (dnsmasq). Each is stopped by its user.

>>> async with web_server(tls.server_context(tls.leaf())) as base:  # doctest: +SKIP
...     ...  # base == "https://127.0.0.1:PORT"
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"
LOGIN_PAGE = "<title>Đăng nhập</title><h1>Cổng dịch vụ công tỉnh</h1> phiên bản 2.4.1"
AUTH_USER, AUTH_PASSWORD = "giamsat", "s3cr3t-Mật-khẩu"
SLOW_SECONDS = 3.0  # far beyond any test's check timeout, short enough to end quickly


# --------------------------------------------------------------------------- certificates


@dataclass
class Certs:
    """A test CA and the leaves the tests serve; ``ca_file`` is what netwatch is told to trust."""

    ca: trustme.CA
    ca_file: Path

    def leaf(self, *names: str, days: float = 90, not_before_days: float = -1) -> trustme.LeafCert:
        now = dt.datetime.now(dt.UTC)
        return self.ca.issue_cert(
            *(names or (LOOPBACK,)),
            not_before=now + dt.timedelta(days=not_before_days),
            not_after=now + dt.timedelta(days=days),
        )


def make_certs(directory: Path) -> Certs:
    ca = trustme.CA(organization_name="Sở TTTT test CA")
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Certs(ca, ca_file)


def server_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    return ctx


def self_signed_context(directory: Path, name: str = LOOPBACK) -> ssl.SSLContext:
    """A server context whose certificate signed itself (no CA anyone trusts)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed portal")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(name))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "self.pem", directory / "self.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


# --------------------------------------------------------------------------- HTTP(S)


@dataclass
class Seen:
    """What the web server received, for the tests to assert on."""

    headers: list[dict[str, str]] = field(default_factory=list)


def _app(seen: Seen) -> web.Application:
    async def index(request: web.Request) -> web.Response:
        seen.headers.append(dict(request.headers))
        return web.Response(text=LOGIN_PAGE, content_type="text/html")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(SLOW_SECONDS)
        return web.Response(text="late")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/")

    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text="bảo trì")

    async def auth(request: web.Request) -> web.Response:
        token = base64.b64encode(f"{AUTH_USER}:{AUTH_PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {token}":
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})
        return web.Response(text="xin chào")

    app = web.Application()
    app.router.add_route("*", "/", index)
    app.router.add_get("/slow", slow)
    app.router.add_get("/loop", loop)
    app.router.add_get("/moved", moved)
    app.router.add_get("/unavailable", unavailable)
    app.router.add_get("/auth", auth)
    return app


@asynccontextmanager
async def web_server(
    ssl_context: ssl.SSLContext | None, seen: Seen | None = None
) -> AsyncIterator[str]:
    """Serve the test app on 127.0.0.1:<free port>; yields its base URL."""
    runner = web.AppRunner(_app(seen or Seen()), shutdown_timeout=0.5)
    await runner.setup()
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    port = sock.getsockname()[1]
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    scheme = "https" if ssl_context else "http"
    try:
        yield f"{scheme}://{LOOPBACK}:{port}"
    finally:
        await runner.cleanup()
        sock.close()


# --------------------------------------------------------------------------- plain TCP


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog does) and never says a word."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@contextmanager
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting is refused, and nobody else can take it."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


# --------------------------------------------------------------------------- DNS


@dataclass
class Dnsmasq:
    port: int
    process: subprocess.Popen[bytes]


DNSMASQ_RECORDS = ("/portal.test/127.0.0.9", "/v6.test/fd00::9")


@contextmanager
def dnsmasq(workdir: Path) -> Iterator[Dnsmasq]:
    """dnsmasq on 127.0.0.1:<free port>, authoritative for ``.test`` only, forwarding nothing."""
    exe = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
    if exe is None:
        raise RuntimeError("dnsmasq is not installed; run scripts/install-peers")
    port = free_port()
    log = (workdir / "dnsmasq.log").open("wb")
    argv = [
        exe,
        "--keep-in-foreground",
        "--log-facility=-",
        "--conf-file=/dev/null",
        "--no-resolv",  # no upstream: nothing is ever forwarded to a real server
        "--no-hosts",
        "--pid-file=",
        f"--port={port}",
        f"--listen-address={LOOPBACK}",
        "--bind-interfaces",
        "--local=/test/",  # answer .test from local data only; NXDOMAIN for the rest of it
        *(f"--address={record}" for record in DNSMASQ_RECORDS),
    ]
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_dns(port, process, workdir)
        yield Dnsmasq(port, process)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def _wait_dns(port: int, process: subprocess.Popen[bytes], workdir: Path) -> None:
    query = dns.message.make_query("portal.test", "A")
    for _ in range(50):  # up to ~5 s
        if process.poll() is not None:
            log = (workdir / "dnsmasq.log").read_text(errors="replace")
            raise RuntimeError(f"dnsmasq exited with {process.returncode}: {log}")
        try:
            dns.query.udp(query, LOOPBACK, port=port, timeout=0.1)
            return
        except (dns.exception.Timeout, OSError):
            time.sleep(0.1)
    raise RuntimeError("dnsmasq did not answer within 5 s")
