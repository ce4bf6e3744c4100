"""Which checks a device has, and which probe runs each one.

A check is named ``icmp``, ``snmp`` or ``service:<name>``; its :class:`~netwatch.models.CheckKind`
picks its probe. Every probe answers one method, :meth:`Probe.poll` (a ``CheckSpec`` in, a
``Sample`` out): ``IcmpProber``, ``SiteLimitedSnmp`` and ``ServiceProber`` (``http``, ``tcp``,
``dns``). ``Probes`` owns one instance of each for the whole process (one ICMP socket per family,
one SNMP engine, one HTTP session) and dispatches a check through a mapping from kind to probe.
SNMP polls run either in this process (``SnmpPoller``) or in worker processes (``SnmpWorkers``,
the daemon's default on a machine with two CPUs or more): the same ``poll()``, the same
``Sample``; ``SiteLimitedSnmp`` lets a few of them at a time reach one site.

A probe reports network failures as data and raises only for a bug (or a library exception it
does not map yet). ``Probes.poll`` turns such an exception into a failed ``Sample`` too
(``FailureKind.ERROR``, naming the exception type): a check whose probe keeps raising counts
as failed and its device goes down after ``down_after`` rounds, instead of staying at its last
state unseen. The traceback is logged once per check until the probe returns normally again.

>>> [c.name for c in checks_of(device)]  # doctest: +SKIP
['icmp', 'snmp', 'service:portal']
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Protocol

from netwatch.configuration.profiles import ProfileSet
from netwatch.errors import ProbeSetupError
from netwatch.models import CheckKind, CheckSpec, Device, Failure, FailureKind, Sample
from netwatch.probes.icmp import IcmpProber, detect_icmp_mode
from netwatch.probes.service import ServiceProber
from netwatch.probes.snmp import SnmpPoller
from netwatch.probes.snmp_workers import SnmpWorkers, auto_workers

log = logging.getLogger(__name__)

SNMP_PER_SITE = 4  # SNMP polls in flight per site at most


class Probe(Protocol):
    """What every probe answers: one poll of one check; a network failure is in the sample."""

    async def poll(self, check: CheckSpec) -> Sample[object]: ...


def checks_of(device: Device, *, icmp: bool = True) -> list[CheckSpec]:
    """The device's checks; ``icmp=False`` leaves ICMP out (this machine cannot ping)."""
    specs = []
    if device.icmp is not None and icmp:
        specs.append(CheckSpec(device, "icmp", CheckKind.ICMP, device.icmp.interval))
    if device.snmp is not None:
        specs.append(CheckSpec(device, "snmp", CheckKind.SNMP, device.snmp.interval))
    for service in device.services:
        specs.append(
            CheckSpec(device, f"service:{service.name}", service.kind, service.interval, service)
        )
    return specs


class SiteLimitedSnmp:
    """SNMP as a :class:`Probe`: ``SnmpPoller.poll`` (or the workers'), at most ``per_site``
    polls in flight per site, since a commune line is thin: a few SNMP walks at a time per site,
    not dozens."""

    def __init__(self, snmp: SnmpPoller | SnmpWorkers, per_site: int = SNMP_PER_SITE) -> None:
        self.snmp = snmp
        self._per_site = per_site
        self._site_limits: dict[str, asyncio.Semaphore] = {}

    async def poll(self, check: CheckSpec) -> Sample[object]:
        device = check.device
        assert device.snmp is not None
        limit = self._site_limits.get(device.site)
        if limit is None:
            limit = self._site_limits[device.site] = asyncio.Semaphore(self._per_site)
        async with limit:
            return await self.snmp.poll(device.id, device.address, device.snmp)


class Probes:
    """The process's probes. Build with ``await Probes.open()``; close with ``await close()``."""

    def __init__(
        self,
        icmp: IcmpProber | None,
        snmp: SnmpPoller | SnmpWorkers,
        services: ServiceProber,
        *,
        snmp_per_site: int = SNMP_PER_SITE,
    ) -> None:
        self.icmp = icmp
        self.snmp = snmp
        self.services = services
        by_kind: dict[CheckKind, Probe] = {
            CheckKind.SNMP: SiteLimitedSnmp(snmp, snmp_per_site),
            CheckKind.HTTP: services,
            CheckKind.TCP: services,
            CheckKind.DNS: services,
        }
        if icmp is not None:
            by_kind[CheckKind.ICMP] = icmp
        self.by_kind: Mapping[CheckKind, Probe] = by_kind
        self._raising: set[str] = set()  # keys of the checks whose probe raised last time

    @classmethod
    async def open(cls, snmp_workers: int | None = 0, profiles: ProfileSet | None = None) -> Probes:
        """The probes; SNMP in ``snmp_workers`` processes (``None``: auto, 0: in this one),
        reading device health by ``profiles`` (default: the built-in ones)."""
        icmp: IcmpProber | None = None
        try:
            icmp = IcmpProber(detect_icmp_mode())
        except ProbeSetupError as exc:
            # Without ICMP the SNMP and service checks still run (DESIGN.md, pitfalls).
            log.error("ICMP checks are off: %s", exc)
        workers = auto_workers() if snmp_workers is None else snmp_workers
        snmp = SnmpWorkers(workers, profiles) if workers else await SnmpPoller.create(profiles)
        services = ServiceProber(ServiceProber.make_session())
        return cls(icmp, snmp, services)

    def checks_of(self, device: Device) -> list[CheckSpec]:
        return checks_of(device, icmp=self.icmp is not None)

    async def poll(self, check: CheckSpec) -> Sample[object]:
        """Run the check's probe; never raises but ``CancelledError`` (see the module docstring)."""
        started, clock = time.time(), time.monotonic()
        try:
            sample = await self.by_kind[check.kind].poll(check)
        except Exception as exc:
            return self._internal_failure(check, exc, started, time.monotonic() - clock)
        if check.key in self._raising:
            self._raising.discard(check.key)
            log.info("device %s: the %s probe returns normally again", check.device.id, check.name)
        return sample

    def _internal_failure(
        self, check: CheckSpec, exc: Exception, started: float, duration: float
    ) -> Sample[object]:
        name = type(exc).__name__
        if check.key not in self._raising:
            self._raising.add(check.key)
            log.error(
                "device %s: the %s probe raised %s; the check counts as failed until it stops "
                "(a bug in netwatch: please report it with this traceback)",
                check.device.id,
                check.name,
                name,
                exc_info=exc,
            )
        else:
            log.debug("device %s: the %s probe raised %s again", check.device.id, check.name, name)
        # The detail names the type only: a message could carry anything, and alerts show it.
        failure = Failure(FailureKind.ERROR, f"internal error in the {check.kind} probe: {name}")
        return Sample(check.device.id, check.name, started, duration, failure)

    async def prepare(self, devices: Iterable[Device]) -> None:
        """Register the SNMP devices with the SNMP engine(s) in one go (see SnmpPoller.prepare)."""
        await self.snmp.prepare((d.id, d.address, d.snmp) for d in devices if d.snmp is not None)

    async def close(self) -> None:
        if self.icmp is not None:
            await self.icmp.close()
        if isinstance(self.snmp, SnmpWorkers):
            await self.snmp.close()
        else:
            self.snmp.close()
        await self.services.close()
