"""The notification side of the daemon: one HTTP session, the notifiers, the outbox.

The alert engine decides *what* to send (``Delivery`` objects); this puts each delivery in the
durable outbox, whose workers hand it to the channel's notifier until it is accepted. The
Alertmanager notifier also re-posts firing alerts before they expire.

>>> notifications = await Notifications.open(config, registry)   # doctest: +SKIP
>>> await notifications.put(output.deliveries)                   # doctest: +SKIP
>>> await notifications.close()                                  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from netwatch.alerting.model import Delivery
from netwatch.alerting.notifiers import Notifier, build_notifiers
from netwatch.alerting.notifiers.alertmanager import AlertmanagerNotifier
from netwatch.alerting.outbox.outbox import Outbox
from netwatch.errors import NetwatchError, NotifyError
from netwatch.settings.config import Config
from netwatch.settings.notify import Channel

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite"


class Notifications:
    """Owns the notifiers' session, the outbox and their background tasks."""

    def __init__(self, session: aiohttp.ClientSession, outbox: Outbox) -> None:
        self.session = session
        self.outbox = outbox
        self.notifiers: dict[Channel, Notifier] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, config: Config, registry: CollectorRegistry) -> Notifications:
        """Open the outbox under ``agent.data_dir`` and start sending; raises NetwatchError."""
        path = Path(config.agent.data_dir) / OUTBOX_FILE
        session = aiohttp.ClientSession()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            notifiers = build_notifiers(config.notify, session)
            outbox = await Outbox.open(
                path, notifiers=notifiers, contacts=config.contacts, registry=registry
            )
        except (OSError, NotifyError) as exc:
            await session.close()
            raise NetwatchError(
                f"cannot open the notification outbox {path}: {exc}"
                " (check agent.data_dir exists and is writable)"
            ) from exc
        self = cls(session, outbox)
        self._start(notifiers)
        return self

    def _start(self, notifiers: dict[Channel, Notifier]) -> None:
        self.notifiers = notifiers
        self._tasks.append(asyncio.create_task(self.outbox.run(), name="outbox"))
        am = notifiers.get("alertmanager")
        if isinstance(am, AlertmanagerNotifier):
            self._tasks.append(asyncio.create_task(am.run(), name="alertmanager-refresh"))

    async def put(self, deliveries: Iterable[Delivery]) -> None:
        """Store deliveries durably; they are sent by the outbox workers. Never raises."""
        batch = list(deliveries)
        if not batch:
            return
        try:
            await self.outbox.put(batch)
        except NotifyError as exc:
            # The database is unwritable (disk full?): say so loudly; alerting goes on.
            log.error("could not queue %d notification(s): %s", len(batch), exc)

    def seed(self, firing: Iterable[Delivery]) -> None:
        """After a restart: the firing alerts of the open incidents, for the channels that hold
        state (Alertmanager re-posts its share at once)."""
        am = self.notifiers.get("alertmanager")
        if isinstance(am, AlertmanagerNotifier):
            am.adopt(d.alert for d in firing if d.channel == "alertmanager")

    async def update(self, config: Config) -> None:
        """After a reload: new server settings and contacts apply from the next attempt; what
        Alertmanager holds as firing carries over to the new notifier."""
        old = self.notifiers.get("alertmanager")
        await self._stop_tasks()
        notifiers = build_notifiers(config.notify, self.session)
        new = notifiers.get("alertmanager")
        if isinstance(old, AlertmanagerNotifier) and isinstance(new, AlertmanagerNotifier):
            new.adopt(old.active)
        self.outbox.update(notifiers=notifiers, contacts=config.contacts)
        self._start(notifiers)

    async def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def close(self) -> None:
        await self._stop_tasks()
        await self.outbox.close()
        await self.session.close()
