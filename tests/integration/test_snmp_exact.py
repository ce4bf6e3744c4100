"""Exact values from a quirky agent (snmpsim, tests/data/snmprec/quirks/e1-router): an E1 and a
512 kb/s line, an empty ifName, a Windows-1258 ifAlias, and no sysDescr at all."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netwatch.exporters.snmp import SnmpRow, write_snmp
from netwatch.exporters.text import MetricsText, label_pairs
from netwatch.models import Device, Role
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_data import SnmpData
from netwatch.state import StateTracker
from tests.snmpsim import DATA, Simulator, running

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def quirks() -> Iterator[Simulator]:
    yield from running(DATA / "quirks")


async def poll(sim: Simulator) -> tuple[SnmpData, str]:
    poller = await SnmpPoller.create()
    try:
        settings = sim.settings("e1-router")
        sample = await poller.poll("e1-router", sim.host, settings)
    finally:
        poller.close()
    assert sample.ok, sample.failure
    assert isinstance(sample.data, SnmpData)
    device = Device("e1-router", sim.host, Role.ROUTER, "an-binh", snmp=settings)
    tracker = StateTracker()
    tracker.record(device, sample)
    out = MetricsText()
    labels = label_pairs(["device", "site", "role"], ["e1-router", "an-binh", "router"])
    write_snmp(out, [SnmpRow(device, labels, tracker.check(device.id, "snmp"))], time.time())
    return sample.data, out.text()


async def test_slow_links_get_their_exact_speed(quirks: Simulator) -> None:
    """An E1 is 1.984 Mb/s (ifHighSpeed says 2), a 512k line 512 kb/s (ifHighSpeed says 0)."""
    data, _text = await poll(quirks)
    assert data.interfaces is not None
    speeds = {i.index: i.speed_bps for i in data.interfaces}
    assert speeds == {1: 1_984_000, 2: 1_000_000_000, 3: 512_000}


async def test_empty_ifname_falls_back_to_ifdescr(quirks: Simulator) -> None:
    """ifName "" on Serial0/1/0: the interface is named by its ifDescr."""
    data, _text = await poll(quirks)
    assert data.interfaces is not None
    names = {i.index: i.name for i in data.interfaces}
    assert names == {1: "Se0/0/0:0", 2: "Gi0/0", 3: "Serial0/1/0"}


async def test_windows_1258_text_is_decoded(quirks: Simulator) -> None:
    """A Vietnamese Windows ifAlias (cp1258, tones as combining marks) reads as written."""
    data, _text = await poll(quirks)
    assert data.interfaces is not None
    assert data.interfaces[0].alias == "Xã An Bình - đường truyền E1"


async def test_device_info_from_sysobjectid_alone(quirks: Simulator) -> None:
    """No sysDescr, no sysName: netwatch_device_info is still exported, from sysObjectID."""
    _data, text = await poll(quirks)
    info = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "netwatch_device_info"
    ]
    assert len(info) == 1
    assert info[0].labels["sys_object_id"] == "1.3.6.1.4.1.9.1.1041"
    assert info[0].labels["sys_descr"] == ""
