"""The Prometheus collector: reads device state at scrape time and yields metric families.

It never polls and never changes state. Every per-device series carries ``device``, ``site``,
``role`` and one label per hierarchy level (the ancestor site ids), so Grafana variables can
filter by any level.

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> registry.register(NetwatchCollector(view))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from netwatch import __version__
from netwatch.inventory import Inventory
from netwatch.models import IcmpStats, Status
from netwatch.state import StateTracker

STATUSES = tuple(Status)


@dataclass(frozen=True, slots=True)
class View:
    """What the collector reads: the current inventory, the state, and each device's status."""

    inventory: Inventory
    state: StateTracker
    status_of: Callable[[str], Status]
    clock: Callable[[], float] = time.time


class NetwatchCollector(Collector):
    """Renders the current state as Prometheus metrics; ``view()`` is read on every scrape."""

    def __init__(self, view: Callable[[], View]) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        view = self._view()
        inv = view.inventory
        names = ["device", "site", "role", *inv.config.agent.hierarchy]
        now = view.clock()

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
        sent = CounterMetricFamily(
            "netwatch_icmp_packets_sent", "Echo requests sent.", labels=names
        )
        received = CounterMetricFamily(
            "netwatch_icmp_packets_received", "Echo replies received.", labels=names
        )

        for device in inv.config.devices:
            values = list(inv.labels(device.id).values())
            current = view.status_of(device.id)
            up.add_metric(values, 1.0 if current is Status.UP else 0.0)
            for s in STATUSES:
                status.add_metric([*values, s.value], 1.0 if s is current else 0.0)
            state = view.state.devices.get(device.id)
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

        yield from (up, status, rtt, jitter, loss, sent, received)
