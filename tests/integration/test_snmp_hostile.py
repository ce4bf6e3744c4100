"""The SNMP probe against hostile peers on loopback (tests/hostile_snmp.py).

Numbers past their type's range, absurd OIDs and floods of unsolicited datagrams end every poll
of the hostile device as PROTOCOL or TIMEOUT, and a good snmpd polled at the same time, while a
flooder sprays the poller's socket from another address, keeps answering: in-process
(``snmp_workers: 0``) and in worker processes; and ``netwatch once`` exits 0 with the bad
device's snmp_up at 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from netwatch.models import FailureKind, Sample, Secret, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_data import SnmpData
from netwatch.probes.snmp_workers import SnmpWorkers
from tests.daemon import free_port, metric_value, netwatch_argv, write_config
from tests.hostile_snmp import MODES, serve, udp_ports
from tests.snmpd import COMMUNITY, SnmpAgent, snmpd

__all__ = ["snmpd"]  # the fixture, imported for pytest

Poll = Callable[[str, str, SnmpSettings], Awaitable[Sample[SnmpData]]]
FLOOD_RATE = 20_000  # datagrams per second: the client before the fix lost every poll at this rate
FLOOD_SECONDS = 6.0


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


def hostile_settings(port: int) -> SnmpSettings:
    return SnmpSettings(community=Secret("t", "hostile-community"), port=port, timeout=0.3,
                        retries=0)  # fmt: skip


def good_settings(agent: SnmpAgent) -> SnmpSettings:
    return SnmpSettings(community=Secret("t", COMMUNITY), port=agent.port, timeout=1.0, retries=1)


async def poll_hostile(poll: Poll, mode: str, polls: int) -> set[str]:
    """``polls`` polls (concurrent) of a device answering in ``mode``; how they ended (a
    failure kind, or ``ok``)."""
    transport, responder, port = await serve(mode)
    try:
        samples = await asyncio.gather(
            *(poll(f"bad-{mode}-{i}", "127.0.0.1", hostile_settings(port)) for i in range(polls))
        )
    finally:
        transport.close()
    assert responder.requests >= polls
    kinds = set()
    for sample in samples:
        if sample.failure is None:
            kinds.add("ok")
            continue
        assert "hostile-community" not in sample.failure.detail
        kinds.add(sample.failure.kind.value)
    return kinds


@pytest.mark.parametrize("mode", list(MODES))
async def test_hostile_replies_end_as_protocol_or_timeout(
    poller: SnmpPoller, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """In-process: 6 concurrent polls fail with the mode's kind; nothing reaches the loop's
    exception handler."""
    kinds = await poll_hostile(poller.poll, mode, 6)
    assert kinds <= MODES[mode], kinds
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_hostile_replies_end_as_protocol_or_timeout_in_workers() -> None:
    """Through a worker process: every mode still fails with its kind (no 'internal error')."""
    workers = SnmpWorkers(1)
    try:
        for mode, expected in MODES.items():
            kinds = await poll_hostile(workers.poll, mode, 3)
            assert kinds <= expected, (mode, kinds)
    finally:
        await workers.close()


# --------------------------------------------------------------------------- floods


def start_flooder(port: int, source: str = "127.0.0.3") -> subprocess.Popen[str]:
    argv = [
        sys.executable, "-m", "tests.hostile_snmp", "flood", "127.0.0.1", str(port),
        "--source", source, "--rate", str(FLOOD_RATE), "--seconds", str(FLOOD_SECONDS),
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


async def good_polls_during_flood(poll: Poll, agent: SnmpAgent, port: int) -> tuple[int, int]:
    """Poll the good agent for the flood's duration while a flood-wrong-id device is polled
    too and a flooder sprays ``port``: (good polls, failed good polls)."""
    transport, responder, bad_port = await serve("flood-wrong-id")
    flooder = start_flooder(port)
    good = failed = 0
    try:
        await asyncio.sleep(0.5)  # the flood is under way
        deadline = time.monotonic() + FLOOD_SECONDS - 1.5
        while time.monotonic() < deadline:
            ok, bad = await asyncio.gather(
                poll("good", agent.host, good_settings(agent)),
                poll("bad", "127.0.0.1", hostile_settings(bad_port)),
            )
            good += 1
            if not ok.ok:
                failed += 1
                logging.getLogger(__name__).warning("good poll failed: %s", ok.failure)
            assert bad.failure is not None
            assert bad.failure.kind in (FailureKind.PROTOCOL, FailureKind.TIMEOUT)
    finally:
        transport.close()
        out, _ = await asyncio.to_thread(flooder.communicate, timeout=FLOOD_SECONDS + 10)
    assert int(out) > FLOOD_RATE, "the flooder did not flood"
    assert responder.sent > 0
    return good, failed


@pytest.mark.peer
async def test_a_good_device_keeps_answering_through_a_flood(
    poller: SnmpPoller, snmpd: SnmpAgent
) -> None:
    """In-process: every poll of snmpd succeeds while the poller's socket is flooded, and the
    flood is dropped after its header (counted in ``dropped``)."""
    first = await poller.poll("good", snmpd.host, good_settings(snmpd))
    assert first.ok, first.failure
    port = poller._clients._v2c._sockets[socket.AF_INET][0].getsockname()[1]
    good, failed = await good_polls_during_flood(poller.poll, snmpd, port)
    assert good >= 3
    assert failed == 0, f"{failed} of {good} good polls failed during the flood"
    assert poller._clients._v2c.dropped > FLOOD_RATE


@pytest.mark.peer
async def test_a_good_device_keeps_answering_through_a_flood_in_workers(
    snmpd: SnmpAgent,
) -> None:
    """In a worker process: the same, flooding the worker's own UDP socket."""
    workers = SnmpWorkers(1)
    try:
        first = await workers.poll("good", snmpd.host, good_settings(snmpd))
        assert first.ok, first.failure
        pid = workers.pids[0]
        assert pid is not None
        ports = udp_ports(pid)
        assert ports, "the worker has no UDP socket"
        port = min(ports)  # the v2c socket (pysnmp's is opened only for SNMPv3)
        good, failed = await good_polls_during_flood(workers.poll, snmpd, port)
        assert good >= 3
        assert failed == 0, f"{failed} of {good} good polls failed during the flood"
    finally:
        await workers.close()


# --------------------------------------------------------------------------- netwatch once

ONCE_CONFIG = """
agent: {{listen: "127.0.0.1:{port}", data_dir: {data}, snmp_workers: {workers}}}
defaults:
  snmp: {{community: {{env: NW_TEST_COMMUNITY}}, timeout: 500ms, retries: 0}}
sites:
  - id: can-tho
    name: "TP Cần Thơ"
    level: province
    devices:
      - {{id: good-rtr, address: 127.0.0.1, role: router, icmp: false,
          snmp: {{port: {good}}}}}
      - {{id: evil-rtr, address: 127.0.0.1, role: router, icmp: false, shared_address: true,
          snmp: {{port: {evil}}}}}
"""


@pytest.mark.peer
@pytest.mark.parametrize("workers", [0, 1])
async def test_once_exits_0_with_the_hostile_device_down(
    tmp_path: Path, snmpd: SnmpAgent, workers: int
) -> None:
    """A Counter64 of 2^16000 and a TimeTicks past 2^32: ``netwatch once`` exits 0, the bad
    device's snmp_up is 0, the good one's 1, and promtool accepts the metrics."""
    for mode in ("huge-Counter64", "huge-TimeTicks"):
        transport, _responder, evil = await serve(mode)
        try:
            text = ONCE_CONFIG.format(
                port=free_port(), data=tmp_path / "data", workers=workers, good=snmpd.port,
                evil=evil,
            )  # fmt: skip
            path = write_config(tmp_path, text)
            proc = await asyncio.create_subprocess_exec(
                *netwatch_argv("-c", str(path), "once"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "NW_TEST_COMMUNITY": COMMUNITY},
            )  # fmt: skip
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            transport.close()
        out, err = stdout.decode(), stderr.decode()
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert metric_value(out, "netwatch_snmp_up", device="evil-rtr") == 0.0, mode
        assert metric_value(out, "netwatch_snmp_up", device="good-rtr") == 1.0, mode
        if shutil.which("promtool"):
            lint = await asyncio.create_subprocess_exec(
                "promtool", "check", "metrics", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            said, _ = await asyncio.wait_for(lint.communicate(stdout), 30)
            assert lint.returncode == 0, said.decode()
