"""Values passed between the alert engine, the outbox and the notifiers.

>>> a = Alert(id="device:nk-rtr:1700000000", state="firing", kind="down", severity="critical",
...           subject="nk-rtr", subject_kind="device", site="ninh-kieu",
...           site_name="Quận Ninh Kiều", device_name="nk-rtr", detail="timeout: no reply",
...           started_at=1700000000.0)
>>> a.is_firing
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from netwatch.settings.alerting import Severity
from netwatch.settings.notify import Channel

AlertState = Literal["firing", "resolved"]
# "power": a site's UPS went on battery (alerting/power.py); its detail is the minutes left.
AlertKind = Literal["down", "flapping", "service", "digest", "cert", "test", "power"]
Ending = Literal["", "still_down", "removed"]


@dataclass(frozen=True, slots=True)
class Alert:
    """One incident at one moment: what failed (the root cause), what it cut off, since when."""

    id: str  # stable for the incident: the firing and the resolved message share it
    state: AlertState
    kind: AlertKind
    severity: Severity
    subject: str  # root-cause device id or site id
    subject_kind: Literal["device", "site"]
    site: str  # the root cause's site id
    site_name: str  # full Vietnamese name
    device_name: str = ""
    detail: str = ""  # why it failed, for operators (never a secret)
    started_at: float = 0.0
    resolved_at: float | None = None
    affected_sites: tuple[str, ...] = ()  # site ids cut off behind the root cause
    affected_devices: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # device, site, role, hierarchy
    escalated: bool = False  # sent to the parent site's contacts too
    items: tuple[str, ...] = ()  # digest: one line per workstation
    # digest: for each item, how long it was down if it has recovered since (None: still down)
    item_downtimes: tuple[float | None, ...] = ()
    acknowledged_by: str | None = None  # who acknowledged it (API); nothing more is sent then
    service: str = ""  # kind "service": the failing service's name
    repeat: int = 0  # 0 for the first firing message, then 1, 2, ... for each reminder
    # How a resolved alert ended when not by recovery: "still_down" (it stopped flapping in the
    # down state), "removed" (a reload took the device out of monitoring while it was down).
    ended: Ending = ""
    digest_only: bool = False  # a digest role's failure: listed in the daily digest, never paged

    @property
    def is_firing(self) -> bool:
        return self.state == "firing"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert to one contact through one channel; the unit the outbox stores and retries."""

    alert: Alert
    contact: str
    channel: Channel
