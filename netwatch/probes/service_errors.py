"""Operating-system and TLS errors as ``Failure``s, shared by the http, tcp and dns checks.

>>> os_failure(ConnectionRefusedError(111, "Connection refused"), "10.0.0.5:25").kind.value
'refused'
"""

from __future__ import annotations

import errno
import socket
import ssl

from netwatch.models import Failure, FailureKind
from netwatch.probes.certs import describe_cert_error
from netwatch.probes.service_model import Progress

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def timeout_failure(seconds: float, progress: Progress) -> Failure:
    return Failure(FailureKind.TIMEOUT, f"no answer within {seconds:g}s while {progress.phase}")


def tls_failure(exc: ssl.SSLError, progress: Progress) -> Failure:
    """A handshake or verification failure; names what the certificate is for when known."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = getattr(exc, "verify_message", None) or exc.strerror or str(exc)
        names = progress.cert.names if progress.cert else ()
        return Failure(FailureKind.TLS, describe_cert_error(str(message), names))
    reason = getattr(exc, "reason", None) or exc.strerror or str(exc) or type(exc).__name__
    return Failure(FailureKind.TLS, f"TLS handshake failed: {reason}")


def os_failure(exc: OSError, target: str) -> Failure:
    """Connect/read errors: refused, unreachable, reset, name lookup, TLS."""
    if isinstance(exc, ssl.SSLError):
        return tls_failure(exc, Progress(""))
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return Failure(FailureKind.REFUSED, f"{target} refused the connection; is the service up?")
    if exc.errno in _UNREACHABLE:
        return Failure(FailureKind.UNREACHABLE, f"{target}: {exc.strerror or 'unreachable'}")
    if isinstance(exc, socket.gaierror):
        return Failure(FailureKind.DNS, f"cannot resolve the host of {target}: {exc.strerror}")
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return Failure(FailureKind.PROTOCOL, f"{target} reset the connection")
    if isinstance(exc, TimeoutError):
        return Failure(FailureKind.TIMEOUT, f"{target}: timed out")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return Failure(FailureKind.ERROR, f"{target}: {reason}")
