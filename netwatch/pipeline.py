"""The poll pipeline: what happens to one poll, from the scheduler to the history and outbox.

One poll, end to end:

1. the scheduler calls the function ``Pipeline.schedule`` gave it, which runs ``Pipeline.poll``;
2. ``Probes.poll`` returns a ``Sample`` (a network failure is data, never an exception);
3. ``StateTracker.record`` applies hysteresis and returns the device's own status change, which
   goes to the ``AlertEngine``; a service's change goes there too;
4. ``Pipeline.run_alerting`` ticks the engine every second (``TICK``): its ``Transition``s are
   dated and written to the history, its ``Delivery``s go to the outbox, then the alerting state
   files are saved; devices whose parent came back are polled at once (``poll_now``);
5. the collector reads it all (``Watched``, the engine, ``availability``) at the next scrape.

The pipeline receives its parts; it builds, starts and stops none of them (the daemon does), so
a test gives it fakes of the probes, the scheduler and the outbox.

>>> pipeline = Pipeline(watched, probes, scheduler, engine, notifications=outbox,
...                     state_files=files, history=store)  # doctest: +SKIP
>>> pipeline.schedule_all(watched.inventory.devices.values())  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from netwatch.alerting.engine import AlertEngine, EngineOutput
from netwatch.alerting.model import Delivery
from netwatch.alerting.power import PowerWatch
from netwatch.alerting.state_files import StateFiles
from netwatch.errors import NetwatchError
from netwatch.history.report import site_availability
from netwatch.history.store import HistoryStore
from netwatch.inventory import Inventory, diff
from netwatch.models import (
    CheckKind,
    CheckSpec,
    Device,
    Role,
    Sample,
    Status,
    Transition,
    service_subject,
)
from netwatch.probes.snmp_data import SnmpData
from netwatch.probes.snmp_reboots import RebootDetector
from netwatch.scheduler import Outcome, PollFunc
from netwatch.state import REACHABILITY_CHECKS, Change, CheckState, StateTracker

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between alert engine ticks
# Seconds between recomputations of the 30-day availability gauge: a 30-day ratio moves slowly,
# and for a province (20,000 devices) one costs 0.2-0.8 s of Python holding the GIL.
AVAILABILITY_EVERY = 300.0
AVAILABILITY_FIRST = 5.0  # the first one, once the first statuses are written
MAX_BACKDATE = 600.0  # seconds: a history record is dated back to its cause at most this far
# After a trap from a device: poll it at once and again this much later (a linkDown comes as
# the link goes; what it cuts off may take a moment to stop answering), and for TRAP_WATCH
# seconds retry its failing polls every TRAP_RETRY seconds instead of its retry_interval, so a
# failure is confirmed in seconds. The polls still decide: a trap alone raises nothing.
TRAP_FOLLOW_UP = 5.0
TRAP_WATCH = 60.0
TRAP_RETRY = 2.0


class PollProbes(Protocol):
    """Which checks a device has and how to run one (``polling.Probes``)."""

    def checks_of(self, device: Device) -> list[CheckSpec]: ...

    async def poll(self, check: CheckSpec) -> Sample[object]: ...


class PollScheduler(Protocol):
    """When checks run (``scheduler.Scheduler``)."""

    def add(self, key: str, kind: CheckKind, interval: float, func: PollFunc) -> None: ...

    def remove(self, key: str) -> None: ...

    def pull_forward(self, key: str, delay: float) -> None: ...


class Outbox(Protocol):
    """Where deliveries go (``alerting.notifications.Notifications``)."""

    async def put(self, deliveries: Iterable[Delivery]) -> None: ...


class Watched:
    """The devices watched (``inventory``, replaced at a reload) and their checks' ``state``:
    what the alert engine asks about a device, and what the collector and the web pages read.

    >>> watched = Watched(build_inventory(config), StateTracker())  # doctest: +SKIP
    >>> AlertEngine(watched.inventory, ..., suspect=watched.suspect)  # doctest: +SKIP
    """

    def __init__(self, inventory: Inventory, state: StateTracker) -> None:
        self.inventory = inventory
        self.state = state

    def up_checks(self, device_id: str) -> list[CheckState]:
        """The states of the checks that decide whether the device is up."""
        state = self.state.devices.get(device_id)
        device = self.inventory.devices.get(device_id)
        if state is None or device is None:
            return []
        return [c for n, c in state.checks.items() if n in device.up_checks]

    def suspect(self, device_id: str) -> bool:
        """Failing but not yet confirmed: the engine holds alerts of devices behind it."""
        return any(c.suspect for c in self.up_checks(device_id))

    def recovering(self, device_id: str) -> bool:
        """Still down, but answering again: the engine waits before calling it cut off."""
        return any(c.status is Status.DOWN and c.successes > 0 for c in self.up_checks(device_id))

    def last_polled(self, device_id: str) -> float:
        state = self.state.devices.get(device_id)
        if state is None:
            return 0.0
        return max((c.last.at for c in state.checks.values() if c.last), default=0.0)


class TrapWatch:
    """What a trap from a device changes in its polling: it is polled at once and again
    ``TRAP_FOLLOW_UP`` seconds later, and for ``TRAP_WATCH`` seconds its failing polls are
    retried every ``TRAP_RETRY`` seconds instead of its ``retry_interval``.

    >>> watch = TrapWatch(pipeline.poll_now)  # doctest: +SKIP
    >>> watch.on_trap("an-binh-rtr")  # doctest: +SKIP
    """

    def __init__(self, poll_now: Callable[[str], None]) -> None:
        self._poll_now = poll_now
        self._until: dict[str, float] = {}  # device -> monotonic time its watch ends
        self._follow_ups: set[str] = set()  # devices with a follow-up poll planned

    def on_trap(self, device_id: str) -> None:
        """A device sent a trap: look at it now, and again shortly (see ``TRAP_FOLLOW_UP``)."""
        self._until[device_id] = time.monotonic() + TRAP_WATCH
        self._poll_now(device_id)
        if device_id not in self._follow_ups:  # one planned per device, however many traps
            self._follow_ups.add(device_id)
            asyncio.get_running_loop().call_later(TRAP_FOLLOW_UP, self._follow_up, device_id)

    def _follow_up(self, device_id: str) -> None:
        self._follow_ups.discard(device_id)
        self._poll_now(device_id)

    def retry_in(self, device: Device) -> float:
        """How soon a failing poll of ``device`` is retried: sooner after one of its traps."""
        until = self._until.get(device.id)
        if until is None:
            return device.retry_interval
        if time.monotonic() >= until:
            del self._until[device.id]
            return device.retry_interval
        return min(device.retry_interval, TRAP_RETRY)

    def forget(self, device_ids: Iterable[str]) -> None:
        for device_id in device_ids:
            self._until.pop(device_id, None)


class Pipeline:
    """Runs polls and carries their outcome to the state, the engine, the history and the
    outbox; reschedules what a reload changed."""

    def __init__(
        self,
        watched: Watched,
        probes: PollProbes,
        scheduler: PollScheduler,
        engine: AlertEngine,
        *,
        notifications: Outbox,
        state_files: StateFiles,
        history: HistoryStore | None = None,
        reboots: RebootDetector | None = None,
        power: PowerWatch | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.watched = watched
        self.probes = probes
        self.scheduler = scheduler
        self.engine = engine
        self.notifications = notifications
        self.state_files = state_files
        self.history = history
        self.reboots = reboots if reboots is not None else RebootDetector()
        self.power = power if power is not None else PowerWatch()  # sites on UPS battery
        self.clock = clock
        self.availability: dict[str, float] = {}  # site -> 30-day ratio, see run_availability
        self._own_changes: dict[str, Change] = {}  # device -> its last own status change
        self._recorded_at: dict[str, float] = {}  # subject -> time of its last history record
        self._power_recorded: dict[str, bool] = {}  # site -> on battery, as last recorded
        self.traps = TrapWatch(self.poll_now)  # the daemon's trap receiver calls on_trap

    # ------------------------------------------------------------------ scheduling

    def checks(self, device: Device) -> list[CheckSpec]:
        return self.probes.checks_of(device)

    def schedule_all(self, devices: Iterable[Device]) -> None:
        for device in devices:
            self.schedule(device)

    def schedule(self, device: Device) -> None:
        for check in self.checks(device):
            self.scheduler.add(check.key, check.kind, check.interval, self._poller(check))

    def _poller(self, check: CheckSpec) -> PollFunc:
        async def poll() -> Outcome:
            return await self.poll(check)

        return poll

    def poll_now(self, device_id: str) -> None:
        """Re-check a device's reachability now (its parent recovered: is it back too?)."""
        device = self.watched.inventory.devices.get(device_id)
        if device is not None:
            for check in self.checks(device):
                if check.name in REACHABILITY_CHECKS:
                    self.scheduler.pull_forward(check.key, 0.0)

    def apply(self, new: Inventory) -> None:
        """A reload's inventory: unschedule and forget removed devices, reschedule changed
        ones (settings or labels: ``inventory.diff``), schedule added ones; the engine takes the
        new inventory."""
        old = self.watched.inventory
        state = self.watched.state
        change = diff(old, new)
        added, removed, changed = change.added, change.removed, change.changed
        for device_id in removed:
            for check in self.checks(old.devices[device_id]):
                self.scheduler.remove(check.key)
        state.forget(removed)
        for device_id in removed:
            self._own_changes.pop(device_id, None)
        self.traps.forget(removed)
        self.reboots.forget(
            [*removed, *(d for d in changed if old.devices[d].address != new.devices[d].address)]
        )
        self.watched.inventory = new
        self.engine.set_inventory(new)
        self.power.forget(set(new.sites))
        for site_id in set(self._power_recorded) - set(new.sites):
            del self._power_recorded[site_id]
        for device_id in changed:
            for check in self.checks(old.devices[device_id]):
                self.scheduler.remove(check.key)
            keep = [c.name for c in self.checks(new.devices[device_id])]
            state.forget_checks(device_id, keep)
        for device_id in [*added, *changed]:
            self.schedule(new.devices[device_id])
        log.info(
            "config reloaded: %d devices added, %d removed, %d changed, %d unchanged",
            len(added),
            len(removed),
            len(changed),
            len(change.unchanged),
        )

    # ------------------------------------------------------------------ one poll

    async def poll(self, check: CheckSpec) -> Outcome:
        """Run one check and carry its sample on; the outcome tells the scheduler whether to
        retry early (the device is failing but not yet confirmed down)."""
        sample = await self.probes.poll(check)
        device = self.watched.inventory.devices.get(check.device.id)
        if device is None:  # removed by a reload while the poll ran
            return Outcome(ok=sample.ok)
        state = self.watched.state
        before = state.check(device.id, check.name).status
        change = state.record(device, sample)
        after = state.check(device.id, check.name)
        if change is not None:
            self._on_change(change)
        if check.kind is CheckKind.SNMP and sample.ok and isinstance(sample.data, SnmpData):
            reboot = self.reboots.observe(device.id, sample.at, sample.data.system)
            if reboot is not None:
                log.warning("device %s rebooted (%s went back to %.0f s)", device.id,
                            reboot.clock, reboot.uptime_seconds)  # fmt: skip
                if self.history is not None:
                    self.history.record_reboot(device.id, reboot.at)
            if device.role is Role.UPS:
                await self._power_sample(device, sample.data)
        if check.service is not None and after.status is not before:
            self._on_service_change(device, check, sample, after, before)
        if not sample.ok and after.failures == 1 and check.name in device.up_checks:
            self._ask_other_checks(device, check.name)
        retry_in = self.traps.retry_in(device) if after.suspect else None
        return Outcome(ok=sample.ok, retry_in=retry_in)

    async def _power_sample(self, device: Device, data: SnmpData) -> None:
        """A UPS's state: its site's contacts hear once when it goes on battery (power.py)."""
        ups = data.health.ups if data.health is not None else None
        inv = self.watched.inventory
        at = self.clock()
        out = self.power.observe(device, ups, at, inv.sites, inv.config, inv.labels(device.id))
        if ups is not None and ups.on_battery is not None and device.site in inv.sites:
            self._record_power(device.site, at)
        if out:
            log.warning("site %s: UPS %s on battery: %s", device.site, device.id,
                        ups.on_battery if ups else None)  # fmt: skip
            await self.notifications.put(out)

    def _record_power(self, site_id: str, at: float) -> None:
        """The site's power state in the history (kind ``power``: DOWN on battery, UP on
        mains), for the reports' hours lost to power; its first known state, then each change."""
        on_battery = self.power.power_cut(site_id)
        before = self._power_recorded.get(site_id)
        if before is on_battery or self.history is None:
            return
        self._power_recorded[site_id] = on_battery
        old = Status.UNKNOWN if before is None else Status.DOWN if before else Status.UP
        new = Status.DOWN if on_battery else Status.UP
        self.history.record([Transition(site_id, "power", old, new, at)])

    def _ask_other_checks(self, device: Device, failing: str) -> None:
        """One check that decides "up" just started failing: poll the device's others now.

        The device is up while any of them is up, so a dead device is confirmed only when all
        have failed ``down_after`` times; without this, a cut switch polled by ICMP every 30 s
        would wait up to a minute for its next SNMP poll before that could even start.
        """
        for other in self.checks(device):
            if other.name != failing and other.name in device.up_checks:
                self.scheduler.pull_forward(other.key, 0.0)

    def _on_change(self, change: Change) -> None:
        log.debug("device %s own status %s -> %s (%s)", change.device, change.old, change.new,
                  change.failure or change.check)  # fmt: skip
        self._own_changes[change.device] = change
        self.engine.own_changed(change)

    def _on_service_change(
        self,
        device: Device,
        check: CheckSpec,
        sample: Sample[object],
        after: CheckState,
        before: Status,
    ) -> None:
        service = check.service
        if service is None:  # only service checks come here
            return
        status = after.status
        if self.history is not None:
            # The applications' own availability, for the reports: dated from the first poll
            # of the run that decided it, never before the service's previous record.
            subject = service_subject(device.id, service.name)
            at = max(min(after.streak_at or sample.at, sample.at),
                     self._recorded_at.get(subject, 0.0))  # fmt: skip
            self._recorded_at[subject] = at
            self.history.record([Transition(subject, "service", before, status, at)])
        if status is Status.DOWN:
            log.warning("service %s on %s is down: %s", service.name, device.id,
                        sample.failure)  # fmt: skip
        elif status is Status.UP:
            log.info("service %s on %s is up", service.name, device.id)
        detail = str(sample.failure) if sample.failure else ""
        self.engine.service_changed(device.id, service.name, status is Status.UP, detail, sample.at)

    # ------------------------------------------------------------------ alerting

    async def run_alerting(self) -> None:
        """Tick the alert engine: statuses to history, alerts to the outbox, rechecks to polls."""
        while True:
            await asyncio.sleep(TICK)
            try:
                await self.tick()
            except Exception:
                # A bug must not stop alerting for good: log it and tick again.
                log.exception("alert engine tick failed")

    async def tick(self) -> None:
        """One tick of the engine, its output delivered (also the daemon's last act at stop)."""
        await self.deliver(self.engine.tick())

    async def deliver(self, out: EngineOutput) -> None:
        for t in out.transitions:
            _log_transition(t)
        if out.transitions:
            dated = [self.dated(t) for t in out.transitions]
            self.engine.dated(dated)
            if self.history is not None:
                self.history.record(dated)
        for alert, reason in out.suppressed:
            log.info("alert %s %s on %s not sent: %s", alert.kind, alert.state, alert.subject,
                     reason)  # fmt: skip
        for device_id in out.recheck:
            self.poll_now(device_id)
        await self.notifications.put(out.deliveries)
        await self.state_files.after_tick(delivered=bool(out.deliveries))

    def dated(self, t: Transition) -> Transition:
        """The transition as the history should keep it: dated from the first failed (or good)
        poll of the device whose own change caused it, not from when the engine settled it
        (which is later by ``down_after`` retries and the hold). Never before the subject's
        previous record, so the history stays in order. A change out of or into maintenance is
        never backdated: it happened when the window ended or began, and the device's own
        change inside the window belongs to the window (it once took up to 10 minutes of it)."""
        at = t.at
        if Status.MAINTENANCE in (t.old, t.new):
            candidates: list[str | None] = []
        elif t.kind == "device":
            candidates = [t.subject, t.cause]
        else:
            site = self.watched.inventory.sites.get(t.subject)
            candidates = [site.gateway if site else None, t.cause]
        for device in candidates:
            change = self._own_changes.get(device) if device else None
            if change is None or t.at - change.began >= MAX_BACKDATE:
                continue
            went_down = change.new is Status.DOWN and t.new in (Status.DOWN, Status.UNREACHABLE)
            came_up = change.new is Status.UP and t.new is Status.UP
            if went_down or came_up:
                at = min(at, change.began)
        at = max(at, self._recorded_at.get(t.subject, 0.0))
        self._recorded_at[t.subject] = at
        return t if at == t.at else dataclasses.replace(t, at=at)

    async def run_availability(self) -> None:
        """Recompute the 30-day availability per site from history, off the event loop."""
        await asyncio.sleep(AVAILABILITY_FIRST)
        while True:
            if self.history is not None:
                try:
                    self.availability = await asyncio.to_thread(
                        site_availability,
                        self.history,
                        self.watched.inventory.sites,
                        now=self.clock(),
                    )
                except (NetwatchError, OSError) as exc:
                    log.warning("availability not updated: %s", exc)
            await asyncio.sleep(AVAILABILITY_EVERY)


def _log_transition(t: Transition) -> None:
    what = f"{t.kind} {t.subject} is {t.new.value} (was {t.old.value})"
    if t.cause:
        what += f", cause: {t.cause}"
    if t.new is Status.DOWN:
        log.warning("%s", what)
    else:
        log.info("%s", what)
