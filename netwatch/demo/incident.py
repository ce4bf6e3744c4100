"""The scripted incident, and the timeline that shows what netwatch saw of it.

1. A district's line is cut (its ``/16`` dropped by nftables): its gateway router goes *down*,
   everything behind it *unreachable*, and one alert goes to the district's IT officer.
2. The line is restored: everything comes back up, and the recovery is announced.
3. The document-management application answers 500 (the server still pings): the service goes
   down, the data centre is told; it is repaired and recovers.

Each step waits for netwatch to notice (read from the daemon's own ``/metrics``, as Prometheus
would), bounded in time; what it saw, and every e-mail that reaches the mail sink, is printed as
it happens. ``speed`` shortens the pauses (not netwatch's detection), for the tests.

>>> parse_metrics('netwatch_device_status{device="a",status="down"} 1.0').devices
{'a': 'down'}
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from netwatch.demo.netns import Firewall
from netwatch.demo.province import Province
from netwatch.demo.world import MailSink, OfficeApps

WARMUP = 10.0  # seconds of normal operation before the first fault (at speed 1)
HOLD = 30.0  # seconds a fault lasts after netwatch has noticed it (at speed 1)
DETECT_TIMEOUT = 90.0  # the most a step waits for netwatch to notice (not scaled by speed)


@dataclass
class Snapshot:
    """What the daemon's /metrics says now."""

    devices: dict[str, str] = field(default_factory=dict)  # device -> status
    sites: dict[str, str] = field(default_factory=dict)  # site -> status
    services: dict[tuple[str, str], bool] = field(default_factory=dict)  # (device, name) -> up


def parse_metrics(text: str) -> Snapshot:
    snap = Snapshot()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "netwatch_device_status" and sample.value == 1:
                snap.devices[labels["device"]] = labels["status"]
            elif sample.name == "netwatch_site_status" and sample.value == 1:
                snap.sites[labels["site"]] = labels["status"]
            elif sample.name == "netwatch_service_up":
                snap.services[(labels["device"], labels["service"])] = sample.value == 1
    return snap


class Timeline:
    """Lines on the terminal, each with the time since the demo started: ``[01:05] ...``."""

    def __init__(self, out: TextIO, start: float | None = None) -> None:
        self.out = out
        self.start = time.monotonic() if start is None else start

    def say(self, text: str) -> None:
        elapsed = int(time.monotonic() - self.start)
        self.out.write(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}\n")
        self.out.flush()


async def print_mails(sink: MailSink, timeline: Timeline) -> None:
    """Print every e-mail as the sink receives it (runs until cancelled)."""
    shown = 0
    while True:
        await sink.new_mail.wait()
        sink.new_mail.clear()
        for mail in sink.mails[shown:]:
            timeline.say(f"  e-mail to {', '.join(mail.recipients)}: {mail.subject}")
        shown = len(sink.mails)


class Incident:
    """Runs the script against the daemon at ``metrics_url``.

    ``firewall`` is None outside a network namespace: then the line cut is skipped (it needs
    real dropped packets) and only the application failure is played.

    >>> async with Incident(province, metrics_url=url, apps=apps, firewall=fw,  # doctest: +SKIP
    ...                     timeline=timeline) as incident:
    ...     await incident.all_up(); await incident.play()
    """

    def __init__(
        self,
        province: Province,
        *,
        metrics_url: str,
        apps: OfficeApps,
        firewall: Firewall | None,
        timeline: Timeline,
        speed: float = 1.0,
    ) -> None:
        self.province = province
        self.metrics_url = metrics_url
        self.apps = apps
        self.firewall = firewall
        self.say = timeline.say
        self.speed = speed
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Incident:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def all_up(self) -> None:
        """Wait until netwatch has seen every device up (its first rounds)."""
        everyone = [d.id for d in self.province.devices()]
        self.say(f"Waiting until netwatch sees all {len(everyone)} devices up...")
        await self._until(lambda s: all(s.devices.get(d) == "up" for d in everyone), "all up")
        self.say("All devices are up.")

    async def play(self) -> None:
        """The scripted faults, after a short calm."""
        await asyncio.sleep(WARMUP / self.speed)
        if self.firewall is not None:
            await self._line_cut(self.firewall)
        else:
            self.say("(no network namespace: the district line cut is skipped)")
        await self._app_failure()
        self.say("Incident over. netwatch keeps watching; press Ctrl-C to stop the demo.")

    async def _line_cut(self, firewall: Firewall) -> None:
        district = self.province.site(self.province.cut_district)
        assert district.subnet is not None
        gateway = district.devices[0].id
        # What netwatch counts behind the gateway (and its mail says): the district's other
        # devices and every commune's, in the district and its communes.
        behind = [d.id for d in district.devices[1:]]
        behind += [d.id for c in district.sites for d in c.devices]
        sites = 1 + len(district.sites)
        self.say(
            f"INCIDENT: the line to {district.name} is cut "
            f"(nftables drops {district.subnet}: its router {gateway}, "
            f"{len(district.devices) - 1} other devices of the district and its "
            f"{len(district.sites)} communes behind it)"
        )
        await firewall.cut(district.subnet)
        cut_at = time.monotonic()
        await self._until(lambda s: s.devices.get(gateway) == "down", f"{gateway} down")
        self.say(f"netwatch: {gateway} is DOWN ({time.monotonic() - cut_at:.0f} s after the cut)")
        await self._until(
            lambda s: all(s.devices.get(d) == "unreachable" for d in behind),
            "communes unreachable",
        )
        communes = ", ".join(c.name for c in district.sites)
        self.say(
            f"netwatch: {len(behind)} devices in {sites} sites ({district.name}, {communes}) "
            f"are UNREACHABLE: caused by {gateway}, so no alert of their own (one alert for "
            f'the district: "Ảnh hưởng: {sites} đơn vị, {len(behind)} thiết bị")'
        )
        await asyncio.sleep(HOLD / self.speed)
        self.say(f"REPAIR: the line to {district.name} is back")
        await firewall.restore(district.subnet)
        back_at = time.monotonic()
        everyone = [gateway, *behind]
        await self._until(lambda s: all(s.devices.get(d) == "up" for d in everyone), "back up")
        self.say(
            f"netwatch: {gateway} and the {len(behind)} devices behind it are UP again "
            f"({time.monotonic() - back_at:.0f} s after the repair)"
        )

    async def _app_failure(self) -> None:
        device = self.province.device(self.province.failing_device)
        assert device.app is not None
        key = (device.id, device.app.name)
        await asyncio.sleep(WARMUP / self.speed)
        self.say(f"INCIDENT: {device.app.title} ({device.id}) fails: it answers HTTP 500")
        self.apps.fail(device.id)
        failed_at = time.monotonic()
        await self._until(lambda s: s.services.get(key) is False, "service down")
        self.say(
            f"netwatch: service {device.app.name} on {device.id} is DOWN "
            f"({time.monotonic() - failed_at:.0f} s after the failure); the server still pings"
        )
        await asyncio.sleep(HOLD / self.speed)
        self.say(f"REPAIR: {device.app.title} is fixed")
        self.apps.repair(device.id)
        fixed_at = time.monotonic()
        await self._until(lambda s: s.services.get(key) is True, "service up")
        self.say(
            f"netwatch: service {device.app.name} is UP again "
            f"({time.monotonic() - fixed_at:.0f} s after the repair)"
        )

    async def _until(self, done: Callable[[Snapshot], bool], what: str) -> Snapshot:
        """Poll /metrics every second until ``done``; gives up (and says so) after a while."""
        deadline = time.monotonic() + DETECT_TIMEOUT
        while True:
            snap = await self.snapshot()
            if done(snap):
                return snap
            if time.monotonic() > deadline:
                self.say(f"netwatch did not show '{what}' within {DETECT_TIMEOUT:.0f} s")
                return snap
            await asyncio.sleep(1.0)

    async def snapshot(self) -> Snapshot:
        assert self._session is not None, "use the Incident in `async with`"
        try:
            async with self._session.get(
                self.metrics_url, timeout=aiohttp.ClientTimeout(total=5)
            ) as resp:
                return parse_metrics(await resp.text())
        except (aiohttp.ClientError, TimeoutError):
            return Snapshot()
