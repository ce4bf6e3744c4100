"""The whole validated configuration: every section's settings, the site tree and the devices.

``netwatch.config`` makes one from the YAML files; everything downstream reads only this. It sits
on top of the vocabulary (``models`` for sites and devices, ``settings.alerting`` and
``settings.notify`` for their sections), so none of those needs to know about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from netwatch.models import AgentSettings, Contact, Device, Site, TrapSettings
from netwatch.settings.alerting import AlertSettings, MaintenanceWindow
from netwatch.settings.notify import NotifySettings


@dataclass(frozen=True, slots=True)
class Config:
    """A validated configuration: the site tree in file order and every device resolved."""

    agent: AgentSettings
    contacts: Mapping[str, Contact]
    sites: tuple[Site, ...]  # parents before children
    devices: tuple[Device, ...]
    files: tuple[str, ...]  # every file read, the main one first
    alerting: AlertSettings = field(default_factory=AlertSettings)
    maintenance: tuple[MaintenanceWindow, ...] = ()  # planned work, from the config file
    notify: NotifySettings = field(default_factory=NotifySettings)  # no channel but the log
    traps: TrapSettings | None = None  # None: no trap receiver
