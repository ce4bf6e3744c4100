"""The SNMP probe's errors and their one translation into a ``Failure``.

A request of the poller fails with :class:`RequestFailed`, which carries what went wrong: an
exception of the clients (the codecs' ``MalformedMessage``, the v3 client's ``UsmError``), of
the OS (``TimeoutError``, ``OSError``), a :class:`Refused` (netwatch's own objection to a
reply or a setting), an :class:`ErrorStatus` (the agent's), or a short text about a reply.
:func:`failure_from` turns any of them into a ``Failure`` the operator can act on, and names
no secret (tests/unit/probes/test_snmp_errors.py checks every exception class is mapped).

>>> failure_from("rtr-1", ErrorStatus(2, 1), SnmpSettings()).kind.value
'no_such_name'
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from netwatch.models import Failure, FailureKind, SnmpSettings
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp_v3_client import UsmError

_TIMEOUT_KINDS: Final = (TimeoutError,)


class Refused(Exception):
    """A problem netwatch finds with an agent's answers or a device's settings (not the
    network's, not the USM's): ``kind`` and an operator's ``reason``."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """A non-zero error-status in an agent's response PDU (not an exception)."""

    status: int
    index: int


class V3Silent(TimeoutError):
    """An SNMPv3 agent that answered discovery stayed silent to a request."""


class RequestFailed(Exception):
    """A request (or a walk) of the poller failed; ``error`` is what :func:`failure_from`
    translates."""

    def __init__(self, error: object) -> None:
        super().__init__(repr(error))
        self.error = error


# RFC 3416 error-status values of a response PDU.
_ERROR_STATUS: Final[Mapping[int, tuple[FailureKind, str]]] = {
    1: (FailureKind.PROTOCOL, "tooBig (lower max_repetitions)"),
    2: (FailureKind.NO_SUCH_NAME, "noSuchName"),
    5: (FailureKind.ERROR, "genErr"),
    6: (FailureKind.AUTH, "noAccess"),
    16: (FailureKind.AUTH, "authorizationError"),
}

_MAX_ERROR_STATUS: Final = 18  # inconsistentName, the last of RFC 3416's error-status values


def failure_from(device: str, error: object, settings: SnmpSettings) -> Failure:
    """The one translation of the SNMP clients' and the OS's errors into a ``Failure``; never
    raises.

    ``error`` is an exception (the codecs' :class:`~netwatch.probes.snmp_v2c.MalformedMessage`,
    the v3 client's :class:`~netwatch.probes.snmp_v3_client.UsmError`, :class:`Refused`,
    ``TimeoutError``, ``OSError``), an :class:`ErrorStatus`, or a short text about a reply.
    """
    prefix = f"SNMP {device}"
    if isinstance(error, (UsmError, Refused)):
        return Failure(error.kind, f"{prefix}: {error.reason}")
    if isinstance(error, _TIMEOUT_KINDS):
        why = "agent down?" if settings.version == "3" else "wrong community or agent down?"
        if settings.version == "3" and settings.priv_protocol and isinstance(error, V3Silent):
            # net-snmp drops what it cannot decrypt: after a discovery that worked, silence
            # to an encrypted request points at the privacy settings.
            why = "agent down, or wrong priv_password or priv_protocol?"
        wait = settings.timeout * (settings.retries + 1)
        return Failure(FailureKind.TIMEOUT, f"{prefix}: no reply within {wait:g}s ({why})")
    if isinstance(error, ErrorStatus):
        if not 0 <= error.status <= _MAX_ERROR_STATUS:  # not an RFC 3416 value: a bad reply
            detail = f"malformed reply: error-status {error.status} is not an SNMP error"
            return Failure(FailureKind.PROTOCOL, f"{prefix}: {detail}")
        kind, name = _ERROR_STATUS.get(error.status, (FailureKind.ERROR, "error"))
        detail = f"agent answered {name} (error-status {error.status}, index {error.index})"
        return Failure(kind, f"{prefix}: {detail}")
    if isinstance(error, str):
        return Failure(FailureKind.PROTOCOL, f"{prefix}: unexpected reply ({error[:60]})")
    if isinstance(error, v2c.MalformedMessage):  # every codec's one error; no secret in it
        return Failure(FailureKind.PROTOCOL, f"{prefix}: malformed reply: {str(error)[:80]}")
    if isinstance(error, socket.gaierror):
        return Failure(FailureKind.DNS, f"{prefix}: cannot resolve address: {error.strerror}")
    if isinstance(error, OSError):
        return _os_failure(prefix, error)
    return Failure(FailureKind.ERROR, f"{prefix}: {type(error).__name__}")


def _os_failure(prefix: str, error: OSError) -> Failure:
    if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return Failure(FailureKind.UNREACHABLE, f"{prefix}: {error.strerror}")
    if error.errno == errno.ECONNREFUSED:
        return Failure(FailureKind.REFUSED, f"{prefix}: port closed (ICMP port unreachable)")
    if error.errno in (errno.EPERM, errno.EACCES):
        return Failure(FailureKind.PERMISSION, f"{prefix}: sending not permitted (firewall?)")
    return Failure(FailureKind.ERROR, f"{prefix}: {error.strerror or type(error).__name__}")
