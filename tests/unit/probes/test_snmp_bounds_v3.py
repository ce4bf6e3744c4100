"""The SNMPv3 (pysnmp) path refuses what the v2c codec refuses, as a PROTOCOL failure."""

from __future__ import annotations

from typing import Any

import pytest
from pyasn1.type import univ
from pysnmp.proto import rfc1902

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp import _check_bounds, _failure_from, _RequestFailed

NAME = rfc1902.ObjectName((1, 3, 6, 1, 2, 1, 1, 3, 0))
V3 = SnmpSettings(version="3", user="monitor", auth_protocol="sha", auth_password=Secret("x", "pw"))


def tagged(value: int, like: type[univ.Integer]) -> univ.Integer:
    """An integer with ``like``'s tag but no range constraint (what a lax decoder could give)."""
    return univ.Integer(value).subtype(implicitTag=like.tagSet[-1])


GOOD: list[tuple[Any, Any]] = [
    (NAME, rfc1902.Counter64(2**64 - 1)),
    (NAME, rfc1902.Integer32(-(2**31))),
    (NAME, rfc1902.TimeTicks(2**32 - 1)),
    (NAME, rfc1902.ObjectIdentifier((1, 3, *([2**32 - 1] * 126)))),
    (rfc1902.ObjectName((1, 3, *([1] * 126))), rfc1902.OctetString(b"x")),
]
BAD: list[tuple[Any, Any]] = [
    (NAME, tagged(2**64, rfc1902.Counter64)),
    (NAME, tagged(2**16000, rfc1902.Counter64)),
    (NAME, tagged(2**32, rfc1902.TimeTicks)),
    (NAME, tagged(-1, rfc1902.Gauge32)),
    (NAME, tagged(2**31, rfc1902.Integer32)),
    (NAME, rfc1902.ObjectIdentifier((1, 3, 2**32))),
    (NAME, rfc1902.ObjectIdentifier((1, 3, *([1] * 127)))),
    (rfc1902.ObjectName((1, 3, 6, 2**40)), rfc1902.OctetString(b"x")),
    (rfc1902.ObjectName((1, 3, *([1] * 127))), rfc1902.OctetString(b"x")),
]


def test_values_at_the_edges_pass() -> None:
    """The largest legal values and a 128-arc OID are accepted."""
    _check_bounds(GOOD)


@pytest.mark.parametrize("varbind", BAD, ids=range(len(BAD)))
def test_values_past_the_edges_are_protocol_failures(varbind: tuple[Any, Any]) -> None:
    """Each out-of-bounds number or OID raises _RequestFailed, which maps to PROTOCOL."""
    with pytest.raises(_RequestFailed) as caught:
        _check_bounds([*GOOD, varbind])
    failure = _failure_from("rtr-1", caught.value.error, V3)
    assert failure.kind is FailureKind.PROTOCOL
    assert "rtr-1" in failure.detail


def test_malformed_v2c_messages_are_protocol_failures() -> None:
    """The codec's MalformedMessage maps to PROTOCOL and says why, without the community."""
    settings = SnmpSettings(community=Secret("env:C", "s3cret-community"))
    failure = _failure_from("rtr-1", v2c.MalformedMessage("Counter64 out of range"), settings)
    assert failure.kind is FailureKind.PROTOCOL
    assert failure.detail == "SNMP rtr-1: malformed reply: Counter64 out of range"
