"""The SNMPv3 client: requests over :mod:`netwatch.probes.snmp_v3`'s messages and the USM.

It keeps, per target (address and port, not per engine id: two cloned agents may share an
engine id), the agent's engine id, boots and time; it discovers them with the empty-engine-id
request (RFC 3414 4), follows the agent's clock, resynchronises once on a ``notInTimeWindow``
report and rediscovers once on ``unknownEngineID`` (an agent restarted or replaced). Every
other report becomes a :class:`UsmError` with the failure kind and a reason that says what to
check, never a key or password. Sockets and retries are :mod:`netwatch.probes.snmp_udp`'s,
shared with the v2c client.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netwatch.models import FailureKind
from netwatch.probes import snmp_usm as usm
from netwatch.probes import snmp_v2c as v2c
from netwatch.probes.snmp_udp import Address, UdpClient
from netwatch.probes.snmp_v3 import (
    DECRYPTION_ERROR,
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    NOT_IN_TIME_WINDOW,
    REPORT,
    UNKNOWN_ENGINE_ID,
    UNKNOWN_USER,
    UNSUPPORTED_SEC_LEVEL,
    WRONG_DIGEST,
    EngineState,
    Oid,
    V3Message,
    authentic,
    decode_message,
    decode_scoped_pdu,
    encode_message,
)

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


# What opens a request's reply: user, keys, engine state (None: a discovery, in clear).
_Asked = tuple["Credentials", usm.UserKeys, "EngineState"] | None


class V3Client(UdpClient[tuple[V3Message, v2c.Message | None], _Asked]):
    """Sends SNMPv3 requests and matches replies: only from the address asked, with the
    request's msgID, and authenticated before anything in it is believed. Datagrams from
    addresses not polled are dropped unread (``dropped``); those from a polled address that
    are not SNMPv3 count in ``junk``. As the v2c client does, it opens (authenticates,
    decrypts, decodes) a reply as it reads it, and only one that answers a request."""

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
            asked = (creds, keys, state)
            reply, pdu = await self._exchange(
                msg_id, address, family, asked, wire, per_try, retries
            )
            assert pdu is not None  # opened by _received
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
            if not authentic(reply, raw, keys):
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
            reply, _pdu = await self._exchange(
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
        _address, future, asked = pending
        if future.done():
            return
        if asked is None:  # an engine discovery: its report is read as it is
            future.set_result((message, None))
            return
        try:
            pdu = self._open(message, data, *asked)
        except Exception as exc:  # the request's failure, not the reader's
            future.set_exception(exc)
            return
        future.set_result((message, pdu))


def _report_error(oid: Oid, creds: Credentials) -> UsmError:
    kind, text = _REPORTS.get(
        oid, (FailureKind.PROTOCOL, f"agent sent a report ({'.'.join(map(str, oid))})")
    )
    user = creds.user.decode("utf-8", "replace")
    return UsmError(kind, text.format(user=user, level=creds.level))
