"""The SNMP probe against snmpsim recordings: switch, router, servers, an old device, a slow one.

What the poller reads is compared with what net-snmp's snmpget/snmpbulkwalk read from the same
simulator; growing counters are bracketed by a walk before and after the poll.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netwatch.exporters.snmp import SnmpRow, write_snmp
from netwatch.exporters.text import MetricsText, label_pairs
from netwatch.models import Device, FailureKind, Role
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_data import SnmpData
from netwatch.probes.snmp_reboots import TIMETICKS_WRAP_SECONDS, RebootDetector
from netwatch.state import StateTracker
from tests.snmpsim import DATA, Simulator, running, snmpsim

__all__ = ["snmpsim"]  # the fixture, imported for pytest

pytestmark = pytest.mark.peer

IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
HR_STORAGE = "1.3.6.1.2.1.25.2.3.1"
DEVICES = ["access-switch", "core-router", "linux-server", "windows-ws", "old-device"]
INTERFACES = {
    "access-switch": 25,
    "core-router": 48,
    "linux-server": 2,
    "windows-ws": 3,
    "old-device": 3,
}


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


async def poll(sim: Simulator, poller: SnmpPoller, community: str, **kw: object) -> SnmpData:
    sample = await poller.poll(community, sim.host, sim.settings(community, **kw))
    assert sample.ok, sample.failure
    assert sample.data is not None
    return sample.data


def test_recordings_are_all_covered(snmpsim: Simulator) -> None:
    """Every recording in devices/ is exercised by the tests below."""
    assert snmpsim.communities == sorted(DEVICES)


@pytest.mark.parametrize("community", DEVICES)
async def test_interfaces_match_net_snmp(
    snmpsim: Simulator, poller: SnmpPoller, community: str
) -> None:
    """Names, status, speed and counters of every interface equal the simulator's tables."""
    before = {**snmpsim.values("snmpbulkwalk", community, IF), **snmpsim.values(
        "snmpbulkwalk", community, IFX
    )}  # fmt: skip
    data = await poll(snmpsim, poller, community)
    after = {**snmpsim.values("snmpbulkwalk", community, IF), **snmpsim.values(
        "snmpbulkwalk", community, IFX
    )}  # fmt: skip
    assert data.table_failures == {}
    assert data.interfaces is not None
    assert len(data.interfaces) == INTERFACES[community]
    has_ifx = any(oid.startswith(IFX) for oid in before)
    for iface in data.interfaces:
        ix = iface.index
        assert iface.hc is has_ifx
        name_oid = f"{IFX}.1.{ix}" if has_ifx else f"{IF}.2.{ix}"
        assert iface.name == before[name_oid]
        assert iface.alias == before.get(f"{IFX}.18.{ix}", "")
        assert iface.oper_up == (before[f"{IF}.8.{ix}"] == "1")
        assert iface.admin_up == (before[f"{IF}.7.{ix}"] == "1")
        if has_ifx and before[f"{IFX}.15.{ix}"] != "0":
            assert iface.speed_bps == int(before[f"{IFX}.15.{ix}"]) * 1_000_000
        else:
            assert iface.speed_bps == int(before[f"{IF}.5.{ix}"])
        counters = (
            ((IFX, 6) if has_ifx else (IF, 10), iface.in_octets),
            ((IFX, 10) if has_ifx else (IF, 16), iface.out_octets),
            ((IFX, 7) if has_ifx else (IF, 11), iface.in_ucast_pkts),
            ((IFX, 11) if has_ifx else (IF, 17), iface.out_ucast_pkts),
            ((IF, 14), iface.in_errors),
            ((IF, 20), iface.out_errors),
            ((IF, 13), iface.in_discards),
            ((IF, 19), iface.out_discards),
        )
        for (table, column), value in counters:
            oid = f"{table}.{column}.{ix}"
            assert value is not None, oid
            assert int(before[oid]) <= value <= int(after[oid]), (iface.name, oid)


async def test_counters_grow_between_polls(snmpsim: Simulator, poller: SnmpPoller) -> None:
    """The router's busy uplink counts octets between two polls; an idle port does not."""
    first = await poll(snmpsim, poller, "core-router", collect=("interfaces",))
    await asyncio.sleep(1.2)
    second = await poll(snmpsim, poller, "core-router", collect=("interfaces",))
    assert first.interfaces is not None
    assert second.interfaces is not None
    a = {i.name: i for i in first.interfaces}
    b = {i.name: i for i in second.interfaces}
    assert b["xe-0/0/0"].in_octets > a["xe-0/0/0"].in_octets  # type: ignore[operator]
    assert b["xe-0/0/47"].in_octets == a["xe-0/0/47"].in_octets


async def test_old_device_falls_back_to_32_bit_counters(
    snmpsim: Simulator, poller: SnmpPoller
) -> None:
    """No ifXTable: names from ifDescr, speed from ifSpeed, hc False, no alias."""
    data = await poll(snmpsim, poller, "old-device")
    assert data.interfaces is not None
    assert [i.name for i in data.interfaces] == ["Ethernet0", "Serial0", "Serial1"]
    assert all(not i.hc and i.alias == "" for i in data.interfaces)
    assert [i.speed_bps for i in data.interfaces] == [10_000_000, 2_000_000, 2_000_000]
    assert data.system is not None
    assert data.system.engine_time_seconds is None
    assert data.host is not None  # no host MIB: empty, not a failure
    assert data.host.storage == ()


@pytest.mark.parametrize("community", ["linux-server", "windows-ws"])
async def test_host_resources_match_net_snmp(
    snmpsim: Simulator, poller: SnmpPoller, community: str
) -> None:
    """Storage rows, CPU loads, processes and load averages equal the simulator's values."""
    data = await poll(snmpsim, poller, community)
    host = data.host
    assert host is not None
    table = snmpsim.values("snmpbulkwalk", community, HR_STORAGE)
    assert len(host.storage) == sum(1 for oid in table if oid.startswith(f"{HR_STORAGE}.1."))
    for s in host.storage:
        units = int(table[f"{HR_STORAGE}.4.{s.index}"])
        assert s.description == table[f"{HR_STORAGE}.3.{s.index}"]
        assert s.size_bytes == int(table[f"{HR_STORAGE}.5.{s.index}"]) * units
        assert s.used_bytes == int(table[f"{HR_STORAGE}.6.{s.index}"]) * units
    kinds = {s.type for s in host.storage}
    assert {"ram", "virtual", "fixed disk"} <= kinds
    loads = snmpsim.values("snmpbulkwalk", community, "1.3.6.1.2.1.25.3.3.1.2")
    assert list(host.cpu_loads) == [int(v) / 100 for _, v in sorted(loads.items())]
    processes = snmpsim.values("snmpget", community, "1.3.6.1.2.1.25.1.6.0")
    assert host.processes == int(processes["1.3.6.1.2.1.25.1.6.0"])
    la = snmpsim.values("snmpbulkwalk", community, "1.3.6.1.4.1.2021.10.1.3")
    if community == "linux-server":
        assert host.load_average == tuple(
            float(la[f"1.3.6.1.4.1.2021.10.1.3.{i}"]) for i in (1, 2, 3)
        )
    else:
        assert la == {}
        assert host.load_average is None
    assert data.system is not None
    assert data.system.hr_system_uptime_seconds is not None


async def test_system_group_matches_net_snmp(snmpsim: Simulator, poller: SnmpPoller) -> None:
    """sysDescr/sysObjectID/sysName and the three uptimes of the Windows recording."""
    data = await poll(snmpsim, poller, "windows-ws", collect=("system",))
    system = data.system
    assert system is not None
    got = snmpsim.values("snmpget", "windows-ws", "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0",
                         "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.3.0")  # fmt: skip
    assert system.sys_descr == got["1.3.6.1.2.1.1.1.0"]
    assert system.sys_object_id == got["1.3.6.1.2.1.1.2.0"].lstrip(".")
    assert system.sys_name == got["1.3.6.1.2.1.1.5.0"]
    assert system.sys_uptime_seconds is not None
    assert system.sys_uptime_seconds <= int(got["1.3.6.1.2.1.1.3.0"]) / 100
    assert system.engine_time_seconds is not None
    assert data.interfaces is None


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[Simulator]:
    """A separate simulator: snmpsim's delay blocks the whole process while it waits."""
    yield from running(DATA / "slow")


async def test_slow_device_times_out_cleanly(slow_sim: Simulator, poller: SnmpPoller) -> None:
    """Replies 1.5 s late against a 0.4 s timeout: a TIMEOUT sample, then a clean next poll."""
    settings = slow_sim.settings("slow-device", timeout=0.4, retries=0)
    sample = await poller.poll("slow-device", slow_sim.host, settings)
    assert sample.failure is not None
    assert sample.failure.kind is FailureKind.TIMEOUT
    assert "slow-device" in sample.failure.detail
    # ... and it is exported as such: snmp_up 0, one failure with reason "timeout".
    device = Device("slow-device", slow_sim.host, Role.SWITCH, "s", snmp=settings)
    tracker = StateTracker()
    tracker.record(device, sample)
    labels = label_pairs(["device", "site", "role"], ["slow-device", "s", "switch"])
    out = MetricsText()
    write_snmp(out, [SnmpRow(device, labels, tracker.check(device.id, "snmp"))], time.time())
    series = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out.text())
        for s in family.samples
    }
    names = (("device", "slow-device"), ("role", "switch"), ("site", "s"))
    assert series[("netwatch_snmp_up", names)] == 0
    reason = tuple(sorted((*names, ("reason", "timeout"))))
    assert series[("netwatch_snmp_failures_total", reason)] == 1
    # snmpsim answers one request at a time and sums its delays (three 1.5 s objects: 4.5 s a
    # GET); still in its queue: the timed-out poll's GET and the one SNMPv1 question netwatch
    # asks after a v2c timeout (is it a v1-only agent?). So the patient poll waits ~10.5 s.
    patient = slow_sim.settings("slow-device", timeout=15, retries=0, collect=("system",))
    sample = await poller.poll("slow-device", slow_sim.host, patient)
    assert sample.ok, sample.failure
    assert sample.data is not None
    assert sample.data.system is not None
    assert sample.data.system.sys_name == "slow-device"


@pytest.fixture(scope="module")
def wrap_sim() -> Iterator[Simulator]:
    """A separate simulator: its sysUpTime wraps a fixed time after it starts."""
    yield from running(DATA / "wrap")


async def test_uptime_wrap_is_not_a_reboot(wrap_sim: Simulator, poller: SnmpPoller) -> None:
    """sysUpTime crosses 2^32 ticks between two polls; RebootDetector counts no reboot."""
    detector = RebootDetector()
    first = await poller.poll("wrap-sw", wrap_sim.host, wrap_sim.settings("uptime-wrap"))
    assert first.ok, first.failure
    assert first.data is not None
    assert first.data.system is not None
    before = first.data.system.sys_uptime_seconds
    assert before is not None
    left = TIMETICKS_WRAP_SECONDS - before
    assert 0 < left < 30, "the recording's uptime should be just below the wrap"
    assert detector.observe("wrap-sw", first.at, first.data.system) is None
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:  # bounded: the wrap is < 30 s away
        await asyncio.sleep(min(left + 1.0, 5.0))
        second = await poller.poll("wrap-sw", wrap_sim.host, wrap_sim.settings("uptime-wrap"))
        assert second.ok, second.failure
        assert second.data is not None
        assert second.data.system is not None
        after = second.data.system.sys_uptime_seconds
        assert after is not None
        assert detector.observe("wrap-sw", second.at, second.data.system) is None
        if after < before:
            break
        left = TIMETICKS_WRAP_SECONDS - after
    else:
        pytest.fail("sysUpTime never wrapped")
    assert after < 60
    assert detector.reboots("wrap-sw") == 0
