"""SNMPv3 traps and informs against net-snmp's snmptrap -v3 and snmpinform -v3."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from netwatch import traps as traps_module
from netwatch.models import Device, Role, Secret, TrapSettings, TrapUser
from netwatch.probes import snmp_v2c, snmp_v3
from netwatch.probes.snmp_traps import LINK_DOWN as LINK_DOWN_OID
from netwatch.probes.snmp_traps import SNMP_TRAP_OID, SYS_UPTIME
from netwatch.probes.snmp_v2c import _integer, _oid, _tlv
from netwatch.traps import Traps
from netwatch.traps_v3 import ENGINE_FILE, load_engine_id
from tests.integration.test_snmp_traps import Receiver, capture, workdir

pytestmark = pytest.mark.peer
__all__ = ["workdir"]  # the fixture, shared with the v1/v2c tests

AUTH_PASS = "v3-auth-s3cret"
PRIV_PASS = "v3-priv-s3cret"
SHA_PASS = "v3-sha-only-s3cret"
USERS = (
    TrapUser("ops", "sha256", Secret("env:A", AUTH_PASS), "aes", Secret("env:P", PRIV_PASS)),
    TrapUser("legacy", "sha", Secret("env:S", SHA_PASS)),
)
AUTH_PRIV = ["-u", "ops", "-l", "authPriv", "-a", "SHA-256", "-A", AUTH_PASS,
             "-x", "AES", "-X", PRIV_PASS]  # fmt: skip
AUTH_SHA = ["-u", "legacy", "-l", "authNoPriv", "-a", "SHA", "-A", SHA_PASS]
SENDER_ENGINE = "0x80001f8804736e6d7074726170"
LINK_DOWN = ("1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.2", "i", "2")


@pytest.fixture
async def rx(workdir: Path, tmp_path: Path) -> AsyncIterator[Receiver]:
    seen: list[str] = []
    settings = TrapSettings("127.0.0.1:0", (), USERS)
    devices = [Device("rtr", "127.0.0.1", Role.ROUTER, "hq")]
    traps = await Traps.open(settings, devices, seen.append, tmp_path)
    try:
        yield Receiver(traps, seen, workdir)
    finally:
        traps.close()


def trap(rx: Receiver, creds: list[str], *oid: str) -> list[str]:
    return ["snmptrap", "-v", "3", *creds, "-e", SENDER_ENGINE, rx.target, "", *oid]


def inform(rx: Receiver, creds: list[str], *oid: str) -> list[str]:
    return ["snmpinform", "-v", "3", *creds, "-r", "1", "-t", "2", rx.target, "", *oid]


@pytest.mark.parametrize(
    "creds", [AUTH_PRIV, AUTH_SHA], ids=["authPriv-sha256-aes", "authNoPriv-sha"]
)
async def test_a_v3_trap_and_inform_are_taken_and_the_inform_acknowledged(
    rx: Receiver, creds: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """snmptrap -v3 (keys localized to the sender's engine) is recorded as version 3; snmpinform
    -v3 discovers netwatch's engine and exits 0 only on an authenticated Response."""
    caplog.set_level(logging.DEBUG)
    assert await rx.tool(*trap(rx, creds, *LINK_DOWN)) == 0
    await rx.wait_for(1)
    assert await rx.tool(*inform(rx, creds, "1.3.6.1.6.3.1.1.5.1")) == 0
    await rx.wait_for(2)
    newest, oldest = rx.traps.log.of("rtr")
    assert (oldest.kind, oldest.pdu, oldest.version) == ("link_down", "trap", "3")
    assert (newest.kind, newest.pdu, newest.version) == ("cold_start", "inform", "3")
    assert "1.3.6.1.2.1.2.2.1.1.2=2" in oldest.detail
    assert rx.seen == ["rtr", "rtr"]
    assert sum(rx.traps.log.dropped.values()) == 0
    text = caplog.text
    assert all(p not in text for p in (AUTH_PASS, PRIV_PASS, SHA_PASS))


async def test_wrong_password_unknown_user_and_wrong_level_are_dropped(
    rx: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Each is counted under its reason, the device is not polled, an inform fails (the sender
    gets a Report, not a Response) and no password is logged."""
    caplog.set_level(logging.DEBUG)
    wrong = [*AUTH_PRIV[:7], "wrong-password-1", *AUTH_PRIV[8:]]
    assert await rx.tool(*trap(rx, wrong, *LINK_DOWN)) == 0
    stranger = ["-u", "mallory", "-l", "authNoPriv", "-a", "SHA", "-A", SHA_PASS]
    assert await rx.tool(*trap(rx, stranger, *LINK_DOWN)) == 0
    low = ["-u", "ops", "-l", "authNoPriv", "-a", "SHA-256", "-A", AUTH_PASS]
    assert await rx.tool(*trap(rx, low, *LINK_DOWN)) == 0
    await asyncio.sleep(0.3)
    dropped = rx.traps.log.dropped
    assert (dropped["auth"], dropped["unknown_user"], dropped["level"]) == (1, 1, 1)
    assert await rx.tool(*inform(rx, wrong, "1.3.6.1.6.3.1.1.5.1")) != 0
    assert await rx.tool(*inform(rx, stranger, "1.3.6.1.6.3.1.1.5.1")) != 0
    assert dropped["auth"] >= 2
    assert dropped["unknown_user"] >= 2
    assert rx.seen == []
    assert sum(rx.traps.log.counts_of("rtr").values()) == 0
    assert all(p not in caplog.text for p in (AUTH_PASS, PRIV_PASS, SHA_PASS, "wrong-password-1"))


async def test_garbage_v3_is_dropped_and_a_good_trap_is_taken_after(
    rx: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cuts and bit flips of a real authPriv trap: none is taken (the digest covers it all),
    no exception escapes; a good trap afterwards is taken."""
    monkeypatch.setattr(traps_module, "BURST", 10_000.0)  # the rate limit has its own test
    good = await capture(rx, *trap(rx, AUTH_PRIV, *LINK_DOWN)[:-6], "TARGET", "", *LINK_DOWN)
    rng = random.Random(3)
    junk = [good[:n] for n in range(1, len(good))]
    for _ in range(100):
        flipped = bytearray(good)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        junk.append(bytes(flipped))
    junk += [b"\x30\x06\x02\x01\x03\x30\x01\x00", b"\x30\x84\xff\xff\xff\xff\x02\x01\x03"]
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        for n, data in enumerate(junk):
            await loop.sock_sendto(sock, data, ("127.0.0.1", rx.traps.port))
            if n % 40 == 39:
                await asyncio.sleep(0.1)  # within the rate limit's burst and the socket buffer
        await asyncio.sleep(0.3)
    dropped = rx.traps.log.dropped
    assert dropped["error"] == 0
    assert sum(rx.traps.log.counts_of("rtr").values()) == 0
    # All counted, but for a flip that empties the engine id: a discovery, answered only.
    assert len(junk) - 2 <= sum(dropped.values()) <= len(junk)
    assert dropped["malformed"] >= len(good) - 1
    assert dropped["auth"] >= 10
    assert await rx.tool(*trap(rx, AUTH_PRIV, *LINK_DOWN)) == 0
    await rx.wait_for(1)


async def test_a_trap_from_an_earlier_boot_of_its_sender_is_refused(rx: Receiver) -> None:
    """A sender seen at boots 5 cannot be replayed at boots 4 (RFC 3414 3.2 7b), nor more
    than 150 s behind; a correct digest alone is not enough."""
    v3rx = rx.traps.receiver.v3
    assert v3rx is not None
    engine = bytes.fromhex(SENDER_ENGINE[2:])
    keys = v3rx.user_keys(USERS[1], engine)
    varbinds = _tlv(0x30, _tlv(0x30, _oid(SYS_UPTIME) + _tlv(0x43, b"\x05"))
                    + _tlv(0x30, _oid(SNMP_TRAP_OID) + _oid(LINK_DOWN_OID)))  # fmt: skip
    pdu = _tlv(0xA7, _integer(9) + _integer(0) + _integer(0) + varbinds)

    def message(boots: int, engine_time: int) -> bytes:
        return snmp_v3.encode_message(
            1, snmp_v3.FLAG_AUTH, engine, boots, engine_time, b"legacy", keys, engine, b"", pdu
        )

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for boots, engine_time in ((5, 1000), (4, 5000), (5, 800), (5, 900)):
            sock.sendto(message(boots, engine_time), ("127.0.0.1", rx.traps.port))
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert rx.traps.log.dropped["time_window"] == 2
    assert sum(rx.traps.log.counts_of("rtr").values()) == 2  # (5, 1000) and (5, 900)


async def test_netwatch_engine_id_is_stable_per_data_dir_and_boots_count_up(
    tmp_path: Path,
) -> None:
    first, boots1 = load_engine_id(tmp_path)
    second, boots2 = load_engine_id(tmp_path)
    other, _ = load_engine_id(tmp_path / "other")
    assert first == second != other
    assert (boots1, boots2) == (1, 2)
    assert (first[0], first[4], len(first)) == (0x80, 5, 17)  # RFC 3411, format 5
    assert (tmp_path / ENGINE_FILE).read_text().split()[0] == first.hex()


async def test_discovery_is_answered_with_netwatch_engine_id(rx: Receiver) -> None:
    """An empty-engine-id probe (RFC 3414 4) gets a Report with usmStatsUnknownEngineIDs,
    netwatch's engine id and boots; it is not counted as dropped."""
    pdu = snmp_v2c.encode_pdu(7, 0xA0, ())
    probe = snmp_v3.encode_message(42, snmp_v3.FLAG_REPORTABLE, b"", 0, 0, b"", None, b"", b"", pdu)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        sock.sendto(probe, ("127.0.0.1", rx.traps.port))
        reply = snmp_v3.decode_message(await asyncio.to_thread(sock.recv, 65535))
    v3rx = rx.traps.receiver.v3
    assert v3rx is not None
    assert (reply.msg_id, reply.engine_id, reply.boots) == (42, v3rx.engine_id, v3rx.boots)
    report = snmp_v3.decode_scoped_pdu(reply.data)
    assert report.pdu_type == snmp_v3.REPORT
    assert report.varbinds[0][0] == snmp_v3.UNKNOWN_ENGINE_ID
    assert sum(rx.traps.log.dropped.values()) == 0


async def test_an_inform_out_of_netwatch_time_window_gets_an_authenticated_report(
    rx: Receiver,
) -> None:
    """An inform at a wrong boots is refused with usmStatsNotInTimeWindows, authenticated
    under the user's key (RFC 3414 3.2 7a) and carrying netwatch's boots; nothing recorded."""
    v3rx = rx.traps.receiver.v3
    assert v3rx is not None
    keys = v3rx.user_keys(USERS[1], v3rx.engine_id)
    varbinds = _tlv(0x30, _tlv(0x30, _oid(SYS_UPTIME) + _tlv(0x43, b"\x05"))
                    + _tlv(0x30, _oid(SNMP_TRAP_OID) + _oid(LINK_DOWN_OID)))  # fmt: skip
    pdu = _tlv(0xA6, _integer(11) + _integer(0) + _integer(0) + varbinds)
    flags = snmp_v3.FLAG_AUTH | snmp_v3.FLAG_REPORTABLE
    wire = snmp_v3.encode_message(
        77, flags, v3rx.engine_id, v3rx.boots + 3, 10, b"legacy", keys, v3rx.engine_id, b"", pdu
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        sock.sendto(wire, ("127.0.0.1", rx.traps.port))
        raw = await asyncio.to_thread(sock.recv, 65535)
    reply = snmp_v3.decode_message(raw)
    assert (reply.msg_id, reply.boots, reply.flags & snmp_v3.FLAG_AUTH) == (77, v3rx.boots, 1)
    assert snmp_v3.authentic(reply, raw, keys)
    assert snmp_v3.decode_scoped_pdu(reply.data).varbinds[0][0] == snmp_v3.NOT_IN_TIME_WINDOW
    assert rx.traps.log.dropped["time_window"] == 1
    assert sum(rx.traps.log.counts_of("rtr").values()) == 0


async def test_a_wrong_privacy_password_is_an_auth_drop(rx: Receiver) -> None:
    """The digest is right but the PDU does not decrypt: counted as ``auth``, not taken."""
    wrong_priv = [*AUTH_PRIV[:-1], "wrong-priv-password"]
    assert await rx.tool(*trap(rx, wrong_priv, *LINK_DOWN)) == 0
    await asyncio.sleep(0.3)
    assert rx.traps.log.dropped["auth"] == 1
    assert rx.seen == []
