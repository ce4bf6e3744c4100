"""What a started daemon is made of (``Parts``), and what the web layer and the collector read
of it: the ``Backend`` of the pages and ``/api/v1``, the ``/metrics`` text, the logins, whether
the stores can be written.

``Daemon.start`` builds the parts in order and freezes them here; nothing in this object is
``None`` once it exists, so its readers need no "has it started yet?" checks.

>>> parts = Parts(watched, engine, history, notifications, files, probes, scheduler,
...               pipeline, registry)  # doctest: +SKIP
>>> make_app(hooks, parts, basic_auth=parts.basic_auth)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest

from netwatch.alerting.engine import AlertEngine
from netwatch.alerting.notifications import Notifications
from netwatch.alerting.state_files import StateFiles
from netwatch.exporters.collector import RenderCache, View, render_text
from netwatch.exporters.storage import StoreHealth
from netwatch.history.store import HistoryStore
from netwatch.inventory import AGENT_SHARD, Inventory
from netwatch.models import Secret, Status
from netwatch.pipeline import Pipeline, Watched
from netwatch.polling import Probes
from netwatch.scheduler import Scheduler
from netwatch.state import StateTracker
from netwatch.traps import TrapRecord, Traps


@dataclass(frozen=True)
class Parts:
    """The running agent's parts, built by ``Daemon.start`` in this order."""

    watched: Watched
    engine: AlertEngine
    history: HistoryStore
    notifications: Notifications
    state_files: StateFiles
    probes: Probes
    scheduler: Scheduler
    pipeline: Pipeline
    registry: CollectorRegistry  # the agent's own metrics (scheduler, outbox, storage)
    traps: Traps | None = None  # the trap receiver, when the config has a traps section
    clock_fn: Callable[[], float] = time.time
    # Label strings, rebuilt when the inventory changes.
    render_cache: RenderCache = field(default_factory=RenderCache)

    # ------------------------------------------------------------------ web.backend.Backend

    @property
    def inventory(self) -> Inventory:
        """The live inventory (a reload replaces it)."""
        return self.watched.inventory

    @property
    def state(self) -> StateTracker:
        return self.watched.state

    def clock(self) -> float:
        return self.clock_fn()

    def recent_traps(self, device_id: str) -> list[TrapRecord]:
        """The device's last SNMP traps, newest first (none without a trap receiver)."""
        return self.traps.log.of(device_id) if self.traps is not None else []

    # ------------------------------------------------------------------ web hooks

    def view(self) -> View:
        engine = self.engine
        return View(
            self.inventory,
            self.state,
            engine.status_of,
            site_status=engine.site_status,
            flapping=engine.flapping,
            alerts=engine.active_alerts,
            availability=self.pipeline.availability,
            reboots=self.pipeline.reboots.reboots,
            traps=self.traps.log.counts_of if self.traps is not None else _no_traps,
            since=engine.status_since,
        )

    def render_metrics(self, shard: str | None) -> bytes | None:
        """Prometheus text for ``/metrics``: all, or one shard (None if there is no such shard).

        ``registry`` holds the agent's own metrics (scheduler, outbox), few and rendered by
        prometheus_client, in the agent shard; the device and site series are written directly
        by ``render_text`` (a province is about a million series). Called from a thread.
        """
        if shard is not None and shard not in self.inventory.shards:
            return None
        own = render_text(self.view(), shard, cache=self.render_cache)
        if shard is None or shard == AGENT_SHARD:
            return generate_latest(self.registry) + own
        return own

    def basic_auth(self) -> tuple[str, Secret] | None:
        """The status page's reader login (``agent.web_basic_auth``), read per request."""
        agent = self.inventory.config.agent
        if agent.web_user is None or agent.web_password is None:
            return None
        return agent.web_user, agent.web_password

    def token(self) -> Secret | None:
        return self.inventory.config.agent.api_token

    def status_line(self) -> str:
        """For systemd's STATUS=: "watching 5,212 devices, 3 down"."""
        total = len(self.inventory.devices)
        down = sum(1 for d in self.state.devices.values() if d.status is Status.DOWN)
        return f"watching {total:,} device{'s' if total != 1 else ''}, {down:,} down"

    # ------------------------------------------------------------------ storage

    def storage_health(self) -> list[StoreHealth]:
        """Whether the outbox, the history and the state files can be written."""
        return storage_health(self.notifications, self.history, self.state_files)

    def storage_problem(self) -> str | None:
        """For /-/ready: which stores cannot be written, and why."""
        return storage_problem(self.storage_health())


def storage_health(
    notifications: Notifications, history: HistoryStore, files: StateFiles
) -> list[StoreHealth]:
    """Whether the outbox, the history and the alerting state files can be written."""
    outbox = notifications.outbox
    reason = outbox.storage_error or f"{outbox.held} item(s) held in memory"
    return [
        StoreHealth("outbox", outbox.storage_ok, outbox.storage_errors, reason),
        StoreHealth("history", history.healthy, history.errors, history.last_error),
        StoreHealth("state", files.error is None, files.errors, files.error),
    ]


def storage_problem(stores: list[StoreHealth]) -> str | None:
    """Which stores cannot be written, and why; None when all can."""
    failing = [h for h in stores if not h.ok]
    if not failing:
        return None
    return "cannot write " + "; ".join(f"{h.store} ({h.reason})" for h in failing)


def _no_traps(_device: str) -> Mapping[str, int]:
    return {}
