"""RebootDetector fed by real polls: a restarted device is one reboot, a restarted agent none."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from netwatch.models import Sample, Secret, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_data import SnmpData, SystemInfo
from netwatch.probes.snmp_reboots import (
    TIMETICKS_WRAP_SECONDS,
    RebootDetector,
    Verdict,
    clock_verdict,
)
from tests.snmpd import COMMUNITY, start_snmpd, stop_snmpd
from tests.snmpsim import DATA, start_snmpsim, stop_snmpsim

pytestmark = pytest.mark.peer

UP_BEFORE_RESTART = 8.0  # seconds of uptime before the restart, well above the 5 s tolerance


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


def system_of(sample: Sample[SnmpData]) -> SystemInfo:
    assert sample.ok, sample.failure
    assert sample.data is not None
    assert sample.data.system is not None
    return sample.data.system


async def poll_when_up(
    poller: SnmpPoller, device: str, port: int, community: str
) -> Sample[SnmpData]:
    """Poll until the agent reports UP_BEFORE_RESTART s of sysUpTime (bounded: 20 polls)."""
    settings = SnmpSettings(community=Secret("test", community), port=port, collect=("system",))
    for _ in range(20):
        sample = await poller.poll(device, "127.0.0.1", settings)
        uptime = system_of(sample).sys_uptime_seconds
        assert uptime is not None
        if uptime >= UP_BEFORE_RESTART:
            return sample
        await asyncio.sleep(min(UP_BEFORE_RESTART - uptime + 0.2, 2.0))
    pytest.fail("the agent's uptime did not grow")


async def test_restarted_device_is_one_reboot(poller: SnmpPoller) -> None:
    """The fresh-boot recording's clocks start at 0 with snmpsim: restarting it is a reboot."""
    detector = RebootDetector()
    with tempfile.TemporaryDirectory(prefix="netwatch-snmpsim-") as tmp:
        os.chmod(tmp, 0o755)
        sim = start_snmpsim(DATA / "reboot", Path(tmp))
        try:
            before = await poll_when_up(poller, "fresh", sim.port, "fresh-boot")
        finally:
            stop_snmpsim(sim)
        assert detector.observe("fresh", before.at, system_of(before)) is None
        sim = start_snmpsim(DATA / "reboot", Path(tmp))
        try:
            settings = sim.settings("fresh-boot", collect=("system",))
            after = await poller.poll("fresh", sim.host, settings)
            reboot = detector.observe("fresh", after.at, system_of(after))
            await asyncio.sleep(1.0)
            again = await poller.poll("fresh", sim.host, settings)
            assert detector.observe("fresh", again.at, system_of(again)) is None
        finally:
            stop_snmpsim(sim)
    assert reboot is not None
    assert reboot.clock == "sysUpTime"
    assert not reboot.after_wrap
    assert reboot.previous_uptime_seconds >= UP_BEFORE_RESTART
    assert reboot.uptime_seconds < reboot.previous_uptime_seconds
    assert detector.reboots("fresh") == 1


async def test_restarted_snmpd_is_not_a_host_reboot(poller: SnmpPoller) -> None:
    """net-snmp restarted: sysUpTime starts again but hrSystemUptime (the host) counts on."""
    detector = RebootDetector()
    with tempfile.TemporaryDirectory(prefix="netwatch-snmpd-") as tmp:
        agent = start_snmpd(Path(tmp), users=[])
        try:
            before = await poll_when_up(poller, "srv", agent.port, COMMUNITY)
        finally:
            stop_snmpd(agent)
        agent = start_snmpd(Path(tmp), users=[])
        try:
            settings = SnmpSettings(
                community=Secret("test", COMMUNITY), port=agent.port, collect=("system",)
            )
            after = await poller.poll("srv", agent.host, settings)
        finally:
            stop_snmpd(agent)
    old, new = system_of(before), system_of(after)
    assert old.hr_system_uptime_seconds is not None
    assert new.hr_system_uptime_seconds is not None
    # sysUpTime alone would call this a reboot: the test is only meaningful if it does.
    elapsed = after.at - before.at
    sys_alone = clock_verdict(
        old.sys_uptime_seconds, new.sys_uptime_seconds, elapsed, TIMETICKS_WRAP_SECONDS
    )
    assert sys_alone is Verdict.RESTARTED
    assert detector.observe("srv", before.at, old) is None
    assert detector.observe("srv", after.at, new) is None
    assert detector.reboots("srv") == 0
