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

The engine coordinates; its parts each keep one kind of state, and share the context
(``context.py``: the inventory, its topology, the settings, the devices' own status): the holds
(``holds.py``), the incident book (``book.py``), the messages and their timers (``delivery.py``)
and the status history (``recorder.py``).

>>> engine = AlertEngine(inventory, AlertSettings(), clock=clock,  # doctest: +SKIP
...                      suspect=tracker_suspect, last_polled=scheduler_last_polled)
>>> engine.own_changed(change)  # doctest: +SKIP
>>> out = engine.tick()  # doctest: +SKIP
>>> outbox.put(out.deliveries); history.record(out.transitions)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from netwatch.alerting.book import IncidentBook
from netwatch.alerting.context import AlertInventory, EngineContext, EngineOutput
from netwatch.alerting.delivery import AlertDispatch
from netwatch.alerting.flapping import FlapDetector
from netwatch.alerting.holds import Holds
from netwatch.alerting.incidents import Incident, IncidentKey, IncidentKind
from netwatch.alerting.maintenance import Maintenance
from netwatch.alerting.model import Alert, Delivery, Ending
from netwatch.alerting.recorder import StatusRecord
from netwatch.models import DEFAULT_TIMEZONE, Status, Transition
from netwatch.settings.alerting import AlertSettings, MaintenanceWindow, Silence
from netwatch.state import Change
from netwatch.topology import Effective, Topology

__all__ = ["AlertEngine", "AlertInventory", "EngineOutput", "EngineViews"]


class EngineViews:
    """What the engine shows (statuses, causes, open incidents), and the operator's side of it:
    acknowledgements, silences and maintenance windows. ``AlertEngine`` is the one subclass.

    >>> engine.status_of("nk-rtr"), engine.root_cause("xa-1-rtr")  # doctest: +SKIP
    (<Status.DOWN: 'down'>, 'nk-rtr')
    """

    _ctx: EngineContext
    _book: IncidentBook
    _dispatch: AlertDispatch
    _record: StatusRecord
    revision: int  # bumped by every ack, silence and window change (see acknowledge)

    # Acknowledgements, silences and windows: each change bumps ``revision``, so the daemon
    # knows to save them (open incidents and the operator's silences and windows) to disk.

    def acknowledge(self, alert_id: str, by: str) -> bool:
        """Nothing more is sent for this incident (it is still listed and recorded)."""
        inc = self._book.find(alert_id)
        if inc is None:
            return False
        inc.acked_by = by
        self.revision += 1
        return True

    def silence(self, s: Silence) -> None:
        self._ctx.planned.silence(s)
        self.revision += 1

    def unsilence(self, silence_id: str) -> bool:
        self.revision += 1
        return self._ctx.planned.unsilence(silence_id)

    def add_window(self, window: MaintenanceWindow) -> None:
        self._ctx.planned.add_window(window)
        self.revision += 1

    def remove_window(self, window_id: str) -> bool:
        self.revision += 1
        return self._ctx.planned.remove_window(window_id)

    def silences(self) -> list[Silence]:
        return self._ctx.planned.silences()

    def windows(self) -> list[MaintenanceWindow]:
        return self._ctx.planned.windows()

    def open_incidents(self) -> list[Incident]:
        """The incidents someone was told about and not yet told the end of: what the daemon
        keeps across a restart (see ``adopt``). Digest-only ones are left out."""
        return self._book.open_incidents()

    def active_alerts(self) -> list[Alert]:
        """Every open incident, sent or not (held ones are not incidents yet)."""
        now = self._ctx.clock()
        alert = self._dispatch.alert
        return [alert(i, "firing", now) for i in self._book.incidents.values()]

    def firing_deliveries(self) -> list[Delivery]:
        """The firing message of every open incident someone was told about, to each of its
        channels: what a channel that holds state (Alertmanager) must hold after a restart."""
        return self._dispatch.firing_deliveries()

    def status_of(self, device_id: str) -> Status:
        return self._ctx.topo.devices.get(device_id, Effective(Status.UNKNOWN)).status

    def site_status(self, site_id: str) -> Status:
        return self._ctx.topo.sites.get(site_id, Effective(Status.UNKNOWN)).status

    def status_since(self, kind: str, subject: str) -> float:
        """When the device's or site's status (as recorded in history) last changed; the
        engine's start while it never did (it has been unknown since)."""
        return self._record.since(kind, subject)

    def dated(self, transitions: Iterable[Transition]) -> None:
        """The history dates a change back to its cause (the daemon's ``_dated``): so does
        ``status_since``."""
        self._record.dated(transitions)

    def root_cause(self, device_id: str) -> str | None:
        """The device whose failure explains this one's status (itself for its own failure)."""
        eff = self._ctx.topo.devices.get(device_id)
        if eff is None:
            return None
        return eff.cause or (device_id if eff.blocked else None)

    def flapping(self) -> set[str]:
        return self._ctx.flaps.flapping


class AlertEngine(EngineViews):
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
        self._power_cut = power_cut  # site id -> its UPS is on battery (alerting/power.py)
        self._ctx = ctx = EngineContext(
            inventory,
            settings,
            clock,
            suspect,
            last_polled,
            Maintenance(windows),
            FlapDetector(settings.flap_window, settings.flap_threshold),
            Topology(inventory),
        )
        self._book = IncidentBook(ctx)
        self._holds = Holds(ctx, self._book, recovering)
        self._dispatch = AlertDispatch(ctx, self._book, timezone)
        self._record = StatusRecord(ctx, self._book)
        self._dirty: set[str] = set(inventory.devices)
        self._dirty_sites: set[str] = set(inventory.sites)
        self._touched: set[str] = set()  # own status changed since the last tick
        self._services: dict[str, dict[str, str]] = {}  # failing services: device -> name -> why
        self._services_touched: set[tuple[str, str]] = set()
        self.revision = 0  # bumped by every ack, silence and window change (see acknowledge)

    # ------------------------------------------------------------------ inputs

    def own_changed(self, change: Change) -> None:
        """A device's own status changed (from ``StateTracker.record``)."""
        ctx = self._ctx
        did = change.device
        if did not in ctx.inv.devices:
            return
        ctx.own[did] = change.new
        ctx.own_since[did] = change.at
        ctx.detail[did] = str(change.failure) if change.failure else ""
        self._dirty.add(did)
        self._touched.add(did)
        if change.new is Status.UP:
            self._holds.device_up(did)
        if {change.old, change.new} == {Status.UP, Status.DOWN} and ctx.flaps.record(
            did, change.at
        ):
            self._holds.drop(IncidentKey("down", did))
            self._flapping_started(did)

    def _flapping_started(self, did: str) -> None:
        """One flapping alert for a flapping line, about the device at its head.

        Everything behind a flapping district line flaps with it: a commune whose parent flaps
        sends nothing of its own, and one whose parent changed lately waits (``hold``) to see
        whether the parent is found flapping too — the commune may reach its threshold first.
        """
        ctx = self._ctx
        flaps = ctx.flaps
        now = ctx.clock()
        parents = ctx.topo.parents(did)
        if any(flaps.is_flapping(p) for p in parents):
            return
        window = ctx.settings.flap_window
        changed = [flaps.last_change(p) for p in parents]
        if any(t is not None and now - t <= window for t in changed):
            self._holds.hold(IncidentKey("flapping", did), now)
            return
        self._open_flapping(did, now)

    def _open_flapping(self, did: str, now: float) -> None:
        settings = self._ctx.settings
        detail = f"{settings.flap_threshold} changes within {settings.flap_window:g}s"
        self._open("flapping", did, now, detail)

    def service_changed(
        self, device_id: str, service: str, ok: bool, detail: str, at: float
    ) -> None:
        """A service check on a device changed state (after its own hysteresis)."""
        if device_id not in self._ctx.inv.devices:
            return
        failing = self._services.setdefault(device_id, {})
        if ok:
            failing.pop(service, None)
        else:
            failing[service] = detail
        self._services_touched.add((device_id, service))

    def adopt(self, incidents: Iterable[Incident]) -> None:
        """Take over the open incidents of the previous run (after a restart or a crash).

        Without this, an outage that spans a restart is announced twice (a new incident is
        opened when the device is confirmed down again) and its first message is never
        resolved. An adopted incident continues if its device is confirmed down again, and is
        resolved — with its original id — once the device is found up. Call before the first
        tick; incidents of devices no longer configured are dropped.
        """
        ctx = self._ctx
        now = ctx.clock()
        for inc in incidents:
            if inc.device not in ctx.inv.devices or inc.key in self._book:
                continue
            self._book.add(inc)
            if inc.kind == "flapping":
                ctx.flaps.resume(inc.device, now)
            self._dispatch.rearm(inc, now)

    def set_inventory(self, inventory: AlertInventory) -> None:
        """Reload: keep what is known of unchanged devices, forget removed ones."""
        ctx = self._ctx
        old, old_inventory = ctx.topo, ctx.inv
        ctx.inv = inventory
        ctx.topo = topo = Topology(inventory)
        for did in inventory.devices:
            if did in old.devices:
                topo.devices[did] = old.devices[did]
        for sid in inventory.sites:
            if sid in old.sites:
                topo.sites[sid] = old.sites[sid]
        gone = [d for d in old.devices if d not in inventory.devices]
        self._record.forget("device", inventory.devices)
        self._record.forget("site", inventory.sites)
        for state in (ctx.own, ctx.own_since, ctx.detail, self._services):
            for did in gone:
                state.pop(did, None)
        ctx.flaps.forget(gone)
        now = ctx.clock()
        for inc in self._book.outside(inventory.devices):
            self._book.forget(inc)
            self._dispatch.removed(inc, old_inventory, now)
        self._holds.forget(inventory.devices)
        self._dirty = set(inventory.devices)
        self._dirty_sites = set(inventory.sites)
        ctx.planned.recheck()

    def set_settings(self, settings: AlertSettings) -> None:
        """Reload: the new ``alerting:`` settings apply from now on. Open incidents keep their
        severity; a repeat or an escalation already armed keeps its time, the next one is
        armed with the new interval; flap counts so far are kept."""
        self._dispatch.retune(settings)
        self._ctx.settings = settings
        self._ctx.flaps.retune(settings.flap_window, settings.flap_threshold)

    # ------------------------------------------------------------------ the tick

    def tick(self) -> EngineOutput:
        """Apply what changed since the last tick; cheap when nothing did."""
        ctx = self._ctx
        now = ctx.clock()
        for target in ctx.planned.poll(now):  # maintenance windows that began or ended
            devices, sites = ctx.topo.covered_by(target)
            self._dirty.update(devices)
            self._dirty_sites.update(sites)
        self._dirty.update(self._holds.check_pending(now))
        for did in ctx.flaps.settled(now):
            inc = self._book.get(IncidentKey("flapping", did))
            if inc is not None:
                # Settled down is not "stable again": the officer must read that it is down.
                down = ctx.own_status(did) is Status.DOWN
                self._resolve(inc, now, ended="still_down" if down else "")
            self._touched.add(did)  # normal alerting resumes with the current state
        self._end_holds(now)
        self._holds.hold_new(self._touched, now)
        if self._dirty or self._dirty_sites or self._touched:
            self._evaluate(now)
        for device_id, service in self._services_touched:
            self._reconcile_service(device_id, service, now)
        self._services_touched.clear()
        self._holds.end_tick()
        self._dispatch.due(now)
        return ctx.take_output()

    def _end_holds(self, now: float) -> None:
        """Act on the holds that ended (``Holds.expire``)."""
        for key, act in self._holds.expire(now):
            did = key.device
            if key.kind == "flapping":
                self._open_flapping(did, now)
            elif key.kind == "down":
                self._dirty.add(did)  # shown where it is, no longer behind its parent
                if act:
                    self._touched.add(did)  # its alert opens in this tick's evaluation
            else:
                self._reconcile_service(did, key.service, now, force=True)

    def _evaluate(self, now: float) -> None:
        ctx = self._ctx
        topo, holds, own_status = ctx.topo, self._holds, ctx.own_status
        held = holds.held_behind()
        changed = topo.update(
            self._dirty,
            own_status,
            ctx.planned.active,
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
            and own_status(d) is not Status.UP
            and holds.may_cut_off(d)
        ]
        if uncut:
            for did in uncut:
                holds.cut_off(did, old_devices[did].cause or "", now)
                held[did] = old_devices[did].cause or ""
            again = topo.update(uncut, own_status, ctx.planned.active, held=held)
            for did, eff in again.devices.items():
                old_devices.setdefault(did, eff)
            for sid, eff in again.sites.items():
                old_sites.setdefault(sid, eff)
            ctx.out.recheck.extend(uncut)
        self._dirty = set()
        self._dirty_sites = set()
        self._record.record(old_devices, topo.devices, "device", now)
        self._record.record(old_sites, topo.sites, "site", now)
        for did in dict.fromkeys([*old_devices, *self._touched]):
            self._reconcile(did, now)
        self._touched = set()
        holds.evaluated()

    # ------------------------------------------------------------------ incidents

    def _reconcile(self, did: str, now: float) -> None:
        ctx = self._ctx
        if did not in ctx.inv.devices:
            return
        for service in self._services.get(did, {}):
            self._reconcile_service(did, service, now)
        if ctx.flaps.is_flapping(did):
            return  # one flapping alert instead of up/down messages
        key = IncidentKey("down", did)
        inc = self._book.incidents.get(key)
        if inc is not None and ctx.own_status(did) is Status.UNKNOWN:
            return  # adopted after a restart, not polled yet: neither over nor confirmed
        holds = self._holds
        if holds.wants_down(did):
            if inc is not None:
                dispatch = self._dispatch
                if not inc.notified and not inc.digest and dispatch.suppressed(inc, now) is None:
                    dispatch.send(inc, "firing", now)  # e.g. still down after its maintenance
            elif key not in holds:
                if holds.hold_ended(did) or holds.settled(did):
                    self._open("down", did, now, ctx.detail.get(did, ""))
                else:
                    # Not held before the evaluation (it was not touched): hold it now.
                    holds.hold_down(did, now)
        else:
            holds.drop(key)
            if inc is not None:
                self._resolve(inc, now)

    def _reconcile_service(
        self, did: str, service: str, now: float, *, force: bool = False
    ) -> None:
        ctx, holds = self._ctx, self._holds
        key = IncidentKey("service", did, service)
        detail = self._services.get(did, {}).get(service)
        eff = ctx.topo.devices.get(did)
        inc = self._book.get(key)
        if detail is None:
            holds.drop(key)
            if inc is not None:
                self._resolve(inc, now)
            return
        # A service on a device that is down or cut off is explained by that: no alert of its
        # own. An incident already open stays until the service answers again.
        if eff is None or eff.blocked or ctx.own_status(did) is not Status.UP:
            holds.drop(key)
            return
        if inc is None and key not in holds:
            if ctx.suspect(did) and not force:
                holds.hold(key, now)
            else:
                self._open("service", did, now, f"{service}: {detail}", service=service)

    def _open(
        self, kind: IncidentKind, did: str, now: float, detail: str, *, service: str = ""
    ) -> None:
        inc = self._book.open(kind, did, now, detail, service=service, power_cut=self._power_cut)
        if not inc.digest:  # a digest role's waits in the book for the daily digest
            self._dispatch.fire(inc, now)

    def _resolve(self, inc: Incident, now: float, *, ended: Ending = "") -> None:
        if self._book.close(inc, now):
            self._dispatch.resolved(inc, now, ended=ended)
