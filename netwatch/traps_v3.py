"""SNMPv3 traps and informs for the trap receiver: the USM checks, discovery and reports.

Two cases, told apart by the message's authoritative engine id (RFC 3412 / RFC 3414):

* a TRAP (unconfirmed, not reportable): the sender is authoritative. Its keys are localized
  to the ``msgAuthoritativeEngineID`` it sent (cached per user and engine id), and a message
  older than the sender's latest by more than 150 s is refused (a replay).
* an INFORM (confirmed, reportable): netwatch is authoritative, with its own engine id
  (:func:`load_engine_id`: stable per ``data_dir``, its boots counted up at each start). A
  sender that does not know it asks with an empty engine id and gets a Report with
  ``usmStatsUnknownEngineIDs``; one out of netwatch's time window gets an authenticated
  ``usmStatsNotInTimeWindows`` Report; an accepted inform gets a Response under netwatch's
  engine, at the inform's security level.

:meth:`V3Receiver.handle` returns either a :class:`~netwatch.probes.snmp_traps.Notification`
(version ``3``) with the datagram to send back, or a :class:`Dropped` with the reason counted
in ``netwatch_snmp_traps_dropped_total``. Nothing here logs, and no reason names a secret.

>>> rx = V3Receiver(lambda: {b"u": TrapUser("u")}, b"\\x80\\x00\\x00\\x00\\x05abc", 1)
>>> rx.handle(b"\\x30\\x03\\x02\\x01\\x03").reason
'malformed'
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from netwatch.models import TrapUser
from netwatch.probes import snmp_traps
from netwatch.probes import snmp_usm as usm
from netwatch.probes import snmp_v3 as v3
from netwatch.probes.snmp_v2c import RESPONSE, MalformedMessage, _integer, _oid, _tlv

TIME_WINDOW: Final = 150  # seconds, RFC 3414 3.2 7
ENGINE_FILE: Final = "snmp-engine"
# RFC 3411 SnmpEngineID: the enterprise number with its top bit set, format 5 (octets,
# administratively assigned), then 12 random bytes. netwatch has no enterprise number of its
# own: 0 (reserved) says so instead of borrowing another vendor's.
_ENGINE_PREFIX: Final = b"\x80\x00\x00\x00\x05"
_ENGINES_KEPT: Final = 4096  # senders' engines whose latest boots/time are remembered
# Counted in usmStats by an authoritative engine; sent back in a Report to an inform.
_REPORT_COUNTS: Final = (
    v3.UNSUPPORTED_SEC_LEVEL, v3.NOT_IN_TIME_WINDOW, v3.UNKNOWN_USER, v3.UNKNOWN_ENGINE_ID,
    v3.WRONG_DIGEST, v3.DECRYPTION_ERROR,
)  # fmt: skip


def load_engine_id(data_dir: Path | None) -> tuple[bytes, int]:
    """netwatch's engine id and boots: read from ``data_dir/snmp-engine`` (boots counted up
    and written back), or made and written on the first start. Without a ``data_dir``
    (tests), a random id and boots 1. Blocking: call it from a thread."""
    if data_dir is None:
        return _ENGINE_PREFIX + os.urandom(12), 1
    path = data_dir / ENGINE_FILE
    engine_id, boots = b"", 0
    try:
        fields = path.read_text().split()
        engine_id, boots = bytes.fromhex(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        pass
    if not 5 <= len(engine_id) <= 32:
        engine_id, boots = _ENGINE_PREFIX + os.urandom(12), 0
    boots = boots + 1 if 0 <= boots < 0x7FFFFFFF else 1
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{engine_id.hex()} {boots}\n")
    tmp.replace(path)
    return engine_id, boots


@dataclass(frozen=True, slots=True)
class Dropped:
    """A v3 datagram not accepted: the reason label (empty for a discovery request, which is
    answered but not counted), a short text, maybe a Report to send."""

    reason: str
    why: str
    reply: bytes | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A v3 notification; ``reply`` is the Response to an inform (``None`` for a trap)."""

    notification: snmp_traps.Notification
    reply: bytes | None


class V3Receiver:
    """The USM side of the trap receiver. ``users`` gives the configured users by name."""

    def __init__(
        self,
        users: Callable[[], Mapping[bytes, TrapUser]],
        engine_id: bytes,
        boots: int,
        *,
        keys: usm.KeyCache | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = users
        self.engine_id = engine_id
        self.boots = boots
        self.keys = keys or usm.KeyCache()
        self._monotonic = monotonic
        self._started = monotonic()
        self._senders: dict[bytes, v3.EngineState] = {}
        self.stats: dict[tuple[int, ...], int] = dict.fromkeys(_REPORT_COUNTS, 0)

    @property
    def engine_time(self) -> int:
        return min(int(self._monotonic() - self._started), 0x7FFFFFFF)

    def user_keys(self, user: TrapUser, engine_id: bytes) -> usm.UserKeys:
        """The user's keys localized to ``engine_id`` (the password hash cached per user:
        :meth:`warm` computes it off the event loop when the config is loaded)."""
        return self.keys.keys(
            user.name.encode(), engine_id, user.auth_protocol,
            user.auth_password.reveal().encode() if user.auth_password else None,
            user.priv_protocol,
            user.priv_password.reveal().encode() if user.priv_password else None,
        )  # fmt: skip

    def warm(self) -> None:
        """Compute every user's keys for netwatch's own engine (1 MiB of hashing per
        password; blocking: from a thread), so a datagram costs one localization at most."""
        for user in self._users().values():
            self.user_keys(user, self.engine_id)

    def handle(self, data: bytes) -> Accepted | Dropped:
        try:
            return self._handle(data)
        except MalformedMessage as exc:
            return Dropped("malformed", str(exc)[:80])

    def _handle(self, data: bytes) -> Accepted | Dropped:
        if not self._users():
            return Dropped("version", "SNMPv3 is not accepted (no traps.users)")
        msg = v3.decode_message(data)
        ours = msg.engine_id == self.engine_id
        reportable = bool(msg.flags & v3.FLAG_REPORTABLE)
        if not ours and (reportable or not msg.engine_id):
            # Discovery (RFC 3414 4), or an inform for another engine: tell ours.
            return Dropped(
                "" if not msg.engine_id else "unknown_engine",
                "engine id discovery" if not msg.engine_id else "an inform for another engine",
                self._report(msg, v3.UNKNOWN_ENGINE_ID, None) if reportable else None,
            )
        user = self._users().get(msg.user)
        if user is None:
            return self._refuse(msg, "unknown_user", "unknown SNMPv3 user", v3.UNKNOWN_USER)
        keys = self.user_keys(user, msg.engine_id)
        # The user's own level, no other: a user configured with privacy sends encrypted.
        level = msg.flags & (v3.FLAG_AUTH | v3.FLAG_PRIV)
        wanted = (v3.FLAG_AUTH if keys.auth else 0) | (v3.FLAG_PRIV if keys.priv else 0)
        if level != wanted:
            return self._refuse(
                msg, "level", "security level not the user's", v3.UNSUPPORTED_SEC_LEVEL
            )
        refused = self._authenticate(msg, data, keys, ours)
        if refused is not None:
            return refused
        scoped = self._scoped(msg, keys)
        if isinstance(scoped, Dropped):
            return scoped
        context_engine, context, pdu = scoped
        try:
            notification = snmp_traps.decode_notification(v3.as_v2c(pdu))
        except MalformedMessage as exc:
            if "not a notification" in str(exc):
                return Dropped("not_notification", str(exc))
            raise
        notification = replace(notification, version="3", community=b"")
        if notification.pdu != "inform":
            if ours:
                return Dropped("not_notification", "a trap sent to netwatch's own engine id")
            return Accepted(notification, None)
        if not ours:
            return Dropped("unknown_engine", "an inform for another engine")
        response = bytes((RESPONSE,)) + pdu[1:]
        reply = v3.encode_message(
            msg.msg_id, level, self.engine_id, self.boots, self.engine_time, msg.user, keys,
            context_engine, context, response,
        )  # fmt: skip
        return Accepted(notification, reply)

    def _authenticate(
        self, msg: v3.V3Message, data: bytes, keys: usm.UserKeys, ours: bool
    ) -> Dropped | None:
        """Why an authenticated message (``data``, decoded as ``msg``) is refused: a wrong
        digest, or out of the time window; ``None`` when it passes or is not authenticated."""
        if keys.auth is None:
            return None
        if not v3.authentic(msg, data, keys):
            return self._refuse(msg, "auth", "wrong digest", v3.WRONG_DIGEST)
        late = self._timely(msg, ours)
        if late is not None:
            return self._refuse(msg, "time_window", late, v3.NOT_IN_TIME_WINDOW, keys)
        return None

    def _scoped(
        self, msg: v3.V3Message, keys: usm.UserKeys
    ) -> tuple[bytes, bytes, bytes] | Dropped:
        """(contextEngineID, contextName, PDU) of the message, decrypted with ``keys.priv``
        when the user has privacy (refused when that fails)."""
        if keys.priv is None:
            return v3.split_scoped_pdu(msg.data)
        try:
            scoped = keys.decrypt(msg.boots, msg.engine_time, msg.priv_params, msg.data)
            return v3.split_scoped_pdu(scoped)
        except (usm.DecryptionError, MalformedMessage):
            return self._refuse(msg, "auth", "cannot decrypt", v3.DECRYPTION_ERROR)

    def _timely(self, msg: v3.V3Message, ours: bool) -> str | None:
        """Why an authenticated message is outside the time window (RFC 3414 3.2 7)."""
        if ours:
            if msg.boots != self.boots or abs(msg.engine_time - self.engine_time) > TIME_WINDOW:
                return "outside netwatch's time window"
            return None
        state = self._senders.get(msg.engine_id)
        if state is None:
            if len(self._senders) >= _ENGINES_KEPT:
                self._senders.clear()
            self._senders[msg.engine_id] = v3.EngineState(
                msg.engine_id, msg.boots, msg.engine_time, self._monotonic()
            )
            return None
        if msg.boots < state.boots or (
            msg.boots == state.boots and msg.engine_time < state.now(self._monotonic) - TIME_WINDOW
        ):
            return "older than the sender's latest message (a replay?)"
        state.update(msg.boots, msg.engine_time, self._monotonic)
        return None

    def _refuse(
        self,
        msg: v3.V3Message,
        reason: str,
        why: str,
        report: tuple[int, ...],
        keys: usm.UserKeys | None = None,
    ) -> Dropped:
        """Dropped; an inform to netwatch's engine also gets the Report that says why."""
        if msg.engine_id != self.engine_id or not msg.flags & v3.FLAG_REPORTABLE:
            return Dropped(reason, why)
        return Dropped(reason, why, self._report(msg, report, keys))

    def _report(self, msg: v3.V3Message, oid: tuple[int, ...], keys: usm.UserKeys | None) -> bytes:
        """A Report PDU with the counter ``oid``; authenticated only with ``keys`` (a time
        window report, RFC 3414 3.2 7a), otherwise in clear (noAuthNoPriv)."""
        self.stats[oid] = self.stats.get(oid, 0) + 1
        varbind = _tlv(0x30, _oid(oid) + _tlv(0x41, _unsigned(self.stats[oid])))
        # request-id: that of the request when it is in clear, else 0 (we cannot read it).
        pdu = _tlv(v3.REPORT, _integer(0) + _integer(0) + _integer(0) + _tlv(0x30, varbind))
        flags = v3.FLAG_AUTH if keys is not None and keys.auth is not None else 0
        return v3.encode_message(
            msg.msg_id, flags, self.engine_id, self.boots, self.engine_time,
            msg.user if flags else b"", keys if flags else None, self.engine_id, b"", pdu,
        )  # fmt: skip


def _unsigned(value: int) -> bytes:
    value &= 0xFFFFFFFF
    return value.to_bytes((value.bit_length() + 8) // 8 or 1, "big")
