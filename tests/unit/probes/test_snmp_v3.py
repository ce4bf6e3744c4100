"""The SNMPv3 message codec: what it encodes it decodes, authenticated where the MAC says."""

from __future__ import annotations

import dataclasses

import pytest

from netwatch.probes import snmp_usm as usm
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes import snmp_v3 as v3
from netwatch.probes.snmp_v3_client import Credentials

ENGINE = bytes.fromhex("80001f8880aabbccdd")
OID = (1, 3, 6, 1, 2, 1, 1, 5, 0)


def keys(auth: str | None, priv: str | None) -> usm.UserKeys:
    return usm.KeyCache().keys(b"user", ENGINE, auth, b"authpass-1", priv, b"privpass-2")


@pytest.mark.parametrize(
    ("auth", "priv"),
    [(None, None), ("md5", None), ("sha", "des"), ("sha256", "aes"), ("sha512", "aes256c")],
)
def test_round_trip(auth: str | None, priv: str | None) -> None:
    """Header fields and the PDU survive encode → decode; the MAC sits where decode says."""
    k = keys(auth, priv)
    flags = v3.FLAG_REPORTABLE | (v3.FLAG_AUTH if auth else 0) | (v3.FLAG_PRIV if priv else 0)
    pdu = v2c.encode_pdu(42, v2c.GET_BULK, [OID], 10)
    wire = v3.encode_message(77, flags, ENGINE, 5, 1000, b"user", k, ENGINE, b"ctx", pdu)
    msg = v3.decode_message(wire)
    assert (msg.msg_id, msg.flags, msg.engine_id, msg.boots, msg.engine_time, msg.user) == (
        77, flags, ENGINE, 5, 1000, b"user",
    )  # fmt: skip
    data = msg.data
    if priv:
        assert k.priv is not None
        data = k.decrypt(5, 1000, msg.priv_params, data)
    decoded = v3.decode_scoped_pdu(data)
    assert (decoded.pdu_type, decoded.request_id, decoded.error_index) == (v2c.GET_BULK, 42, 10)
    assert decoded.varbinds == [(OID, v2c.NULL)]
    if auth:
        assert k.auth is not None
        size = len(msg.auth_params)
        zeroed = wire[: msg.auth_at] + bytes(size) + wire[msg.auth_at + size :]
        assert k.verify(zeroed, msg.auth_params)
        tampered = bytearray(zeroed)
        tampered[-1] ^= 1
        assert not k.verify(bytes(tampered), msg.auth_params)
        assert v3.authentic(msg, wire, k)
        changed = bytearray(wire)
        changed[-1] ^= 1
        assert not v3.authentic(msg, bytes(changed), k)
        short = dataclasses.replace(msg, auth_params=msg.auth_params[:-1])
        assert not v3.authentic(short, wire, k)  # a truncated MAC is not the MAC


def test_flags_without_keys_are_refused() -> None:
    """Asking for authentication without keys is a bug, refused before anything is sent."""
    with pytest.raises(ValueError, match="keys"):
        v3.encode_message(1, v3.FLAG_AUTH, ENGINE, 0, 0, b"u", None, ENGINE, b"", b"")


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x30\x03\x02\x01\x01",  # v2c version
        v2c.encode_request(1, b"public", v2c.GET, [OID]),
        b"\x30\x84\xff\xff\xff\xff",
    ],
)
def test_garbage_is_malformed(wire: bytes) -> None:
    """Anything that is not a USM message is MalformedMessage, never another exception."""
    with pytest.raises(v2c.MalformedMessage):
        v3.decode_message(wire)


def test_credentials_and_keys_never_show_secrets() -> None:
    """repr of credentials and keys names protocols, never passwords or keys."""
    creds = Credentials(b"monitor", "sha", b"secret-auth-1", "aes", b"secret-priv-2")
    k = keys("sha", "aes")
    assert "secret" not in repr(creds)
    assert k.auth_key.hex() not in repr(k)
    assert k.priv_key.hex() not in repr(k)
    assert creds.level == "authPriv"


def _with_msg_id(raw: bytes) -> bytes:
    """A noAuthNoPriv message whose msgID is the INTEGER of content ``raw``."""
    tlv, integer = v2c._tlv, v2c._integer
    header = tlv(0x30, tlv(0x02, raw) + integer(v3.MAX_SIZE) + tlv(0x04, b"\x04") + integer(3))
    usm_params = tlv(0x04, b"") + integer(0) + integer(0) + tlv(0x04, b"") * 3
    scoped = tlv(0x30, tlv(0x04, b"") * 2 + v2c.encode_pdu(1, v2c.GET, [OID]))
    return tlv(0x30, integer(3) + header + tlv(0x04, tlv(0x30, usm_params)) + scoped)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"\x01", 1),
        (b"\x80\x00\x00\x00", -(2**31)),
        (b"\x7f\xff\xff\xff", 2**31 - 1),
        (b"\x00\x00\x00\x00\x07", 7),  # longer than needed: read, and bounded
        (b"\x00\x80\x00\x00\x00", None),  # 2^31: beyond RFC 3412's INTEGER (0..2^31-1)
        (b"\xff\x7f\xff\xff\xff", None),  # -2^31-1
        (b"", None),
    ],
)
def test_header_integers_are_read_within_integer_range(raw: bytes, value: int | None) -> None:
    """The envelope's integers are read by the v2c codec's _int_at: within INTEGER's range,
    or the codecs' one MalformedMessage."""
    if value is None:
        with pytest.raises(v2c.MalformedMessage, match="INTEGER"):
            v3.decode_message(_with_msg_id(raw))
    else:
        assert v3.decode_message(_with_msg_id(raw)).msg_id == value


def test_a_bad_pdu_in_a_scoped_pdu_is_the_one_malformed_message() -> None:
    """A scoped PDU whose PDU is cut short raises v2c's MalformedMessage (the class every
    caller catches), not an error of the v3 codec's own."""
    truncated = v2c._tlv(0x30, b"\x04\x00\x04\x00" + b"\xa2\x03\x02\x01")
    with pytest.raises(v2c.MalformedMessage, match="truncated"):
        v3.decode_scoped_pdu(truncated)
