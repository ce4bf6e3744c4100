"""Plain JSON-ready views of the live state, shared by the API and the HTML pages: the site
tree, a site's failing services, the alerts, silences and maintenance windows, and what every
view shares (times, the status order); a device's views are in ``device_views``.

Every function reads the backend and returns dicts and lists of str/int/float/bool/None only,
so the API serialises them as they are and the pages render the very same values. Times are
ISO 8601 strings in the agent's time zone (``agent.timezone``), so a browser anywhere shows the
agent's local time without converting.

>>> iso(1700000000.0, "Asia/Ho_Chi_Minh")
'2023-11-15T05:13:20+07:00'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from netwatch.alerting.model import Alert
from netwatch.i18n import zone
from netwatch.models import Device, Site, Status
from netwatch.settings.alerting import MaintenanceWindow, Silence
from netwatch.state import CheckState
from netwatch.web.backend import Backend

JSON = dict[str, Any]

# Worst first: a failure of its own, then cut off, then not known, then planned work, then fine.
STATUS_ORDER: Mapping[Status, int] = {
    Status.DOWN: 0,
    Status.UNREACHABLE: 1,
    Status.UNKNOWN: 2,
    Status.MAINTENANCE: 3,
    Status.UP: 4,
}
SEVERITY_ORDER: Mapping[str, int] = {"critical": 0, "warning": 1, "info": 2}
# A site that is up but has an application failing: shown after the cut-off ones.
DEGRADED = "degraded"
DEGRADED_ORDER = 1.5


def iso(ts: float | None, tz: str) -> str | None:
    """Epoch seconds as ISO 8601 in ``tz``; ``None`` for no time (0 or missing)."""
    if ts is None or not ts or not math.isfinite(ts):
        return None
    return datetime.fromtimestamp(ts, zone(tz)).isoformat(timespec="seconds")


def tz_of(backend: Backend) -> str:
    """The agent's time zone, in which every view gives its times."""
    return backend.inventory.config.agent.timezone


def _counts() -> dict[str, int]:
    return {s.value: 0 for s in Status}


# --------------------------------------------------------------------------- sites


def subtree(backend: Backend, site_id: str) -> list[str]:
    """The site and every site below it, parents first."""
    sites = backend.inventory.sites
    out = [site_id]
    for sid in out:  # grows while iterating: a breadth-first walk, bounded by the tree
        out.extend(sites[sid].children)
    return out


def site_tree(backend: Backend) -> list[JSON]:
    """The site tree, each node with its status and its subtree's device counts, worst first."""
    inv, engine = backend.inventory, backend.engine
    counts: dict[str, dict[str, int]] = {sid: _counts() for sid in inv.sites}
    for device in inv.devices.values():
        if device.site in counts:
            counts[device.site][engine.status_of(device.id).value] += 1
    for site in reversed(inv.config.sites):  # children come after parents: sum bottom-up
        if site.parent is not None and site.parent in counts:
            for key, n in counts[site.id].items():
                counts[site.parent][key] += n

    own_failing = _services_failing_by_site(backend)
    failing = dict(own_failing)
    for site in reversed(inv.config.sites):
        if site.parent is not None and site.parent in failing:
            failing[site.parent] += failing[site.id]
    tz = tz_of(backend)

    def node(site: Site) -> JSON:
        children = [node(inv.sites[c]) for c in site.children if c in inv.sites]
        children.sort(key=_site_order)
        c = counts[site.id]
        status = engine.site_status(site.id)
        return {
            "id": site.id,
            "name": site.name or site.id,
            "level": site.level,
            "status": status.value,
            "since": iso(engine.status_since("site", site.id), tz),
            "gateway": site.gateway,
            "counts": c,
            "devices": sum(c.values()),
            "services_failing": failing[site.id],
            "degraded": status is Status.UP and own_failing[site.id] > 0,
            "children": children,
        }

    roots = [node(s) for s in inv.config.sites if s.parent is None]
    roots.sort(key=_site_order)
    return roots


def _site_order(node: JSON) -> tuple[float, int, int, str]:
    c = node["counts"]
    order: float = STATUS_ORDER[Status(node["status"])]
    if node["degraded"]:
        order = DEGRADED_ORDER
    return (order, -c["down"], -c["unreachable"], node["name"])


def display_state(status: str, degraded: bool) -> str:
    """The state a person sees: ``degraded`` for a site that is up with an application failing
    (a display state only: alerting and history keep the site's status)."""
    return DEGRADED if degraded and status == Status.UP.value else status


def check_state(name: str, status: str) -> str:
    """The state a check is shown in: a failing service check is an application failing
    (``degraded``, "Ứng dụng lỗi"), not a lost connection."""
    return DEGRADED if name.startswith("service:") and status == Status.DOWN.value else status


def _failing_checks(backend: Backend, device: Device) -> list[tuple[str, CheckState]]:
    """The device's failing service checks, if the device itself is up: a service on a device
    that is down or cut off is explained by that, and is not a separate problem."""
    if backend.engine.status_of(device.id) is not Status.UP:
        return []
    state = backend.state.devices.get(device.id)
    if state is None:
        return []
    return [
        (name.removeprefix("service:"), c)
        for name, c in sorted(state.checks.items())
        if name.startswith("service:") and c.status is Status.DOWN
    ]


def _services_failing_by_site(backend: Backend) -> dict[str, int]:
    """Each site's own count of failing services (on devices that are up)."""
    out = dict.fromkeys(backend.inventory.sites, 0)
    for device in backend.inventory.devices.values():
        if device.site in out:
            out[device.site] += len(_failing_checks(backend, device))
    return out


def failing_services(backend: Backend, site_id: str) -> list[JSON]:
    """The failing services of ``site_id``'s subtree, on devices that are up, for its page.
    Own site's first (they make it degraded), then those of the sites below."""
    tz = tz_of(backend)
    wanted = set(subtree(backend, site_id))
    out: list[JSON] = []
    for device in backend.inventory.devices.values():
        if device.site not in wanted:
            continue
        for name, check in _failing_checks(backend, device):
            failure = check.last.failure if check.last else None
            out.append(
                {
                    "device": device.id,
                    "device_name": device.name or device.id,
                    "site": device.site,
                    "service": name,
                    "since": iso(check.since, tz),
                    "failure": {"kind": failure.kind.value, "detail": failure.detail}
                    if failure
                    else None,
                }
            )
    out.sort(key=lambda x: x["site"] != site_id)
    return out


def site_path(backend: Backend, site_id: str) -> list[JSON]:
    return [
        {"id": s.id, "name": s.name or s.id, "level": s.level}
        for s in backend.inventory.ancestors(site_id)
    ]


# --------------------------------------------------------------------------- alerts


def alert_json(alert: Alert, tz: str) -> JSON:
    return {
        "id": alert.id,
        "state": alert.state,
        "kind": alert.kind,
        "severity": alert.severity,
        "subject": alert.subject,
        "subject_kind": alert.subject_kind,
        "site": alert.site,
        "site_name": alert.site_name,
        "device_name": alert.device_name,
        "detail": alert.detail,
        "started_at": iso(alert.started_at, tz),
        "affected_sites": len(alert.affected_sites),
        "affected_devices": len(alert.affected_devices),
        "escalated": alert.escalated,
        "acknowledged_by": alert.acknowledged_by,
        "digest_only": alert.digest_only,
    }


def alert_list(backend: Backend) -> list[JSON]:
    """Open alerts, critical first, then the oldest first; the failures that only wait for the
    daily digest (workstations) after every alert that pages someone."""
    tz = tz_of(backend)
    alerts = sorted(
        backend.engine.active_alerts(),
        key=lambda a: (a.digest_only, SEVERITY_ORDER.get(a.severity, 9), a.started_at, a.id),
    )
    return [alert_json(a, tz) for a in alerts]


def silence_json(s: Silence, tz: str) -> JSON:
    return {
        "id": s.id,
        "until": iso(s.until, tz),
        "devices": list(s.devices),
        "sites": list(s.sites),
        "by": s.by,
        "comment": s.comment,
        "created_at": iso(s.created_at, tz),
    }


def window_json(w: MaintenanceWindow, now: float) -> JSON:
    return {
        "id": w.id,
        "target": w.target,
        "start": w.start.isoformat(timespec="seconds"),
        "duration_seconds": w.duration.total_seconds(),
        "recurrence": w.recurrence,
        "reason": w.reason,
        "active": w.active(now),
    }
