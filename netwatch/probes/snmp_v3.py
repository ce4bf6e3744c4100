"""SNMPv3 on the wire: RFC 3412 messages with the RFC 3414 USM (the client is
:mod:`netwatch.probes.snmp_v3_client`).

The v3 sibling of :mod:`netwatch.probes.snmp_v2c`, with the same reason to exist: pysnmp and
pyasn1 cost 15 ms of CPU for a poll of a 4-interface agent and 73-95 ms for 48 ports. The
message around the PDU is short (RFC 3412 6: version, header data, the USM's security
parameters, and the scoped PDU, in clear or encrypted); the PDU itself is encoded and decoded
by the v2c codec, so both versions read values the same way; the BER primitives and the one
:class:`~netwatch.probes.snmp_v2c.MalformedMessage` are the v2c codec's too.

>>> msg = encode_message(1, 0x04, b"", 0, 0, b"", None, b"", b"", b"\\xa0\\x0b\\x02\\x01\\x01"
...                      b"\\x02\\x01\\x00\\x02\\x01\\x00\\x30\\x00")
>>> decode_message(msg).msg_id
1
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from netwatch.probes import snmp_usm as usm
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp_v2c import _expect, _header, _int_at, _integer, _length, _octets_at, _tlv

Oid = tuple[int, ...]

REPORT: Final = 0xA8
FLAG_AUTH: Final = 0x01
FLAG_PRIV: Final = 0x02
FLAG_REPORTABLE: Final = 0x04
MAX_SIZE: Final = 65_507  # msgMaxSize: the largest UDP payload over IPv4
_USM: Final = 3

# Report OIDs (RFC 3414 usmStats, RFC 3412 snmpMPDStats, RFC 3411 snmpUnknownContexts...).
_USM_STATS: Final = (1, 3, 6, 1, 6, 3, 15, 1, 1)
UNSUPPORTED_SEC_LEVEL: Final = (*_USM_STATS, 1, 0)
NOT_IN_TIME_WINDOW: Final = (*_USM_STATS, 2, 0)
UNKNOWN_USER: Final = (*_USM_STATS, 3, 0)
UNKNOWN_ENGINE_ID: Final = (*_USM_STATS, 4, 0)
WRONG_DIGEST: Final = (*_USM_STATS, 5, 0)
DECRYPTION_ERROR: Final = (*_USM_STATS, 6, 0)


@dataclass(slots=True)
class V3Message:
    """A decoded SNMPv3 message; ``data`` is the scoped PDU, or its ciphertext when
    ``flags & FLAG_PRIV``. ``auth_at`` is where the authentication parameters start."""

    msg_id: int
    flags: int
    engine_id: bytes
    boots: int
    engine_time: int
    user: bytes
    auth_params: bytes
    priv_params: bytes
    auth_at: int
    data: bytes


@dataclass(slots=True)
class EngineState:
    """What one target's authoritative engine told us: its id, boots and time (at ``at``,
    this process's monotonic clock)."""

    engine_id: bytes
    boots: int
    engine_time: int
    at: float

    def now(self, clock: Callable[[], float]) -> int:
        return min(self.engine_time + int(clock() - self.at), 0x7FFFFFFF)

    def update(self, boots: int, engine_time: int, clock: Callable[[], float]) -> None:
        """RFC 3414 3.2 7b: take a later boots, or a later time in the same boots."""
        if boots > self.boots or (boots == self.boots and engine_time > self.now(clock)):
            self.boots, self.engine_time, self.at = boots, engine_time, clock()


# --------------------------------------------------------------------------- encoding


@functools.lru_cache(maxsize=4096)
def _octets(value: bytes) -> bytes:
    """The OCTET STRING of a value met again and again (engine id, user, context)."""
    return _tlv(0x04, value)


_VERSION_3: Final = b"\x02\x01\x03"
# What follows msgID in the header: msgMaxSize, msgFlags (one byte, per flags) and the USM.
_HEADER_TAIL: Final = tuple(
    _integer(MAX_SIZE) + bytes((0x04, 1, flags)) + b"\x02\x01\x03" for flags in range(8)
)
# msgAuthenticationParameters of a message without authentication: empty.
_NO_MAC: Final = b"\x04\x00"


def encode_message(
    msg_id: int,
    flags: int,
    engine_id: bytes,
    boots: int,
    engine_time: int,
    user: bytes,
    keys: usm.UserKeys | None,
    context_engine_id: bytes,
    context_name: bytes,
    pdu: bytes,
) -> bytes:
    """An SNMPv3 message; authenticated and encrypted as ``flags`` say (``keys`` then set).
    ``pdu`` is a PDU's TLV, e.g. :func:`~netwatch.probes.snmp_v2c.encode_pdu`'s."""
    scoped = _tlv(0x30, _octets(context_engine_id) + _octets(context_name) + pdu)
    auth = keys.auth if keys is not None and flags & FLAG_AUTH else None
    priv = keys.priv if keys is not None and flags & FLAG_PRIV else None
    if (flags & FLAG_AUTH and auth is None) or (flags & FLAG_PRIV and priv is None):
        raise ValueError("the message's flags ask for keys it was not given")
    if priv is not None and keys is not None:
        ciphertext, salt = keys.encrypt(boots, engine_time, scoped)
        data = _tlv(0x04, ciphertext)
        priv_params = b"\x04\x08" + salt
    else:
        data = scoped
        priv_params = b"\x04\x00"
    # Both parameters are shorter than 128 bytes: one length byte each.
    mac_params = bytes((0x04, auth.mac_length)) + bytes(auth.mac_length) if auth else _NO_MAC
    security = _tlv(
        0x30,
        _octets(engine_id) + _integer(boots) + _integer(engine_time) + _octets(user)
        + mac_params + priv_params,
    )  # fmt: skip
    header = _VERSION_3 + _tlv(0x30, _integer(msg_id) + _HEADER_TAIL[flags & 7])
    message = _tlv(0x30, header + _tlv(0x04, security) + data)
    if auth is None or keys is None:
        return message
    # The zeros to replace lie just before the privacy parameters and the data.
    at = len(message) - len(data) - len(priv_params) - auth.mac_length
    digest = keys.mac(message)
    return message[:at] + digest + message[at + auth.mac_length :]


# --------------------------------------------------------------------------- decoding


def decode_message(buf: bytes) -> V3Message:
    """Decode an SNMPv3/USM message's envelope; :class:`~netwatch.probes.snmp_v2c.MalformedMessage`
    otherwise."""
    i, msg_end = _expect(buf, 0, len(buf), 0x30)
    version, i = _int_at(buf, i, msg_end)
    if version != 3:
        raise v2c.MalformedMessage(f"not SNMPv3 (version {version})")
    i, header_end = _expect(buf, i, msg_end, 0x30)
    msg_id, i = _int_at(buf, i, header_end)
    _max_size, i = _int_at(buf, i, header_end)
    flags_raw, _s, i = _octets_at(buf, i, header_end)
    model, i = _int_at(buf, i, header_end)
    if len(flags_raw) != 1 or model != _USM:
        raise v2c.MalformedMessage("not a USM message")
    i, sec_end = _expect(buf, header_end, msg_end, 0x04)
    j, usm_end = _expect(buf, i, sec_end, 0x30)
    engine_id, _s, j = _octets_at(buf, j, usm_end)
    boots, j = _int_at(buf, j, usm_end)
    engine_time, j = _int_at(buf, j, usm_end)
    user, _s, j = _octets_at(buf, j, usm_end)
    auth_params, auth_at, j = _octets_at(buf, j, usm_end)
    priv_params, _s, j = _octets_at(buf, j, usm_end)
    i = sec_end
    flags = flags_raw[0]
    if flags & FLAG_PRIV:
        start, stop = _expect(buf, i, msg_end, 0x04)
    else:
        _tag, _start, stop = _header(buf, i, msg_end)
        start = i
    return V3Message(
        msg_id, flags, engine_id, boots, engine_time, user, auth_params, priv_params, auth_at,
        buf[start:stop],
    )  # fmt: skip


def authentic(msg: V3Message, data: bytes, keys: usm.UserKeys) -> bool:
    """Whether ``data`` (decoded as ``msg``) carries ``keys``' MAC (RFC 3414 3.2 6): its
    authentication parameters are the MAC's length and match the message with them zeroed."""
    size = len(msg.auth_params)
    if keys.auth is None or size != keys.auth.mac_length:
        return False
    zeroed = data[: msg.auth_at] + bytes(size) + data[msg.auth_at + size :]
    return keys.verify(zeroed, msg.auth_params)


def split_scoped_pdu(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(contextEngineID, contextName, the PDU's TLV) of a (decrypted) scoped PDU; trailing
    bytes (DES padding) are ignored."""
    i, end = _expect(data, 0, len(data), 0x30)
    context_engine, _s, i = _octets_at(data, i, end)
    context, _s, i = _octets_at(data, i, end)
    _tag, _start, stop = _header(data, i, end)
    return context_engine, context, data[i:stop]


def as_v2c(pdu: bytes) -> bytes:
    """``pdu`` in a v2c message (version 1, community ""): the v2c decoders read messages."""
    body = b"\x02\x01\x01\x04\x00" + pdu
    return b"\x30" + _length(len(body)) + body


def decode_scoped_pdu(data: bytes) -> v2c.Message:
    """The PDU of a (decrypted) scoped PDU, decoded by the v2c codec; trailing bytes (DES
    padding) are ignored."""
    i, end = _expect(data, 0, len(data), 0x30)
    _context_engine, _s, i = _octets_at(data, i, end)
    _context, _s, i = _octets_at(data, i, end)
    return v2c.decode_pdu(data, i, end)
