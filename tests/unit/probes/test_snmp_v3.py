"""The SNMPv3 message codec: what it encodes it decodes, authenticated where the MAC says."""

from __future__ import annotations

import pytest

from netwatch.probes import snmp_usm as usm
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes import snmp_v3 as v3

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
    pdu = v3.encode_pdu(42, v2c.GET_BULK, [OID], 10)
    wire = v3.encode_message(77, flags, ENGINE, 5, 1000, b"user", k, ENGINE, b"ctx", pdu)
    msg = v3.decode_message(wire)
    assert (msg.msg_id, msg.flags, msg.engine_id, msg.boots, msg.engine_time, msg.user) == (
        77, flags, ENGINE, 5, 1000, b"user",
    )  # fmt: skip
    data = msg.data
    if priv:
        assert k.priv is not None
        data = usm.decrypt(k.priv, k.priv_key, 5, 1000, msg.priv_params, data)
    decoded = v3.decode_scoped_pdu(data)
    assert (decoded.pdu_type, decoded.request_id, decoded.error_index) == (v2c.GET_BULK, 42, 10)
    assert decoded.varbinds == [(OID, v2c.NULL)]
    if auth:
        assert k.auth is not None
        size = len(msg.auth_params)
        zeroed = wire[: msg.auth_at] + bytes(size) + wire[msg.auth_at + size :]
        assert usm.verify(k.auth, k.auth_key, zeroed, msg.auth_params)
        tampered = bytearray(zeroed)
        tampered[-1] ^= 1
        assert not usm.verify(k.auth, k.auth_key, bytes(tampered), msg.auth_params)


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
    with pytest.raises(v3.MalformedMessage):
        v3.decode_message(wire)


def test_credentials_and_keys_never_show_secrets() -> None:
    """repr of credentials and keys names protocols, never passwords or keys."""
    creds = v3.Credentials(b"monitor", "sha", b"secret-auth-1", "aes", b"secret-priv-2")
    k = keys("sha", "aes")
    assert "secret" not in repr(creds)
    assert k.auth_key.hex() not in repr(k)
    assert k.priv_key.hex() not in repr(k)
    assert creds.level == "authPriv"
