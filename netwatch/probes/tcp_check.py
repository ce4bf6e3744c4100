"""The ``tcp`` kind of service check: connect, read a banner, optionally TLS or SMTP STARTTLS.

>>> _text(b"220 mail.example ESMTP\\r\\n")
'220 mail.example ESMTP'
"""

from __future__ import annotations

import asyncio
import ssl
import time

from netwatch.models import Failure, FailureKind, TcpSpec
from netwatch.probes.certs import client_context, fetch_unverified_cert, peer_cert
from netwatch.probes.service_errors import os_failure, tls_failure
from netwatch.probes.service_model import CheckFailed, Progress

LINE_LIMIT = 4096  # longest banner or reply line we accept
MAX_REPLY_LINES = 100  # an EHLO reply has a dozen; more means a confused peer
CLOSE_WAIT = 1.0  # seconds we wait for a clean close after a successful check


def _text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r\n")


def _protocol(detail: str) -> CheckFailed:
    return CheckFailed(Failure(FailureKind.PROTOCOL, detail))


async def _read_line(reader: asyncio.StreamReader, what: str) -> str:
    try:
        line = await reader.readline()
    except ValueError as exc:  # the line is longer than LINE_LIMIT
        raise _protocol(f"{what} is longer than {LINE_LIMIT} bytes") from exc
    if not line.endswith(b"\n"):
        raise _protocol(f"the connection closed before {what}")
    return _text(line)


async def _smtp_reply(reader: asyncio.StreamReader, what: str) -> tuple[str, list[str]]:
    """An SMTP reply: its code and its lines ("250-PIPELINING", ..., "250 STARTTLS")."""
    lines: list[str] = []
    for _ in range(MAX_REPLY_LINES):
        line = await _read_line(reader, what)
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return line[:3], lines
    raise _protocol(f"{what} has more than {MAX_REPLY_LINES} lines")


async def _starttls(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    spec: TcpSpec,
    ctx: ssl.SSLContext,
    progress: Progress,
) -> None:
    progress.phase = "waiting for the reply to EHLO"
    writer.write(b"EHLO netwatch\r\n")
    await writer.drain()
    code, lines = await _smtp_reply(reader, "the reply to EHLO")
    if code != "250":
        raise _protocol(f"EHLO refused: {lines[-1]!r}")
    if not any(line[4:].strip().upper() == "STARTTLS" for line in lines):
        raise CheckFailed(Failure(FailureKind.MISMATCH, "the server does not offer STARTTLS"))
    progress.phase = "waiting for the reply to STARTTLS"
    writer.write(b"STARTTLS\r\n")
    await writer.drain()
    code, lines = await _smtp_reply(reader, "the reply to STARTTLS")
    if code != "220":
        raise _protocol(f"STARTTLS refused: {lines[-1]!r}")
    progress.phase = f"in the TLS handshake with {spec.host}:{spec.port}"
    await writer.start_tls(ctx, server_hostname=spec.host)
    progress.cert = peer_cert(writer.get_extra_info("ssl_object"))


async def run_tcp(spec: TcpSpec, progress: Progress, started: float) -> None:
    """Connect and talk as far as the spec asks; raise CheckFailed or an OS error if not."""
    ctx = await client_context(spec.verify_tls, spec.ca_file) if spec.tls or spec.starttls else None
    tls_now = ctx if spec.tls else None
    progress.phase = f"connecting to {spec.host}:{spec.port}" + (" over TLS" if spec.tls else "")
    try:
        reader, writer = await asyncio.open_connection(
            spec.host,
            spec.port,
            ssl=tls_now,
            server_hostname=spec.host if tls_now else None,
            limit=LINE_LIMIT,
        )
    except ssl.SSLCertVerificationError:
        progress.phase = "fetching the rejected certificate"
        progress.cert = await fetch_unverified_cert(spec.host, spec.port, spec.host)
        raise
    try:
        if spec.tls:
            progress.cert = peer_cert(writer.get_extra_info("ssl_object"))
        if spec.expect_banner is not None or spec.starttls:
            progress.phase = f"waiting for the banner of {spec.host}:{spec.port}"
            banner = await _read_line(reader, "the banner")
            progress.ttfb = time.monotonic() - started
            expected = spec.expect_banner if spec.expect_banner is not None else "220"
            if not banner.startswith(expected):
                detail = f"banner {banner[:120]!r} does not start with {expected!r}"
                raise CheckFailed(Failure(FailureKind.MISMATCH, detail))
        if spec.starttls:
            assert ctx is not None
            await _starttls(reader, writer, spec, ctx, progress)
            writer.write(b"QUIT\r\n")  # be polite to the mail server; its reply is not awaited
        progress.phase = f"closing the connection to {spec.host}:{spec.port}"
        writer.close()
        # The service has answered; a peer slow to finish the TLS close must not turn that into
        # a timeout, nor one that drops TLS without close_notify into an error.
        try:
            await asyncio.wait_for(writer.wait_closed(), CLOSE_WAIT)
        except (TimeoutError, OSError):
            writer.transport.abort()
    except BaseException:
        writer.transport.abort()  # never wait on a misbehaving peer to close
        raise


def tcp_failure(exc: Exception, spec: TcpSpec, progress: Progress) -> Failure | None:
    """The one translation of the errors a tcp check meets; None for anything else (a bug)."""
    target = f"{spec.host}:{spec.port}"
    if isinstance(exc, ssl.SSLError):
        return tls_failure(exc, progress)
    if isinstance(exc, TimeoutError):
        return Failure(FailureKind.TIMEOUT, f"{target} timed out while {progress.phase}")
    if isinstance(exc, OSError):
        return os_failure(exc, target)
    if isinstance(exc, asyncio.IncompleteReadError | asyncio.LimitOverrunError):
        return Failure(FailureKind.PROTOCOL, f"{target}: incomplete reply while {progress.phase}")
    return None
