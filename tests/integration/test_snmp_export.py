"""SNMP polls of real agents rendered as /metrics: promtool accepts them, values match net-snmp.

A real snmpd and the snmpsim recordings are polled, the samples go through the real
StateTracker and RebootDetector, and ``write_snmp`` writes the text that ``/metrics`` serves.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netwatch.exporters.snmp import SnmpRow, write_snmp
from netwatch.exporters.text import MetricsText, label_pairs
from netwatch.models import Device, Role, Secret, SnmpSettings
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_data import SnmpData
from netwatch.probes.snmp_reboots import RebootDetector
from netwatch.state import StateTracker
from tests.snmpd import COMMUNITY, SnmpAgent, snmpd
from tests.snmpsim import Simulator, snmpsim

__all__ = ["snmpd", "snmpsim"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.peer

NAMES = ["device", "site", "role", "province", "district", "commune"]
IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    p = await SnmpPoller.create()
    try:
        yield p
    finally:
        p.close()


def labels(device: Device) -> str:
    values = [device.id, device.site, device.role.value, "can-tho", "ninh-kieu", ""]
    return label_pairs(NAMES, values)


def render(rows: Iterable[SnmpRow]) -> str:
    out = MetricsText()
    write_snmp(out, rows, time.time())
    return out.text()


KNOWN_LINT: set[str] = set()  # promtool's lint must find nothing


def promtool_check(text: str) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    problems = set((out.stdout + out.stderr).splitlines()) - KNOWN_LINT
    assert not problems, problems
    assert out.returncode in (0, 3)  # 3: lint problems only (the known one); 1 is a parse error


def parse(text: str, device: str) -> Series:
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("device") != device:
                continue
            extra = frozenset((k, v) for k, v in s.labels.items() if k not in NAMES)
            series[(s.name, extra)] = s.value
    return series


def key(name: str, **extra: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(extra.items())


async def poll_into(
    tracker: StateTracker, detector: RebootDetector, poller: SnmpPoller, device: Device
) -> SnmpRow:
    assert device.snmp is not None
    sample = await poller.poll(device.id, device.address, device.snmp)
    assert sample.ok, sample.failure
    tracker.record(device, sample)
    if isinstance(sample.data, SnmpData):
        detector.observe(device.id, sample.at, sample.data.system)
    check = tracker.check(device.id, "snmp")
    return SnmpRow(device, labels(device), check, detector.reboots(device.id))


async def test_snmpd_metrics_pass_promtool_and_match_net_snmp(
    snmpd: SnmpAgent, poller: SnmpPoller
) -> None:
    """Every SNMP family from a real snmpd: promtool-clean, values equal snmpget/snmpbulkwalk."""
    settings = SnmpSettings(community=Secret("test", COMMUNITY), port=snmpd.port)
    device = Device("srv-1", snmpd.host, Role.SERVER, "ninh-kieu", snmp=settings)
    tracker, detector = StateTracker(), RebootDetector()
    before = {**snmpd.values("snmpbulkwalk", IF), **snmpd.values("snmpbulkwalk", IFX)}
    row = await poll_into(tracker, detector, poller, device)
    after = {**snmpd.values("snmpbulkwalk", IF), **snmpd.values("snmpbulkwalk", IFX)}
    scalars = snmpd.values("snmpget", "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0",
                           "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.3.0")  # fmt: skip
    text = render([row])
    promtool_check(text)
    m = parse(text, "srv-1")

    assert m[key("netwatch_snmp_up")] == 1
    assert m[key("netwatch_device_reboots_total")] == 0
    assert m[key("netwatch_snmp_poll_duration_seconds")] > 0
    info = key(
        "netwatch_device_info", sys_name=scalars["1.3.6.1.2.1.1.5.0"],
        sys_descr=scalars["1.3.6.1.2.1.1.1.0"][:256],
        sys_object_id=scalars["1.3.6.1.2.1.1.2.0"].lstrip("."),
    )  # fmt: skip
    assert m[info] == 1
    assert 0 <= m[key("netwatch_device_uptime_seconds")] <= int(scalars["1.3.6.1.2.1.1.3.0"]) / 100

    indices = [oid.rsplit(".", 1)[1] for oid in before if oid.startswith(f"{IFX}.1.")]
    assert indices
    for ix in indices:
        iface = {"ifname": before[f"{IFX}.1.{ix}"], "ifalias": before.get(f"{IFX}.18.{ix}", "")}
        assert m[key("netwatch_interface_up", **iface)] == (before[f"{IF}.8.{ix}"] == "1")
        assert m[key("netwatch_interface_admin_up", **iface)] == (before[f"{IF}.7.{ix}"] == "1")
        for name, oid in (
            ("netwatch_interface_receive_bytes_total", f"{IFX}.6.{ix}"),
            ("netwatch_interface_transmit_bytes_total", f"{IFX}.10.{ix}"),
            ("netwatch_interface_receive_packets_total", f"{IFX}.7.{ix}"),
            ("netwatch_interface_transmit_packets_total", f"{IFX}.11.{ix}"),
        ):
            assert int(before[oid]) <= m[key(name, **iface)] <= int(after[oid]), (name, oid)
        for name, rx, tx in (
            ("netwatch_interface_errors_total", 14, 20),
            ("netwatch_interface_discards_total", 13, 19),
        ):
            for direction, col in (("receive", rx), ("transmit", tx)):
                oid = f"{IF}.{col}.{ix}"
                exported = m[key(name, **iface, direction=direction)]
                assert int(before[oid]) <= exported <= int(after[oid]), oid

    storage = snmpd.values("snmpbulkwalk", "1.3.6.1.2.1.25.2.3.1")
    ram = [
        ix for oid, v in storage.items()
        if oid.startswith("1.3.6.1.2.1.25.2.3.1.2.") and v.endswith("1.3.6.1.2.1.25.2.1.2")
        for ix in [oid.rsplit(".", 1)[1]]
    ]  # fmt: skip
    assert len(ram) == 1
    units = int(storage[f"1.3.6.1.2.1.25.2.3.1.4.{ram[0]}"])
    size = int(storage[f"1.3.6.1.2.1.25.2.3.1.5.{ram[0]}"]) * units
    assert m[key("netwatch_host_memory_bytes", kind="size")] == size
    assert 0 < m[key("netwatch_host_memory_bytes", kind="used")] <= size
    disks = [n for n, lb in m if n == "netwatch_host_storage_bytes" and ("kind", "size") in lb]
    assert disks  # snmpd reports at least the root file system as a fixed disk
    assert m[key("netwatch_host_processes")] > 0
    assert key("netwatch_host_load_average", period="1m") in m


async def test_every_recording_renders_clean_metrics(
    snmpsim: Simulator, poller: SnmpPoller
) -> None:
    """All snmpsim devices in one scrape: promtool-clean, one series set per device and port."""
    tracker, detector = StateTracker(), RebootDetector()
    rows = []
    for community in snmpsim.communities:
        device = Device(community, snmpsim.host, Role.OTHER, "ninh-kieu",
                        snmp=snmpsim.settings(community))  # fmt: skip
        rows.append(await poll_into(tracker, detector, poller, device))
    text = render(rows)
    promtool_check(text)
    switch = parse(text, "access-switch")
    ports = [lb for n, lb in switch if n == "netwatch_interface_up"]
    assert len(ports) == 25
    win = parse(text, "windows-ws")
    disks = {dict(lb)["storage"] for n, lb in win if n == "netwatch_host_storage_bytes"}
    assert disks == {
        "C:\\ Label:  Serial Number 1a2b3c4d", "D:\\ Label:Data  Serial Number 5e6f7a8b",
    }  # fmt: skip
    assert win[key("netwatch_host_cpu_load_ratio", cpu="avg")] == pytest.approx(
        sum((5, 7, 3, 11, 2, 4, 6, 9)) / 8 / 100
    )
    old = parse(text, "old-device")
    assert old[key("netwatch_interface_speed_bytes", ifname="Serial0", ifalias="")] == (
        2_000_000 / 8
    )
