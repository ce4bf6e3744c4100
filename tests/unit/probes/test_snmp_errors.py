"""Every error class pysnmp and pyasn1 export maps to a Failure in _failure_from."""

from __future__ import annotations

import errno
import inspect
from types import ModuleType

import pyasn1.error
import pysnmp.carrier.error
import pysnmp.error
import pysnmp.proto.errind
import pysnmp.proto.error
import pysnmp.smi.error
import pytest

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes.snmp import ErrorStatus, _failure_from

MODULES: tuple[ModuleType, ...] = (
    pysnmp.error,
    pysnmp.proto.errind,
    pysnmp.proto.error,
    pysnmp.carrier.error,
    pysnmp.smi.error,
    pyasn1.error,
)
V2C = SnmpSettings(community=Secret("env:C", "s3cret-community"))
V3 = SnmpSettings(version="3", user="monitor", auth_protocol="sha", auth_password=Secret("x", "pw"))


def exported_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in MODULES:
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found[f"{obj.__module__}.{name}"] = obj
    return [found[k] for k in sorted(found)]


def instance(cls: type[BaseException]) -> BaseException:
    for args in ((), ("boom",)):
        try:
            return cls(*args)
        except TypeError:
            continue
    raise AssertionError(f"cannot build {cls}")


def test_there_are_many_classes() -> None:
    """The discovery found the error indications and the exception trees."""
    names = {c.__name__ for c in exported_classes()}
    assert {"RequestTimedOut", "WrongDigest", "PyAsn1Error", "NoSuchObjectError"} <= names


@pytest.mark.parametrize("cls", exported_classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_exported_error_class_is_mapped(cls: type[BaseException]) -> None:
    """An instance of each class becomes a Failure naming the device, with no secret."""
    for settings in (V2C, V3):
        failure = _failure_from("rtr-1", instance(cls), settings)
        assert isinstance(failure.kind, FailureKind)
        assert "rtr-1" in failure.detail
        assert "s3cret" not in failure.detail
        assert "pw" not in failure.detail.split()


def test_errind_singletons_get_distinct_clear_reasons() -> None:
    """The indications an operator meets most have their own kind and wording."""
    errind = pysnmp.proto.errind
    timeout = _failure_from("d", errind.requestTimedOut, V2C)
    assert timeout.kind is FailureKind.TIMEOUT
    assert "wrong community or agent down?" in timeout.detail
    assert _failure_from("d", errind.wrongDigest, V3).detail.endswith("(wrong auth password?)")
    unknown = _failure_from("d", errind.unknownUserName, V3)
    assert unknown.kind is FailureKind.AUTH
    assert "unknown user monitor" in unknown.detail
    assert _failure_from("d", errind.unsupportedSecurityLevel, V3).kind is FailureKind.AUTH
    assert _failure_from("d", errind.parseError, V3).kind is FailureKind.PROTOCOL
    assert (
        _failure_from("d", pyasn1.error.SubstrateUnderrunError("x"), V3).kind
        is FailureKind.PROTOCOL
    )


def test_status_information_unwraps_its_indication() -> None:
    """pysnmp's StatusInformation carries the real indication inside."""
    info = pysnmp.proto.error.StatusInformation(errorIndication=pysnmp.proto.errind.wrongDigest)
    assert _failure_from("d", info, V3).kind is FailureKind.AUTH


def test_error_status_and_os_errors() -> None:
    """PDU error-status values and socket errors map by meaning."""
    assert _failure_from("d", ErrorStatus(2, 1), V2C).kind is FailureKind.NO_SUCH_NAME
    assert _failure_from("d", ErrorStatus(1, 0), V2C).kind is FailureKind.PROTOCOL
    assert _failure_from("d", ErrorStatus(16, 0), V2C).kind is FailureKind.AUTH
    # Found by bench.hostile: a bit-flipped reply's error-status 64 or -128 was an "error".
    for bogus in (19, 64, -128):
        assert _failure_from("d", ErrorStatus(bogus, 0), V2C).kind is FailureKind.PROTOCOL
    unreachable = OSError(errno.EHOSTUNREACH, "No route to host")
    assert _failure_from("d", unreachable, V2C).kind is FailureKind.UNREACHABLE
    carrier = pysnmp.carrier.error.CarrierError("sendto failed")
    carrier.__context__ = OSError(errno.ENETUNREACH, "Network is unreachable")
    assert _failure_from("d", carrier, V2C).kind is FailureKind.UNREACHABLE
    assert _failure_from("d", "badResponse", V2C).kind is FailureKind.PROTOCOL
    assert _failure_from("d", object(), V2C).kind is FailureKind.ERROR
