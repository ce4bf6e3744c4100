"""Every exception aiohttp and dnspython export, and the OS errors a check meets, becomes a
Failure in the one translation function of each kind; anything else (a bug) does not."""

from __future__ import annotations

import errno
import inspect
import socket
import ssl
from types import ModuleType
from typing import Any

import aiohttp
import dns.exception
import dns.resolver
import pytest
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from netwatch.models import DnsSpec, Failure, FailureKind, HttpSpec, TcpSpec
from netwatch.probes.dns_check import dns_failure
from netwatch.probes.http_check import http_failure
from netwatch.probes.service_model import Progress
from netwatch.probes.tcp_check import tcp_failure

HTTP = HttpSpec("https://portal.example.gov.vn/")
TCP = TcpSpec("10.0.0.25", 25)
DNS = DnsSpec("portal.example.gov.vn", "10.0.0.53")


def _exported_exceptions(module: ModuleType, names: list[str]) -> list[type[BaseException]]:
    found = [getattr(module, name) for name in names]
    return [c for c in found if inspect.isclass(c) and issubclass(c, BaseException)]


AIOHTTP_EXCEPTIONS = _exported_exceptions(aiohttp, list(aiohttp.__all__))
DNS_EXCEPTIONS = _exported_exceptions(dns.exception, dir(dns.exception)) + _exported_exceptions(
    dns.resolver, dir(dns.resolver)
)


def _connection_key() -> ConnectionKey:
    return ConnectionKey("portal.example.gov.vn", 443, True, True, None, None, None, None)


def _request_info() -> RequestInfo:
    url = URL("https://portal.example.gov.vn/")
    return RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()), url)


def _instance(cls: type[BaseException]) -> BaseException:
    """A realistic instance of an aiohttp exception class, built with its own signature."""
    params = list(inspect.signature(cls.__init__).parameters)[1:]
    if params[:2] == ["connection_key", "certificate_error"]:
        return cls(_connection_key(), ssl.SSLCertVerificationError(1, "verify failed"))
    if params[:2] == ["connection_key", "os_error"]:
        return cls(_connection_key(), OSError(errno.ECONNRESET, "reset"))
    if params[:2] == ["request_info", "history"]:
        return cls(_request_info(), (), status=502, message="Bad Gateway")  # type: ignore[call-arg]
    if params[:1] == ["url"]:
        return cls("ht!tp://bad")
    if params[:2] == ["expected", "got"]:
        return cls(b"a", b"b", "portal.example.gov.vn", 443)
    if params[:2] == ["code", "message"]:
        return cls(1002, "protocol error")
    if params[:1] == ["message"]:
        return cls("closed")
    return cls("boom")


@pytest.mark.parametrize("cls", AIOHTTP_EXCEPTIONS, ids=lambda c: c.__name__)
def test_every_aiohttp_exception_becomes_a_failure(cls: type[BaseException]) -> None:
    """Each exception class in aiohttp.__all__ maps to a Failure with a non-empty detail."""
    exc = _instance(cls)
    assert isinstance(exc, Exception)
    failure = http_failure(exc, HTTP, Progress("waiting for the response headers"))
    assert isinstance(failure, Failure)
    assert failure.detail


@pytest.mark.parametrize("cls", DNS_EXCEPTIONS, ids=lambda c: c.__name__)
def test_every_dnspython_exception_becomes_a_failure(cls: type[BaseException]) -> None:
    """Each exception class of dns.exception and dns.resolver maps to a Failure."""
    exc = cls()
    assert isinstance(exc, Exception)
    failure = dns_failure(exc, DNS, Progress("asking for the A"))
    assert isinstance(failure, Failure)
    assert failure.detail


def _ssl_verify_error(message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    exc.verify_message = message
    return exc


@pytest.mark.parametrize(
    ("exc", "kind", "detail"),
    [
        (
            aiohttp.ClientConnectorError(
                _connection_key(), ConnectionRefusedError(errno.ECONNREFUSED, "refused")
            ),
            FailureKind.REFUSED,
            "portal.example.gov.vn:443 refused the connection; is the service up?",
        ),
        (
            aiohttp.ClientConnectorError(
                _connection_key(), OSError(errno.EHOSTUNREACH, "No route to host")
            ),
            FailureKind.UNREACHABLE,
            "portal.example.gov.vn:443: No route to host",
        ),
        (
            aiohttp.ClientConnectorError(
                _connection_key(), OSError(errno.ENETUNREACH, "Network is unreachable")
            ),
            FailureKind.UNREACHABLE,
            "portal.example.gov.vn:443: Network is unreachable",
        ),
        (
            aiohttp.ClientConnectorDNSError(
                _connection_key(), socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            ),
            FailureKind.DNS,
            "cannot resolve portal.example.gov.vn: Name or service not known",
        ),
        (
            aiohttp.ClientConnectorCertificateError(
                _connection_key(), _ssl_verify_error("certificate has expired")
            ),
            FailureKind.TLS,
            "certificate verify failed: certificate has expired",
        ),
        (
            aiohttp.ServerDisconnectedError(),
            FailureKind.PROTOCOL,
            "portal.example.gov.vn:443 closed the connection while reading the body",
        ),
        (
            aiohttp.TooManyRedirects(_request_info(), ()),
            FailureKind.PROTOCOL,
            "gave up after 0 redirects (a redirect loop?); the last went to ?",
        ),
        (
            aiohttp.ServerTimeoutError("read timed out"),
            FailureKind.TIMEOUT,
            "portal.example.gov.vn:443 timed out while reading the body",
        ),
        (
            aiohttp.InvalidURL("ht!tp://bad"),
            FailureKind.ERROR,
            "not a usable http(s) URL: https://portal.example.gov.vn/",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_http_errors_name_what_to_check(exc: Exception, kind: FailureKind, detail: str) -> None:
    """The main aiohttp errors map to the right kind with an operator's detail."""
    assert http_failure(exc, HTTP, Progress("reading the body")) == Failure(kind, detail)


@pytest.mark.parametrize(
    ("exc", "kind", "detail"),
    [
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
            FailureKind.REFUSED,
            "10.0.0.25:25 refused the connection; is the service up?",
        ),
        (
            OSError(errno.EHOSTUNREACH, "No route to host"),
            FailureKind.UNREACHABLE,
            "10.0.0.25:25: No route to host",
        ),
        (
            ConnectionResetError(errno.ECONNRESET, "reset"),
            FailureKind.PROTOCOL,
            "10.0.0.25:25 reset the connection",
        ),
        (
            _ssl_verify_error("Hostname mismatch, certificate is not valid for '10.0.0.25'."),
            FailureKind.TLS,
            "hostname mismatch: certificate is not valid for '10.0.0.25'",
        ),
        (
            TimeoutError(),
            FailureKind.TIMEOUT,
            "10.0.0.25:25 timed out while waiting for the banner",
        ),
    ],
)
def test_tcp_errors_name_what_to_check(exc: Exception, kind: FailureKind, detail: str) -> None:
    """OS and TLS errors of a tcp check map to the right kind with an operator's detail."""
    assert tcp_failure(exc, TCP, Progress("waiting for the banner")) == Failure(kind, detail)


def test_dns_timeout_and_nxdomain() -> None:
    """dnspython's lifetime timeout is TIMEOUT; NXDOMAIN names the name and the server."""
    progress = Progress("asking 10.0.0.53:53 for the A of portal.example.gov.vn")
    timeout: Any = dns.resolver.LifetimeTimeout  # dnspython's exception classes are untyped
    nxdomain: Any = dns.resolver.NXDOMAIN
    assert dns_failure(timeout(timeout=2.0, errors=[]), DNS, progress) == (
        Failure(
            FailureKind.TIMEOUT,
            "no answer from server 10.0.0.53:53 while asking 10.0.0.53:53 for the A of "
            "portal.example.gov.vn",
        )
    )
    assert dns_failure(nxdomain(), DNS, progress) == Failure(
        FailureKind.DNS, "name portal.example.gov.vn does not exist at server 10.0.0.53:53"
    )


@pytest.mark.parametrize("translate", [http_failure, tcp_failure, dns_failure])
def test_a_bug_is_not_translated(translate: Any) -> None:
    """A non-network exception (a bug) is not turned into a Failure: the caller re-raises it."""
    spec = {http_failure: HTTP, tcp_failure: TCP, dns_failure: DNS}[translate]
    assert translate(KeyError("oops"), spec, Progress("x")) is None
