"""From incidents to messages: alerts, deliveries, repeats, escalations and daily digests.

Each message is an ``Alert`` of the incident, sent to its site's contacts (and the parent
site's once escalated) on their channels, unless it may not be sent now (``suppressed``:
maintenance, silenced, acknowledged). Timers re-send a firing incident every
``repeat_interval`` and escalate one of an ``escalate`` severity after ``escalate_after``. What
is produced goes to the tick's output (``EngineContext.out``).

>>> dispatch = AlertDispatch(ctx, book, "Asia/Ho_Chi_Minh")  # doctest: +SKIP
>>> dispatch.fire(book.open("down", "r1", now, "timeout"), now)  # doctest: +SKIP
>>> [d.channel for d in ctx.out.deliveries]  # doctest: +SKIP
['email', 'telegram', 'log']
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from netwatch.alerting.book import IncidentBook
from netwatch.alerting.context import AlertInventory, EngineContext
from netwatch.alerting.incidents import Incident, digest_alert, incident_alert
from netwatch.alerting.model import Alert, AlertState, Delivery, Ending
from netwatch.alerting.routing import deliveries, escalation_contacts
from netwatch.settings.alerting import AlertSettings


class AlertDispatch:
    """The messages about the book's incidents, and the timers that repeat and escalate them."""

    def __init__(self, ctx: EngineContext, book: IncidentBook, timezone: str) -> None:
        self._ctx = ctx
        self._book = book
        self._timezone = timezone
        ZoneInfo(timezone)  # an unknown zone fails here, not at the first digest
        self._timers: list[tuple[float, int, str, str]] = []  # (due, seq, alert id, what)
        self._seq = 0
        self._digest_at = ctx.settings.next_digest(ctx.clock(), timezone)

    def alert(self, inc: Incident, state: AlertState, now: float) -> Alert:
        return incident_alert(inc, state, now, self._ctx.inv)

    def suppressed(self, inc: Incident, now: float) -> str | None:
        """Why nothing may be sent about this incident now: maintenance, silenced, acknowledged."""
        ctx = self._ctx
        did = inc.device
        if ctx.topo.in_maintenance(did, ctx.planned.active):
            return "maintenance"
        device = ctx.inv.devices[did]
        if ctx.planned.silenced(did, ctx.topo.chain(device.site), now):
            return "silenced"
        if inc.acked_by is not None:
            return "acknowledged"
        return None

    def fire(self, inc: Incident, now: float) -> None:
        """A new incident: its firing message, and its repeat (and escalation) armed."""
        settings = self._ctx.settings
        self.send(inc, "firing", now)
        self.arm(now + settings.repeat_interval, inc, "repeat")
        if inc.severity in settings.escalate:
            self.arm(now + settings.escalate_after, inc, "escalate")

    def rearm(self, inc: Incident, now: float) -> None:
        """An incident adopted from the previous run: its timers run again from now."""
        settings = self._ctx.settings
        self.arm(now + settings.repeat_interval, inc, "repeat")
        if inc.severity in settings.escalate and not inc.escalated_to:
            self.arm(now + settings.escalate_after, inc, "escalate")

    def resolved(self, inc: Incident, now: float, *, ended: Ending = "") -> None:
        """The end of a (closed) incident, to those who heard of its start."""
        if not inc.notified:
            self._ctx.out.suppressed.append((self.alert(inc, "resolved", now), inc.reason))
            return
        self.send(inc, "resolved", now, ended=ended)

    def removed(self, inc: Incident, old: AlertInventory, now: float) -> None:
        """A reload took ``inc``'s device out of monitoring (``old``: the inventory it was in).

        Its contacts were told it is down: tell them it is no longer watched, or they wait for
        a recovery message that never comes."""
        out = self._ctx.out
        alert = replace(incident_alert(inc, "resolved", now, old), ended="removed")
        site = old.sites.get(old.devices[inc.device].site)
        if not inc.notified or inc.digest or site is None:
            out.suppressed.append((alert, "removed"))
            return
        contacts = [*site.contacts, *inc.escalated_to]
        out.deliveries.extend(deliveries(alert, contacts, old.config.contacts))

    def send(self, inc: Incident, state: AlertState, now: float, *, ended: Ending = "") -> None:
        out = self._ctx.out
        alert = self.alert(inc, state, now)
        if ended:
            alert = replace(alert, ended=ended)
        reason = self.suppressed(inc, now)
        if reason is not None:
            inc.reason = reason
            out.suppressed.append((alert, reason))
            if state == "resolved" and inc.notified:
                # Nobody is told (acknowledged, silenced, maintenance), but Alertmanager holds
                # the firing alert and must learn it ended, or it shows it firing for good.
                out.deliveries.extend(
                    d for d in self.deliveries(inc, alert) if d.channel == "alertmanager"
                )
            return
        if state == "firing":
            inc.notified = True
        out.deliveries.extend(self.deliveries(inc, alert))

    def deliveries(self, inc: Incident, alert: Alert) -> list[Delivery]:
        inv = self._ctx.inv
        site = inv.devices[inc.device].site
        contacts = [*inv.sites[site].contacts, *inc.escalated_to]
        return deliveries(alert, contacts, inv.config.contacts)

    def firing_deliveries(self) -> list[Delivery]:
        """The firing message of every open incident someone was told about, to each of its
        channels: what a channel that holds state (Alertmanager) must hold after a restart."""
        now = self._ctx.clock()
        devices = self._ctx.inv.devices
        return [
            d
            for inc in self._book.open_incidents()
            if inc.device in devices
            for d in self.deliveries(inc, self.alert(inc, "firing", now))
        ]

    def retune(self, settings: AlertSettings) -> None:
        """New settings (a reload), before they are in the context: a new digest time counts."""
        old = self._ctx.settings
        if settings.digest_time != old.digest_time:
            self._digest_at = settings.next_digest(self._ctx.clock(), self._timezone)

    def due(self, now: float) -> None:
        """Run the timers due by ``now``, and the daily digests when their time has come."""
        self._run_timers(now)
        if now >= self._digest_at:
            self._send_digests(now)
            self._digest_at = self._ctx.settings.next_digest(now, self._timezone)

    def arm(self, due: float, inc: Incident, what: str) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (due, self._seq, inc.id, what))

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, alert_id, what = heapq.heappop(timers)
            inc = self._book.find(alert_id)
            if inc is None:
                continue  # resolved meanwhile
            if what == "repeat":
                if not (inc.kind == "down" and self._ctx.flaps.is_flapping(inc.device)):
                    inc.repeats += 1
                    self.send(inc, "firing", now)
                self.arm(now + self._ctx.settings.repeat_interval, inc, "repeat")
            elif not inc.escalated_to:
                self._escalate(inc, now)

    def _escalate(self, inc: Incident, now: float) -> None:
        ctx = self._ctx
        reason = self.suppressed(inc, now)
        site = ctx.inv.devices[inc.device].site
        contacts = escalation_contacts(ctx.inv.sites, site)
        if reason is not None:
            ctx.out.suppressed.append(
                (replace(self.alert(inc, "firing", now), escalated=True), reason)
            )
            if reason != "acknowledged":  # someone is on it; otherwise try again later
                self.arm(now + ctx.settings.escalate_after, inc, "escalate")
            return
        if not contacts:
            return
        if not inc.notified:
            self.send(inc, "firing", now)
        inc.escalated_to = contacts
        alert = self.alert(inc, "firing", now)
        ctx.out.deliveries.extend(deliveries(alert, contacts, ctx.inv.config.contacts))

    def _send_digests(self, now: float) -> None:
        inv = self._ctx.inv
        day = datetime.fromtimestamp(now, ZoneInfo(self._timezone)).date().isoformat()
        for site_id, (incs, over) in self._book.take_digest().items():
            listed = [i for i in incs if self.suppressed(i, now) is None]
            recovered = [o for o in over if o[0] in inv.devices]
            site = inv.sites.get(site_id)
            if not (listed or recovered) or site is None:
                continue
            alert = digest_alert(site, listed, day, recovered)
            self._ctx.out.deliveries.extend(deliveries(alert, site.contacts, inv.config.contacts))
