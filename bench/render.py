"""Rendering benchmark: ``/metrics`` of a province-sized synthetic view, all and one shard.

Builds a real inventory (1 province, ``--districts`` districts of 20 communes) with ``--snmp``
SNMP devices of ``--interfaces`` interfaces each (plus host resources) and ``--icmp`` devices
polled by ICMP only, all with fresh samples, then times the text of all series and of one
district shard and prints a table::

    .venv/bin/python -m bench.render
    .venv/bin/python -m bench.render --snmp 200 --icmp 2000 --repeat 5

"after" is netwatch's own text writer (``netwatch.exporters.collector.render_text``); "before"
is the prometheus_client path it replaced (``*MetricFamily`` + ``generate_latest``), loaded
from the exporters of commit ``BASELINE`` with ``git show``; the column is left out when git
or that commit is not at hand.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.core import Metric

from netwatch.exporters.collector import RenderCache, View, render_text
from netwatch.inventory import AGENT_SHARD, build_inventory
from netwatch.models import (
    AgentSettings,
    Device,
    IcmpStats,
    Role,
    Sample,
    Site,
    SnmpSettings,
    Status,
)
from netwatch.probes.snmp_data import HostResources, Interface, SnmpData, Storage, SystemInfo
from netwatch.settings.config import Config
from netwatch.state import CheckState, DeviceState, StateTracker

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "3b31c16cc815a74c7832d34f4c30c7a80e2fc388"  # the last prometheus_client exporters
NOW = 1.8e9
COMMUNES = 20  # per district


def synthetic_view(snmp: int, icmp: int, interfaces: int, districts: int) -> View:
    """A province with every device polled a moment ago; SNMP devices are ICMP-polled too."""
    district_ids = tuple(f"h{d}" for d in range(districts))
    sites = [Site("tinh", "Tỉnh", "province", None, (), None, (), district_ids)]
    communes = []
    for d in range(districts):
        ids = tuple(f"h{d}-x{c}" for c in range(COMMUNES))
        sites.append(Site(f"h{d}", f"Huyện {d}", "district", "tinh", (), None, (), ids))
        communes += [Site(x, f"Xã {x}", "commune", f"h{d}", (), None, (), ()) for x in ids]
    sites += communes
    settings = SnmpSettings()
    devices = [
        Device(f"sw-{i}", "10.0.0.1", Role.SWITCH, communes[i % len(communes)].id, snmp=settings)
        for i in range(snmp)
    ]
    devices += [
        Device(f"pc-{i}", "10.1.0.1", Role.WORKSTATION, communes[i % len(communes)].id)
        for i in range(icmp)
    ]
    inventory = build_inventory(Config(AgentSettings(), {}, tuple(sites), tuple(devices), ()))
    state = StateTracker()
    ping = Sample("x", "icmp", NOW - 5, 0.4, None, IcmpStats(3, (0.0012, 0.0015, 0.0021)))
    poll = Sample("x", "snmp", NOW - 5, 0.8, None, snmp_data(interfaces))
    for device in devices:
        pinged = CheckState(Status.UP, last=ping, last_ok=ping, packets_sent=3000)
        pinged.packets_received = 2990
        checks = {"icmp": pinged}
        if device.snmp is not None:
            checks["snmp"] = CheckState(Status.UP, last=poll, last_ok=poll)
        state.devices[device.id] = DeviceState(Status.UP, NOW - 3600, checks)
    return View(
        inventory,
        state,
        lambda _d: Status.UP,
        site_status=lambda _s: Status.UP,
        availability={s.id: 0.9995 for s in sites},
        clock=lambda: NOW,
    )


def snmp_data(interfaces: int) -> SnmpData:
    ifaces = tuple(
        Interface(
            index=i,
            name=f"GigabitEthernet0/{i}",
            alias=f"to commune {i}",
            oper_up=i % 5 != 0,
            admin_up=True,
            speed_bps=1_000_000_000,
            in_octets=2**40 + 977 * i,
            out_octets=2**39 + 131 * i,
            in_ucast_pkts=10**9 + i,
            out_ucast_pkts=10**9 + 2 * i,
            in_errors=i % 3,
            out_errors=0,
            in_discards=7,
            out_discards=1,
            hc=True,
        )
        for i in range(1, interfaces + 1)
    )
    system = SystemInfo("sw", "Cisco IOS Software, C2960 Software", "1.3.6.1.4.1.9.1.1208", 8.6e6)
    host = HostResources(
        cpu_loads=(0.12, 0.34),
        storage=(
            Storage(1, "RAM", "ram", 2**30, 2**29),
            Storage(31, "/", "fixed disk", 2**34, 2**33),
        ),
        processes=None,
        load_average=None,
    )
    return SnmpData(system, ifaces, host)


def load_before() -> Callable[[View, str | None], bytes] | None:
    """The exporters of ``BASELINE`` as a package of their own, rendered by generate_latest."""
    package = types.ModuleType("_exporters_before")  # the code of these modules as it was
    package.__path__ = []
    sys.modules[package.__name__] = package
    collector = package
    for name in ("snmp", "services", "sites", "collector"):
        try:
            git = ["git", "-C", str(ROOT), "show", f"{BASELINE}:netwatch/exporters/{name}.py"]
            source = subprocess.run(git, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
        module = types.ModuleType(f"{package.__name__}.{name}")
        sys.modules[module.__name__] = module
        code = compile(source.replace("netwatch.exporters.", f"{package.__name__}."), name, "exec")
        exec(code, module.__dict__)  # our own source, from our own repository
        collector = module

    def render(view: View, shard: str | None) -> bytes:
        class Registry:
            def collect(self) -> Iterator[Metric]:
                old: Iterator[Metric] = collector.NetwatchCollector(
                    lambda: view, shard=shard
                ).collect()
                return old

        return generate_latest(Registry())

    return render


def timed(
    render: Callable[[View, str | None], bytes], view: View, shard: str | None, repeat: int
) -> tuple[float, bytes]:
    """Best CPU seconds of ``repeat`` renders (the GC off, as one scrape rarely triggers it)."""
    best, text = float("inf"), b""
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        start = time.process_time()
        text = render(view, shard)
        best = min(best, time.process_time() - start)
        gc.enable()
    return best, text


def series(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snmp", type=int, default=2_000, help="SNMP devices")
    parser.add_argument("--interfaces", type=int, default=48, help="interfaces per SNMP device")
    parser.add_argument("--icmp", type=int, default=20_000, help="ICMP-only devices")
    parser.add_argument("--districts", type=int, default=10, help="shards")
    parser.add_argument("--repeat", type=int, default=3, help="renders per figure (best kept)")
    parser.add_argument("--no-before", action="store_true", help="skip the prometheus_client path")
    args = parser.parse_args()

    started = time.monotonic()
    view = synthetic_view(args.snmp, args.icmp, args.interfaces, args.districts)
    print(
        f"synthetic view: {args.snmp:,} SNMP devices x {args.interfaces} interfaces, "
        f"{args.icmp:,} ICMP devices, {args.districts} shards "
        f"(built in {time.monotonic() - started:.1f} s)\n"
    )
    warm = RenderCache()  # what every scrape but the first after a start or reload pays

    def after(view: View, shard: str | None) -> bytes:
        return render_text(view, shard, cache=warm)

    paths: list[tuple[str, Callable[[View, str | None], bytes]]] = [("after", after)]
    before = None if args.no_before else load_before()
    if before is not None:
        paths.insert(0, ("before", before))
    elif not args.no_before:
        print(f"(no 'before': commit {BASELINE[:10]} not readable with git)\n")
    print(f"{'path':<8} {'scope':<12} {'series':>10} {'MB':>7} {'CPU s':>8} {'us/series':>10}")
    figures: dict[tuple[str, str], float] = {}
    for scope, shard in (("all", None), ("shard h0", "h0"), ("agent shard", AGENT_SHARD)):
        for name, render in paths:
            seconds, text = timed(render, view, shard, args.repeat)
            n = series(text)
            figures[name, scope] = seconds
            print(
                f"{name:<8} {scope:<12} {n:>10,} {len(text) / 1e6:>7.1f} {seconds:>8.3f} "
                f"{1e6 * seconds / max(n, 1):>10.2f}"
            )
    cold = RenderCache()  # what a scrape right after a start or reload pays: labels rendered
    start = time.process_time()
    render_text(view, None, cache=cold)
    print(f"after, all, first scrape of an inventory: {time.process_time() - start:.3f} CPU s")
    if before is not None:
        for scope in ("all", "shard h0"):
            print(f"speed-up, {scope}: x{figures['before', scope] / figures['after', scope]:.1f}")


if __name__ == "__main__":
    main()
