"""The incident book: which incidents are open, by key and by id, and what waits for a digest.

It opens, closes and forgets incidents; it sends nothing (``delivery.py`` does). A digest
role's (workstation's) down incident waits in the book for its site's daily digest, and one
that ended since the last digest is kept for it too (a PC broken for hours and back before
08:00 is still news).

>>> book = IncidentBook(ctx)  # doctest: +SKIP
>>> inc = book.open("down", "r1", now, "timeout")  # doctest: +SKIP
>>> book.find(inc.id) is inc, IncidentKey("down", "r1") in book  # doctest: +SKIP
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Container

from netwatch.alerting.context import EngineContext
from netwatch.alerting.incidents import Incident, IncidentKey, IncidentKind
from netwatch.alerting.power import POWER_CUT_DETAIL


class IncidentBook:
    """Open incidents by key (``incidents``, read freely) and by id; digest bookkeeping."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx
        self.incidents: dict[IncidentKey, Incident] = {}  # change only through the methods
        self._by_id: dict[str, IncidentKey] = {}
        self._digest: dict[str, dict[str, None]] = {}  # site -> devices waiting for the digest
        # site -> (device, went down, came back) of digest failures over since the last digest
        self._digest_over: dict[str, list[tuple[str, float, float]]] = {}

    def __contains__(self, key: IncidentKey) -> bool:
        return key in self.incidents

    def get(self, key: IncidentKey) -> Incident | None:
        return self.incidents.get(key)

    def find(self, alert_id: str) -> Incident | None:
        """The open incident with this id (``None`` once it is resolved)."""
        key = self._by_id.get(alert_id)
        return None if key is None else self.incidents[key]

    def open(
        self,
        kind: IncidentKind,
        did: str,
        now: float,
        detail: str,
        *,
        service: str = "",
        power_cut: Callable[[str], bool] | None = None,
    ) -> Incident:
        """A new incident about ``did``, with the severity its site and role give it (a
        gateway of a site whose UPS is on battery says so: ``power_cut``)."""
        ctx = self._ctx
        inv = ctx.inv
        device = inv.devices[did]
        site = inv.sites[device.site]
        gateway = site.gateway == did
        severity, digest = ctx.settings.severity_of(site.level, device.role.value, gateway=gateway)
        key = IncidentKey(kind, did, service)
        if kind == "down" and gateway and power_cut and power_cut(site.id):
            detail = f"{POWER_CUT_DETAIL}; {detail}" if detail else POWER_CUT_DETAIL
        # Digest roles (workstations) never page: not when down, not when flapping.
        inc = Incident(
            key,
            f"{key}:{int(now)}",
            kind,
            did,
            site.id,
            now,
            detail,
            severity,
            digest and kind != "service",
        )
        if kind == "down":
            devices, sites = ctx.topo.affected(did)
            inc.affected_devices = dict.fromkeys(devices)
            inc.affected_sites = dict.fromkeys(sites)
        self.add(inc)
        if inc.digest and kind == "down":
            self._digest.setdefault(site.id, {})[did] = None
        return inc

    def add(self, inc: Incident) -> None:
        """Keep ``inc`` open (a new one, or one adopted from the previous run)."""
        self.incidents[inc.key] = inc
        self._by_id[inc.id] = inc.key

    def close(self, inc: Incident, now: float) -> bool:
        """``inc`` is over; whether anyone is to hear it (a digest role's is kept for the
        digest instead)."""
        self.forget(inc)
        if inc.digest:
            if inc.kind == "down":
                self._digest_over.setdefault(inc.site, []).append((inc.device, inc.started_at, now))
            return False
        return True

    def forget(self, inc: Incident) -> None:
        self.incidents.pop(inc.key, None)
        self._by_id.pop(inc.id, None)
        if inc.digest and inc.kind == "down":
            waiting = self._digest.get(inc.site, {})
            waiting.pop(inc.device, None)
            if not waiting:
                self._digest.pop(inc.site, None)

    def open_incidents(self) -> list[Incident]:
        """Those someone was told about and not yet told the end of (digest ones left out)."""
        return [i for i in self.incidents.values() if i.notified and not i.digest]

    def outside(self, devices: Container[str]) -> list[Incident]:
        """The open incidents of devices not in ``devices`` (a reload removed them)."""
        return [i for i in self.incidents.values() if i.device not in devices]

    def take_digest(self) -> dict[str, tuple[list[Incident], list[tuple[str, float, float]]]]:
        """For the daily digest, by site (sorted): the down incidents waiting, sorted by
        device, and the failures over since the last digest; the latter start afresh."""
        over, self._digest_over = self._digest_over, {}
        found = {}
        for site_id in sorted({*self._digest, *over}):
            waiting = self._digest.get(site_id, {})
            incs = [self.incidents[IncidentKey("down", d)] for d in sorted(waiting)]
            found[site_id] = (incs, over.get(site_id, []))
        return found
