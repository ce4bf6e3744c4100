"""The notification decoder and the receiver's datagram handler, on crafted datagrams."""

from __future__ import annotations

import random
from typing import Any

import pytest

from netwatch.probes import snmp_traps as t
from netwatch.probes.snmp_v2c import MalformedMessage, Oid, _integer, _oid, _tlv
from netwatch.traps import TrapLog, TrapReceiver


def varbind(oid: Oid, value: bytes) -> bytes:
    return _tlv(0x30, _oid(oid) + value)


def v2_notification(
    pdu: int = t.V2_TRAP, trap: Oid = t.LINK_DOWN, community: bytes = b"c"
) -> bytes:
    vbs = varbind(t.SYS_UPTIME, _tlv(0x43, b"\x01\x00")) + varbind(t.SNMP_TRAP_OID, _oid(trap))
    vbs += varbind((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7), _integer(7))
    body = _integer(42) + _integer(0) + _integer(0) + _tlv(0x30, vbs)
    return _tlv(0x30, _integer(1) + _tlv(0x04, community) + _tlv(pdu, body))


def v1_trap(
    enterprise: Oid, generic: int, specific: int, addr: bytes = b"\x7f\x00\x00\x01"
) -> bytes:
    body = (
        _oid(enterprise) + _tlv(0x40, addr) + _integer(generic) + _integer(specific)
        + _tlv(0x43, b"\x64") + _tlv(0x30, b"")
    )  # fmt: skip
    return _tlv(0x30, _integer(0) + _tlv(0x04, b"c") + _tlv(t.V1_TRAP, body))


def test_a_v2c_trap_decodes_to_its_kind_uptime_and_varbinds() -> None:
    n = t.decode_notification(v2_notification())
    assert (n.version, n.pdu, n.kind, n.uptime_seconds) == ("2c", "trap", "link_down", 2.56)
    assert n.varbinds == (((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7), 7),)
    assert t.describe(n.varbinds) == "1.3.6.1.2.1.2.2.1.1.7=7"


@pytest.mark.parametrize(
    ("enterprise", "generic", "specific", "oid", "kind"),
    [
        ((1, 3, 6, 1, 4, 1, 9), 2, 0, t.LINK_DOWN, "link_down"),
        ((1, 3, 6, 1, 4, 1, 9), 0, 0, t.COLD_START, "cold_start"),
        ((1, 3, 6, 1, 4, 1, 318), 6, 5, t.APC_ON_BATTERY, "ups_on_battery"),
        ((1, 3, 6, 1, 4, 1, 318), 6, 9, t.APC_OFF_BATTERY, "ups_off_battery"),
        ((1, 3, 6, 1, 2, 1, 33, 2), 6, 1, t.UPS_ON_BATTERY_V1, "ups_on_battery"),
        ((1, 3, 6, 1, 4, 1, 9), 6, 77, (1, 3, 6, 1, 4, 1, 9, 0, 77), "other"),
    ],
)
def test_a_v1_trap_maps_to_its_v2_oid_as_rfc_3584_says(
    enterprise: Oid, generic: int, specific: int, oid: Oid, kind: str
) -> None:
    n = t.decode_notification(v1_trap(enterprise, generic, specific))
    assert (n.version, n.trap_oid, n.kind, n.uptime_seconds) == ("1", oid, kind, 1.0)


@pytest.mark.parametrize(
    "wire",
    [
        v1_trap((1, 3, 6, 1, 4, 1, 9), 7, 0),  # generic-trap out of range
        v1_trap((1, 3, 6, 1, 4, 1, 9), 6, -1),  # negative specific
        v1_trap((1, 3, 6, 1, 4, 1, 9), 2, 0, addr=b"\x7f"),  # agent-addr not 4 bytes
        v2_notification(pdu=0xA0),  # a GET to the trap port
        v2_notification(pdu=t.V1_TRAP),  # a v1 PDU in a v2c message
    ],
)
def test_what_is_not_a_well_formed_notification_is_refused(wire: bytes) -> None:
    with pytest.raises(MalformedMessage):
        t.decode_notification(wire)


def test_an_inform_response_is_the_same_message_with_a_response_pdu() -> None:
    wire = v2_notification(pdu=t.INFORM)
    n = t.decode_notification(wire)
    assert n.pdu == "inform"
    response = t.inform_response(wire, n)
    assert len(response) == len(wire)
    assert response[n.pdu_at] == 0xA2
    assert response[: n.pdu_at] == wire[: n.pdu_at]
    assert response[n.pdu_at + 1 :] == wire[n.pdu_at + 1 :]


@pytest.mark.parametrize("seed", range(100))
def test_mutated_notifications_decode_or_are_malformed_nothing_else(seed: int) -> None:
    rng = random.Random(seed)
    wire = bytearray(rng.choice([v2_notification(), v1_trap((1, 3, 6, 1, 4, 1, 318), 6, 5)]))
    for _ in range(rng.randrange(1, 4)):
        wire[rng.randrange(len(wire))] = rng.randrange(256)
    data = bytes(wire[: rng.randrange(1, len(wire) + 1)])
    try:
        n = t.decode_notification(data)
    except MalformedMessage:
        return
    assert n.kind in t.ALL_KINDS
    assert len(n.trap_oid) <= 128


class Boom(Exception):
    pass


def receiver(on_trap: Any = None) -> tuple[TrapReceiver, TrapLog, list[str]]:
    seen: list[str] = []
    trap_log = TrapLog()
    rx = TrapReceiver(lambda: [b"c"], {"127.0.0.1": ("rtr",)}.get, trap_log, on_trap or seen.append)
    return rx, trap_log, seen


def test_the_handler_never_lets_an_exception_out() -> None:
    """A bug downstream (here: the daemon's callback) is counted as ``error``, not raised."""

    def fail(_device: str) -> None:
        raise Boom

    rx, trap_log, _ = receiver(fail)
    rx.received(v2_notification(), ("127.0.0.1", 1))
    assert trap_log.dropped["error"] == 1


def test_an_ipv4_mapped_source_matches_its_ipv4_device() -> None:
    rx, trap_log, seen = receiver()
    rx.received(v2_notification(), ("::ffff:127.0.0.1", 1, 0, 0))
    assert seen == ["rtr"]
    assert trap_log.of("rtr")[0].source == "127.0.0.1"


def test_the_last_twenty_are_kept_newest_first() -> None:
    rx, trap_log, seen = receiver()
    rx.received(v2_notification(trap=t.COLD_START), ("127.0.0.1", 1))
    for _ in range(25):
        rx.received(v2_notification(), ("127.0.0.1", 1))
    assert len(seen) == 26
    recent = trap_log.of("rtr")
    assert len(recent) == 20
    assert {r.kind for r in recent} == {"link_down"}
    assert dict(trap_log.counts_of("rtr")) == {"cold_start": 1, "link_down": 25}
    trap_log.keep_only([])
    assert trap_log.of("rtr") == []
