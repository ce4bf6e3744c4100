"""The daemon's lifecycle, as uvicorn's ``Server`` has it: start the parts in order, run, reload,
stop them in reverse order.

- ``start`` builds the parts (history, alert engine and its state files, outbox, probes,
  scheduler, the poll ``Pipeline``, the web server, the background tasks) into one frozen
  ``Parts``; each part opened is registered with the ``Teardown``, so ``stop`` closes exactly
  what was opened, even after a failed start;
- ``reload`` (SIGHUP, ``POST /-/reload``) re-reads the config and hands the difference to the
  pipeline, the alerting state and the outbox; an invalid config changes nothing;
- ``stop`` (SIGTERM, SIGINT) closes the parts in reverse order, each within ``STOP_TIMEOUT``
  (then cancelled); a second SIGTERM or SIGINT cuts every wait short.

What happens to one poll is in ``netwatch.pipeline``.

>>> daemon = Daemon(config_path="config/demo.yaml")  # doctest: +SKIP
>>> await daemon.start(); await daemon.wait(); await daemon.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry

from netwatch.alerting.engine import AlertEngine
from netwatch.alerting.notifications import Notifications
from netwatch.alerting.power import PowerWatch
from netwatch.alerting.state_files import StateFiles
from netwatch.config import load_config
from netwatch.configuration.profiles import load_profiles
from netwatch.configuration.values import parse_listen
from netwatch.errors import ConfigError, NetwatchError
from netwatch.exporters.agent import AgentStats
from netwatch.exporters.storage import StorageCollector
from netwatch.history.store import HistoryStore
from netwatch.inventory import build_inventory
from netwatch.limits import raise_open_file_limit
from netwatch.parts import Parts
from netwatch.pipeline import TICK, Pipeline, Watched
from netwatch.polling import Probes
from netwatch.probes.snmp_workers import SnmpWorkers
from netwatch.scheduler import Scheduler
from netwatch.settings.config import Config
from netwatch.state import StateTracker
from netwatch.systemd import SystemdNotifier
from netwatch.traps import DroppedCollector, Traps
from netwatch.web.app import Hooks, make_app
from netwatch.web.guard import ConnectionGuard, connection_limit, serve
from netwatch.web.security import server_ssl_context

log = logging.getLogger(__name__)

STOP_TIMEOUT = 4.0  # seconds granted to each part to close on shutdown (the contract is 5 s)
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

Close = Callable[[], Awaitable[None]]


class Teardown:
    """What ``start`` opened, closed in reverse order: each part within ``timeout`` seconds,
    then cancelled; once ``forced`` is set (a second stop signal) no part is waited for.
    A part that fails to close is logged and the others are still closed.

    >>> teardown = Teardown(); teardown.push("outbox", notifications.close)  # doctest: +SKIP
    >>> await teardown.close_all()  # doctest: +SKIP
    """

    def __init__(self, timeout: float = STOP_TIMEOUT) -> None:
        self.timeout = timeout
        self.forced = asyncio.Event()
        self._steps: list[tuple[str, Close]] = []

    def push(self, name: str, close: Close) -> None:
        self._steps.append((name, close))

    async def close_all(self) -> None:
        while self._steps:
            name, close = self._steps.pop()
            await self._bounded(name, close)

    async def _bounded(self, name: str, close: Close) -> None:
        step = asyncio.ensure_future(close())
        forced = asyncio.ensure_future(self.forced.wait())
        try:
            done, _ = await asyncio.wait(
                {step, forced}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            forced.cancel()
        if step not in done:
            step.cancel()
            why = "exit forced" if self.forced.is_set() else f"not done in {self.timeout:g}s"
            log.warning("stopping %s: %s, cancelled", name, why)
        (result,) = await asyncio.gather(step, return_exceptions=True)
        if isinstance(result, Exception):
            log.error("stopping %s failed: %r", name, result)


class Daemon:
    """A running netwatch agent: its parts are built by ``start`` and closed by ``stop``."""

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
        self.parts: Parts | None = None  # set once start() has built them all
        self.teardown = Teardown()  # what start() opened, for stop() to close
        self._stopping = asyncio.Event()
        self._ready = False
        self._reload_lock = asyncio.Lock()
        self._systemd = SystemdNotifier(environ if environ is not None else os.environ)

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Build and start the parts in order; ``stop`` closes those opened, in reverse."""
        raise_open_file_limit()
        config = self._initial
        if config is None:
            config = await asyncio.to_thread(load_config, self.config_path, environ=self._environ)
        watched = Watched(build_inventory(config), StateTracker())
        history = await asyncio.to_thread(self._open_history, config)
        self.teardown.push("history", lambda: _close_history(history))
        power = PowerWatch()  # sites on UPS battery (alerting/power.py)
        engine, files = await self._open_alerting(config, watched, power)
        notifications = await Notifications.open(config, self.registry)
        self.teardown.push("outbox", notifications.close)
        notifications.seed(engine.firing_deliveries())
        probes = await Probes.open(
            snmp_workers=config.agent.snmp_workers,
            profiles=await asyncio.to_thread(load_profiles, config.agent.profiles),
        )
        scheduler = Scheduler(self.registry, max_in_flight=config.agent.max_in_flight)
        pipeline = Pipeline(watched, probes, scheduler, engine, notifications=notifications,
                            state_files=files, history=history, power=power,
                            clock=self.clock)  # fmt: skip
        # Closed before the last tick, so what the last polls saw is delivered and saved.
        self.teardown.push("alerting", lambda: _last_tick(pipeline, files))
        self.teardown.push("probes", probes.close)
        pipeline.schedule_all(config.devices)
        await probes.prepare(config.devices)
        # What exists now (modules, config, inventory) lives as long as the process: keep the
        # collector's full passes from walking it again and again (~9 % of CPU at 20k devices).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        scheduler.start()
        self.teardown.push("scheduler", _now(scheduler.shutdown))
        traps = await self._open_traps(config, pipeline)
        self.parts = parts = Parts(watched, engine, history, notifications, files, probes,
                                   scheduler, pipeline, self.registry, traps=traps,
                                   clock_fn=self.clock)  # fmt: skip
        self.registry.register(StorageCollector(parts.storage_health))
        await self._serve(config, parts)
        self._ready = True
        self._systemd.ready(parts.status_line())
        self._start_tasks(parts)
        snmp = probes.snmp
        log.info(
            "netwatch started: watching %d devices at %d sites, listening on %s, SNMP in %s",
            len(config.devices),
            len(config.sites),
            config.agent.listen,
            f"{snmp.count} worker process(es)" if isinstance(snmp, SnmpWorkers) else "this process",
        )

    async def _open_traps(self, config: Config, pipeline: Pipeline) -> Traps | None:
        if config.traps is None:
            return None
        try:
            traps = await Traps.open(
                config.traps, config.devices, pipeline.traps.on_trap, Path(config.agent.data_dir)
            )
        except OSError as exc:
            raise NetwatchError(
                f"cannot receive traps on {config.traps.listen}: {exc.strerror or exc} (a port "
                "below 1024 needs root or CAP_NET_BIND_SERVICE; change traps.listen)"
            ) from exc
        self.teardown.push("traps", _now(traps.close))
        self.registry.register(DroppedCollector(traps.log))
        return traps

    def _open_history(self, config: Config) -> HistoryStore:
        """Open the uptime history; a corrupt file stops startup (HistoryError names it)."""
        store = HistoryStore.open(
            Path(config.agent.data_dir) / HISTORY_FILE,
            clock=self.clock,
            timezone=config.agent.timezone,
        )
        store.agent_started()
        return store

    async def _open_alerting(
        self, config: Config, watched: Watched, power: PowerWatch
    ) -> tuple[AlertEngine, StateFiles]:
        """The alert engine, with the incidents and operator changes the last run saved."""
        engine = AlertEngine(
            watched.inventory,
            config.alerting,
            clock=self.clock,
            suspect=watched.suspect,
            last_polled=watched.last_polled,
            windows=config.maintenance,
            timezone=config.agent.timezone,
            recovering=watched.recovering,
            power_cut=power.power_cut,
        )
        files = StateFiles(Path(config.agent.data_dir), engine, config_windows=config.maintenance,
                           clock=self.clock, retry_every=TICK, power=power)  # fmt: skip
        await files.restore()
        power.forget({s.id for s in config.sites})  # outages of sites the config no longer has
        return engine, files

    async def _serve(self, config: Config, parts: Parts) -> None:
        hooks = Hooks(
            ready=lambda: self._ready,
            reload=self.reload,
            token=parts.token,
            metrics=parts.render_metrics,
            shards=lambda: parts.inventory.shards,
            storage_problem=parts.storage_problem,
        )
        app = make_app(hooks, parts, basic_auth=parts.basic_auth)
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
        icmp, snmp = parts.probes.icmp, parts.probes.snmp
        self.registry.register(
            AgentStats(
                icmp_rejected=(lambda: icmp.rejected) if icmp is not None else None,
                snmp_dropped=lambda: snmp.datagrams_dropped,
                connections=lambda: (guard.open, guard.timed_out, guard.evicted, guard.refused),
            )
        )
        try:
            runner, _ = await serve(app, guard, host, port, ssl_context=tls)
        except OSError as exc:
            raise NetwatchError(
                f"cannot listen on {config.agent.listen}: {exc.strerror}"
                " (is another netwatch running? change agent.listen)"
            ) from exc
        self.teardown.push("web", runner.cleanup)

    def _start_tasks(self, parts: Parts) -> None:
        tasks = [
            asyncio.create_task(coro, name=name)
            for coro, name in (
                (self._heartbeat(parts), "heartbeat"),
                (parts.pipeline.run_alerting(), "alerting"),
                (parts.pipeline.run_availability(), "availability"),
            )
        ]
        self.teardown.push("tasks", lambda: _cancel(tasks))

    async def _heartbeat(self, parts: Parts) -> None:
        """Tell systemd we are alive, but only while polls keep starting on time."""
        interval = self._systemd.watchdog_interval
        period = min(interval / 2, 10.0) if interval else 10.0
        while True:
            await asyncio.sleep(period)
            if parts.scheduler.progressing():
                self._systemd.watchdog()
            else:
                log.error("polling is stalled: no watchdog ping sent to systemd")
            self._systemd.status(parts.status_line())

    # ------------------------------------------------------------------ run, stop

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.signal_stop)
        loop.add_signal_handler(signal.SIGINT, self.signal_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))

    async def wait(self) -> None:
        await self._stopping.wait()

    def signal_stop(self) -> None:
        """What SIGTERM and SIGINT do: the first stops gracefully (``wait`` returns), a second
        one cuts short every wait of ``stop`` (a part still closing is cancelled)."""
        if not self._stopping.is_set():
            self._stopping.set()
        elif not self.teardown.forced.is_set():
            log.warning("second stop signal: exiting now, without waiting for parts to close")
            self.teardown.forced.set()

    async def stop(self) -> None:
        """Stop polling, send what the engine still has to the outbox, close everything."""
        log.info("netwatch stopping")
        self._systemd.stopping()
        self._ready = False
        await self.teardown.close_all()
        log.info("netwatch stopped")

    # ------------------------------------------------------------------ reload

    async def reload(self) -> list[str]:
        """Re-read the config and apply the difference; an invalid config changes nothing."""
        async with self._reload_lock:
            parts = self.parts
            if parts is None:  # a SIGHUP while starting: the config being read is the new one
                log.warning("reload ignored: netwatch is still starting")
                return ["netwatch is still starting: reload once it is ready"]
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
            old = parts.inventory.config
            parts.pipeline.apply(build_inventory(config))
            if parts.traps is not None and config.traps is not None:
                await parts.traps.update(config.traps, config.devices)
            parts.state_files.set_config_windows(config.maintenance)
            parts.engine.set_settings(config.alerting)
            if later := _restart_only_changes(old, config):
                log.warning("changed in the config, applied at the next restart: %s", later)
            await parts.notifications.update(config)
            return []


async def _close_history(history: HistoryStore) -> None:
    history.agent_stopped()
    await asyncio.to_thread(history.close)


async def _last_tick(pipeline: Pipeline, files: StateFiles) -> None:
    """What the engine still has goes to the history and the outbox, and is saved."""
    await pipeline.tick()
    if files.error is not None:
        log.error("at shutdown, open incidents and operator changes not saved (the "
                  "previous files are kept): %s", files.error)  # fmt: skip


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _now(close: Callable[[], None]) -> Close:
    """A synchronous close as a ``Teardown`` step."""

    async def step() -> None:
        close()

    return step


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
