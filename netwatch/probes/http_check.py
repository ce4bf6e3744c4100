"""The ``http`` kind of service check: one request, its status, its body, its certificate.

>>> format_ranges(((200, 299), (301, 301)))
'200-299, 301'
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import time
from contextvars import ContextVar
from typing import Any

import aiohttp
from yarl import URL

from netwatch.models import Failure, FailureKind, HttpSpec
from netwatch.probes.certs import client_context, fetch_unverified_cert, peer_cert
from netwatch.probes.service_errors import os_failure, tls_failure
from netwatch.probes.service_model import CheckFailed, Progress

MAX_BODY = 1 << 20  # read at most 1 MiB for matching: enough for a login page, bounded memory

# The check whose request is opening connections right now (each check runs in its own task).
_recording: ContextVar[Progress | None] = ContextVar("netwatch_http_check", default=None)


class CertRecordingConnector(aiohttp.TCPConnector):
    """A TCPConnector that hands the peer certificate of each new connection to its check.

    aiohttp releases a connection as soon as a small body has arrived, often before the
    caller sees the response, so the certificate is read where the connection is made. This
    overrides a private hook (stable through aiohttp 3.x); if it ever disappears, checks still
    work and only the certificate information is missing.
    """

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        made = await super()._wrap_create_connection(*args, **kwargs)
        progress = _recording.get()
        if progress is not None:
            transport: asyncio.Transport = made[0]
            progress.cert = peer_cert(transport.get_extra_info("ssl_object"))
        return made


def format_ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


def safe_url(url: str) -> str:
    """The URL without any user or password in it, for messages."""
    try:
        return str(URL(url).with_user(None))
    except ValueError:
        return "<unparsable URL>"


def basic_auth(user: str, password: str) -> str:
    """The Authorization value, UTF-8 as RFC 7617 says (aiohttp's BasicAuth is deprecated).

    >>> basic_auth("giamsat", "mật")
    'Basic Z2lhbXNhdDpt4bqtdA=='
    """
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _target(url: str) -> str:
    try:
        parsed = URL(url)
        return f"{parsed.host}:{parsed.port}"
    except ValueError:
        return "<unparsable URL>"


async def _read_body(resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    """Up to MAX_BODY bytes of the body and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    while size < MAX_BODY:
        chunk = await resp.content.read(MAX_BODY - size)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), not resp.content.at_eof()


def _decode(resp: aiohttp.ClientResponse, body: bytes) -> str:
    try:
        return body.decode(resp.charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know: utf-8 is the best guess here
        return body.decode("utf-8", errors="replace")


def _check_reply(spec: HttpSpec, status: int, text: str | None, truncated: bool) -> None:
    if not any(lo <= status <= hi for lo, hi in spec.expect_status):
        raise CheckFailed(
            Failure(
                FailureKind.MISMATCH,
                f"status {status}, expected {format_ranges(spec.expect_status)}",
            )
        )
    if text is None:
        return
    where = " (in the first 1 MiB)" if truncated else ""
    if spec.body_contains is not None and spec.body_contains not in text:
        detail = f"body does not contain {spec.body_contains!r}{where}"
        raise CheckFailed(Failure(FailureKind.MISMATCH, detail))
    if spec.body_regex is not None and not re.search(spec.body_regex, text):
        detail = f"body does not match the regex {spec.body_regex!r}{where}"
        raise CheckFailed(Failure(FailureKind.MISMATCH, detail))


async def run_http(
    session: aiohttp.ClientSession, spec: HttpSpec, progress: Progress, started: float
) -> None:
    """Make the request; raise CheckFailed or a library error when it is not as expected."""
    ctx = await client_context(spec.verify_tls, spec.ca_file)
    headers = list(spec.headers)
    if spec.basic_auth_user is not None:
        password = spec.basic_auth_password.reveal() if spec.basic_auth_password else ""
        headers.append(("Authorization", basic_auth(spec.basic_auth_user, password)))
    progress.phase = f"waiting for the response headers of {safe_url(spec.url)}"
    token = _recording.set(progress)  # this task's context only: concurrent checks do not mix
    try:
        async with session.request(
            spec.method,
            spec.url,
            headers=headers,
            allow_redirects=spec.follow_redirects,
            ssl=ctx,
        ) as resp:
            progress.ttfb = time.monotonic() - started
            progress.status_code = resp.status
            progress.phase = f"reading the body of {safe_url(spec.url)}"
            body, truncated = await _read_body(resp)
            wants_body = spec.body_contains is not None or spec.body_regex is not None
            _check_reply(spec, resp.status, _decode(resp, body) if wants_body else None, truncated)
    except aiohttp.ClientConnectorCertificateError as exc:
        # Show the operator the certificate that was rejected (expiry, names) when we can.
        progress.phase = "fetching the rejected certificate"
        port = exc.port or URL(spec.url).port or 443
        progress.cert = await fetch_unverified_cert(exc.host, port, exc.host)
        raise
    finally:
        _recording.reset(token)


def http_failure(exc: Exception, spec: HttpSpec, progress: Progress) -> Failure | None:
    """The one translation of aiohttp's (and the OS's) errors; None for anything else (a bug)."""
    target = _target(spec.url)
    if isinstance(exc, aiohttp.TooManyRedirects):
        hops = [r.headers.get("Location", "?") for r in exc.history]
        last = hops[-1] if hops else "?"
        detail = f"gave up after {len(hops)} redirects (a redirect loop?); the last went to {last}"
        return Failure(FailureKind.PROTOCOL, detail)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cause = exc.certificate_error
        if isinstance(cause, ssl.SSLError):
            return tls_failure(cause, progress)
        return Failure(FailureKind.TLS, f"certificate rejected: {cause}")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        reason = exc.os_error.strerror or str(exc.os_error)
        return Failure(FailureKind.DNS, f"cannot resolve {exc.host}: {reason}")
    if isinstance(exc, aiohttp.ClientSSLError):
        cause = exc.os_error
        if isinstance(cause, ssl.SSLError):
            return tls_failure(cause, progress)
        return Failure(FailureKind.TLS, f"TLS handshake with {target} failed: {cause}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return os_failure(exc.os_error, target)
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return Failure(FailureKind.TLS, f"certificate fingerprint of {target} does not match")
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts subclass it
        return Failure(FailureKind.TIMEOUT, f"{target} timed out while {progress.phase}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        detail = f"{target} closed the connection while {progress.phase}"
        return Failure(FailureKind.PROTOCOL, detail)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Failure(FailureKind.PROTOCOL, f"broken response body from {target}: {exc}")
    if isinstance(
        exc, aiohttp.NonHttpUrlRedirectClientError | aiohttp.InvalidUrlRedirectClientError
    ):
        return Failure(FailureKind.PROTOCOL, f"{target} redirected to an unusable URL: {exc}")
    if isinstance(exc, aiohttp.NonHttpUrlClientError | aiohttp.InvalidURL):
        return Failure(FailureKind.ERROR, f"not a usable http(s) URL: {safe_url(spec.url)}")
    if isinstance(exc, aiohttp.ClientResponseError):
        detail = f"bad response from {target}: {exc.status} {exc.message}".rstrip()
        return Failure(FailureKind.PROTOCOL, detail)
    if isinstance(exc, OSError):  # ClientOSError, ClientConnectionResetError, ssl errors
        return os_failure(exc, target)
    if isinstance(exc, aiohttp.ClientError):
        return Failure(FailureKind.PROTOCOL, f"{target}: {type(exc).__name__} {exc}".rstrip())
    if type(exc).__module__.startswith("aiohttp"):
        return Failure(FailureKind.ERROR, f"{target}: {type(exc).__name__} {exc}".rstrip())
    return None
