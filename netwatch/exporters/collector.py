"""The Prometheus collector: reads the daemon's state at scrape time and yields metric families.

It never polls and never changes state. Every per-device series carries ``device``, ``site``,
``role`` and one label per hierarchy level (the ancestor site ids), so Grafana variables can
filter by any level. Device, ICMP and agent families are here; SNMP, services, sites and
alerts have their own modules next to this one. ``dashboards/METRICS.md`` is the contract.

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> registry.register(NetwatchCollector(view))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from netwatch import __version__
from netwatch.alerting.model import Alert
from netwatch.exporters.services import ServiceRow, service_families
from netwatch.exporters.sites import alert_families, site_families
from netwatch.exporters.snmp import SnmpRow, snmp_families
from netwatch.inventory import AGENT_SHARD, Inventory
from netwatch.models import IcmpStats, Status
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


class NetwatchCollector(Collector):
    """Renders the current state as Prometheus metrics; ``view()`` is read on every scrape.

    ``shard`` (see ``Inventory.shard_of``) limits the series to one district's subtree, or to
    the agent's own series and the sites above the districts (``AGENT_SHARD``); None is all.
    """

    def __init__(self, view: Callable[[], View], *, shard: str | None = None) -> None:
        self._view = view
        self._shard = shard

    def collect(self) -> Iterator[Metric]:
        view = self._view()
        inv = view.inventory
        names = ["device", "site", "role", *inv.config.agent.hierarchy]
        now = view.clock()
        shard = self._shard
        devices = inv.config.devices
        sites: Iterable[str] = inv.sites
        if shard is not None:
            devices = tuple(d for d in devices if inv.shard_of(d.site) == shard)
            sites = [sid for sid in inv.sites if inv.shard_of(sid) == shard]
        agent = shard is None or shard == AGENT_SHARD

        if agent:
            build = GaugeMetricFamily(
                "netwatch_build_info",
                "netwatch version and Python it runs on.",
                labels=["version", "python"],
            )
            build.add_metric([__version__, platform.python_version()], 1)
            yield build

        up = GaugeMetricFamily("netwatch_device_up", "1 if the device is up, else 0.", labels=names)
        status = GaugeMetricFamily(
            "netwatch_device_status",
            "1 for the device's current status.",
            labels=[*names, "status"],
        )
        rtt = GaugeMetricFamily(
            "netwatch_icmp_rtt_seconds",
            "Round-trip time of the last ICMP round.",
            labels=[*names, "stat"],
        )
        jitter = GaugeMetricFamily(
            "netwatch_icmp_jitter_seconds",
            "Mean absolute difference of consecutive RTTs in the last ICMP round.",
            labels=names,
        )
        loss = GaugeMetricFamily(
            "netwatch_icmp_loss_ratio",
            "Share of echo requests lost in the last ICMP round.",
            labels=names,
        )
        flapping = GaugeMetricFamily(
            "netwatch_device_flapping", "1 while the device changes state too often.", labels=names
        )
        sent = CounterMetricFamily(
            "netwatch_icmp_packets_sent", "Echo requests sent.", labels=names
        )
        received = CounterMetricFamily(
            "netwatch_icmp_packets_received", "Echo replies received.", labels=names
        )

        flapping_now = view.flapping()
        services: list[ServiceRow] = []
        snmp: list[SnmpRow] = []
        for device in devices:
            values = list(inv.labels(device.id).values())
            current = view.status_of(device.id)
            up.add_metric(values, 1.0 if current is Status.UP else 0.0)
            for s in STATUSES:
                status.add_metric([*values, s.value], 1.0 if s is current else 0.0)
            flapping.add_metric(values, 1.0 if device.id in flapping_now else 0.0)
            state = view.state.devices.get(device.id)
            for service in device.services:
                check = state.checks.get(f"service:{service.name}") if state else None
                services.append(ServiceRow(service, values, check))
            if device.snmp is not None:
                check = state.checks.get("snmp") if state else None
                snmp.append(SnmpRow(device, values, check, view.reboots(device.id)))
            icmp = state.checks.get("icmp") if state else None
            if icmp is None or device.icmp is None:
                continue
            sent.add_metric(values, icmp.packets_sent)
            received.add_metric(values, icmp.packets_received)
            last = icmp.last
            # Values older than two intervals are stale: better no series than a wrong one.
            if last is None or now - last.at > 2 * device.icmp.interval + device.icmp.timeout:
                continue
            stats = last.data
            if not isinstance(stats, IcmpStats):
                continue
            loss.add_metric(values, stats.loss)
            if stats.received:
                for name, value in (
                    ("min", stats.rtt_min),
                    ("avg", stats.rtt_avg),
                    ("max", stats.rtt_max),
                ):
                    if not math.isnan(value):
                        rtt.add_metric([*values, name], value)
                jitter.add_metric(values, stats.jitter)

        yield from (up, status, flapping, rtt, jitter, loss, sent, received)
        yield from snmp_families(snmp, names, now)
        yield from service_families(services, names, now)
        if view.site_status is not None:
            yield from site_families(inv, sites, view.site_status, view.availability)
            if agent:
                yield from alert_families(view.alerts())
