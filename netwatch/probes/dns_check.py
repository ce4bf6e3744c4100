"""The ``dns`` kind of service check: a name must resolve through one given server.

Only that server is asked (``configure=False``: no resolv.conf, no search list, no cache), so a
check of the province's DNS says nothing about this machine's own resolver.

>>> _wanted_types(None), _wanted_types("2001:db8::1"), _wanted_types("10.0.0.1")
(('A', 'AAAA'), ('AAAA',), ('A',))
"""

from __future__ import annotations

import ipaddress

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver

from netwatch.models import DnsSpec, Failure, FailureKind
from netwatch.probes.service_errors import os_failure
from netwatch.probes.service_model import CheckFailed, Progress


def _wanted_types(expect: str | None) -> tuple[str, ...]:
    if expect is None:
        return ("A", "AAAA")
    return ("AAAA",) if ipaddress.ip_address(expect).version == 6 else ("A",)


async def run_dns(spec: DnsSpec, progress: Progress, deadline: float) -> None:
    """Resolve the name; raise CheckFailed or a dnspython error when it is not as expected."""
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [spec.server]
    resolver.port = spec.port
    resolver.cache = None
    # dnspython's own limits match the check's deadline so it reports a clean Timeout.
    resolver.timeout = resolver.lifetime = deadline
    qname = dns.name.from_text(spec.name)  # absolute: no search list
    found: list[str] = []
    missing: dns.resolver.NXDOMAIN | None = None
    for rdtype in _wanted_types(spec.expect_address):
        progress.phase = f"asking {spec.server}:{spec.port} for the {rdtype} of {spec.name}"
        try:
            answer = await resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            # Some servers (dnsmasq with an IPv4-only --address) say NXDOMAIN for the AAAA of a
            # name whose A they answer; the name exists if any type was answered.
            missing = exc
            continue
        found += [rdata.to_text() for rdata in answer]
    progress.resolved = tuple(found)
    if not found and missing is not None:
        raise missing
    where = f"at server {spec.server}:{spec.port}"
    if not found:
        kinds = " or ".join(_wanted_types(spec.expect_address))
        raise CheckFailed(Failure(FailureKind.DNS, f"name {spec.name} has no {kinds} {where}"))
    if spec.expect_address is not None:
        expected = ipaddress.ip_address(spec.expect_address)
        if expected not in {ipaddress.ip_address(a) for a in found}:
            detail = f"{spec.name} resolves to {', '.join(found)}, expected {expected} ({where})"
            raise CheckFailed(Failure(FailureKind.MISMATCH, detail))


def dns_failure(exc: Exception, spec: DnsSpec, progress: Progress) -> Failure | None:
    """The one translation of dnspython's errors; None for anything else (a bug)."""
    where = f"server {spec.server}:{spec.port}"
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return Failure(FailureKind.DNS, f"name {spec.name} does not exist at {where}")
    if isinstance(exc, dns.resolver.NoAnswer):
        return Failure(FailureKind.DNS, f"name {spec.name} has no address record at {where}")
    if isinstance(exc, dns.resolver.NoNameservers):
        # str() ends with what the server said, e.g. "... answered REFUSED".
        said = str(exc).rsplit(": ", 1)[-1]
        return Failure(FailureKind.DNS, f"{where} could not answer for {spec.name}: {said}")
    if isinstance(exc, dns.exception.Timeout | TimeoutError):
        return Failure(FailureKind.TIMEOUT, f"no answer from {where} while {progress.phase}")
    if isinstance(exc, dns.exception.SyntaxError | dns.resolver.NotAbsolute):
        return Failure(FailureKind.ERROR, f"{spec.name!r} is not a valid DNS name")
    if isinstance(
        exc, dns.exception.FormError | dns.exception.TooBig | dns.exception.UnexpectedEnd
    ):
        return Failure(FailureKind.PROTOCOL, f"malformed answer from {where}: {type(exc).__name__}")
    if isinstance(exc, dns.exception.DNSException):
        return Failure(FailureKind.DNS, f"{where}, {spec.name}: {type(exc).__name__}")
    if isinstance(exc, OSError):
        return os_failure(exc, where)
    return None
