"""render_text: a whole view as Prometheus text, valid for the parser and for promtool."""

from __future__ import annotations

import dataclasses
import math
import shutil
import subprocess
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netwatch.exporters.collector import RenderCache, View, render_text
from netwatch.inventory import AGENT_SHARD, Inventory, build_inventory
from netwatch.models import (
    AgentSettings,
    Device,
    HttpSpec,
    IcmpStats,
    Role,
    Sample,
    ServiceCheck,
    Site,
    SnmpSettings,
    Status,
)
from netwatch.probes.service_model import CertInfo, ServiceData
from netwatch.probes.snmp_data import HostResources, Interface, SnmpData, Storage, SystemInfo
from netwatch.settings.config import Config
from netwatch.state import CheckState, DeviceState, StateTracker

NOW = 1.8e9
ODD = 'sw "lõi"\\A\nB'  # quote, backslash, newline and Vietnamese in one label value
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def port(i: int) -> Interface:
    return Interface(
        index=i, name=f"Gi0/{i}", alias=f'tới xã "{i}"\\', oper_up=i % 2 == 0, admin_up=True,
        speed_bps=10**9, in_octets=2**40 + i, out_octets=2**39, in_ucast_pkts=10**6,
        out_ucast_pkts=10**6, in_errors=1, out_errors=0, in_discards=2, out_discards=None, hc=True,
    )  # fmt: skip


def interfaces(n: int) -> tuple[Interface, ...]:
    return tuple(port(i) for i in range(1, n + 1))


def province(snmp: int = 20, icmp: int = 200, ports: int = 12) -> View:
    """One province, two districts of three communes; SNMP devices also pinged and one serves
    HTTPS; every device polled 5 s ago."""
    communes = [f"xa-{d}-{c}" for d in range(2) for c in range(3)]
    sites = [Site("tinh", "Tỉnh Cần Thơ", "province", None, (), None, (), ("h0", "h1"))]
    sites += [
        Site(f"h{d}", f"Huyện {d}", "district", "tinh", (), None, (), tuple(communes[3 * d :][:3]))
        for d in range(2)
    ]
    sites += [Site(x, f"Xã {x}", "commune", f"h{x[3]}", (), None, (), ()) for x in communes]
    web = ServiceCheck('cổng "web"', HttpSpec("https://portal.example/"))
    devices = [
        Device(
            ODD if i == 0 else f"sw-{i}",
            "10.0.0.1",
            Role.SWITCH,
            communes[i % 6],
            snmp=SnmpSettings(),
            services=(web,) if i == 1 else (),
        )
        for i in range(snmp)
    ]
    devices += [
        Device(f"pc-{i}", "10.1.0.1", Role.WORKSTATION, communes[i % 6]) for i in range(icmp)
    ]
    inventory = build_inventory(Config(AgentSettings(), {}, tuple(sites), tuple(devices), ()))
    return view_of(inventory, ports)


def view_of(inventory: Inventory, ports: int) -> View:
    state = StateTracker()
    ping = Sample("x", "icmp", NOW - 5, 0.4, None, IcmpStats(3, (0.0012, 0.0015)))
    data = SnmpData(
        SystemInfo("lõi", "Cisco IOS\nSoftware", "1.3.6.1.4.1.9.1.1", 8.6e6),
        interfaces(ports),
        HostResources((0.1, 0.2), (Storage(1, "RAM", "ram", 2**30, 2**29),), 40, (0.5, 0.4, 0.3)),
    )
    poll = Sample("x", "snmp", NOW - 5, 0.8, None, data)
    cert = CertInfo(NOW + 86400 * 30, 'CN=portal "x"', "CN=CA\\Việt Nam")
    served = Sample("x", "service:web", NOW - 5, 0.1, None, ServiceData(200, 0.1, 0.05, cert))
    for device in inventory.config.devices:
        checks = {"icmp": CheckState(Status.UP, last=ping, last_ok=ping, packets_sent=30)}
        if device.snmp is not None:
            checks["snmp"] = CheckState(Status.UP, last=poll, last_ok=poll)
        for service in device.services:
            checks[f"service:{service.name}"] = CheckState(Status.UP, last=served, last_ok=served)
        state.devices[device.id] = DeviceState(Status.UP, NOW - 60, checks)
    return View(
        inventory,
        state,
        lambda d: Status.DOWN if d == "pc-3" else Status.UP,
        site_status=lambda _s: Status.UP,
        availability={"tinh": 0.999, "h0": 0.99},
        clock=lambda: NOW,
        since=lambda kind, _id: NOW - (100 if kind == "site" else 200),
    )


def parse(text: bytes) -> Series:
    series: Series = {}
    for family in text_string_to_metric_families(text.decode("utf-8")):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in series, f"duplicate series {key}"
            series[key] = s.value
    return series


def test_sizeable_view_parses_with_one_header_per_family() -> None:
    """220 devices, 20 of them with 12 ports: every sample parses, no duplicate series, each
    family declared once, counters typed on their _total name."""
    text = render_text(province(), cache=RenderCache())
    series = parse(text)
    names = Counter(name for name, _ in series)
    assert names["netwatch_device_up"] == 220
    assert names["netwatch_device_status"] == 5 * 220
    assert names["netwatch_interface_up"] == 20 * 12
    assert names["netwatch_interface_errors_total"] == 2 * 20 * 12
    assert names["netwatch_interface_discards_total"] == 20 * 12  # no out_discards
    assert names["netwatch_icmp_rtt_seconds"] == 3 * 220
    headers = [line for line in text.decode().splitlines() if line.startswith("# TYPE")]
    assert len(headers) == len(set(headers))
    assert "# TYPE netwatch_icmp_packets_sent_total counter" in headers
    pc3 = {"device": "pc-3", "site": "xa-1-0", "role": "workstation", "province": "tinh",
           "district": "h1", "commune": "xa-1-0"}  # fmt: skip
    assert series[("netwatch_device_up", frozenset(pc3.items()))] == 0


@pytest.mark.peer
def test_sizeable_view_passes_promtool() -> None:
    """promtool check metrics accepts the text: syntax and lint."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    text = render_text(province(), cache=RenderCache())
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert out.returncode == 0, (out.stdout + out.stderr).decode()


def test_odd_label_values_round_trip() -> None:
    """Quotes, backslashes, newlines and Vietnamese in device ids, aliases, descriptions,
    service names and certificates come back from the parser as they were."""
    series = parse(render_text(province(), cache=RenderCache()))
    labels = {k: v for name, lb in series for k, v in lb if name.startswith("netwatch_")}
    mine = [dict(lb) for name, lb in series if dict(lb).get("device") == ODD]
    assert mine
    assert {d.get("ifalias") for d in mine} >= {'tới xã "1"\\', 'tới xã "12"\\'}
    assert {d.get("sys_descr") for d in mine} >= {"Cisco IOS\nSoftware"}
    services = {dict(lb).get("service") for name, lb in series if name == "netwatch_service_up"}
    assert services == {'cổng "web"'}
    assert labels["subject"] == 'CN=portal "x"'
    assert labels["issuer"] == "CN=CA\\Việt Nam"


def test_shards_split_the_device_series() -> None:
    """The district shards and the agent shard together hold every series of "all", once."""
    view = province()
    cache = RenderCache()
    everything = parse(render_text(view, cache=cache))
    parts = [parse(render_text(view, s, cache=cache)) for s in view.inventory.shards]
    assert sum(len(p) for p in parts) == len(everything)

    # NaN (a site's ratio not computed yet) is not equal to itself: compare it as None.
    def comparable(series: Series) -> dict[object, float | None]:
        return {k: None if math.isnan(v) else v for k, v in series.items()}

    assert comparable({k: v for p in parts for k, v in p.items()}) == comparable(everything)
    agent = parts[view.inventory.shards.index(AGENT_SHARD)]
    assert {name for name, _ in agent} == {
        "netwatch_build_info", "netwatch_site_up", "netwatch_site_status",
        "netwatch_site_status_since_timestamp_seconds", "netwatch_site_availability_ratio",
        "netwatch_alerts_firing",
    }  # fmt: skip


def test_rendered_labels_follow_the_inventory_object() -> None:
    """Label pairs are rendered once per inventory; a reload (a new object) renders anew, and
    a new poll (a new interface tuple) re-renders that device's interface labels."""
    view = province(snmp=2, icmp=2, ports=2)
    cache = RenderCache()
    first = cache.of(view.inventory)
    assert cache.of(view.inventory) is first
    text = render_text(view, cache=cache)
    reloaded = build_inventory(view.inventory.config)
    assert cache.of(reloaded) is not first
    assert render_text(
        View(reloaded, view.state, view.status_of, clock=view.clock), cache=cache
    ) == (
        render_text(View(view.inventory, view.state, view.status_of, clock=view.clock), cache=cache)
    )
    check = view.state.devices["sw-1"].checks["snmp"]
    assert check.last_ok is not None
    renamed = (dataclasses.replace(port(1), name="Te1/1", alias="mới"),)
    polled = Sample("sw-1", "snmp", NOW - 1, 0.1, None, SnmpData(None, renamed, None))
    check.last = check.last_ok = polled
    after = render_text(view, cache=cache)
    assert b'ifname="Te1/1",ifalias="m\xe1\xbb\x9bi"' in after
    assert b'device="sw-1",site="xa-0-1"' in text
    assert after.count(b"netwatch_interface_up{") == 2 + 1


def test_every_device_and_site_says_since_when_and_every_site_has_its_30_day_ratio() -> None:
    """Each device and site has the time of its last status change; the 30-day availability
    exists for every site from the first scrape (NaN until the history knows the site), so a
    dashboard never misses a commune whose ratio is not computed yet."""
    view = province(snmp=2, icmp=6, ports=1)
    series = parse(render_text(view, cache=RenderCache()))

    def values(name: str, key: str) -> dict[str, float]:
        return {dict(lb)[key]: v for (n, lb), v in series.items() if n == name}

    devices = values("netwatch_device_status_since_timestamp_seconds", "device")
    assert devices == dict.fromkeys(view.inventory.devices, NOW - 200)
    sites = values("netwatch_site_status_since_timestamp_seconds", "site")
    assert sites == dict.fromkeys(view.inventory.sites, NOW - 100)
    ratio = values("netwatch_site_availability_ratio", "site")
    assert set(ratio) == set(view.inventory.sites)
    assert ratio["tinh"] == 0.999
    assert math.isnan(ratio["xa-0-1"])
