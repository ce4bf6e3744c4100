"""SNMPv3 on the wire: RFC 3412 messages with the RFC 3414 USM, and a UDP client.

The v3 sibling of :mod:`netwatch.probes.snmp_v2c`, with the same reason to exist: pysnmp and
pyasn1 cost 15 ms of CPU for a poll of a 4-interface agent and 73-95 ms for 48 ports. The
message around the PDU is short (RFC 3412 6: version, header data, the USM's security
parameters, and the scoped PDU, in clear or encrypted); the PDU itself is encoded and decoded
by the v2c codec, so both versions read values the same way; the BER primitives and the one
:class:`~netwatch.probes.snmp_v2c.MalformedMessage` are the v2c codec's too.

The client (:class:`V3Client`) keeps, per target (address and port, not per engine id: two
cloned agents may share an engine id), the agent's engine id, boots and time; it discovers
them with the empty-engine-id request (RFC 3414 4), follows the agent's clock, resynchronises
once on a ``notInTimeWindow`` report and rediscovers once on ``unknownEngineID`` (an agent
restarted or replaced). Every other report becomes a :class:`UsmError` with the failure kind
and a reason that says what to check, never a key or password.

>>> msg = encode_message(1, 0x04, b"", 0, 0, b"", None, b"", b"", b"\\xa0\\x0b\\x02\\x01\\x01"
...                      b"\\x02\\x01\\x00\\x02\\x01\\x00\\x30\\x00")
>>> decode_message(msg).msg_id
1
"""

from __future__ import annotations

import asyncio
import collections
import functools
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netwatch.models import FailureKind
from netwatch.probes import snmp_usm as usm
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp_udp import Address, UdpClient
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
_CHECK_AUTH: Final = "check auth_password and auth_protocol against the agent's user"
_CHECK_PRIV: Final = "check priv_password and priv_protocol against the agent's user"
_REPORTS: Final[dict[Oid, tuple[FailureKind, str]]] = {
    UNSUPPORTED_SEC_LEVEL: (
        FailureKind.AUTH,
        "unsupported security level {level} for user {user} (check auth_protocol and "
        "priv_protocol: the agent's user has other settings)",
    ),
    NOT_IN_TIME_WINDOW: (
        FailureKind.AUTH,
        "not in time window (agent engine boots/time out of sync even after resynchronising; "
        f"wrong auth password? {_CHECK_AUTH})",
    ),
    UNKNOWN_USER: (FailureKind.AUTH, "unknown user {user} (check snmp.user on this device)"),
    UNKNOWN_ENGINE_ID: (FailureKind.PROTOCOL, "SNMPv3 engine id discovery failed"),
    WRONG_DIGEST: (FailureKind.AUTH, f"authentication failed (wrong auth password? {_CHECK_AUTH})"),
    DECRYPTION_ERROR: (
        FailureKind.AUTH,
        f"decryption failed (wrong privacy password or protocol? {_CHECK_PRIV})",
    ),
    (1, 3, 6, 1, 6, 3, 11, 2, 1, 1, 0): (FailureKind.PROTOCOL, "unsupported security model"),
    (1, 3, 6, 1, 6, 3, 11, 2, 1, 2, 0): (FailureKind.PROTOCOL, "agent found our message invalid"),
    (1, 3, 6, 1, 6, 3, 11, 2, 1, 3, 0): (FailureKind.PROTOCOL, "unexpected PDU type"),
    (1, 3, 6, 1, 6, 3, 12, 1, 4, 0): (FailureKind.AUTH, "unavailable context (check snmp.context)"),
    (1, 3, 6, 1, 6, 3, 12, 1, 5, 0): (FailureKind.AUTH, "unknown context (check snmp.context)"),
}  # fmt: skip


class UsmError(Exception):
    """An SNMPv3 exchange failed for a reason the agent or the USM gave (not a timeout).

    ``kind`` is the failure kind, ``reason`` the operator's text (names what to check, never a
    secret).
    """

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


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
# msgAuthenticationParameters until the MAC is computed: zeros of the MAC's length.
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


# --------------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class Credentials:
    """A v3 user as the client needs it. ``repr`` never shows the passwords.

    >>> Credentials(b"monitor", "sha", b"secret-1", "aes", b"secret-2")
    Credentials(user=b'monitor', auth='sha', priv='aes')
    """

    user: bytes
    auth: str | None
    auth_password: bytes | None
    priv: str | None
    priv_password: bytes | None
    context: bytes = b""

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, auth={self.auth!r}, priv={self.priv!r})"

    @property
    def flags(self) -> int:
        flags = FLAG_REPORTABLE
        if self.auth and self.auth_password:
            flags |= FLAG_AUTH
            if self.priv and self.priv_password:
                flags |= FLAG_PRIV
        return flags

    @property
    def level(self) -> str:
        return {0: "noAuthNoPriv", 1: "authNoPriv", 3: "authPriv"}[self.flags & 3]


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


class V3Client(UdpClient[tuple[V3Message, bytes], None]):
    """Sends SNMPv3 requests and matches replies: only from the address asked, with the
    request's msgID, and authenticated before anything in it is believed. Datagrams from
    addresses not polled are dropped unread (``dropped``); those from a polled address that
    are not SNMPv3 count in ``junk``."""

    def __init__(
        self,
        make_socket: Callable[[int], socket.socket],
        junk: collections.Counter[Address],
        peers: set[Address],
        *,
        keys: usm.KeyCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(make_socket, junk, peers)
        self._engines: dict[Address, EngineState] = {}
        self._discovering: dict[Address, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self.keys = keys or usm.KeyCache()
        self._user_keys: dict[tuple[Credentials, bytes], usm.UserKeys] = {}
        self._clock = clock

    def engine(self, address: Address) -> EngineState | None:
        """The engine state kept for ``address`` (``None`` before its discovery)."""
        return self._engines.get(address)

    async def request(
        self,
        address: Address,
        family: int,
        creds: Credentials,
        pdu_type: int,
        oids: Sequence[Oid],
        *,
        repetitions: int,
        per_try: float,
        retries: int,
    ) -> v2c.Message:
        """The response PDU; ``TimeoutError`` after ``retries + 1`` tries of ``per_try`` s;
        :class:`UsmError` for a report or a reply that fails the USM's checks."""
        resynced = rediscovered = False
        while True:
            state = self._engines.get(address) or await self._discover(
                address, family, per_try, retries
            )
            # Per request, the keys come from a plain dict; KeyCache (which fingerprints the
            # passwords) only when a user meets an engine for the first time.
            keys = self._user_keys.get((creds, state.engine_id)) or await self._keys(
                creds, state.engine_id
            )
            msg_id = self._next_id()
            request_id = self._next_id()
            boots, engine_time = state.boots, state.now(self._clock)
            pdu_out = v2c.encode_pdu(request_id, pdu_type, oids, repetitions)
            wire = encode_message(
                msg_id, creds.flags, state.engine_id, boots, engine_time, creds.user, keys,
                state.engine_id, creds.context, pdu_out,
            )  # fmt: skip
            reply, raw = await self._exchange(msg_id, address, family, None, wire, per_try, retries)
            pdu = self._open(reply, raw, creds, keys, state)
            if pdu.pdu_type != REPORT:
                if pdu.pdu_type != v2c.RESPONSE or pdu.request_id != request_id:
                    raise UsmError(FailureKind.PROTOCOL, "response does not match the request")
                return pdu
            oid = pdu.varbinds[0][0] if pdu.varbinds else ()
            if oid == NOT_IN_TIME_WINDOW and not resynced and reply.flags & FLAG_AUTH:
                # An authenticated report carries the agent's own boots and time (RFC 3414
                # 3.2 7b): take them even if earlier than ours, and try once more.
                resynced = True
                state.boots, state.engine_time = reply.boots, reply.engine_time
                state.at = self._clock()
                continue
            if oid == UNKNOWN_ENGINE_ID and not rediscovered:
                rediscovered = True  # the agent was replaced or re-keyed: discover again
                self._engines.pop(address, None)
                continue
            raise _report_error(oid, creds)

    def _open(
        self,
        reply: V3Message,
        raw: bytes,
        creds: Credentials,
        keys: usm.UserKeys,
        state: EngineState,
    ) -> v2c.Message:
        """Check the reply's authentication, decrypt it, decode its PDU; follow its clock.

        A response must come at the request's security level (RFC 3412 7.2.10); only reports
        may come without authentication (an agent cannot authenticate to a user it does not
        know, or whose key does not match), and they are read only to name the failure.
        """
        if reply.flags & FLAG_PRIV and not reply.flags & FLAG_AUTH:
            raise UsmError(FailureKind.PROTOCOL, "invalid reply (privacy without authentication)")
        if reply.flags & FLAG_AUTH:
            if keys.auth is None or reply.engine_id != state.engine_id:
                raise UsmError(FailureKind.PROTOCOL, "authenticated reply for another engine")
            size = len(reply.auth_params)
            zeroed = raw[: reply.auth_at] + bytes(size) + raw[reply.auth_at + size :]
            if size != keys.auth.mac_length or not keys.verify(zeroed, reply.auth_params):
                raise UsmError(
                    FailureKind.AUTH,
                    f"the agent's reply failed authentication ({_CHECK_AUTH})",
                )
            state.update(reply.boots, reply.engine_time, self._clock)
        data = reply.data
        if reply.flags & FLAG_PRIV:
            if keys.priv is None:
                raise UsmError(FailureKind.PROTOCOL, "encrypted reply to a request in clear")
            try:
                data = keys.decrypt(reply.boots, reply.engine_time, reply.priv_params, data)
            except usm.DecryptionError as exc:
                raise UsmError(FailureKind.AUTH, f"cannot decrypt the reply ({exc})") from exc
        try:
            pdu = decode_scoped_pdu(data)
        except v2c.MalformedMessage as exc:
            if reply.flags & FLAG_PRIV:
                raise UsmError(
                    FailureKind.AUTH, f"the decrypted reply is garbage ({_CHECK_PRIV})"
                ) from exc
            raise UsmError(FailureKind.PROTOCOL, f"undecodable reply ({exc})") from exc
        if pdu.pdu_type != REPORT and (creds.flags & ~reply.flags & (FLAG_AUTH | FLAG_PRIV)):
            raise UsmError(
                FailureKind.AUTH,
                f"the agent answered at a lower security level than {creds.level} "
                "(a spoofed or broken reply)",
            )
        return pdu

    async def _keys(self, creds: Credentials, engine_id: bytes) -> usm.UserKeys:
        args = (
            creds.user, engine_id, creds.auth, creds.auth_password, creds.priv,
            creds.priv_password,
        )  # fmt: skip
        found = self.keys.cached(*args)
        if found is None:
            # 1 MiB of hashing per new password: in a thread (hashlib releases the GIL).
            found = await asyncio.to_thread(self.keys.keys, *args)
        if len(self._user_keys) >= usm.KeyCache.MAX_ENTRIES:
            self._user_keys.clear()
        self._user_keys[(creds, engine_id)] = found
        return found

    async def _discover(
        self, address: Address, family: int, per_try: float, retries: int
    ) -> EngineState:
        """The target's engine state; discovered once (RFC 3414 4), concurrent polls wait."""
        state = self._engines.get(address)
        if state is not None:
            return state
        async with self._discovering[address]:
            state = self._engines.get(address)
            if state is not None:
                return state
            msg_id = self._next_id()
            pdu = v2c.encode_pdu(self._next_id(), v2c.GET, ())
            wire = encode_message(msg_id, FLAG_REPORTABLE, b"", 0, 0, b"", None, b"", b"", pdu)
            reply, _raw = await self._exchange(
                msg_id, address, family, None, wire, per_try, retries
            )
            if not reply.engine_id or len(reply.engine_id) > 32:
                raise UsmError(FailureKind.PROTOCOL, "SNMPv3 engine id discovery failed")
            state = EngineState(reply.engine_id, reply.boots, reply.engine_time, self._clock())
            self._engines[address] = state
            return state

    def _received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        source = (str(addr[0]), int(addr[1]))
        if source not in self.peers:  # not an address we poll: not worth decoding
            self.dropped += 1
            return
        try:
            message = decode_message(data)
        except v2c.MalformedMessage:
            self.junk[source] += 1
            return
        pending = self._pending.get(message.msg_id)
        if pending is None or pending[0] != source:
            self.dropped += 1  # late (after a retry answered) or not ours
            return
        future = pending[1]
        if not future.done():
            future.set_result((message, data))


def _report_error(oid: Oid, creds: Credentials) -> UsmError:
    kind, text = _REPORTS.get(
        oid, (FailureKind.PROTOCOL, f"agent sent a report ({'.'.join(map(str, oid))})")
    )
    user = creds.user.decode("utf-8", "replace")
    return UsmError(kind, text.format(user=user, level=creds.level))
