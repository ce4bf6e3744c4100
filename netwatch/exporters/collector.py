"""The device, ICMP and agent part of ``/metrics``, written at scrape time from a ``View``.

It never polls and never changes state. Every per-device series carries ``device``, ``site``,
``role`` and one label per hierarchy level (the ancestor site ids), so Grafana variables can
filter by any level. Device, ICMP and agent families are here; SNMP, services, sites and
alerts have their own modules next to this one. ``dashboards/METRICS.md`` is the contract.

The text is written directly (``text.py``), not through prometheus_client: a province is about
a million series. What depends only on the inventory (each device's label pairs, the devices
and sites of each shard) is rendered once per inventory object, which a reload replaces.

>>> render_text(view, shard="ninh-kieu", cache=RenderCache())  # doctest: +SKIP
b'# HELP netwatch_device_up 1 if the device is up, else 0.\n...'
"""

from __future__ import annotations

import math
import platform
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from netwatch import __version__
from netwatch.alerting.model import Alert
from netwatch.exporters.services import ServiceRow, write_services
from netwatch.exporters.sites import write_alerts, write_sites
from netwatch.exporters.snmp import InterfaceLabels, SnmpRow, write_snmp
from netwatch.exporters.text import MetricsText, label_pairs
from netwatch.inventory import AGENT_SHARD, Inventory
from netwatch.models import Device, IcmpStats, Status
from netwatch.state import StateTracker

STATUSES = tuple(Status)


@dataclass(frozen=True, slots=True)
class View:
    """What the collector reads. ``site_status`` is None when there is no alert engine
    (``netwatch once``): then there are no site or alert series."""

    inventory: Inventory
    state: StateTracker
    status_of: Callable[[str], Status]
    site_status: Callable[[str], Status] | None = None
    flapping: Callable[[], set[str]] = set
    alerts: Callable[[], Sequence[Alert]] = tuple
    availability: Mapping[str, float] = field(default_factory=dict)
    reboots: Callable[[str], int] = lambda _device: 0
    clock: Callable[[], float] = time.time


class Rendered:
    """What one inventory renders to, computed on first use: every device's label pairs, the
    devices and sites of each shard, and the interface label cache of the SNMP devices.

    ``RenderCache`` keeps the one of the current inventory; a reload (a new ``Inventory``
    object) starts a new one, so nothing of a removed device lingers.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        names = ["device", "site", "role", *inventory.config.agent.hierarchy]
        self.labels: Mapping[str, str] = {
            d.id: label_pairs(names, inventory.labels(d.id).values())
            for d in inventory.config.devices
        }
        self.interfaces = InterfaceLabels()
        self._scopes: dict[str | None, tuple[tuple[Device, ...], tuple[str, ...]]] = {}

    def scope(self, shard: str | None) -> tuple[tuple[Device, ...], tuple[str, ...]]:
        """The devices and site ids of ``shard`` (all of them for None), in config order."""
        scope = self._scopes.get(shard)
        if scope is None:
            inv = self.inventory
            devices, sites = inv.config.devices, tuple(inv.sites)
            if shard is not None:
                devices = tuple(d for d in devices if inv.shard_of(d.site) == shard)
                sites = tuple(sid for sid in sites if inv.shard_of(sid) == shard)
            scope = self._scopes[shard] = (devices, sites)
        return scope


class RenderCache:
    """Holds the ``Rendered`` of the last inventory seen; shared by concurrent scrapes (a race
    at a reload only renders the new inventory twice)."""

    def __init__(self) -> None:
        self._last: Rendered | None = None
        self._lock = threading.Lock()

    def of(self, inventory: Inventory) -> Rendered:
        last = self._last
        if last is None or last.inventory is not inventory:
            with self._lock:  # one thread renders a new inventory; the others wait for it
                last = self._last
                if last is None or last.inventory is not inventory:
                    last = self._last = Rendered(inventory)
        return last


def render_text(view: View, shard: str | None = None, *, cache: RenderCache) -> bytes:
    """The Prometheus text of ``view`` (see ``write_metrics``), UTF-8."""
    out = MetricsText()
    write_metrics(out, view, shard, cache=cache)
    return out.encode()


def write_metrics(
    out: MetricsText, view: View, shard: str | None = None, *, cache: RenderCache
) -> None:
    """Write netwatch's own series of ``view`` into ``out``.

    ``shard`` (see ``Inventory.shard_of``) limits the series to one district's subtree, or to
    the agent's own series and the sites above the districts (``AGENT_SHARD``); None is all.
    """
    inv = view.inventory
    rendered = cache.of(inv)
    devices, sites = rendered.scope(shard)
    now = view.clock()
    agent = shard is None or shard == AGENT_SHARD

    if agent:
        build = out.family(
            "netwatch_build_info", "gauge", "netwatch version and Python it runs on."
        )
        build.add(label_pairs(["version", "python"], [__version__, platform.python_version()]), 1.0)

    up = out.family("netwatch_device_up", "gauge", "1 if the device is up, else 0.")
    status = out.family("netwatch_device_status", "gauge", "1 for the device's current status.")
    flapping = out.family(
        "netwatch_device_flapping", "gauge", "1 while the device changes state too often."
    )
    rtt = out.family(
        "netwatch_icmp_rtt_seconds", "gauge", "Round-trip time of the last ICMP round."
    )
    jitter = out.family(
        "netwatch_icmp_jitter_seconds",
        "gauge",
        "Mean absolute difference of consecutive RTTs in the last ICMP round.",
    )
    loss = out.family(
        "netwatch_icmp_loss_ratio", "gauge", "Share of echo requests lost in the last ICMP round."
    )
    sent = out.family("netwatch_icmp_packets_sent", "counter", "Echo requests sent.")
    received = out.family("netwatch_icmp_packets_received", "counter", "Echo replies received.")

    flapping_now = view.flapping()
    states = view.state.devices
    services: list[ServiceRow] = []
    snmp: list[SnmpRow] = []
    for device in devices:
        labels = rendered.labels[device.id]
        current = view.status_of(device.id)
        up.add(labels, 1.0 if current is Status.UP else 0.0)
        for s in STATUSES:
            status.add(f'{labels},status="{s.value}"', 1.0 if s is current else 0.0)
        flapping.add(labels, 1.0 if device.id in flapping_now else 0.0)
        state = states.get(device.id)
        for service in device.services:
            check = state.checks.get(f"service:{service.name}") if state else None
            services.append(ServiceRow(service, labels, check))
        if device.snmp is not None:
            check = state.checks.get("snmp") if state else None
            snmp.append(SnmpRow(device, labels, check, view.reboots(device.id)))
        icmp = state.checks.get("icmp") if state else None
        if icmp is None or device.icmp is None:
            continue
        sent.add(labels, icmp.packets_sent)
        received.add(labels, icmp.packets_received)
        last = icmp.last
        # Values older than two intervals are stale: better no series than a wrong one.
        if last is None or now - last.at > 2 * device.icmp.interval + device.icmp.timeout:
            continue
        stats = last.data
        if not isinstance(stats, IcmpStats):
            continue
        loss.add(labels, stats.loss)
        if stats.received:
            for name, value in (
                ("min", stats.rtt_min),
                ("avg", stats.rtt_avg),
                ("max", stats.rtt_max),
            ):
                if not math.isnan(value):
                    rtt.add(f'{labels},stat="{name}"', value)
            jitter.add(labels, stats.jitter)

    write_snmp(out, snmp, now, rendered.interfaces)
    write_services(out, services, now)
    if view.site_status is not None:
        write_sites(out, inv, sites, view.site_status, view.availability)
        if agent:
            write_alerts(out, view.alerts())
