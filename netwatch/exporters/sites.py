"""Metric families of sites and alerts: what the province overview and availability boards read.

Per-site series carry ``site``, ``level`` and one label per hierarchy level.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from netwatch.alerting.model import Alert
from netwatch.exporters.text import MetricsText, label_pairs
from netwatch.inventory import Inventory
from netwatch.models import Status
from netwatch.settings.alerting import SEVERITIES


def write_sites(
    out: MetricsText,
    inventory: Inventory,
    site_ids: Iterable[str],
    status_of: Callable[[str], Status],
    availability: Mapping[str, float],
    since: Callable[[str, str], float] | None = None,
) -> None:
    """Write the site families (up, status, since, availability) of ``site_ids``.

    The 30-day availability series exists for every site from the first scrape: ``NaN`` until
    the history knows some of the site's time (a series that appears only later breaks the
    dashboards' "every site" panels and absent() alerts)."""
    names = ["site", "level", *inventory.config.agent.hierarchy]
    up = out.family("netwatch_site_up", "gauge", "1 if the site's status is up.")
    status = out.family("netwatch_site_status", "gauge", "1 for the site's current status.")
    changed = out.family(
        "netwatch_site_status_since_timestamp_seconds",
        "gauge",
        "When the site's status last changed (Unix time; the agent's start if it never did).",
    )
    ratio = out.family(
        "netwatch_site_availability_ratio",
        "gauge",
        "Share of monitored time the site was up (history), by window.",
    )
    for sid in site_ids:
        site = inventory.sites[sid]
        levels = inventory.site_labels(sid)
        labels = label_pairs(names, [sid, site.level, *(levels[level] for level in names[2:])])
        current = status_of(sid)
        up.add(labels, 1.0 if current is Status.UP else 0.0)
        for s in Status:
            status.add(f'{labels},status="{s.value}"', 1.0 if s is current else 0.0)
        if since is not None:
            changed.add(labels, since("site", sid))
        ratio.add(f'{labels},window="30d"', availability.get(sid, math.nan))


def write_alerts(out: MetricsText, alerts: Sequence[Alert]) -> None:
    """Write the number of firing alerts by severity (every severity, 0 included).

    Failures of digest roles (workstations) are not alerts: they wait for the daily digest.
    """
    firing = out.family("netwatch_alerts_firing", "gauge", "Alerts firing now, by severity.")
    counts = dict.fromkeys(SEVERITIES, 0)
    for alert in alerts:
        if alert.is_firing and not alert.digest_only:
            counts[alert.severity] = counts.get(alert.severity, 0) + 1
    for severity, n in counts.items():
        firing.add(label_pairs(["severity"], [severity]), n)
