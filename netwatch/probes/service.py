"""Service checks of the shared applications: ``http``, ``tcp`` and ``dns``.

Each check runs under one hard deadline covering name lookup, connect, TLS, and reading, so no
check can hang the daemon; every network failure comes back as a ``Failure`` in the ``Sample``.
The kinds live in ``http_check``, ``tcp_check`` and ``dns_check``; this module dispatches.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp

from netwatch import __version__
from netwatch.models import CheckSpec, DnsSpec, Failure, HttpSpec, Sample, ServiceCheck, TcpSpec
from netwatch.probes.dns_check import dns_failure, run_dns
from netwatch.probes.http_check import CertRecordingConnector, http_failure, run_http
from netwatch.probes.service_errors import timeout_failure
from netwatch.probes.service_model import CertInfo, CheckFailed, Progress, ServiceData
from netwatch.probes.tcp_check import run_tcp, tcp_failure

__all__ = ["CertInfo", "ServiceData", "ServiceProber", "cert_expires_soon", "deadline_of"]

log = logging.getLogger(__name__)

USER_AGENT = f"netwatch/{__version__}"
DAY = 86_400.0


def deadline_of(service: ServiceCheck) -> float:
    """The check's hard deadline: its timeout, kept shorter than its interval.

    >>> deadline_of(ServiceCheck("portal", DnsSpec("a.example", "127.0.0.1"), 5.0, 10.0))
    4.5
    """
    return min(service.timeout, 0.9 * service.interval)


def cert_expires_soon(data: ServiceData | None, service: ServiceCheck, now: float) -> bool:
    """Whether the certificate expires (or expired) within the service's ``cert_warn_days``.

    >>> check = ServiceCheck("portal", DnsSpec("a.example", "127.0.0.1"), cert_warn_days=14)
    >>> data = ServiceData(200, 0.1, 0.05, CertInfo(10 * DAY, "CN=a", "CN=ca"))
    >>> cert_expires_soon(data, check, now=0.0), cert_expires_soon(data, check, now=-30 * DAY)
    (True, False)
    """
    if data is None or data.cert is None:
        return False
    return data.cert.not_after - now < service.cert_warn_days * DAY


def _secrets(spec: HttpSpec | TcpSpec | DnsSpec) -> list[str]:
    if isinstance(spec, HttpSpec) and spec.basic_auth_password is not None:
        return [s for s in (spec.basic_auth_password.reveal(),) if s]
    return []


class ServiceProber:
    """Runs service checks over one shared aiohttp session (injected: the daemon owns it).

    >>> async def main() -> None:  # doctest: +SKIP
    ...     prober = ServiceProber(ServiceProber.make_session())
    ...     check = ServiceCheck("portal", HttpSpec("https://portal.example.gov.vn/"))
    ...     sample = await prober.check("eoffice", check)
    ...     print(sample.ok, sample.data.status_code if sample.data else None)
    ...     await prober.close()
    """

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    @staticmethod
    def make_session(limit_per_host: int = 4) -> aiohttp.ClientSession:
        """The session service checks share; call it inside the running event loop.

        ``force_close``: every check opens a fresh connection, so it measures (and sees) what
        a new user would: the connect, the TLS handshake, and today's certificate. A session
        made otherwise works too, without certificate information for http checks.
        """
        connector = CertRecordingConnector(
            limit=100, limit_per_host=limit_per_host, force_close=True
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # checks must not depend on each other
            headers={"User-Agent": USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=None),  # each check's own deadline bounds it
            trust_env=False,  # no proxy from the environment between us and the service
        )

    async def close(self) -> None:
        await self.session.close()

    async def poll(self, check: CheckSpec) -> Sample[ServiceData]:
        """The check's service checked (the ``polling.Probe`` method)."""
        assert check.service is not None
        return await self.check(check.device.id, check.service)

    async def check(self, device: str, service: ServiceCheck) -> Sample[ServiceData]:
        """Run one check; network failures come back as ``Sample.failure``, never raised."""
        at = time.time()
        started = time.monotonic()
        deadline = deadline_of(service)
        spec = service.spec
        progress = Progress("starting")
        failure: Failure | None = None
        try:
            async with asyncio.timeout(deadline):
                if isinstance(spec, HttpSpec):
                    await run_http(self.session, spec, progress, started)
                elif isinstance(spec, TcpSpec):
                    await run_tcp(spec, progress, started)
                else:
                    await run_dns(spec, progress, deadline)
        except CheckFailed as exc:
            failure = exc.failure
        except TimeoutError:  # our deadline (aiohttp's own timeouts also subclass it)
            failure = timeout_failure(deadline, progress)
        except Exception as exc:
            failure = _translate(exc, spec, progress)
            if failure is None:
                raise  # not a network failure: a bug, let it be seen
        duration = time.monotonic() - started
        if failure is not None:
            for secret in _secrets(spec):
                failure = Failure(failure.kind, failure.detail.replace(secret, "***"))
            log.debug("device=%s service=%s failed: %s", device, service.name, failure)
        data = ServiceData(
            status_code=progress.status_code,
            duration=duration,
            ttfb=progress.ttfb,
            cert=progress.cert,
            resolved=progress.resolved,
        )
        return Sample(device, f"service:{service.name}", at, duration, failure, data)


def _translate(
    exc: Exception, spec: HttpSpec | TcpSpec | DnsSpec, progress: Progress
) -> Failure | None:
    if isinstance(spec, HttpSpec):
        return http_failure(exc, spec, progress)
    if isinstance(spec, TcpSpec):
        return tcp_failure(exc, spec, progress)
    return dns_failure(exc, spec, progress)
