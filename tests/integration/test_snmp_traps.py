"""The trap receiver against net-snmp's snmptrap and snmpinform, and hostile datagrams."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from netwatch import traps as traps_module
from netwatch.models import Device, Role, Secret, TrapSettings
from netwatch.traps import BURST, MAX_DATAGRAM, Traps
from tests.snmpd import tool_env

pytestmark = pytest.mark.peer

COMMUNITY = "trap-s3cret"
LINK_IF = ("1.3.6.1.2.1.2.2.1.1.2", "i", "2")  # ifIndex.2 = 2
# (kind, SNMPv2c snmpTrapOID, SNMPv1 enterprise, generic-trap, specific-trap)
KINDS = [
    ("cold_start", "1.3.6.1.6.3.1.1.5.1", "1.3.6.1.4.1.8072", "0", "0"),
    ("warm_start", "1.3.6.1.6.3.1.1.5.2", "1.3.6.1.4.1.8072", "1", "0"),
    ("link_down", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.4.1.8072", "2", "0"),
    ("link_up", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.4.1.8072", "3", "0"),
    ("authentication_failure", "1.3.6.1.6.3.1.1.5.5", "1.3.6.1.4.1.8072", "4", "0"),
    ("ups_on_battery", "1.3.6.1.2.1.33.2.1", "1.3.6.1.2.1.33.2", "6", "1"),
    ("ups_on_battery", "1.3.6.1.4.1.318.0.5", "1.3.6.1.4.1.318", "6", "5"),
    ("ups_off_battery", "1.3.6.1.4.1.318.0.9", "1.3.6.1.4.1.318", "6", "9"),
    ("other", "1.3.6.1.4.1.8072.4.0.3", "1.3.6.1.4.1.8072.4", "6", "3"),
]


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    if shutil.which("snmptrap") is None:
        pytest.skip("net-snmp's snmptrap is not installed (Debian package snmp)")
    with tempfile.TemporaryDirectory(prefix="netwatch-traps-") as tmp:
        yield Path(tmp)


class Receiver:
    def __init__(self, traps: Traps, seen: list[str], workdir: Path) -> None:
        self.traps = traps
        self.seen = seen
        self.workdir = workdir

    @property
    def target(self) -> str:
        return f"udp:127.0.0.1:{self.traps.port}"

    async def tool(self, *argv: str) -> int:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=tool_env(self.workdir),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await asyncio.wait_for(proc.wait(), 10.0)

    async def wait_for(self, count: int, device: str = "rtr") -> None:
        """Wait (at most 5 s) until ``device`` has ``count`` notifications recorded."""
        for _ in range(250):
            if sum(self.traps.log.counts_of(device).values()) >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{device}: {count} notifications not received in 5 s")


@pytest.fixture
async def rx(workdir: Path) -> AsyncIterator[Receiver]:
    seen: list[str] = []
    settings = TrapSettings("127.0.0.1:0", (Secret("env:NW_TRAP", COMMUNITY),))
    devices = [Device("rtr", "127.0.0.1", Role.ROUTER, "hq")]
    traps = await Traps.open(settings, devices, seen.append)
    try:
        yield Receiver(traps, seen, workdir)
    finally:
        traps.close()


async def capture(rx: Receiver, *argv: str) -> bytes:
    """The datagram a net-snmp tool sends (to a socket of our own, not the receiver)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        target = f"udp:127.0.0.1:{sock.getsockname()[1]}"
        args = [a if a != "TARGET" else target for a in argv]
        await rx.tool(*args)  # an inform fails here (no one answers it): only its datagram counts
        data, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_recvfrom(sock, 65535), 5)
        return data


@pytest.mark.parametrize(("kind", "oid", "enterprise", "generic", "specific"), KINDS)
async def test_each_trap_kind_over_v2c_and_v1_polls_its_device(
    rx: Receiver, kind: str, oid: str, enterprise: str, generic: str, specific: str
) -> None:
    """Each kind, sent by snmptrap in SNMPv2c and in SNMPv1, is recorded under its kind and
    asks for a poll of the device it came from."""
    v2 = ["snmptrap", "-v", "2c", "-c", COMMUNITY, rx.target, "", oid, *LINK_IF]
    assert await rx.tool(*v2) == 0
    await rx.wait_for(1)
    v1 = ["snmptrap", "-v", "1", "-c", COMMUNITY, rx.target, enterprise, "127.0.0.1",
          generic, specific, "", *LINK_IF]  # fmt: skip
    assert await rx.tool(*v1) == 0
    await rx.wait_for(2)
    assert dict(rx.traps.log.counts_of("rtr")) == {kind: 2}
    assert rx.seen == ["rtr", "rtr"]
    newest, oldest = rx.traps.log.of("rtr")
    assert (oldest.version, newest.version) == ("2c", "1")
    assert oldest.oid == oid
    assert newest.oid == (f"{enterprise}.0.{specific}" if generic == "6" else oid)  # RFC 3584
    assert "1.3.6.1.2.1.2.2.1.1.2=2" in oldest.detail
    assert newest.uptime_seconds is not None
    assert sum(rx.traps.log.dropped.values()) == 0


async def test_an_inform_is_acknowledged_once_and_counted_once(rx: Receiver) -> None:
    """snmpinform exits 0 only when it gets the Response; a bad community gets none."""
    inform = ["snmpinform", "-v", "2c", "-r", "0", "-t", "2", rx.target, "", "1.3.6.1.6.3.1.1.5.3"]
    assert await rx.tool(*inform[:3], "-c", COMMUNITY, *inform[3:]) == 0
    await rx.wait_for(1)
    assert rx.traps.log.of("rtr")[0].pdu == "inform"
    assert await rx.tool(*inform[:3], "-c", "wrong", *inform[3:]) != 0
    assert rx.traps.log.dropped["community"] == 1
    assert dict(rx.traps.log.counts_of("rtr")) == {"link_down": 1}


async def test_a_retransmitted_inform_is_acknowledged_again_but_counted_once(
    rx: Receiver,
) -> None:
    data = await capture(
        rx, "snmpinform", "-v", "2c", "-c", COMMUNITY, "-r", "0", "-t", "1", "TARGET", "",
        "1.3.6.1.6.3.1.1.5.1",
    )  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        for _ in range(2):
            sock.sendto(data, ("127.0.0.1", rx.traps.port))
            reply = await asyncio.to_thread(sock.recv, 65535)
            assert reply[reply.index(COMMUNITY.encode()) + len(COMMUNITY)] == 0xA2  # Response
    await rx.wait_for(1)
    await asyncio.sleep(0.1)
    assert dict(rx.traps.log.counts_of("rtr")) == {"cold_start": 1}
    assert rx.seen == ["rtr"]


async def test_a_trap_from_an_unknown_source_is_dropped(rx: Receiver) -> None:
    """The same datagram is taken from the device's address and dropped from 127.0.0.99."""
    data = await capture(
        rx, "snmptrap", "-v", "2c", "-c", COMMUNITY, "TARGET", "", "1.3.6.1.6.3.1.1.5.3"
    )
    for source, expected in (("127.0.0.99", 0), ("127.0.0.1", 1)):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            sock.sendto(data, ("127.0.0.1", rx.traps.port))
        await asyncio.sleep(0.2)
        assert sum(rx.traps.log.counts_of("rtr").values()) == expected
    assert rx.traps.log.dropped["unknown_source"] == 1
    assert rx.seen == ["rtr"]


async def test_garbage_is_counted_by_reason_and_the_receiver_goes_on(
    rx: Receiver, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bit flips, cuts, random bytes, an oversized datagram, a GET and an SNMPv3 trap are
    dropped with their reason; no exception escapes; a good trap afterwards is taken."""
    caplog.set_level(logging.WARNING, logger="netwatch.traps")
    monkeypatch.setattr(traps_module, "BURST", 10_000.0)  # the rate limit has its own test
    good = await capture(
        rx, "snmptrap", "-v", "2c", "-c", COMMUNITY, "TARGET", "", "1.3.6.1.6.3.1.1.5.3", *LINK_IF
    )
    v3 = await capture(
        rx, "snmptrap", "-v", "3", "-u", "nobody", "-l", "noAuthNoPriv", "-e", "0x8000000001020304",
        "TARGET", "", "1.3.6.1.6.3.1.1.5.3",
    )  # fmt: skip
    rng = random.Random(7)
    junk = [rng.randbytes(rng.randrange(1, 200)) for _ in range(40)]
    junk += [good[:n] for n in range(1, len(good))]
    for _ in range(60):
        flipped = bytearray(good)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        junk.append(bytes(flipped))
    junk += [b"\x30" + b"\x84\xff\xff\xff\xff" + good, b"\x00" * (MAX_DATAGRAM + 1), v3]
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        for n, data in enumerate(junk):
            await loop.sock_sendto(sock, data, ("127.0.0.1", rx.traps.port))
            if n % 50 == 49:
                await asyncio.sleep(0.05)  # within the socket's receive buffer
        await asyncio.sleep(0.3)
        assert await rx.tool("snmpget", "-v", "2c", "-c", COMMUNITY, "-r", "0", "-t", "0.5",
                             rx.target, "1.3.6.1.2.1.1.3.0") != 0  # fmt: skip
    dropped = rx.traps.log.dropped
    assert dropped["error"] == 0
    assert dropped["too_big"] == 1
    assert dropped["version"] >= 1  # the v3 trap (and a bit flip of the version, maybe)
    assert dropped["not_notification"] >= 1  # the GET (and flips of the PDU tag)
    assert dropped["malformed"] >= 40 + len(good) - 1
    taken = sum(rx.traps.log.counts_of("rtr").values())  # bit flips that still decode
    assert sum(dropped.values()) + taken == len(junk) + 1
    before = rx.seen.count("rtr")
    assert await rx.tool("snmptrap", "-v", "2c", "-c", COMMUNITY, rx.target, "",
                         "1.3.6.1.6.3.1.1.5.4") == 0  # fmt: skip
    await rx.wait_for(taken + 1)
    assert rx.seen.count("rtr") == before + 1
    # One line per reason a minute, however many datagrams.
    lines = [r for r in caplog.records if "dropped a datagram" in r.getMessage()]
    assert len(lines) <= len(traps_module.REASONS)
    assert all(COMMUNITY not in r.getMessage() for r in caplog.records)


async def test_a_flood_from_one_source_is_rate_limited(rx: Receiver) -> None:
    """300 traps at once from one device: the burst is taken, the rest dropped as ``rate``."""
    good = await capture(
        rx, "snmptrap", "-v", "2c", "-c", COMMUNITY, "TARGET", "", "1.3.6.1.6.3.1.1.5.3"
    )
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        sock.setblocking(False)
        started = loop.time()
        for _ in range(300):
            await loop.sock_sendto(sock, good, ("127.0.0.1", rx.traps.port))
        took = loop.time() - started
    await asyncio.sleep(0.3)
    taken = sum(rx.traps.log.counts_of("rtr").values())
    rate = rx.traps.log.dropped["rate"]
    assert taken + rate == 300
    assert BURST <= taken <= BURST + traps_module.RATE * (took + 0.5)
    assert rate >= 300 - BURST - traps_module.RATE * (took + 0.5)


async def test_a_device_named_by_host_name_is_matched_on_its_resolved_address(
    workdir: Path,
) -> None:
    seen: list[str] = []
    settings = TrapSettings("127.0.0.1:0", (Secret("env:NW_TRAP", COMMUNITY),))
    devices = [Device("named", "localhost", Role.SERVER, "hq")]
    traps = await Traps.open(settings, devices, seen.append)
    try:
        rx = Receiver(traps, seen, workdir)
        assert "127.0.0.1" in traps.sources
        assert await rx.tool("snmptrap", "-v", "2c", "-c", COMMUNITY, rx.target, "",
                             "1.3.6.1.6.3.1.1.5.1") == 0  # fmt: skip
        await rx.wait_for(1, device="named")
        assert seen == ["named"]
    finally:
        traps.close()
