"""The daemon's lifecycle: start, run, reload, stop. It wires the stages together.

One poll, end to end: the scheduler calls ``Daemon._poll(check)`` → ``Probes.poll`` returns a
``Sample`` → ``StateTracker.record`` applies hysteresis → a device status change is logged (and,
later, alerted) → the collector reads the state at the next scrape.

>>> daemon = Daemon(config_path="config/demo.yaml")  # doctest: +SKIP
>>> await daemon.start(); await daemon.wait(); await daemon.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry

from netwatch.config import load_config
from netwatch.errors import ConfigError, NetwatchError
from netwatch.exporters.collector import NetwatchCollector, View
from netwatch.inventory import Inventory, build_inventory
from netwatch.models import Config, Device, Sample, Secret, Status
from netwatch.polling import CheckSpec, Probes
from netwatch.scheduler import Outcome, PollFunc, Scheduler
from netwatch.state import Change, StateTracker
from netwatch.systemd import SystemdNotifier
from netwatch.web.app import Hooks, make_app, parse_listen

log = logging.getLogger(__name__)

STOP_TIMEOUT = 4.0  # seconds granted to running polls on shutdown (the contract is 5 s)


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
        self.state = StateTracker()
        self.inventory: Inventory | None = None
        self.probes: Probes | None = None
        self.scheduler: Scheduler | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._ready = False
        self._reload_lock = asyncio.Lock()
        self._systemd = SystemdNotifier(environ if environ is not None else os.environ)
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        config = self._initial
        if config is None:
            config = await asyncio.to_thread(load_config, self.config_path, environ=self._environ)
        self.inventory = build_inventory(config)
        self.probes = await Probes.open()
        self.scheduler = Scheduler(self.registry, max_in_flight=config.agent.max_in_flight)
        self.registry.register(NetwatchCollector(self._view))
        for device in config.devices:
            self._schedule(device)
        self.scheduler.start()
        await self._serve(config)
        self._ready = True
        self._systemd.ready(self.status_line())
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
        log.info(
            "netwatch started: watching %d devices at %d sites, listening on %s",
            len(config.devices),
            len(config.sites),
            config.agent.listen,
        )

    async def _serve(self, config: Config) -> None:
        hooks = Hooks(ready=lambda: self._ready, reload=self.reload, token=self._token)
        self._runner = web.AppRunner(make_app(self.registry, hooks), access_log=None)
        await self._runner.setup()
        host, port = parse_listen(config.agent.listen)
        try:
            await web.TCPSite(self._runner, host, port).start()
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
        if self.probes is not None:
            await asyncio.wait_for(self.probes.close(), STOP_TIMEOUT)
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
        """``watching 5,212 devices, 3 down`` for systemctl status."""
        assert self.inventory is not None
        devices = self.inventory.config.devices
        down = sum(1 for d in devices if self.status_of(d.id) is Status.DOWN)
        plural = "" if len(devices) == 1 else "s"
        return f"watching {len(devices):,} device{plural}, {down:,} down"

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
            self._apply(build_inventory(config))
            return []

    def _apply(self, new: Inventory) -> None:
        assert self.inventory is not None
        assert self.scheduler is not None
        old = self.inventory
        removed = [d for d in old.devices if d not in new.devices]
        added = [d for d in new.devices if d not in old.devices]
        changed = [d for d in new.devices if d in old.devices and old.devices[d] != new.devices[d]]
        for device_id in removed:
            for check in self._checks(old.devices[device_id]):
                self.scheduler.remove(check.key)
        self.state.forget(removed)
        self.inventory = new
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
        change = self.state.record(device, sample)
        if change is not None:
            self._on_change(change, sample)
        suspect = self.state.check(device.id, check.name).suspect
        return Outcome(ok=sample.ok, retry_in=device.retry_interval if suspect else None)

    def _on_change(self, change: Change, sample: Sample[object]) -> None:
        if change.new is Status.DOWN:
            log.warning("device %s is down (%s: %s)", change.device, change.check, sample.failure)
        else:
            log.info("device %s is %s (was %s)", change.device, change.new, change.old)

    # ------------------------------------------------------------------ views

    def _view(self) -> View:
        assert self.inventory is not None
        return View(self.inventory, self.state, self.status_of)

    def status_of(self, device_id: str) -> Status:
        state = self.state.devices.get(device_id)
        return state.status if state else Status.UNKNOWN

    def _token(self) -> Secret | None:
        assert self.inventory is not None
        return self.inventory.config.agent.api_token


async def run_once(
    config: Config, device_ids: list[str], *, registry: CollectorRegistry | None = None
) -> CollectorRegistry:
    """Poll every check of the given devices (all when empty) once; return the metrics."""
    inventory = build_inventory(config)
    state = StateTracker(immediate=True)
    registry = registry or CollectorRegistry()

    def status_of(device_id: str) -> Status:
        own = state.devices.get(device_id)
        return own.status if own else Status.UNKNOWN

    registry.register(NetwatchCollector(lambda: View(inventory, state, status_of)))
    probes = await Probes.open()
    limit = asyncio.Semaphore(config.agent.max_in_flight)
    devices = [inventory.devices[d] for d in device_ids] if device_ids else list(config.devices)

    async def one(check: CheckSpec) -> None:
        async with limit:
            state.record(check.device, await probes.poll(check))

    try:
        await asyncio.gather(*(one(c) for d in devices for c in probes.checks_of(d)))
    finally:
        await probes.close()
    return registry
