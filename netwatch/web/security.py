"""Optional protection of the web server: basic auth for the read-only pages, TLS, and the
headers every page carries.

Basic auth (``agent.web_basic_auth``) guards the status page, its static files and the read-only
API; a request with the right bearer token passes too, because a browser can send only one
``Authorization`` header and the page's fetch() sends the token when it changes something.
``/metrics`` and ``/-/healthy``/``/-/ready`` stay open for Prometheus and systemd.

>>> ctx = server_ssl_context("/etc/netwatch/tls.crt", "/etc/netwatch/tls.key")  # doctest: +SKIP
>>> await web.TCPSite(runner, host, port, ssl_context=ctx).start()  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hmac
import ssl
from collections.abc import Callable
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from netwatch.errors import NetwatchError
from netwatch.models import Secret

BasicAuthSource = Callable[[], tuple[str, Secret] | None]
# ``agent.api_token``, read at each request so that a reload applies at once.
TokenSource = Callable[[], Secret | None]

# Scraped by Prometheus (and its service discovery), probed by systemd and load balancers.
OPEN_PATHS = ("/metrics", "/sd", "/-/")

# The pages load only their own script and style; nothing inline runs, even if an escaping bug
# ever let markup through.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def bearer_ok(request: web.Request, token: Secret | None) -> bool:
    """The request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    if token is None:
        return False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    # aiohttp keeps bytes that are not UTF-8 as surrogates: give them back, never a 500.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        value.strip().encode("utf-8", "surrogateescape"), token.reveal().encode()
    )


def token_refusal(request: web.Request, token: TokenSource) -> Literal[401, 403] | None:
    """Why the request may not change state: 403 when no token is configured (changes over
    HTTP are disabled), 401 when its bearer token is missing or wrong; ``None`` when it may.
    The one check behind the API's changes and ``POST /-/reload``."""
    secret = token()
    if secret is None:
        return 403
    if not bearer_ok(request, secret):
        return 401
    return None


def basic_auth_ok(request: web.Request, expected: tuple[str, Secret]) -> bool:
    """The request carries ``Authorization: Basic`` with this user and password."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # binascii.Error, or bytes that are not ASCII
        return False
    user, sep, password = decoded.partition(":")
    if not sep:
        return False
    want_user, want_password = expected
    # Both compared, always, so the time taken does not tell which one was wrong.
    user_ok = hmac.compare_digest(user.encode(), want_user.encode())
    password_ok = hmac.compare_digest(password.encode(), want_password.reveal().encode())
    return user_ok and password_ok


def basic_auth_middleware(credentials: BasicAuthSource, token: TokenSource) -> Middleware:
    """Ask for basic auth on everything but ``OPEN_PATHS`` while ``credentials()`` is set
    (read at each request, so a reload that adds or removes it applies at once)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        expected = credentials()
        if (
            expected is None
            or request.path.startswith(OPEN_PATHS)
            or basic_auth_ok(request, expected)
            or bearer_ok(request, token())
        ):
            return await handler(request)
        headers = {"WWW-Authenticate": 'Basic realm="netwatch", charset="UTF-8"'}
        if request.path.startswith("/api/"):
            return web.json_response(
                {"error": "this server needs a user and password (basic auth)"},
                status=401,
                headers=headers,
            )
        return web.Response(status=401, text="401: login required\n", headers=headers)

    return middleware


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No sniffing, no framing, no referrer leaks; the CSP on HTML pages."""
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
    return response


def _no_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's password.
    raise NetwatchError("TLS: the key in agent.tls_key is encrypted; give an unencrypted key")


def server_ssl_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or newer) from PEM files (``agent.tls_cert``,
    ``agent.tls_key``). Raises ``NetwatchError`` naming the files when they cannot be used."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file, password=_no_password)
    except FileNotFoundError as exc:
        raise NetwatchError(
            f"TLS: cannot read {exc.filename}: check agent.tls_cert and agent.tls_key"
        ) from exc
    except PermissionError as exc:
        raise NetwatchError(
            f"TLS: no permission to read {exc.filename}: let the netwatch user read it"
        ) from exc
    except (ssl.SSLError, OSError) as exc:
        raise NetwatchError(
            f"TLS: {cert_file} and {key_file} are not a matching PEM certificate and key "
            f"({exc.__class__.__name__})"
        ) from exc
    return context
