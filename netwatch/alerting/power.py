"""Power at the sites: which run on UPS battery, from their ``ups`` devices' SNMP polls.

The daemon hands each SNMP sample of a device with role ``ups`` to :meth:`PowerWatch.observe`.
When a site's UPS goes on battery, its contacts get one message ("Xã An Bình đang chạy bằng
pin UPS, còn khoảng 25 phút"), once per outage; back on mains, one more says so. While a
site's UPS was last seen on battery, :meth:`PowerWatch.power_cut` is true: the alert engine
then names a power cut (mất điện) as the cause when the site's gateway goes down. The last
state is kept while the UPS stops answering: it usually sits behind that very gateway, or its
battery ran out. No I/O; the engine's routing makes the deliveries. The open outages are
kept across a restart (``to_json``/``adopt``, saved by ``state_files.StateFiles`` in
``power.json``): a restart during a cut neither repeats the on-battery message nor loses the
back-on-mains one.

>>> watch = PowerWatch()
>>> watch.power_cut("an-binh")
False
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.routing import deliveries
from netwatch.instants import check_epoch
from netwatch.models import Device, Site
from netwatch.settings.config import Config

if TYPE_CHECKING:  # the alerting layer does not load the SNMP probe
    from netwatch.probes.health import UpsStatus

POWER_CUT_DETAIL = "mất điện (power cut): the site's UPS was on battery"


@dataclass(slots=True)
class _Outage:
    started_at: float
    device: str
    alert_id: str


class PowerWatch:
    """Sites on UPS battery; the messages to send when one goes on battery or back on mains."""

    def __init__(self) -> None:
        self._outages: dict[str, _Outage] = {}  # site id -> its open outage
        self.revision = 0  # goes up when an outage opens or closes: time to save

    def to_json(self) -> str:
        """The open outages, for ``power.json``."""
        return json.dumps(
            {
                site: {"started_at": o.started_at, "device": o.device, "alert_id": o.alert_id}
                for site, o in sorted(self._outages.items())
            },
            indent=1,
        )

    def adopt(self, text: str, errors: list[str]) -> None:
        """Take the open outages a previous run saved (``to_json``); an entry that cannot be
        read is named in ``errors`` and skipped. Raises ``ValueError`` for text that is not a
        JSON object."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        for site, entry in data.items():
            fields = entry if isinstance(entry, dict) else {}
            started, device = fields.get("started_at"), fields.get("device")
            alert_id = fields.get("alert_id")
            ok = isinstance(device, str) and isinstance(alert_id, str)
            if ok and isinstance(started, int | float) and not isinstance(started, bool):
                with contextlib.suppress(ValueError, OverflowError):
                    started = check_epoch(float(started), "started_at")
                    self._outages[site] = _Outage(started, str(device), str(alert_id))
                    continue
            errors.append(f"power outage of site {site!r}: needs started_at, device, alert_id")

    def power_cut(self, site_id: str) -> bool:
        """True while the site's UPS was last seen on battery."""
        return site_id in self._outages

    def observe(
        self,
        device: Device,
        ups: UpsStatus | None,
        at: float,
        sites: Mapping[str, Site],
        config: Config,
        labels: Mapping[str, str],
    ) -> list[Delivery]:
        """Take one SNMP sample's UPS state; the deliveries it calls for (often none)."""
        site = sites.get(device.site)
        if ups is None or ups.on_battery is None or site is None:
            return []
        outage = self._outages.get(site.id)
        if ups.on_battery and outage is None:
            outage = _Outage(at, device.id, f"power:{site.id}:{int(at)}")
            self._outages[site.id] = outage
            self.revision += 1
            return self._tell(site, device, ups, outage, "firing", at, config, labels)
        if not ups.on_battery and outage is not None and outage.device == device.id:
            del self._outages[site.id]
            self.revision += 1
            return self._tell(site, device, ups, outage, "resolved", at, config, labels)
        return []

    def forget(self, site_ids: set[str]) -> None:
        """Drop the outages of sites a reload removed."""
        for site_id in set(self._outages) - site_ids:
            del self._outages[site_id]
            self.revision += 1

    @staticmethod
    def _tell(
        site: Site,
        device: Device,
        ups: UpsStatus,
        outage: _Outage,
        state: str,
        at: float,
        config: Config,
        labels: Mapping[str, str],
    ) -> list[Delivery]:
        minutes = round(ups.runtime_seconds / 60) if ups.runtime_seconds is not None else None
        alert = Alert(
            id=outage.alert_id,
            state="firing" if state == "firing" else "resolved",
            kind="power",
            severity="critical",
            subject=device.id,
            subject_kind="device",
            site=site.id,
            site_name=site.name or site.id,
            device_name=device.name or device.id,
            detail="" if minutes is None else str(minutes),
            started_at=outage.started_at,
            resolved_at=None if state == "firing" else at,
            labels=dict(labels),
        )
        return deliveries(alert, site.contacts, config.contacts)
