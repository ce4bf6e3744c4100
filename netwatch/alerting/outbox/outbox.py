"""The outbox: the queue between the alert engine and the notifiers, and its workers.

``put`` stores the deliveries (:mod:`~netwatch.alerting.outbox.storage`) and returns;
:meth:`Outbox.run` has one worker per channel that sends what is due (several at once), and
marks a delivery sent when its channel accepted it; on a retryable failure it reschedules it
with exponential backoff and jitter (10 s doubling to 10 min,
:class:`~netwatch.alerting.outbox.sending.Backoff`). A delivery still failing after
``give_up_after`` (24 h), or failing for good, becomes a dead letter: the row stays (``dead_at``
set) for the operator and an error is logged.

>>> # outbox = await Outbox.open(Path(data_dir) / "outbox.sqlite", notifiers=notifiers,
>>> #                            contacts=config.contacts, registry=registry)
>>> # task = asyncio.create_task(outbox.run()); await outbox.put([delivery]); ...
>>> # task.cancel(); await outbox.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry

from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.notifiers import Notifier
from netwatch.alerting.outbox.journal import (
    SENT_MEMORY,
    Entry,
    NewRow,
    Op,
    Row,
    alert_from_json,
    alert_to_json,
    delivery_key,
)
from netwatch.alerting.outbox.metrics import CHANNELS, OutboxMetrics
from netwatch.alerting.outbox.sending import Backoff, send, supervise
from netwatch.alerting.outbox.storage import Storage
from netwatch.errors import NotifyError
from netwatch.models import Contact
from netwatch.settings.notify import Channel

log = logging.getLogger(__name__)

MEMORY_LIMIT: Final = 10_000  # deliveries held in memory while the file cannot take them
STORAGE_RETRY: Final = 2.0  # seconds between attempts to write what memory holds
RESTART_DELAY: Final = 1.0  # first wait before a dead task is restarted; doubles to a minute


class Outbox:
    """The queue between the alert engine and the notifiers. Open it with :meth:`open`.

    When the file cannot be written (disk full, I/O error) nothing is lost while the process
    lives: new deliveries are held in memory (at most ``memory_limit``, the oldest dropped and
    counted) and sent from there; a row sent or retried whose update cannot be written keeps
    its new state in memory; everything is written, in put order, once a write works again
    (:attr:`storage_ok` says which it is). Every task of :meth:`run` is restarted if it dies.
    """

    def __init__(
        self,
        storage: Storage,
        metrics: OutboxMetrics,
        *,
        notifiers: Mapping[Channel, Notifier],
        contacts: Mapping[str, Contact],
        backoff: Backoff,
        concurrency: int,
        send_timeout: float,
        clock: Callable[[], float],
        rng: random.Random,
        restart_delay: float,
    ) -> None:
        self.path = storage.path
        self._storage = storage
        self._metrics = metrics
        self._notifiers = dict(notifiers)
        self._contacts = dict(contacts)
        self._backoff = backoff
        self._concurrency = concurrency
        self._send_timeout = send_timeout
        self._clock = clock
        self._rng = rng
        self._restart_delay = restart_delay
        self._wake = {channel: asyncio.Event() for channel in CHANNELS}

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        notifiers: Mapping[Channel, Notifier],
        contacts: Mapping[str, Contact],
        registry: CollectorRegistry,
        backoff: Backoff | None = None,
        concurrency: int = 4,
        send_timeout: float = 120.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        memory_limit: int = MEMORY_LIMIT,
        storage_retry: float = STORAGE_RETRY,
        restart_delay: float = RESTART_DELAY,
        factory: type[sqlite3.Connection] = sqlite3.Connection,
    ) -> Outbox:
        """Open (creating if needed) the outbox at ``path``; raises :class:`NotifyError`.

        Pending deliveries become due at once: a restart is often the fix for what failed.
        ``factory`` is the connection class (tests pass one that fails on demand).
        """
        metrics = OutboxMetrics(registry)
        storage = await Storage.open(
            path, metrics, now=clock(), memory_limit=memory_limit, storage_retry=storage_retry,
            factory=factory,
        )  # fmt: skip
        return cls(
            storage, metrics, notifiers=notifiers, contacts=contacts,
            backoff=backoff or Backoff(), concurrency=concurrency, send_timeout=send_timeout,
            clock=clock, rng=rng or random.Random(), restart_delay=restart_delay,
        )  # fmt: skip

    async def close(self) -> None:
        """Write what memory still holds if the disk takes it, then close; cancel :meth:`run`
        first. Idempotent; never raises for the disk."""
        await self._storage.close()

    def update(
        self,
        *,
        notifiers: Mapping[Channel, Notifier] | None = None,
        contacts: Mapping[str, Contact] | None = None,
    ) -> None:
        """After a reload: new notifiers or contacts apply from the next attempt on."""
        if notifiers is not None:
            self._notifiers = dict(notifiers)
        if contacts is not None:
            self._contacts = dict(contacts)
        for event in self._wake.values():
            event.set()

    # ------------------------------------------------------------------ storage health

    @property
    def storage_ok(self) -> bool:
        """False while the file cannot be written or memory holds what it should have."""
        return self._storage.ok

    @property
    def storage_error(self) -> str | None:
        """Why the last write failed, while it does."""
        return self._storage.error

    @property
    def storage_errors(self) -> int:
        """Failed reads and writes since start."""
        return self._storage.errors

    @property
    def held(self) -> int:
        """Deliveries and row changes kept in memory, waiting for the file."""
        return len(self._storage.memory)

    # ------------------------------------------------------------------ queue

    async def put(self, deliveries: Iterable[Delivery]) -> int:
        """Store ``deliveries`` (committed when this returns); the number newly queued.

        A delivery whose key is already queued, or was sent in the last week, is skipped.
        When the file cannot take them they are held in memory (and still sent); never raises
        for the disk.
        """
        now = self._clock()
        rows: list[NewRow] = [
            (delivery_key(d), d.alert.id, d.contact, d.channel, alert_to_json(d.alert), now)
            for d in deliveries
        ]
        if not rows:
            return 0
        added = await self._storage.put(rows)
        for channel in CHANNELS:
            if any(row[3] == channel for row in rows):
                self._wake[channel].set()
        if added < len(rows):
            log.info("outbox: %d of %d deliveries were already queued or sent", len(rows) - added,
                     len(rows))  # fmt: skip
        return added

    async def queue_length(self) -> int:
        """Deliveries waiting to be sent (dead letters excluded), in the file or in memory."""
        return await self._storage.queue_length()

    async def entries(self, *, dead: bool | None = None) -> list[Entry]:
        """Rows in put order; ``dead=True`` only dead letters, ``False`` only pending ones.
        Deliveries held in memory come last, as they will be written."""
        return await self._storage.entries(dead)

    # ------------------------------------------------------------------ sending

    async def run(self) -> None:
        """Send until cancelled: one worker per channel, the pruning of the sent-key memory
        and the writing of what memory holds; each restarted (with backoff) if it dies."""
        tasks: dict[str, Callable[[], Awaitable[None]]] = {
            f"outbox-{channel}": functools.partial(self._worker, channel) for channel in CHANNELS
        }
        tasks["outbox-prune"] = self._prune_forever
        tasks["outbox-flush"] = self._flush_forever
        async with asyncio.TaskGroup() as tg:
            for name, factory in tasks.items():
                supervised = supervise(name, factory, restarts=self._metrics.restarts,
                                       restart_delay=self._restart_delay)  # fmt: skip
                tg.create_task(supervised, name=name)

    async def run_once(self, channel: Channel) -> int:
        """Attempt every due delivery of ``channel`` once; the number attempted."""
        rows = await self._storage.due(channel, self._clock(), self._concurrency)
        await asyncio.gather(*(self._attempt(row) for row in rows))
        return len(rows)

    async def _worker(self, channel: Channel) -> None:
        wake = self._wake[channel]
        while True:
            wake.clear()  # before looking, so a put while we look is not missed
            if await self.run_once(channel):
                continue
            # Until the next delivery of the channel is due (a minute at most) or a put.
            delay = await self._storage.wait(channel, self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(3600)
            await self._storage.prune(self._clock() - SENT_MEMORY)

    async def _flush_forever(self) -> None:
        """Write what memory holds as soon as the file takes it."""
        while True:
            await asyncio.sleep(self._storage.retry)
            if not self._storage.ok:
                await self._storage.flush()

    async def _attempt(self, row: Row) -> None:
        alert = alert_from_json(row.alert)
        contact_name, channel = row.contact, row.channel
        error = await send(alert, contact_name, channel, notifiers=self._notifiers,
                           contacts=self._contacts, within=self._send_timeout)  # fmt: skip
        if error is not None:
            await self._failed(row, alert, error)
            return
        await self._storage.record(row.key, Op("sent", self._clock()))
        self._metrics.total.labels(channel, "sent").inc()
        log.info(
            "notification %s [%s] sent to contact %s via %s",
            alert.id, alert.state, contact_name, channel,
        )  # fmt: skip

    async def _failed(self, row: Row, alert: Alert, exc: NotifyError) -> None:
        now = self._clock()
        key, channel, contact = row.key, row.channel, row.contact
        attempts = row.attempts + 1
        expired = now - row.created_at >= self._backoff.give_up_after
        if exc.retryable and not expired:
            delay = self._backoff.delay(attempts, self._rng)
            op = Op("retry", now + delay, attempts, str(exc)[:1000])
            self._metrics.total.labels(channel, "retry").inc()
            log.warning("notification %s to contact %s via %s failed (attempt %d), retry in "
                        "%.0fs: %s", alert.id, contact, channel, attempts, delay, exc)  # fmt: skip
        else:
            op = Op("dead", now, attempts, str(exc)[:1000])
            self._metrics.total.labels(channel, "failed").inc()
            why = f"gave up after {attempts} attempts" if exc.retryable else "rejected"
            log.error("notification %s to contact %s via %s %s, kept as dead letter %s: %s",
                      alert.id, contact, channel, why, key, exc)  # fmt: skip
        await self._storage.record(key, op)
