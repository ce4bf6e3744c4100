"""The SNMPv2c codec against pysnmp's (pyasn1) encoder and decoder as the reference."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.api import v2c as api

from netwatch.probes import snmp_v2c as v2c

OIDS = [
    (1, 3, 6, 1, 2, 1, 1, 3, 0),
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 4294967295),  # a large arc
    (2, 999, 3),  # first arc 2, second >= 40
    (0, 39),
]


def reference_response(request_id: int, varbinds: Sequence[tuple[object, object]]) -> bytes:
    pdu = api.ResponsePDU()
    api.apiPDU.set_defaults(pdu)
    api.apiPDU.set_request_id(pdu, request_id)
    api.apiPDU.set_varbinds(pdu, varbinds)
    msg = api.Message()
    api.apiMessage.set_defaults(msg)
    api.apiMessage.set_community(msg, "s3cret")
    api.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


@pytest.mark.parametrize("pdu_type", [v2c.GET, v2c.GET_BULK])
def test_requests_decode_with_pyasn1(pdu_type: int) -> None:
    wire = v2c.encode_request(0x7FFFFFFF, b"s3cret", pdu_type, OIDS, repetitions=300)
    msg, rest = decoder.decode(wire, asn1Spec=api.Message())
    assert rest == b""
    assert int(msg["version"]) == 1
    assert bytes(msg["community"]) == b"s3cret"
    pdu = api.apiMessage.get_pdu(msg)
    assert int(api.apiPDU.get_request_id(pdu)) == 0x7FFFFFFF
    assert [tuple(oid) for oid, _ in api.apiPDU.get_varbinds(pdu)] == OIDS
    if pdu_type == v2c.GET_BULK:
        assert int(api.apiBulkPDU.get_max_repetitions(pdu)) == 300
        assert int(api.apiBulkPDU.get_non_repeaters(pdu)) == 0


def test_responses_from_pyasn1_decode_to_plain_values() -> None:
    varbinds = [
        ((1, 3, 6, 1, 2, 1, 1, 1, 0), rfc1902.OctetString(b"Linux \xc3\xa1 \x00")),
        ((1, 3, 6, 1, 2, 1, 1, 2, 0), rfc1902.ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072, 3))),
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), rfc1902.TimeTicks(4294967295)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 7, 1), rfc1902.Integer(-2147483648)),
        ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1), rfc1902.Counter64(2**64 - 1)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 14, 1), rfc1902.Counter32(0)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 5, 1), rfc1902.Gauge32(1000000000)),
        ((1, 3, 6, 1, 2, 1, 4, 20, 1, 1), rfc1902.IpAddress("10.1.2.3")),
        ((1, 3, 6, 1, 2, 1, 9, 9, 0), rfc1905.noSuchObject),
        ((1, 3, 6, 1, 2, 1, 9, 9, 1), rfc1905.noSuchInstance),
        ((1, 3, 6, 1, 2, 1, 9, 9, 2), rfc1905.endOfMibView),
    ]
    msg = v2c.decode_message(reference_response(12345, varbinds))
    assert (msg.pdu_type, msg.request_id, msg.error_status, msg.error_index) == (
        v2c.RESPONSE, 12345, 0, 0,
    )  # fmt: skip
    assert msg.community == b"s3cret"
    assert [oid for oid, _ in msg.varbinds] == [oid for oid, _ in varbinds]
    assert [value for _, value in msg.varbinds] == [
        b"Linux \xc3\xa1 \x00",
        (1, 3, 6, 1, 4, 1, 8072, 3),
        4294967295,
        -2147483648,
        2**64 - 1,
        0,
        1000000000,
        b"\x0a\x01\x02\x03",
        v2c.NO_SUCH_OBJECT,
        v2c.NO_SUCH_INSTANCE,
        v2c.END_OF_MIB_VIEW,
    ]


def test_a_request_decodes_as_a_request_with_null_values() -> None:
    msg = v2c.decode_message(v2c.encode_request(9, b"c", v2c.GET, OIDS))
    assert msg.pdu_type == v2c.GET
    assert [value for _, value in msg.varbinds] == [v2c.NULL] * len(OIDS)


def test_long_lengths_round_trip() -> None:
    oids = [(1, 3, 6, 1, 2, 1, 2, 2, 1, 2, i) for i in range(1, 400)]  # lengths in the long form
    wire = v2c.encode_request(1, b"x" * 300, v2c.GET_BULK, oids, repetitions=5)
    msg = v2c.decode_message(wire)
    assert [oid for oid, _ in msg.varbinds] == oids
    assert msg.community == b"x" * 300


def test_an_snmpv1_or_v3_message_is_refused() -> None:
    wire = bytearray(v2c.encode_request(1, b"c", v2c.GET, OIDS))
    assert wire[2:5] == b"\x02\x01\x01"  # version 1 means SNMPv2c
    wire[4] = 0
    with pytest.raises(v2c.MalformedMessage, match="version 0"):
        v2c.decode_message(bytes(wire))


@pytest.mark.parametrize("seed", range(200))
def test_garbage_is_refused_cleanly(seed: int) -> None:
    """Truncations, bit flips and random bytes: MalformedMessage or a message, nothing else."""
    rng = random.Random(seed)
    good = reference_response(seed, [((1, 3, 6, 1, 2, 1, 1, 5, 0), rfc1902.OctetString("sw"))])
    candidates = [good[: rng.randrange(len(good))], rng.randbytes(rng.randrange(1, 80))]
    flipped = bytearray(good)
    for _ in range(3):
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
    candidates.append(bytes(flipped))
    for data in candidates:
        with contextlib.suppress(v2c.MalformedMessage):
            v2c.decode_message(data)


def test_a_length_longer_than_the_datagram_is_refused() -> None:
    with pytest.raises(v2c.MalformedMessage):
        v2c.decode_message(b"\x30\x84\x7f\xff\xff\xff" + b"\x00" * 100)


def test_invalid_oids_are_not_encoded() -> None:
    with pytest.raises(ValueError, match="invalid OID"):
        v2c.encode_request(1, b"c", v2c.GET, [(1, 40, 1)])
