"""SNMP notifications on the wire: traps (SNMPv1, SNMPv2c) and informs (SNMPv2c), decoded.

A device tells of a link going down, a reboot or a UPS on battery with a notification; netwatch
only uses it to look at the device at once (see :mod:`netwatch.traps`), so what is decoded here
is what tells the kind of event: the trap's OID, the agent's uptime and the varbinds.

Three PDUs arrive (RFC 3416, RFC 1157):

- SNMPv2-Trap-PDU (``0xA7``) and InformRequest-PDU (``0xA6``): the layout of every SNMPv2
  PDU, whose first two varbinds are ``sysUpTime.0`` and ``snmpTrapOID.0``;
- SNMPv1 Trap-PDU (``0xA4``): enterprise, agent-addr, generic-trap, specific-trap, time-stamp
  and varbinds; its trap OID is made as RFC 3584 section 3.1 says (a generic trap ``g`` < 6
  is ``snmpTraps.(g+1)``; an enterprise-specific one is ``enterprise.0.specific``).

The integers, OIDs and lengths are bounded as :mod:`netwatch.probes.snmp_v2c` bounds them (its
helpers are reused), so a hostile datagram is a :class:`~netwatch.probes.snmp_v2c.MalformedMessage`
and never a huge number or a slow decode.

>>> from netwatch.probes.snmp_v2c import _integer, _oid, _tlv
>>> vbs = _tlv(0x30, _tlv(0x30, _oid(SYS_UPTIME) + _tlv(0x43, b"\\x05"))
...     + _tlv(0x30, _oid(SNMP_TRAP_OID) + _oid(LINK_DOWN)))
>>> pdu = _tlv(0xA7, _integer(1) + _integer(0) + _integer(0) + vbs)
>>> n = decode_notification(_tlv(0x30, _integer(1) + _tlv(0x04, b"public") + pdu))
>>> n.kind, n.version, n.uptime_seconds
('link_down', '2c', 0.05)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netwatch.probes.snmp_v2c import (
    RESPONSE,
    Header,
    MalformedMessage,
    Oid,
    _bounded_int,
    _decode_oid,
    _expect,
    _header,
    _int_at,
    decode_varbinds,
)

V1_TRAP: Final = 0xA4
INFORM: Final = 0xA6
V2_TRAP: Final = 0xA7
_VERSIONS: Final = {0: "1", 1: "2c", 3: "3"}

SYS_UPTIME: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAPS: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 5)  # coldStart is .1 ... authenticationFailure .5
COLD_START: Final[Oid] = (*SNMP_TRAPS, 1)
WARM_START: Final[Oid] = (*SNMP_TRAPS, 2)
LINK_DOWN: Final[Oid] = (*SNMP_TRAPS, 3)
LINK_UP: Final[Oid] = (*SNMP_TRAPS, 4)
AUTH_FAILURE: Final[Oid] = (*SNMP_TRAPS, 5)
UPS_ON_BATTERY: Final[Oid] = (1, 3, 6, 1, 2, 1, 33, 2, 1)  # UPS-MIB upsTrapOnBattery
# The same sent as an SNMPv1 trap (enterprise upsTraps, specific 1) reads, by RFC 3584, as:
UPS_ON_BATTERY_V1: Final[Oid] = (1, 3, 6, 1, 2, 1, 33, 2, 0, 1)
APC: Final[Oid] = (1, 3, 6, 1, 4, 1, 318)  # PowerNet-MIB's enterprise
APC_ON_BATTERY: Final[Oid] = (*APC, 0, 5)  # upsOnBattery
APC_OFF_BATTERY: Final[Oid] = (*APC, 0, 9)  # returnFromBattery

# The kinds netwatch tells apart (the ``kind`` label of netwatch_snmp_traps_total); any other
# notification is ``other``.
KINDS: Final[Mapping[Oid, str]] = {
    COLD_START: "cold_start",
    WARM_START: "warm_start",
    LINK_DOWN: "link_down",
    LINK_UP: "link_up",
    AUTH_FAILURE: "authentication_failure",
    UPS_ON_BATTERY: "ups_on_battery",
    UPS_ON_BATTERY_V1: "ups_on_battery",
    APC_ON_BATTERY: "ups_on_battery",
    APC_OFF_BATTERY: "ups_off_battery",
}
OTHER: Final = "other"
ALL_KINDS: Final = (*dict.fromkeys(KINDS.values()), OTHER)


@dataclass(frozen=True, slots=True)
class Notification:
    """One decoded trap or inform. ``pdu`` is ``trap`` or ``inform``; ``version`` ``1``/``2c``.

    ``pdu_at`` is the offset of the PDU's tag in the datagram: an inform is acknowledged by the
    same message with a Response-PDU tag there (RFC 3416 section 4.2.7: same request-id and
    varbinds, error-status 0).
    """

    version: str
    community: bytes
    pdu: str
    trap_oid: Oid
    uptime_seconds: float | None
    varbinds: tuple[tuple[Oid, Any], ...]
    request_id: int = 0
    pdu_at: int = 0

    @property
    def kind(self) -> str:
        return KINDS.get(self.trap_oid, OTHER)

    @property
    def oid_text(self) -> str:
        return ".".join(map(str, self.trap_oid))


def message_version(buf: bytes) -> str | None:
    """The SNMP version of a datagram (``1``, ``2c``, ``3``), ``None`` when it is not SNMP."""
    try:
        i, msg_end = _expect(buf, 0, len(buf), 0x30)
        version, _ = _int_at(buf, i, msg_end)
    except MalformedMessage:
        return None
    return _VERSIONS.get(version)


def decode_notification(buf: bytes) -> Notification:
    """Decode an SNMPv1/v2c trap or inform; :class:`MalformedMessage` for anything else
    (including a well-formed request of another kind, or SNMPv3)."""
    end = len(buf)
    i, msg_end = _expect(buf, 0, end, 0x30)
    number, i = _int_at(buf, i, msg_end)
    version = _VERSIONS.get(number)
    if version not in ("1", "2c"):
        raise MalformedMessage(f"not SNMPv1 or SNMPv2c (version {number})")
    start, i = _expect(buf, i, msg_end, 0x04)
    community = buf[start:i]
    pdu_at = i
    pdu_type, i, pdu_end = _header(buf, i, msg_end)
    if pdu_type == V1_TRAP and version == "1":
        return _v1_trap(buf, i, pdu_end, community)
    if pdu_type not in (V2_TRAP, INFORM) or version != "2c":
        raise MalformedMessage(f"not a notification (PDU 0x{pdu_type:02x}, SNMP {version})")
    request_id, i = _int_at(buf, i, pdu_end)
    status, i = _int_at(buf, i, pdu_end)
    index, i = _int_at(buf, i, pdu_end)
    i, list_end = _expect(buf, i, pdu_end, 0x30)
    header = Header(community, pdu_type, request_id, status, index, i, list_end)
    varbinds = decode_varbinds(buf, header)
    # RFC 3416 section 4.2.6: sysUpTime.0 first, snmpTrapOID.0 second.
    if len(varbinds) < 2 or varbinds[0][0] != SYS_UPTIME or varbinds[1][0] != SNMP_TRAP_OID:
        raise MalformedMessage("a notification without sysUpTime.0 and snmpTrapOID.0 first")
    uptime, trap_oid = varbinds[0][1], varbinds[1][1]
    if not isinstance(trap_oid, tuple):
        raise MalformedMessage("snmpTrapOID.0 is not an OID")
    return Notification(
        version,
        community,
        "inform" if pdu_type == INFORM else "trap",
        trap_oid,
        uptime / 100 if isinstance(uptime, int) else None,
        tuple(varbinds[2:]),
        request_id,
        pdu_at,
    )


def _v1_trap(buf: bytes, i: int, end: int, community: bytes) -> Notification:
    start, i = _expect(buf, i, end, 0x06)
    enterprise = _decode_oid(buf, start, i)
    start, i = _expect(buf, i, end, 0x40)  # agent-addr: an IpAddress, 4 bytes
    if i - start != 4:
        raise MalformedMessage("agent-addr is not 4 bytes")
    generic, i = _int_at(buf, i, end)
    specific, i = _int_at(buf, i, end)
    start, i = _expect(buf, i, end, 0x43)
    ticks = _bounded_int(buf, start, i, 0x43)
    i, list_end = _expect(buf, i, end, 0x30)
    varbinds = decode_varbinds(buf, Header(community, V1_TRAP, 0, 0, 0, i, list_end))
    if 0 <= generic < 6:
        trap_oid: Oid = (*SNMP_TRAPS, generic + 1)
    elif generic == 6:
        if specific < 0:
            raise MalformedMessage("negative specific-trap")
        trap_oid = (*enterprise, 0, specific)
    else:
        raise MalformedMessage(f"generic-trap {generic} out of range")
    if len(trap_oid) > 128:
        raise MalformedMessage("trap OID too long")
    return Notification("1", community, "trap", trap_oid, ticks / 100, tuple(varbinds))


def inform_response(buf: bytes, notification: Notification) -> bytes:
    """The Response-PDU that acknowledges the inform ``buf`` (decoded as ``notification``)."""
    at = notification.pdu_at
    return buf[:at] + bytes((RESPONSE,)) + buf[at + 1 :]


def describe(varbinds: Sequence[tuple[Oid, Any]], limit: int = 4) -> str:
    """A short text of the first varbinds, for the device page: ``1.3.6.1.2.1.2.2.1.1.2=2``."""
    parts: list[str] = []
    for oid, value in varbinds[:limit]:
        if isinstance(value, bytes):
            shown = value[:40].decode("utf-8", "replace")
        elif isinstance(value, tuple):
            shown = ".".join(map(str, value))
        else:
            shown = str(value)
        parts.append(f"{'.'.join(map(str, oid))}={shown}"[:120])
    if len(varbinds) > limit:
        parts.append(f"(+{len(varbinds) - limit})")
    return " ".join(parts)
