"""The page's own memory of recent ICMP results and SNMP counters."""

from __future__ import annotations

import math

import pytest

from netwatch.models import Device, IcmpStats, Role, Sample
from netwatch.probes.snmp_data import Interface, SnmpData
from netwatch.state import StateTracker
from netwatch.web.recent import Recent


def icmp(at: float, *rtts: float, sent: int = 2, device: str = "r1") -> Sample[object]:
    return Sample(device, "icmp", at, 0.1, None, IcmpStats(sent, rtts))


def test_samples_in_one_minute_merge_into_one_point() -> None:
    r = Recent()
    r.record(icmp(600.0, 0.010, 0.010))
    r.record(icmp(630.0, 0.020))  # half lost
    r.record(icmp(660.0))  # all lost: no RTT, full loss
    points = r.icmp("r1")
    assert [p.at for p in points] == [600.0, 660.0]
    assert points[0].rtt == pytest.approx(0.015)
    assert points[0].loss == pytest.approx(0.25)
    assert math.isnan(points[1].rtt)
    assert points[1].loss == 1.0


def test_the_ring_keeps_the_newest_minutes_and_ignores_repeats_and_late_samples() -> None:
    r = Recent(minutes=3)
    for k in range(5):
        r.record(icmp(60.0 * k, 0.001 * (k + 1)))
    r.record(icmp(240.0, 0.5))  # the same sample again: counted once
    r.record(icmp(10.0, 0.9))  # late: dropped
    points = r.icmp("r1")
    assert [p.at for p in points] == [120.0, 180.0, 240.0]
    assert points[-1].rtt == pytest.approx(0.005)
    assert r.icmp("unknown") == []


def test_sync_reads_the_state_tracker_and_forget_drops_removed_devices() -> None:
    clock = [1000.0]
    state = StateTracker(clock=lambda: clock[0])
    dev = Device("r1", "127.0.0.1", Role.ROUTER, "s")
    r = Recent()
    state.record(dev, icmp(1000.0, 0.01))
    r.sync(state)
    r.sync(state)
    state.record(dev, icmp(1060.0, 0.02))
    r.sync(state)
    assert [p.rtt for p in r.icmp("r1")] == [pytest.approx(0.01), pytest.approx(0.02)]
    r.forget(["other"])
    assert r.icmp("r1") == []


def iface(index: int, rx: int | None, tx: int | None) -> Interface:
    return Interface(
        index,
        f"eth{index}",
        "",
        True,
        True,
        10**9,
        rx,
        tx,
        None,
        None,
        None,
        None,
        None,
        None,
        True,
    )


def snmp(at: float, *ifaces: Interface) -> Sample[SnmpData]:
    return Sample("r1", "snmp", at, 0.1, None, SnmpData(None, ifaces, None))


def test_traffic_rates_need_two_samples_and_refuse_counters_that_went_back() -> None:
    r = Recent()
    r.record_snmp(snmp(100.0, iface(1, 1000, 5000), iface(2, 9000, None)))
    assert r.rates("r1") == {}
    r.record_snmp(snmp(110.0, iface(1, 2250, 5000), iface(2, 10, None), iface(3, 1, 1)))
    assert r.rates("r1") == {1: (1000.0, 0.0), 2: (None, None), 3: (None, None)}
