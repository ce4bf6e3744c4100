"""Every error the SNMP clients raise maps to a Failure in failure_from, clearly and safely."""

from __future__ import annotations

import errno
import inspect
import socket
from types import ModuleType

import pytest

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes import (
    snmp,
    snmp_clients,
    snmp_errors,
    snmp_udp,
    snmp_usm,
    snmp_v2c,
    snmp_v3,
    snmp_v3_client,
    snmp_values,
    snmp_walk,
)
from netwatch.probes.snmp_errors import ErrorStatus, Refused, V3Silent, failure_from

MODULES: tuple[ModuleType, ...] = (
    snmp,
    snmp_clients,
    snmp_errors,
    snmp_udp,
    snmp_usm,
    snmp_v2c,
    snmp_v3,
    snmp_v3_client,
    snmp_values,
    snmp_walk,
)
V2C = SnmpSettings(community=Secret("env:C", "s3cret-community"))
V3 = SnmpSettings(
    version="3", user="monitor", auth_protocol="sha", auth_password=Secret("x", "s3cret-pw"),
    priv_protocol="aes", priv_password=Secret("x", "s3cret-priv"),
)  # fmt: skip


def defined_classes() -> list[type[BaseException]]:
    """The exception classes netwatch's SNMP modules define (public or not)."""
    found: dict[str, type[BaseException]] = {}
    for module in MODULES:
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
            ):
                found[f"{obj.__module__}.{name}"] = obj
    return [found[k] for k in sorted(found)]


def instance(cls: type[BaseException]) -> BaseException:
    for args in ((), ("boom",), (FailureKind.PROTOCOL, "boom"), ("boom",)):
        try:
            return cls(*args)
        except TypeError:
            continue
    raise AssertionError(f"cannot build {cls}")


def test_the_classes_are_found() -> None:
    """The discovery sees the codecs' and the USM's exceptions."""
    names = {c.__name__ for c in defined_classes()}
    assert {"MalformedMessage", "UsmError", "DecryptionError", "Refused"} <= names


@pytest.mark.parametrize("cls", defined_classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_defined_error_class_is_mapped(cls: type[BaseException]) -> None:
    """An instance of each class becomes a Failure naming the device, with no secret."""
    for settings in (V2C, V3):
        failure = failure_from("rtr-1", instance(cls), settings)
        assert isinstance(failure.kind, FailureKind)
        assert "rtr-1" in failure.detail
        assert "s3cret" not in failure.detail


def test_timeouts_say_what_to_check() -> None:
    """A v2c timeout suspects the community; a v3 one after discovery the privacy settings."""
    timeout = failure_from("d", TimeoutError(), V2C)
    assert timeout.kind is FailureKind.TIMEOUT
    assert "wrong community or agent down?" in timeout.detail
    assert "agent down?" in failure_from("d", TimeoutError(), V3).detail
    silent = failure_from("d", V3Silent(), V3)
    assert silent.kind is FailureKind.TIMEOUT
    assert "priv_password or priv_protocol" in silent.detail


def test_usm_errors_keep_their_kind_and_reason() -> None:
    """What the v3 client says reaches the operator as it said it."""
    error = snmp_v3_client.UsmError(FailureKind.AUTH, "unknown user monitor (check snmp.user)")
    failure = failure_from("d", error, V3)
    assert failure.kind is FailureKind.AUTH
    assert failure.detail == "SNMP d: unknown user monitor (check snmp.user)"
    refused = failure_from("d", Refused(FailureKind.ERROR, "no community configured"), V2C)
    assert refused.detail == "SNMP d: no community configured"


def test_error_status_and_os_errors() -> None:
    """PDU error-status values and socket errors map by meaning."""
    assert failure_from("d", ErrorStatus(2, 1), V2C).kind is FailureKind.NO_SUCH_NAME
    assert failure_from("d", ErrorStatus(1, 0), V2C).kind is FailureKind.PROTOCOL
    assert failure_from("d", ErrorStatus(16, 0), V2C).kind is FailureKind.AUTH
    # Found by bench.hostile: a bit-flipped reply's error-status 64 or -128 was an "error".
    for bogus in (19, 64, -128):
        assert failure_from("d", ErrorStatus(bogus, 0), V2C).kind is FailureKind.PROTOCOL
    unreachable = OSError(errno.EHOSTUNREACH, "No route to host")
    assert failure_from("d", unreachable, V2C).kind is FailureKind.UNREACHABLE
    refused = OSError(errno.ECONNREFUSED, "Connection refused")
    assert failure_from("d", refused, V2C).kind is FailureKind.REFUSED
    denied = OSError(errno.EPERM, "Operation not permitted")
    assert failure_from("d", denied, V2C).kind is FailureKind.PERMISSION
    dns = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert failure_from("d", dns, V2C).kind is FailureKind.DNS
    assert failure_from("d", "NULL values", V2C).kind is FailureKind.PROTOCOL
    assert failure_from("d", object(), V2C).kind is FailureKind.ERROR
