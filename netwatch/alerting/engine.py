"""The alert engine: from devices' own status changes to one message per incident.

The daemon feeds it each device's own up/down change (``own_changed``) and each service check's
change (``service_changed``), and calls ``tick()`` after every change and every second. A tick
re-evaluates the topology below what changed (``netwatch.topology``), and returns the status
transitions to record, the deliveries to queue, the devices to poll again now, and the alerts it
recorded but did not send. No I/O, and the clock is injected.

The topology races (DESIGN.md, "Pitfalls"): a device whose own failure is confirmed while a
device it depends on is still failing-but-unconfirmed (``suspect``) or has not been polled since
is *held* for up to ``hold`` seconds; if the parent is then confirmed down, the device is
unreachable and its alert is dropped. The hold is decided *before* the topology is evaluated, and
a held device is shown UNREACHABLE behind the unsettled parent meanwhile: were it shown DOWN
until its parent is confirmed, every commune behind a failing district line would flash "down"
on the dashboards and in the history (seen end to end: tests/integration/test_alerting_e2e.py).
When a parent recovers, the devices that were cut off behind it stay UNREACHABLE and are listed
in ``recheck`` until each has been polled again (``last_polled(d) > recovered_at``); only then
is anything said about them.

>>> engine = AlertEngine(inventory, AlertSettings(), clock=clock,  # doctest: +SKIP
...                      suspect=tracker_suspect, last_polled=scheduler_last_polled)
>>> engine.own_changed(change)  # doctest: +SKIP
>>> out = engine.tick()  # doctest: +SKIP
>>> outbox.put(out.deliveries); history.record(out.transitions)  # doctest: +SKIP
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from netwatch.alerting.flapping import FlapDetector
from netwatch.alerting.incidents import (
    Incident,
    IncidentKey,
    IncidentKind,
    digest_alert,
    incident_alert,
)
from netwatch.alerting.maintenance import Maintenance
from netwatch.alerting.model import Alert, AlertState, Delivery, Ending
from netwatch.alerting.power import POWER_CUT_DETAIL
from netwatch.alerting.routing import deliveries, escalation_contacts
from netwatch.models import DEFAULT_TIMEZONE, Status, Transition
from netwatch.settings.alerting import AlertSettings, MaintenanceWindow, Silence
from netwatch.settings.config import Config
from netwatch.state import Change
from netwatch.topology import Effective, InventoryLike, Topology


class AlertInventory(InventoryLike, Protocol):
    """The part of ``netwatch.inventory.Inventory`` the engine reads."""

    @property
    def config(self) -> Config: ...

    def labels(self, device_id: str) -> Mapping[str, str]: ...


@dataclass(slots=True)
class EngineOutput:
    """What one tick produced; the daemon records, queues and polls accordingly."""

    transitions: list[Transition] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    recheck: list[str] = field(default_factory=list)
    suppressed: list[tuple[Alert, str]] = field(default_factory=list)  # reason: see _suppressed


class AlertEngine:
    """Alert lifecycle over one inventory: hold, recheck, flapping, maintenance, routing.

    >>> engine = AlertEngine(inv, AlertSettings(), clock=lambda: now,  # doctest: +SKIP
    ...                      suspect=lambda d: False, last_polled=lambda d: now)
    >>> engine.own_changed(Change("nk-rtr", Status.UP, Status.DOWN, now, "icmp", None))
    ... # doctest: +SKIP
    >>> [d.channel for d in engine.tick().deliveries]  # doctest: +SKIP
    ['email', 'telegram', 'log']
    """

    def __init__(
        self,
        inventory: AlertInventory,
        settings: AlertSettings,
        *,
        clock: Callable[[], float],
        suspect: Callable[[str], bool],
        last_polled: Callable[[str], float],
        windows: Iterable[MaintenanceWindow] = (),
        timezone: str = DEFAULT_TIMEZONE,
        recovering: Callable[[str], bool] | None = None,
        power_cut: Callable[[str], bool] | None = None,
    ) -> None:
        self._inv = inventory
        self._power_cut = power_cut  # site id -> its UPS is on battery (alerting/power.py)
        self._settings = settings
        self._clock = clock
        self._suspect = suspect
        self._last_polled = last_polled
        self._recovering = recovering
        self._timezone = timezone
        ZoneInfo(timezone)  # an unknown zone fails here, not at the first digest
        self._topo = Topology(inventory)
        self._own: dict[str, Status] = {}
        self._own_since: dict[str, float] = {}
        self._detail: dict[str, str] = {}
        self._dirty: set[str] = set(inventory.devices)
        self._dirty_sites: set[str] = set(inventory.sites)
        self._touched: set[str] = set()  # own status changed since the last tick
        self._services: dict[str, dict[str, str]] = {}  # failing services: device -> name -> why
        self._services_touched: set[tuple[str, str]] = set()
        self._planned = Maintenance(windows)
        self._incidents: dict[IncidentKey, Incident] = {}
        self._by_id: dict[str, IncidentKey] = {}
        self._held: dict[IncidentKey, float] = {}  # held since
        self._hold_ended: set[str] = set()  # devices whose hold ended this tick: alert now
        self._pending: dict[str, tuple[str, float]] = {}  # device -> (cause, parent recovered at)
        self._released: set[str] = set()  # re-checked this tick: what it says now stands
        self._flaps = FlapDetector(settings.flap_window, settings.flap_threshold)
        self._timers: list[tuple[float, int, str, str]] = []  # (due, seq, alert id, what)
        self._seq = 0
        self._digest: dict[str, dict[str, None]] = {}  # site -> devices waiting for the digest
        # site -> (device, went down, came back) of digest failures over since the last digest
        self._digest_over: dict[str, list[tuple[str, float, float]]] = {}
        # kind -> subject -> the status the history last got, while a provisional one is shown
        self._unrecorded: dict[str, dict[str, Status]] = {"device": {}, "site": {}}
        # kind -> subject -> when its status last changed (the history's time once dated);
        # every subject has been unknown since the engine started.
        self._since: dict[str, dict[str, float]] = {"device": {}, "site": {}}
        self._started = clock()
        self._digest_at = settings.next_digest(clock(), timezone)
        self._out = EngineOutput()
        self.revision = 0  # bumped by every ack, silence and window change (see acknowledge)

    # ------------------------------------------------------------------ inputs

    def own_changed(self, change: Change) -> None:
        """A device's own status changed (from ``StateTracker.record``)."""
        did = change.device
        if did not in self._inv.devices:
            return
        self._own[did] = change.new
        self._own_since[did] = change.at
        self._detail[did] = str(change.failure) if change.failure else ""
        self._dirty.add(did)
        self._touched.add(did)
        if change.new is Status.UP:
            self._pending.pop(did, None)
        if {change.old, change.new} == {Status.UP, Status.DOWN} and self._flaps.record(
            did, change.at
        ):
            self._held.pop(IncidentKey("down", did), None)
            self._flapping_started(did)

    def _flapping_started(self, did: str) -> None:
        """One flapping alert for a flapping line, about the device at its head.

        Everything behind a flapping district line flaps with it: a commune whose parent flaps
        sends nothing of its own, and one whose parent changed lately waits (``hold``) to see
        whether the parent is found flapping too — the commune may reach its threshold first.
        """
        now = self._clock()
        parents = self._topo.parents(did)
        if any(self._flaps.is_flapping(p) for p in parents):
            return
        window = self._settings.flap_window
        changed = [self._flaps.last_change(p) for p in parents]
        if any(t is not None and now - t <= window for t in changed):
            self._held[IncidentKey("flapping", did)] = now
            return
        self._open_flapping(did, now)

    def _open_flapping(self, did: str, now: float) -> None:
        settings = self._settings
        detail = f"{settings.flap_threshold} changes within {settings.flap_window:g}s"
        self._open("flapping", did, now, detail)

    def service_changed(
        self, device_id: str, service: str, ok: bool, detail: str, at: float
    ) -> None:
        """A service check on a device changed state (after its own hysteresis)."""
        if device_id not in self._inv.devices:
            return
        failing = self._services.setdefault(device_id, {})
        if ok:
            failing.pop(service, None)
        else:
            failing[service] = detail
        self._services_touched.add((device_id, service))

    # Acknowledgements, silences and windows: each change bumps ``revision``, so the daemon
    # knows to save them (open incidents and the operator's silences and windows) to disk.

    def acknowledge(self, alert_id: str, by: str) -> bool:
        """Nothing more is sent for this incident (it is still listed and recorded)."""
        key = self._by_id.get(alert_id)
        if key is None:
            return False
        self._incidents[key].acked_by = by
        self.revision += 1
        return True

    def silence(self, s: Silence) -> None:
        self._planned.silence(s)
        self.revision += 1

    def unsilence(self, silence_id: str) -> bool:
        self.revision += 1
        return self._planned.unsilence(silence_id)

    def add_window(self, window: MaintenanceWindow) -> None:
        self._planned.add_window(window)
        self.revision += 1

    def remove_window(self, window_id: str) -> bool:
        self.revision += 1
        return self._planned.remove_window(window_id)

    def open_incidents(self) -> list[Incident]:
        """The incidents someone was told about and not yet told the end of: what the daemon
        keeps across a restart (see ``adopt``). Digest-only ones are left out."""
        return [i for i in self._incidents.values() if i.notified and not i.digest]

    def adopt(self, incidents: Iterable[Incident]) -> None:
        """Take over the open incidents of the previous run (after a restart or a crash).

        Without this, an outage that spans a restart is announced twice (a new incident is
        opened when the device is confirmed down again) and its first message is never
        resolved. An adopted incident continues if its device is confirmed down again, and is
        resolved — with its original id — once the device is found up. Call before the first
        tick; incidents of devices no longer configured are dropped.
        """
        now = self._clock()
        for inc in incidents:
            if inc.device not in self._inv.devices or inc.key in self._incidents:
                continue
            self._incidents[inc.key] = inc
            self._by_id[inc.id] = inc.key
            if inc.kind == "flapping":
                self._flaps.resume(inc.device, now)
            self._arm(now + self._settings.repeat_interval, inc, "repeat")
            if inc.severity in self._settings.escalate and not inc.escalated_to:
                self._arm(now + self._settings.escalate_after, inc, "escalate")

    def set_inventory(self, inventory: AlertInventory) -> None:
        """Reload: keep what is known of unchanged devices, forget removed ones."""
        old, old_inventory = self._topo, self._inv
        self._inv = inventory
        self._topo = Topology(inventory)
        for did in inventory.devices:
            if did in old.devices:
                self._topo.devices[did] = old.devices[did]
        for sid in inventory.sites:
            if sid in old.sites:
                self._topo.sites[sid] = old.sites[sid]
        gone = [d for d in old.devices if d not in inventory.devices]
        for kind, known in (("device", inventory.devices), ("site", inventory.sites)):
            self._unrecorded[kind] = {s: v for s, v in self._unrecorded[kind].items() if s in known}
            self._since[kind] = {s: v for s, v in self._since[kind].items() if s in known}
        for state in (self._own, self._own_since, self._detail, self._services, self._pending):
            for did in gone:
                state.pop(did, None)
        self._flaps.forget(gone)
        now = self._clock()
        for inc in [i for i in self._incidents.values() if i.device not in inventory.devices]:
            # Its contacts were told it is down: tell them it is no longer watched, or they
            # wait for a recovery message that never comes.
            alert = replace(incident_alert(inc, "resolved", now, old_inventory), ended="removed")
            self._forget_incident(inc)
            site = old_inventory.sites.get(old_inventory.devices[inc.device].site)
            if not inc.notified or inc.digest or site is None:
                self._out.suppressed.append((alert, "removed"))
                continue
            contacts = [*site.contacts, *inc.escalated_to]
            self._out.deliveries.extend(deliveries(alert, contacts, old_inventory.config.contacts))
        self._held = {k: v for k, v in self._held.items() if k.device in inventory.devices}
        self._dirty = set(inventory.devices)
        self._dirty_sites = set(inventory.sites)
        self._planned.recheck()

    def set_settings(self, settings: AlertSettings) -> None:
        """Reload: the new ``alerting:`` settings apply from now on. Open incidents keep their
        severity; a repeat or an escalation already armed keeps its time, the next one is
        armed with the new interval; flap counts so far are kept."""
        if settings.digest_time != self._settings.digest_time:
            self._digest_at = settings.next_digest(self._clock(), self._timezone)
        self._settings = settings
        self._flaps.retune(settings.flap_window, settings.flap_threshold)

    # ------------------------------------------------------------------ the tick

    def tick(self) -> EngineOutput:
        """Apply what changed since the last tick; cheap when nothing did."""
        now = self._clock()
        self._check_windows(now)
        self._check_pending(now)
        for did in self._flaps.settled(now):
            inc = self._incidents.get(IncidentKey("flapping", did))
            if inc is not None:
                # Settled down is not "stable again": the officer must read that it is down.
                down = self._own_status(did) is Status.DOWN
                self._resolve(inc, now, ended="still_down" if down else "")
            self._touched.add(did)  # normal alerting resumes with the current state
        if self._held:
            self._check_held(now)
        self._hold_new(now)
        if self._dirty or self._dirty_sites or self._touched:
            self._evaluate(now)
        for device_id, service in self._services_touched:
            self._reconcile_service(device_id, service, now)
        self._services_touched.clear()
        self._hold_ended.clear()
        self._run_timers(now)
        if now >= self._digest_at:
            self._send_digests(now)
            self._digest_at = self._settings.next_digest(now, self._timezone)
        out, self._out = self._out, EngineOutput()
        out.recheck = list(dict.fromkeys(out.recheck))
        return out

    def _own_status(self, device_id: str) -> Status:
        return self._own.get(device_id, Status.UNKNOWN)

    def _hold_new(self, now: float) -> None:
        """Hold the alert of each newly failed device whose parents have not settled yet.

        Decided before the topology is evaluated, so the device is never shown DOWN for what
        may turn out to be its parent's failure (``_held_behind``).
        """
        for did in self._touched:
            key = IncidentKey("down", did)
            if (
                did in self._inv.devices
                and self._own_status(did) is Status.DOWN
                and key not in self._held
                and key not in self._incidents
                and did not in self._hold_ended
                and did not in self._pending
                and not self._flaps.is_flapping(did)
                and not self._settled(did)
            ):
                # The hold runs from when its failure was confirmed, not from this tick.
                self._held[key] = self._own_since.get(did, now)
                self._out.recheck.extend(self._topo.parents(did))

    def _held_behind(self) -> dict[str, str]:
        """Devices shown UNREACHABLE behind a parent that has not settled: held down alerts
        (behind the first such parent) and devices cut off until re-checked."""
        held = {d: cause for d, (cause, _) in self._pending.items()}
        for key in self._held:
            if key.kind == "down":
                did = key.device
                parents = self._topo.parents(did)
                unsettled = [p for p in parents if not self._answered_since(p, did)]
                held.setdefault(did, (unsettled or parents)[0])
        return held

    def _evaluate(self, now: float) -> None:
        topo = self._topo
        held = self._held_behind()
        changed = topo.update(
            self._dirty,
            self._own_status,
            self._planned.active,
            held=held,
            dirty_sites=self._dirty_sites,
        )
        old_devices, old_sites = dict(changed.devices), dict(changed.sites)
        # Cut off until now and not up by its own account: wait for a fresh poll before saying
        # anything about it (it stays UNREACHABLE behind the same cause meanwhile).
        uncut = [
            d
            for d, old in old_devices.items()
            if old.blocked
            and old.cause is not None
            and topo.devices[d].cause is None
            and self._own_status(d) is not Status.UP
            and d not in self._released
            and d not in self._hold_ended  # it was shown behind a parent it only waited for
        ]
        if uncut:
            for did in uncut:
                self._pending[did] = (old_devices[did].cause or "", now)
                held[did] = old_devices[did].cause or ""
            again = topo.update(uncut, self._own_status, self._planned.active, held=held)
            for did, eff in again.devices.items():
                old_devices.setdefault(did, eff)
            for sid, eff in again.sites.items():
                old_sites.setdefault(sid, eff)
            self._out.recheck.extend(uncut)
        self._dirty = set()
        self._dirty_sites = set()
        self._record_transitions(old_devices, topo.devices, "device", now)
        self._record_transitions(old_sites, topo.sites, "site", now)
        for did in dict.fromkeys([*old_devices, *self._touched]):
            self._reconcile(did, now)
        self._touched = set()
        self._released = set()

    def _record_transitions(
        self, old: Mapping[str, Effective], new: Mapping[str, Effective], kind: str, now: float
    ) -> None:
        out = self._out.transitions
        unrecorded = self._unrecorded[kind]
        for subject in [*old, *(s for s in unrecorded if s not in old and s in new)]:
            after = new[subject]
            last = unrecorded.get(subject, old[subject].status if subject in old else None)
            if self._provisional(after):
                # Shown behind a parent that has not failed (yet): a guess, not history.
                if last is not None and after.status is not last:
                    unrecorded.setdefault(subject, last)
                continue
            unrecorded.pop(subject, None)
            if last is not None and after.status is not last:
                self._since[kind][subject] = now
                out.append(
                    Transition(
                        subject,
                        "device" if kind == "device" else "site",
                        last,
                        after.status,
                        now,
                        after.cause,
                    )
                )
            # Whatever goes dark behind an open incident belongs to it (for the resolved text).
            if after.cause is not None:
                inc = self._incidents.get(IncidentKey("down", after.cause))
                if inc is not None:
                    bucket = inc.affected_devices if kind == "device" else inc.affected_sites
                    bucket[subject] = None

    def _provisional(self, eff: Effective) -> bool:
        """Unreachable behind a device that is not failing: a held device waiting for its parent
        to settle. Its transitions are recorded once the guess is confirmed or undone, so the
        history and the log never name a healthy parent as the cause."""
        if eff.status is not Status.UNREACHABLE or eff.cause is None:
            return False
        cause = self._topo.devices.get(eff.cause)
        return cause is not None and not cause.blocked

    # ------------------------------------------------------------------ incidents

    def _reconcile(self, did: str, now: float) -> None:
        if did not in self._inv.devices:
            return
        for service in self._services.get(did, {}):
            self._reconcile_service(did, service, now)
        if self._flaps.is_flapping(did):
            return  # one flapping alert instead of up/down messages
        key = IncidentKey("down", did)
        inc = self._incidents.get(key)
        if inc is not None and self._own_status(did) is Status.UNKNOWN:
            return  # adopted after a restart, not polled yet: neither over nor confirmed
        if self._wants_down(did):
            if inc is not None:
                if not inc.notified and not inc.digest and self._suppressed(inc, now) is None:
                    self._send(inc, "firing", now)  # e.g. still down after its maintenance
            elif key not in self._held:
                if did in self._hold_ended or self._settled(did):
                    self._open("down", did, now, self._detail.get(did, ""))
                else:
                    # Not held before the evaluation (it was not touched): hold it now.
                    self._held[key] = self._own_since.get(did, now)
                    self._out.recheck.extend(self._topo.parents(did))
        else:
            self._held.pop(key, None)
            if inc is not None:
                self._resolve(inc, now)

    def _wants_down(self, did: str) -> bool:
        """Down by its own failure: not cut off behind a parent (a held device is shown behind
        its unsettled parent, but its alert is still only waiting)."""
        eff = self._topo.devices[did]
        if self._own_status(did) is not Status.DOWN or not eff.blocked:
            return False
        if eff.cause is None:
            return True
        parents = self._topo.parents(did)
        cut_off = bool(parents) and all(self._topo.devices[p].blocked for p in parents)
        return IncidentKey("down", did) in self._held and not cut_off

    def _settled(self, did: str) -> bool:
        """Its own failure is proven: some parent answered since it failed and is not failing."""
        parents = self._topo.parents(did)
        return not parents or any(self._answered_since(p, did) for p in parents)

    def _answered_since(self, parent: str, did: str) -> bool:
        """``parent`` is up, not failing, and was polled since ``did`` was confirmed down."""
        return (
            not self._topo.devices[parent].blocked
            and self._own_status(parent) is Status.UP
            and not self._suspect(parent)
            and self._last_polled(parent) >= self._own_since.get(did, 0.0)
        )

    def _reconcile_service(
        self, did: str, service: str, now: float, *, force: bool = False
    ) -> None:
        key = IncidentKey("service", did, service)
        detail = self._services.get(did, {}).get(service)
        eff = self._topo.devices.get(did)
        inc = self._incidents.get(key)
        if detail is None:
            self._held.pop(key, None)
            if inc is not None:
                self._resolve(inc, now)
            return
        # A service on a device that is down or cut off is explained by that: no alert of its
        # own. An incident already open stays until the service answers again.
        if eff is None or eff.blocked or self._own_status(did) is not Status.UP:
            self._held.pop(key, None)
            return
        if inc is None and key not in self._held:
            if self._suspect(did) and not force:
                self._held[key] = now
            else:
                self._open("service", did, now, f"{service}: {detail}", service=service)

    def _check_held(self, now: float) -> None:
        for key, since in list(self._held.items()):
            did = key.device
            if key.kind == "flapping":
                parents = self._topo.parents(did)
                if not self._flaps.is_flapping(did) or any(
                    self._flaps.is_flapping(p) for p in parents
                ):
                    del self._held[key]  # settled already, or its parent's alert covers it
                elif now - since >= self._settings.hold:
                    del self._held[key]
                    self._open_flapping(did, now)
            elif key.kind == "down":
                if not self._wants_down(did) or self._flaps.is_flapping(did):
                    del self._held[key]
                    self._dirty.add(did)  # no longer shown behind the parent it waited for
                elif self._settled(did) or now - since >= self._settings.hold:
                    # Shown DOWN from this tick's evaluation on; the alert opens there, with
                    # what it cut off already counted.
                    del self._held[key]
                    self._dirty.add(did)
                    self._touched.add(did)
                    self._hold_ended.add(did)
            elif not self._suspect(did) or now - since >= self._settings.hold:
                del self._held[key]
                self._reconcile_service(did, key.service, now, force=True)

    def _check_pending(self, now: float) -> None:
        settings = self._settings
        for did, (_, since) in list(self._pending.items()):
            polled = self._last_polled(did) > since
            if self._recovering is not None:
                # A first good poll does not make a down device up (hysteresis): wait for it.
                done = polled and not self._recovering(did)
            else:
                done = polled and now - since >= settings.hold
            if done or now - since >= settings.recheck_timeout:
                del self._pending[did]
                self._dirty.add(did)
                self._released.add(did)

    def _open(
        self, kind: IncidentKind, did: str, now: float, detail: str, *, service: str = ""
    ) -> None:
        device = self._inv.devices[did]
        site = self._inv.sites[device.site]
        gateway = site.gateway == did
        severity, digest = self._settings.severity_of(
            site.level, device.role.value, gateway=gateway
        )
        key = IncidentKey(kind, did, service)
        if kind == "down" and gateway and self._power_cut and self._power_cut(site.id):
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
            devices, sites = self._topo.affected(did)
            inc.affected_devices = dict.fromkeys(devices)
            inc.affected_sites = dict.fromkeys(sites)
        self._incidents[key] = inc
        self._by_id[inc.id] = key
        if inc.digest:
            if kind == "down":
                self._digest.setdefault(site.id, {})[did] = None
            return
        self._send(inc, "firing", now)
        self._arm(now + self._settings.repeat_interval, inc, "repeat")
        if severity in self._settings.escalate:
            self._arm(now + self._settings.escalate_after, inc, "escalate")

    def _resolve(self, inc: Incident, now: float, *, ended: Ending = "") -> None:
        self._forget_incident(inc)
        if inc.digest:
            if inc.kind == "down":  # a PC broken for hours and back before 08:00 is still news
                self._digest_over.setdefault(inc.site, []).append((inc.device, inc.started_at, now))
            return
        if not inc.notified:
            self._out.suppressed.append((self._alert(inc, "resolved", now), inc.reason))
            return
        self._send(inc, "resolved", now, ended=ended)

    def _forget_incident(self, inc: Incident) -> None:
        self._incidents.pop(inc.key, None)
        self._by_id.pop(inc.id, None)
        if inc.digest and inc.kind == "down":
            waiting = self._digest.get(inc.site, {})
            waiting.pop(inc.device, None)
            if not waiting:
                self._digest.pop(inc.site, None)

    def _send(self, inc: Incident, state: AlertState, now: float, *, ended: Ending = "") -> None:
        alert = self._alert(inc, state, now)
        if ended:
            alert = replace(alert, ended=ended)
        reason = self._suppressed(inc, now)
        if reason is not None:
            inc.reason = reason
            self._out.suppressed.append((alert, reason))
            if state == "resolved" and inc.notified:
                # Nobody is told (acknowledged, silenced, maintenance), but Alertmanager holds
                # the firing alert and must learn it ended, or it shows it firing for good.
                self._out.deliveries.extend(
                    d for d in self._deliveries(inc, alert) if d.channel == "alertmanager"
                )
            return
        if state == "firing":
            inc.notified = True
        self._out.deliveries.extend(self._deliveries(inc, alert))

    def _deliveries(self, inc: Incident, alert: Alert) -> list[Delivery]:
        site = self._inv.devices[inc.device].site
        contacts = [*self._inv.sites[site].contacts, *inc.escalated_to]
        return deliveries(alert, contacts, self._inv.config.contacts)

    def firing_deliveries(self) -> list[Delivery]:
        """The firing message of every open incident someone was told about, to each of its
        channels: what a channel that holds state (Alertmanager) must hold after a restart."""
        now = self._clock()
        return [
            d
            for inc in self.open_incidents()
            if inc.device in self._inv.devices
            for d in self._deliveries(inc, self._alert(inc, "firing", now))
        ]

    def _suppressed(self, inc: Incident, now: float) -> str | None:
        """Why nothing may be sent about this incident now: maintenance, silenced, acknowledged."""
        did = inc.device
        if self._topo.in_maintenance(did, self._planned.active):
            return "maintenance"
        device = self._inv.devices[did]
        if self._planned.silenced(did, self._topo.chain(device.site), now):
            return "silenced"
        if inc.acked_by is not None:
            return "acknowledged"
        return None

    def _alert(self, inc: Incident, state: AlertState, now: float) -> Alert:
        return incident_alert(inc, state, now, self._inv)

    # ------------------------------------------------------------------ timers

    def _arm(self, due: float, inc: Incident, what: str) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (due, self._seq, inc.id, what))

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, alert_id, what = heapq.heappop(timers)
            key = self._by_id.get(alert_id)
            if key is None:
                continue  # resolved meanwhile
            inc = self._incidents[key]
            if what == "repeat":
                if not (inc.kind == "down" and self._flaps.is_flapping(inc.device)):
                    inc.repeats += 1
                    self._send(inc, "firing", now)
                self._arm(now + self._settings.repeat_interval, inc, "repeat")
            elif not inc.escalated_to:
                self._escalate(inc, now)

    def _escalate(self, inc: Incident, now: float) -> None:
        reason = self._suppressed(inc, now)
        site = self._inv.devices[inc.device].site
        contacts = escalation_contacts(self._inv.sites, site)
        if reason is not None:
            self._out.suppressed.append(
                (replace(self._alert(inc, "firing", now), escalated=True), reason)
            )
            if reason != "acknowledged":  # someone is on it; otherwise try again later
                self._arm(now + self._settings.escalate_after, inc, "escalate")
            return
        if not contacts:
            return
        if not inc.notified:
            self._send(inc, "firing", now)
        inc.escalated_to = contacts
        alert = self._alert(inc, "firing", now)
        self._out.deliveries.extend(deliveries(alert, contacts, self._inv.config.contacts))

    def _check_windows(self, now: float) -> None:
        for target in self._planned.poll(now):
            devices, sites = self._topo.covered_by(target)
            self._dirty.update(devices)
            self._dirty_sites.update(sites)

    def _send_digests(self, now: float) -> None:
        day = datetime.fromtimestamp(now, ZoneInfo(self._timezone)).date().isoformat()
        over, self._digest_over = self._digest_over, {}
        for site_id in sorted({*self._digest, *over}):
            waiting = self._digest.get(site_id, {})
            incs = [self._incidents[IncidentKey("down", d)] for d in sorted(waiting)]
            listed = [i for i in incs if self._suppressed(i, now) is None]
            recovered = [o for o in over.get(site_id, []) if o[0] in self._inv.devices]
            site = self._inv.sites.get(site_id)
            if not (listed or recovered) or site is None:
                continue
            alert = digest_alert(site, listed, day, recovered)
            self._out.deliveries.extend(deliveries(alert, site.contacts, self._inv.config.contacts))

    # ------------------------------------------------------------------ views

    def status_of(self, device_id: str) -> Status:
        return self._topo.devices.get(device_id, Effective(Status.UNKNOWN)).status

    def site_status(self, site_id: str) -> Status:
        return self._topo.sites.get(site_id, Effective(Status.UNKNOWN)).status

    def status_since(self, kind: str, subject: str) -> float:
        """When the device's or site's status (as recorded in history) last changed; the
        engine's start while it never did (it has been unknown since)."""
        return self._since.get(kind, {}).get(subject, self._started)

    def dated(self, transitions: Iterable[Transition]) -> None:
        """The history dates a change back to its cause (the daemon's ``_dated``): so does
        ``status_since``."""
        for t in transitions:
            self._since.setdefault(t.kind, {})[t.subject] = t.at

    def root_cause(self, device_id: str) -> str | None:
        """The device whose failure explains this one's status (itself for its own failure)."""
        eff = self._topo.devices.get(device_id)
        if eff is None:
            return None
        return eff.cause or (device_id if eff.blocked else None)

    def flapping(self) -> set[str]:
        return self._flaps.flapping

    def active_alerts(self) -> list[Alert]:
        """Every open incident, sent or not (held ones are not incidents yet)."""
        now = self._clock()
        return [self._alert(i, "firing", now) for i in self._incidents.values()]

    def silences(self) -> list[Silence]:
        return self._planned.silences()

    def windows(self) -> list[MaintenanceWindow]:
        return self._planned.windows()
