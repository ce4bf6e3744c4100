"""The daemon's lifecycle: start, run, reload, stop. It wires the stages together.

One poll, end to end:

1. the scheduler calls ``Daemon._poll(check)``;
2. ``Probes.poll`` returns a ``Sample`` (a network failure is data, never an exception);
3. ``StateTracker.record`` applies hysteresis and returns the device's own status change;
4. the change goes to the ``AlertEngine``, which every second (``_alerting``) turns changes into
   statuses over the site tree (``Transition`` → history) and alerts (``Delivery`` → outbox);
5. the collector reads all of it at the next scrape.

>>> daemon = Daemon(config_path="config/demo.yaml")  # doctest: +SKIP
>>> await daemon.start(); await daemon.wait(); await daemon.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from netwatch.alerting.engine import AlertEngine, EngineOutput
from netwatch.alerting.incidents import Incident, incidents_from_json, incidents_to_json
from netwatch.alerting.maintenance import operator_from_json, operator_to_json
from netwatch.alerting.notifications import Notifications
from netwatch.alerting.power import PowerWatch
from netwatch.config import load_config
from netwatch.configuration.profiles import load_profiles
from netwatch.configuration.values import parse_listen
from netwatch.errors import ConfigError, NetwatchError
from netwatch.exporters.agent import AgentStats
from netwatch.exporters.collector import RenderCache, View, render_text
from netwatch.exporters.storage import StorageCollector, StoreHealth
from netwatch.history.report import site_availability
from netwatch.history.store import HistoryStore
from netwatch.inventory import AGENT_SHARD, Inventory, build_inventory
from netwatch.limits import raise_open_file_limit
from netwatch.models import (
    Device,
    Role,
    Sample,
    Secret,
    Status,
    Transition,
    service_subject,
)
from netwatch.polling import CheckSpec, Probes
from netwatch.probes.snmp import SnmpData
from netwatch.probes.snmp_reboots import RebootDetector
from netwatch.probes.snmp_workers import SnmpWorkers
from netwatch.scheduler import Outcome, PollFunc, Scheduler
from netwatch.settings.alerting import MaintenanceWindow, Silence
from netwatch.settings.config import Config
from netwatch.state import REACHABILITY_CHECKS, Change, CheckState, StateTracker
from netwatch.systemd import SystemdNotifier
from netwatch.traps import DroppedCollector, Traps
from netwatch.web.app import Hooks, make_app
from netwatch.web.backend import StartedDaemon
from netwatch.web.guard import ConnectionGuard, connection_limit, serve
from netwatch.web.security import server_ssl_context

log = logging.getLogger(__name__)

STOP_TIMEOUT = 4.0  # seconds granted to running polls on shutdown (the contract is 5 s)
TICK = 1.0  # seconds between alert engine ticks
# Seconds between recomputations of the 30-day availability gauge: a 30-day ratio moves slowly,
# and for a province (20,000 devices) one costs 0.2-0.8 s of Python holding the GIL.
AVAILABILITY_EVERY = 300.0
AVAILABILITY_FIRST = 5.0  # the first one, once the first statuses are written
HISTORY_FILE = "history.sqlite"
# CPython's collector thresholds (young passes every N allocations; a middle pass every N young
# ones; a full pass every N middle ones, once the objects made since the last full pass reach a
# quarter of those it kept). With the defaults (700, 10, 10) a province (20,000 devices) had a
# full pass every ~7 s, each 0.4-0.7 s with the GIL held, and each found next to nothing:
# netwatch's data is freed by reference counting, not by the collector. A scrape or a poll
# caught in one waited that long (the p99 of scrape times). With these: one full pass in
# ~8 minutes (0.5 s), middle passes ≤ 0.25 s about once a minute; scrape p99 1.1 → 0.41 s and
# the main process's CPU 0.31 → 0.21 core (bench/scale, 20,000 devices).
GC_THRESHOLDS = (10_000, 10, 100)
MAX_BACKDATE = 600.0  # seconds: a history record is dated back to its cause at most this far
INCIDENTS_FILE = "incidents.json"  # the alert engine's open incidents, kept across restarts
OPERATOR_FILE = "operator.json"  # silences and maintenance windows added over the API, likewise
STATE_LOG_EVERY = 60.0  # seconds: at most one "still not saved" line per this while the disk fails
# After a trap from a device: poll it at once and again this much later (a linkDown comes as
# the link goes; what it cuts off may take a moment to stop answering), and for TRAP_WATCH
# seconds retry its failing polls every TRAP_RETRY seconds instead of its retry_interval, so a
# failure is confirmed in seconds. The polls still decide: a trap alone raises nothing.
TRAP_FOLLOW_UP = 5.0
TRAP_WATCH = 60.0
TRAP_RETRY = 2.0


class Daemon:
    """A running netwatch agent; everything it uses is built in ``start``, torn down in ``stop``."""

    def __init__(
        self,
        config_path: str,
        *,
        config: Config | None = None,
        environ: Mapping[str, str] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config_path = config_path
        self._environ = environ
        self._initial = config
        self.registry = registry or CollectorRegistry()
        self.clock = time.time
        self.state = StateTracker()
        self.inventory: Inventory | None = None
        self.engine: AlertEngine | None = None
        self.history: HistoryStore | None = None
        self.notifications: Notifications | None = None
        self.probes: Probes | None = None
        self.scheduler: Scheduler | None = None
        self.availability: dict[str, float] = {}
        self.reboots = RebootDetector()
        self.power = PowerWatch()  # sites on UPS battery (alerting/power.py)
        self.traps: Traps | None = None
        self._trap_watch: dict[str, float] = {}  # device -> monotonic time its watch ends
        self._follow_ups: set[str] = set()  # devices with a follow-up poll planned
        self._render_cache = RenderCache()  # label strings, rebuilt when the inventory changes
        self._own_changes: dict[str, Change] = {}  # device -> its last own status change
        self._recorded_at: dict[str, float] = {}  # subject -> time of its last history record
        self._config_windows: tuple[MaintenanceWindow, ...] = ()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._ready = False
        self._reload_lock = asyncio.Lock()
        self._systemd = SystemdNotifier(environ if environ is not None else os.environ)
        self._tasks: list[asyncio.Task[None]] = []
        self._incidents_path = Path(INCIDENTS_FILE)  # under agent.data_dir, set in start()
        self._operator_path = Path(OPERATOR_FILE)
        self._saved_revision = 0  # the engine's revision last written to those two files
        self._state_error: str | None = None  # why the last save of those files failed
        self._state_errors = 0
        self._state_logged_at = -STATE_LOG_EVERY

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        raise_open_file_limit()
        config = self._initial
        if config is None:
            config = await asyncio.to_thread(load_config, self.config_path, environ=self._environ)
        self.inventory = inventory = build_inventory(config)
        self.history = await asyncio.to_thread(self._open_history, config)
        self.engine = AlertEngine(
            inventory,
            config.alerting,
            clock=self.clock,
            suspect=self._suspect,
            last_polled=self._last_polled,
            windows=config.maintenance,
            timezone=config.agent.timezone,
            recovering=self._recovering,
            power_cut=self.power.power_cut,
        )
        self._config_windows = config.maintenance
        self._incidents_path = Path(config.agent.data_dir) / INCIDENTS_FILE
        self._operator_path = Path(config.agent.data_dir) / OPERATOR_FILE
        self.engine.adopt(await asyncio.to_thread(_read_incidents, self._incidents_path))
        silences, windows = await asyncio.to_thread(_read_operator, self._operator_path)
        for silence in silences:
            self.engine.silence(silence)
        for window in windows:
            self.engine.add_window(window)
        self._saved_revision = self.engine.revision
        self.registry.register(StorageCollector(self.storage_health))
        self.notifications = await Notifications.open(config, self.registry)
        self.notifications.seed(self.engine.firing_deliveries())
        self.probes = await Probes.open(
            snmp_workers=config.agent.snmp_workers,
            profiles=await asyncio.to_thread(load_profiles, config.agent.profiles),
        )
        self.scheduler = Scheduler(self.registry, max_in_flight=config.agent.max_in_flight)
        for device in config.devices:
            self._schedule(device)
        await self.probes.prepare(config.devices)
        # What exists now (modules, config, inventory) lives as long as the process: keep the
        # collector's full passes from walking it again and again (~9 % of CPU at 20k devices).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        self.scheduler.start()
        await self._open_traps(config)
        await self._serve(config)
        self._ready = True
        self._systemd.ready(self.status_line())
        for coro, name in (
            (self._heartbeat(), "heartbeat"),
            (self._alerting(), "alerting"),
            (self._availability(), "availability"),
        ):
            self._tasks.append(asyncio.create_task(coro, name=name))
        snmp = self.probes.snmp
        log.info(
            "netwatch started: watching %d devices at %d sites, listening on %s, SNMP in %s",
            len(config.devices),
            len(config.sites),
            config.agent.listen,
            f"{snmp.count} worker process(es)" if isinstance(snmp, SnmpWorkers) else "this process",
        )

    async def _open_traps(self, config: Config) -> None:
        if config.traps is None:
            return
        try:
            self.traps = await Traps.open(config.traps, config.devices, self._on_trap)
        except OSError as exc:
            raise NetwatchError(
                f"cannot receive traps on {config.traps.listen}: {exc.strerror or exc} (a port "
                "below 1024 needs root or CAP_NET_BIND_SERVICE; change traps.listen)"
            ) from exc
        self.registry.register(DroppedCollector(self.traps.log))

    def _on_trap(self, device_id: str) -> None:
        """A device sent a trap: look at it now, and again shortly (see ``TRAP_FOLLOW_UP``)."""
        self._trap_watch[device_id] = time.monotonic() + TRAP_WATCH
        self._poll_now(device_id)
        if device_id not in self._follow_ups:  # one planned per device, however many traps
            self._follow_ups.add(device_id)
            asyncio.get_running_loop().call_later(TRAP_FOLLOW_UP, self._follow_up, device_id)

    def _follow_up(self, device_id: str) -> None:
        self._follow_ups.discard(device_id)
        self._poll_now(device_id)

    def _retry_in(self, device: Device) -> float:
        """How soon a failing poll of ``device`` is retried: sooner after one of its traps."""
        until = self._trap_watch.get(device.id)
        if until is None:
            return device.retry_interval
        if time.monotonic() >= until:
            del self._trap_watch[device.id]
            return device.retry_interval
        return min(device.retry_interval, TRAP_RETRY)

    def _open_history(self, config: Config) -> HistoryStore:
        """Open the uptime history; a corrupt file stops startup (HistoryError names it)."""
        store = HistoryStore.open(
            Path(config.agent.data_dir) / HISTORY_FILE,
            clock=self.clock,
            timezone=config.agent.timezone,
        )
        store.agent_started()
        return store

    async def _serve(self, config: Config) -> None:
        hooks = Hooks(
            ready=lambda: self._ready,
            reload=self.reload,
            token=self._token,
            metrics=self.render_metrics,
            shards=lambda: self.inventory.shards if self.inventory else (),
            storage_problem=self._storage_problem,
        )
        app = make_app(hooks, StartedDaemon(self), basic_auth=self._basic_auth)
        host, port = parse_listen(config.agent.listen)
        agent = config.agent
        tls = None
        if agent.tls_cert and agent.tls_key:
            tls = server_ssl_context(agent.tls_cert, agent.tls_key)
        guard = ConnectionGuard(
            connection_limit(agent.web_max_connections), agent.web_header_timeout
        )
        log.info(
            "HTTP: at most %d connections, each request header within %gs",
            guard.max_connections,
            guard.header_timeout,
        )
        icmp = self.probes.icmp if self.probes is not None else None
        self.registry.register(
            AgentStats(
                icmp_rejected=(lambda: icmp.rejected) if icmp is not None else None,
                connections=lambda: (guard.open, guard.timed_out, guard.evicted, guard.refused),
            )
        )
        try:
            self._runner, _ = await serve(app, guard, host, port, ssl_context=tls)
        except OSError as exc:
            raise NetwatchError(
                f"cannot listen on {config.agent.listen}: {exc.strerror}"
                " (is another netwatch running? change agent.listen)"
            ) from exc

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))

    async def wait(self) -> None:
        await self._stopping.wait()

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        """Stop polling, send what the engine still has to the outbox, close everything."""
        log.info("netwatch stopping")
        self._systemd.stopping()
        self._ready = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.traps is not None:
            self.traps.close()
        if self.probes is not None:
            await asyncio.wait_for(self.probes.close(), STOP_TIMEOUT)
        if self.engine is not None and self.notifications is not None:
            await self._deliver(self.engine.tick())
            if self._state_error is not None:
                log.error("at shutdown, open incidents and operator changes not saved (the "
                          "previous files are kept): %s", self._state_error)  # fmt: skip
        if self.notifications is not None:
            await self.notifications.close()
        if self.history is not None:
            self.history.agent_stopped()
            await asyncio.to_thread(self.history.close)
        log.info("netwatch stopped")

    async def _heartbeat(self) -> None:
        """Tell systemd we are alive, but only while polls keep starting on time."""
        interval = self._systemd.watchdog_interval
        period = min(interval / 2, 10.0) if interval else 10.0
        while True:
            await asyncio.sleep(period)
            assert self.scheduler is not None
            if self.scheduler.progressing():
                self._systemd.watchdog()
            else:
                log.error("polling is stalled: no watchdog ping sent to systemd")
            self._systemd.status(self.status_line())

    def status_line(self) -> str:
        """For systemd's STATUS=: "watching 5,212 devices, 3 down"."""
        total = len(self.inventory.devices) if self.inventory else 0
        down = sum(1 for d in self.state.devices.values() if d.status is Status.DOWN)
        return f"watching {total:,} device{'s' if total != 1 else ''}, {down:,} down"

    # ------------------------------------------------------------------ reload

    async def reload(self) -> list[str]:
        """Re-read the config and apply the difference; an invalid config changes nothing."""
        async with self._reload_lock:
            try:
                config = await asyncio.to_thread(
                    load_config, self.config_path, environ=self._environ
                )
            except ConfigError as exc:
                problems = [str(p) for p in exc.problems]
                log.error(
                    "reload refused, the running config stays: %d problem(s) in %s",
                    len(problems),
                    self.config_path,
                )
                for problem in problems:
                    log.error("  %s", problem)
                return problems
            old = self.inventory.config if self.inventory is not None else None
            self._apply(build_inventory(config))
            if self.traps is not None and config.traps is not None:
                await self.traps.update(config.traps, config.devices)
            self._replace_windows(config)
            if self.engine is not None:
                self.engine.set_settings(config.alerting)
            if old is not None and (later := _restart_only_changes(old, config)):
                log.warning("changed in the config, applied at the next restart: %s", later)
            if self.notifications is not None:
                await self.notifications.update(config)
            return []

    def _replace_windows(self, config: Config) -> None:
        """Maintenance windows from the old config go, the new config's come; windows added
        through the API stay."""
        assert self.engine is not None
        assert self.inventory is not None
        for window in self._config_windows:
            self.engine.remove_window(window.id)
        for window in config.maintenance:
            self.engine.add_window(window)
        self._config_windows = config.maintenance

    def _apply(self, new: Inventory) -> None:
        assert self.inventory is not None
        assert self.scheduler is not None
        assert self.engine is not None
        old = self.inventory
        removed = [d for d in old.devices if d not in new.devices]
        added = [d for d in new.devices if d not in old.devices]
        changed = [d for d in new.devices if d in old.devices and old.devices[d] != new.devices[d]]
        for device_id in removed:
            for check in self._checks(old.devices[device_id]):
                self.scheduler.remove(check.key)
        self.state.forget(removed)
        for device_id in removed:
            self._own_changes.pop(device_id, None)
            self._trap_watch.pop(device_id, None)
        self.reboots.forget(
            [*removed, *(d for d in changed if old.devices[d].address != new.devices[d].address)]
        )
        self.inventory = new
        self.engine.set_inventory(new)
        self.power.forget(set(new.sites))
        for device_id in changed:
            for check in self._checks(old.devices[device_id]):
                self.scheduler.remove(check.key)
            keep = [c.name for c in self._checks(new.devices[device_id])]
            self.state.forget_checks(device_id, keep)
        for device_id in [*added, *changed]:
            self._schedule(new.devices[device_id])
        log.info(
            "config reloaded: %d devices added, %d removed, %d changed, %d unchanged",
            len(added),
            len(removed),
            len(changed),
            len(new.devices) - len(added) - len(changed),
        )

    # ------------------------------------------------------------------ polling

    def _checks(self, device: Device) -> list[CheckSpec]:
        assert self.probes is not None
        return self.probes.checks_of(device)

    def _schedule(self, device: Device) -> None:
        assert self.scheduler is not None
        for check in self._checks(device):
            self.scheduler.add(check.key, check.kind, check.interval, self._poller(check))

    def _poller(self, check: CheckSpec) -> PollFunc:
        async def poll() -> Outcome:
            return await self._poll(check)

        return poll

    async def _poll(self, check: CheckSpec) -> Outcome:
        assert self.probes is not None
        assert self.inventory is not None
        sample = await self.probes.poll(check)
        device = self.inventory.devices.get(check.device.id)
        if device is None:  # removed by a reload while the poll ran
            return Outcome(ok=sample.ok)
        before = self.state.check(device.id, check.name).status
        change = self.state.record(device, sample)
        after = self.state.check(device.id, check.name)
        if change is not None:
            self._on_change(change)
        if check.kind == "snmp" and sample.ok and isinstance(sample.data, SnmpData):
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
        return Outcome(ok=sample.ok, retry_in=self._retry_in(device) if after.suspect else None)

    async def _power_sample(self, device: Device, data: SnmpData) -> None:
        """A UPS's state: its site's contacts hear once when it goes on battery (power.py)."""
        assert self.inventory is not None
        ups = data.health.ups if data.health is not None else None
        inv = self.inventory
        out = self.power.observe(
            device, ups, time.time(), inv.sites, inv.config, inv.labels(device.id)
        )
        if out:
            log.warning("site %s: UPS %s on battery: %s", device.site, device.id,
                        ups.on_battery if ups else None)  # fmt: skip
            if self.notifications is not None:
                await self.notifications.put(out)

    def _ask_other_checks(self, device: Device, failing: str) -> None:
        """One check that decides "up" just started failing: poll the device's others now.

        The device is up while any of them is up, so a dead device is confirmed only when all
        have failed ``down_after`` times; without this, a cut switch polled by ICMP every 30 s
        would wait up to a minute for its next SNMP poll before that could even start.
        """
        assert self.scheduler is not None
        for other in self._checks(device):
            if other.name != failing and other.name in device.up_checks:
                self.scheduler.pull_forward(other.key, 0.0)

    def _on_change(self, change: Change) -> None:
        assert self.engine is not None
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
        assert self.engine is not None
        assert check.service is not None
        status = after.status
        if self.history is not None:
            # The applications' own availability, for the reports: dated from the first poll
            # of the run that decided it, never before the service's previous record.
            subject = service_subject(device.id, check.service.name)
            at = max(min(after.streak_at or sample.at, sample.at),
                     self._recorded_at.get(subject, 0.0))  # fmt: skip
            self._recorded_at[subject] = at
            self.history.record([Transition(subject, "service", before, status, at)])
        if status is Status.DOWN:
            log.warning("service %s on %s is down: %s", check.service.name, device.id,
                        sample.failure)  # fmt: skip
        elif status is Status.UP:
            log.info("service %s on %s is up", check.service.name, device.id)
        detail = str(sample.failure) if sample.failure else ""
        self.engine.service_changed(
            device.id, check.service.name, status is Status.UP, detail, sample.at
        )

    # ------------------------------------------------------------------ alerting

    async def _alerting(self) -> None:
        """Tick the alert engine: statuses to history, alerts to the outbox, rechecks to polls."""
        assert self.engine is not None
        while True:
            await asyncio.sleep(TICK)
            try:
                await self._deliver(self.engine.tick())
            except Exception:
                # A bug must not stop alerting for good: log it and tick again.
                log.exception("alert engine tick failed")

    async def _deliver(self, out: EngineOutput) -> None:
        for t in out.transitions:
            _log_transition(t)
        if out.transitions:
            dated = [self._dated(t) for t in out.transitions]
            if self.engine is not None:
                self.engine.dated(dated)
            if self.history is not None:
                self.history.record(dated)
        for alert, reason in out.suppressed:
            log.info("alert %s %s on %s not sent: %s", alert.kind, alert.state, alert.subject,
                     reason)  # fmt: skip
        for device_id in out.recheck:
            self._poll_now(device_id)
        if self.notifications is not None:
            await self.notifications.put(out.deliveries)
        if self.engine is not None and (
            out.deliveries
            or self.engine.revision != self._saved_revision
            or self._state_error is not None  # the last save failed: try again
        ):
            await self._save(self.engine)

    async def _save(self, engine: AlertEngine) -> None:
        """Keep what a restart must not forget: the open incidents (with their acks) and the
        silences and windows added over the API (the config's windows come from the config).
        Written after the outbox took the deliveries: a crash in between repeats a message,
        never loses one; and within a tick (``TICK``) of an operator's change."""
        revision = engine.revision
        now = self.clock()
        from_config = {w.id for w in self._config_windows}
        incidents = incidents_to_json(engine.open_incidents())
        operator = operator_to_json(
            [s for s in engine.silences() if s.until > now],
            [w for w in engine.windows() if w.id not in from_config and not w.over(now)],
        )
        errors: list[str] = []
        for path, text in ((self._incidents_path, incidents), (self._operator_path, operator)):
            error = await asyncio.to_thread(_write_atomically, path, text, log_errors=False)
            if error is not None:
                errors.append(f"{path}: {error.strerror or error}")
        if not errors:
            self._saved_revision = revision
            if self._state_error is not None:
                log.warning(
                    "incidents and operator changes saved again to %s", self._incidents_path.parent
                )
            self._state_error = None
            return
        # The old files stay; the next tick tries again (the revision is not marked saved).
        self._state_errors += 1
        first = self._state_error is None
        self._state_error = "; ".join(errors)
        mono = time.monotonic()
        if first or mono - self._state_logged_at >= STATE_LOG_EVERY:
            self._state_logged_at = mono
            log.error("not saved: %s; the previous files are kept and the save is retried "
                      "every %gs", self._state_error, TICK)  # fmt: skip

    def storage_health(self) -> list[StoreHealth]:
        """Whether the outbox, the history and the state files can be written."""
        stores: list[StoreHealth] = []
        if self.notifications is not None:
            outbox = self.notifications.outbox
            reason = outbox.storage_error or f"{outbox.held} item(s) held in memory"
            stores.append(StoreHealth("outbox", outbox.storage_ok, outbox.storage_errors, reason))
        if self.history is not None:
            history = self.history
            stores.append(StoreHealth("history", history.healthy, history.errors,
                                      history.last_error))  # fmt: skip
        stores.append(StoreHealth("state", self._state_error is None, self._state_errors,
                                  self._state_error))  # fmt: skip
        return stores

    def _storage_problem(self) -> str | None:
        """For /-/ready: which stores cannot be written, and why."""
        failing = [h for h in self.storage_health() if not h.ok]
        if not failing:
            return None
        return "cannot write " + "; ".join(f"{h.store} ({h.reason})" for h in failing)

    def _dated(self, t: Transition) -> Transition:
        """The transition as the history should keep it: dated from the first failed (or good)
        poll of the device whose own change caused it, not from when the engine settled it
        (which is later by ``down_after`` retries and the hold). Never before the subject's
        previous record, so the history stays in order. A change out of or into maintenance is
        never backdated: it happened when the window ended or began, and the device's own
        change inside the window belongs to the window (it once took up to 10 minutes of it)."""
        assert self.inventory is not None
        at = t.at
        if Status.MAINTENANCE in (t.old, t.new):
            candidates: list[str | None] = []
        elif t.kind == "device":
            candidates = [t.subject, t.cause]
        else:
            site = self.inventory.sites.get(t.subject)
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

    def _poll_now(self, device_id: str) -> None:
        """Re-check a device's reachability now (its parent recovered: is it back too?)."""
        if self.scheduler is None or self.inventory is None:
            return
        device = self.inventory.devices.get(device_id)
        if device is not None:
            for check in self._checks(device):
                if check.name in REACHABILITY_CHECKS:
                    self.scheduler.pull_forward(check.key, 0.0)

    async def _availability(self) -> None:
        """Recompute the 30-day availability per site from history, off the event loop."""
        await asyncio.sleep(AVAILABILITY_FIRST)
        while True:
            if self.history is not None and self.inventory is not None:
                try:
                    self.availability = await asyncio.to_thread(
                        site_availability, self.history, self.inventory.sites, now=self.clock()
                    )
                except (NetwatchError, OSError) as exc:
                    log.warning("availability not updated: %s", exc)
            await asyncio.sleep(AVAILABILITY_EVERY)

    # ------------------------------------------------------------------ what the engine asks

    def _up_checks(self, device_id: str) -> list[CheckState]:
        """The states of the checks that decide whether the device is up."""
        assert self.inventory is not None
        state = self.state.devices.get(device_id)
        device = self.inventory.devices.get(device_id)
        if state is None or device is None:
            return []
        return [c for n, c in state.checks.items() if n in device.up_checks]

    def _suspect(self, device_id: str) -> bool:
        """Failing but not yet confirmed: the engine holds alerts of devices behind it."""
        return any(c.suspect for c in self._up_checks(device_id))

    def _recovering(self, device_id: str) -> bool:
        """Still down, but answering again: the engine waits before calling it cut off."""
        return any(c.status is Status.DOWN and c.successes > 0 for c in self._up_checks(device_id))

    def _last_polled(self, device_id: str) -> float:
        state = self.state.devices.get(device_id)
        if state is None:
            return 0.0
        return max((c.last.at for c in state.checks.values() if c.last), default=0.0)

    # ------------------------------------------------------------------ views

    def _view(self) -> View:
        assert self.inventory is not None
        assert self.engine is not None
        return View(
            self.inventory,
            self.state,
            self.engine.status_of,
            site_status=self.engine.site_status,
            flapping=self.engine.flapping,
            alerts=self.engine.active_alerts,
            availability=self.availability,
            reboots=self.reboots.reboots,
            traps=self.traps.log.counts_of if self.traps is not None else _no_traps,
            since=self.engine.status_since,
        )

    def render_metrics(self, shard: str | None) -> bytes | None:
        """Prometheus text for ``/metrics``: all, or one shard (None if there is no such shard).

        ``self.registry`` holds the agent's own metrics (scheduler, outbox), few and rendered by
        prometheus_client, in the agent shard; the device and site series are written directly
        by ``render_text`` (a province is about a million series). Called from a thread.
        """
        if shard is not None and (self.inventory is None or shard not in self.inventory.shards):
            return None
        own = render_text(self._view(), shard, cache=self._render_cache)
        if shard is None or shard == AGENT_SHARD:
            return generate_latest(self.registry) + own
        return own

    def _basic_auth(self) -> tuple[str, Secret] | None:
        """The status page's reader login (``agent.web_basic_auth``), read per request."""
        agent = self.inventory.config.agent if self.inventory else None
        if agent is None or agent.web_user is None or agent.web_password is None:
            return None
        return agent.web_user, agent.web_password

    def _token(self) -> Secret | None:
        assert self.inventory is not None
        return self.inventory.config.agent.api_token


def _read_incidents(path: Path) -> list[Incident]:
    """The open incidents the previous run left; none when there is no (readable) file.
    Entries that cannot be read are logged and skipped, the rest kept."""
    errors: list[str] = []
    try:
        found = incidents_from_json(path.read_text(encoding="utf-8"), errors)
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError) as exc:
        log.warning("open incidents of the previous run not read from %s: %s", path, exc)
        return []
    for error in errors:
        log.warning("%s: skipped %s", path, error)
    return found


def _read_operator(path: Path) -> tuple[list[Silence], list[MaintenanceWindow]]:
    """The silences and windows added over the API before the restart; entries that cannot be
    read are logged and skipped, the rest kept. Expired ones are dropped by the next save."""
    try:
        silences, windows, errors = operator_from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], []
    except (OSError, ValueError) as exc:
        log.warning("silences and maintenance windows of the previous run not read from %s: %s",
                    path, exc)  # fmt: skip
        return [], []
    for error in errors:
        log.warning("%s: skipped %s", path, error)
    return silences, windows


def _write_atomically(path: Path, text: str, *, log_errors: bool = True) -> OSError | None:
    """Write-then-rename, so a crash leaves the old file or the new one, never half of one.
    A failure (full disk) keeps the old file, removes the partial one and is returned (and
    logged unless the caller does it): the alerts still go out; the caller retries."""
    tmp = path.with_suffix(".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp.is_file():  # a half-written copy only takes the space the disk lacks
            with contextlib.suppress(OSError):
                tmp.unlink()
        if log_errors:
            log.error("not saved to %s: %s", path, exc)
        return exc
    return None


def _log_transition(t: Transition) -> None:
    what = f"{t.kind} {t.subject} is {t.new.value} (was {t.old.value})"
    if t.cause:
        what += f", cause: {t.cause}"
    if t.new is Status.DOWN:
        log.warning("%s", what)
    else:
        log.info("%s", what)


# Read once at start: a reload that changes them says so instead of silently ignoring them.
_RESTART_ONLY_AGENT_KEYS = (
    "listen", "data_dir", "tls_cert", "tls_key", "max_in_flight", "snmp_workers", "profiles",
    "log_format", "log_level", "web_max_connections", "web_header_timeout",
)  # fmt: skip


def _restart_only_changes(old: Config, new: Config) -> str:
    """The changed settings a reload does not apply, as ``agent.listen, agent.data_dir``."""
    keys = [
        f"agent.{key}"
        for key in _RESTART_ONLY_AGENT_KEYS
        if getattr(old.agent, key) != getattr(new.agent, key)
    ]
    if (old.traps is None) != (new.traps is None):
        keys.append("traps")  # the receiver's socket is opened (or not) at start
    elif old.traps is not None and new.traps is not None and old.traps.listen != new.traps.listen:
        keys.append("traps.listen")
    return ", ".join(keys)


def _no_traps(_device: str) -> Mapping[str, int]:
    return {}
