"""The values a service check reports, and the small pieces its kinds share.

>>> CertInfo(not_after=1.7e9, subject="CN=portal", issuer="CN=CA").subject
'CN=portal'
"""

from __future__ import annotations

from dataclasses import dataclass

from netwatch.models import Failure


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The server certificate a TLS service presented (whether or not it was trusted).

    >>> CertInfo(1.7e9, "CN=mail.example", "CN=Example CA", ("mail.example",)).names
    ('mail.example',)
    """

    not_after: float  # epoch seconds
    subject: str  # RFC 4514, e.g. "CN=portal.example,O=UBND"
    issuer: str
    names: tuple[str, ...] = ()  # DNS names and IP addresses of the subjectAltName


@dataclass(frozen=True, slots=True)
class ServiceData:
    """What one service check measured; partial when it failed part-way.

    ``duration`` and ``ttfb`` are seconds from the start of the check: ``ttfb`` is when the
    HTTP response headers (or a TCP banner) arrived. ``resolved`` holds a DNS check's answers.

    >>> ServiceData(status_code=200, duration=0.12, ttfb=0.05, cert=None).status_code
    200
    """

    status_code: int | None
    duration: float
    ttfb: float | None
    cert: CertInfo | None
    resolved: tuple[str, ...] = ()


class Progress:
    """How far a check got: filled in as it goes, so a failure still reports what it saw."""

    def __init__(self, phase: str) -> None:
        self.phase = phase  # e.g. "waiting for the banner": names what timed out
        self.status_code: int | None = None
        self.ttfb: float | None = None
        self.cert: CertInfo | None = None
        self.resolved: tuple[str, ...] = ()


class CheckFailed(Exception):  # internal: never escapes the probe
    """Raised inside a check for a failure it diagnosed itself (mismatch, bad reply)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure
