"""The SNMPv3 path refuses what the v2c codec refuses (it decodes its PDUs), as PROTOCOL."""

from __future__ import annotations

import pytest

from netwatch.models import FailureKind, Secret, SnmpSettings
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes import snmp_v3 as v3
from netwatch.probes.snmp_errors import failure_from
from netwatch.probes.snmp_v3_client import UsmError

V3 = SnmpSettings(version="3", user="monitor", auth_protocol="sha", auth_password=Secret("x", "pw"))
NAME = bytes.fromhex("06082b06010201010300")  # 1.3.6.1.2.1.1.3.0


def scoped(value: bytes, name: bytes = NAME) -> bytes:
    """A scoped PDU (empty context) holding one response varbind ``name = value`` (BER)."""
    varbind = v2c._tlv(0x30, name + value)
    pdu = v2c._tlv(0xA2, b"\x02\x01\x07\x02\x01\x00\x02\x01\x00" + v2c._tlv(0x30, varbind))
    return v2c._tlv(0x30, b"\x04\x00\x04\x00" + pdu)


GOOD = [
    v2c._tlv(0x46, b"\x00" + b"\xff" * 8),  # Counter64 2^64-1
    v2c._tlv(0x02, b"\x80\x00\x00\x00"),  # Integer32 -2^31
    v2c._tlv(0x43, b"\x00\xff\xff\xff\xff"),  # TimeTicks 2^32-1
]
BAD = [
    v2c._tlv(0x46, b"\x01" + bytes(8)),  # Counter64 2^64
    v2c._tlv(0x46, b"\x01" + bytes(2000)),  # Counter64 2^16000
    v2c._tlv(0x43, b"\x01" + bytes(4)),  # TimeTicks 2^32
    v2c._tlv(0x02, b"\x00\x80\x00\x00\x00"),  # Integer32 2^31
]


@pytest.mark.parametrize("value", GOOD, ids=range(len(GOOD)))
def test_values_at_the_edges_pass(value: bytes) -> None:
    """The largest legal values decode."""
    message = v3.decode_scoped_pdu(scoped(value))
    assert message.request_id == 7
    assert len(message.varbinds) == 1


@pytest.mark.parametrize("value", BAD, ids=range(len(BAD)))
def test_values_past_the_edges_are_malformed(value: bytes) -> None:
    """Each out-of-bounds number is the codec's MalformedMessage."""
    with pytest.raises(v2c.MalformedMessage):
        v3.decode_scoped_pdu(scoped(value))


def test_usm_errors_and_malformed_messages_map_to_their_kinds() -> None:
    """A UsmError keeps its kind and reason; a malformed v2c message is PROTOCOL without the
    community."""
    failure = failure_from("rtr-1", UsmError(FailureKind.PROTOCOL, "undecodable"), V3)
    assert failure.kind is FailureKind.PROTOCOL
    assert failure.detail == "SNMP rtr-1: undecodable"
    settings = SnmpSettings(community=Secret("env:C", "s3cret-community"))
    failure = failure_from("rtr-1", v2c.MalformedMessage("Counter64 out of range"), settings)
    assert failure.kind is FailureKind.PROTOCOL
    assert failure.detail == "SNMP rtr-1: malformed reply: Counter64 out of range"
