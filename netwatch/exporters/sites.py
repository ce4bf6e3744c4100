"""Metric families of sites and alerts: what the province overview and availability boards read.

Per-site series carry ``site``, ``level`` and one label per hierarchy level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric

from netwatch.alerting.model import Alert
from netwatch.inventory import Inventory
from netwatch.models import Status

SEVERITIES = ("critical", "warning", "info")


def site_families(
    inventory: Inventory,
    site_ids: Iterable[str],
    status_of: Callable[[str], Status],
    availability: Mapping[str, float],
) -> Iterator[Metric]:
    names = ["site", "level", *inventory.config.agent.hierarchy]
    up = GaugeMetricFamily("netwatch_site_up", "1 if the site's status is up.", labels=names)
    status = GaugeMetricFamily(
        "netwatch_site_status", "1 for the site's current status.", labels=[*names, "status"]
    )
    ratio = GaugeMetricFamily(
        "netwatch_site_availability_ratio",
        "Share of monitored time the site was up (history), by window.",
        labels=[*names, "window"],
    )
    for sid in site_ids:
        site = inventory.sites[sid]
        labels = inventory.site_labels(sid)
        values = [sid, site.level, *(labels[level] for level in names[2:])]
        current = status_of(sid)
        up.add_metric(values, 1.0 if current is Status.UP else 0.0)
        for s in Status:
            status.add_metric([*values, s.value], 1.0 if s is current else 0.0)
        if sid in availability:
            ratio.add_metric([*values, "30d"], availability[sid])
    yield from (up, status, ratio)


def alert_families(alerts: Sequence[Alert]) -> Iterator[Metric]:
    firing = GaugeMetricFamily(
        "netwatch_alerts_firing", "Alerts firing now, by severity.", labels=["severity"]
    )
    counts = dict.fromkeys(SEVERITIES, 0)
    for alert in alerts:
        if alert.is_firing:
            counts[alert.severity] = counts.get(alert.severity, 0) + 1
    for severity, n in counts.items():
        firing.add_metric([severity], n)
    yield firing
