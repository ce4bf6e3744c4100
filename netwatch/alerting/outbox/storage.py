"""Where the outbox keeps its deliveries: the file, and memory while the file cannot take them.

:class:`Storage` owns the outbox's :class:`~netwatch.sqlite_thread.SqliteThread` (all SQL of
:mod:`~netwatch.alerting.outbox.journal` runs there) and its
:class:`~netwatch.alerting.outbox.memory.Memory`.
No method raises for the disk: a failed write keeps the deliveries and changes in memory, a
failed read is reported; :attr:`Storage.ok` is False until everything is written again
(:meth:`Storage.flush`, every ``storage_retry`` seconds). Failures are logged on the first of a
streak, then at most once a minute, and counted in :attr:`Storage.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from netwatch.alerting.outbox import journal
from netwatch.alerting.outbox.journal import Entry, Held, NewRow, Op, Row
from netwatch.alerting.outbox.memory import Memory
from netwatch.alerting.outbox.metrics import OutboxMetrics
from netwatch.errors import NotifyError
from netwatch.sqlite_thread import SqliteThread

log = logging.getLogger(__name__)
T = TypeVar("T")

LOG_EVERY: Final = 60.0  # seconds: at most one "still cannot write" line per this


class Storage:
    """The outbox's file and memory. Open it with :meth:`open`; see the module docstring."""

    def __init__(
        self, db: SqliteThread, path: Path, metrics: OutboxMetrics, *, memory_limit: int,
        storage_retry: float,
    ) -> None:  # fmt: skip
        self.path = path
        self.memory = Memory(memory_limit)
        self.retry = storage_retry
        self.error: str | None = None  # why the last write failed, while it does
        self.errors = 0  # failed reads and writes since start
        self.failing = False  # the last write or read failed
        self._thread = db
        self._metrics = metrics
        self._write_lock = asyncio.Lock()
        self._stored_pending = 0  # pending rows in the file at the last successful look
        self._closed = False
        self._logged_at = -LOG_EVERY
        self._unlogged = 0

    @classmethod
    async def open(
        cls, path: Path, metrics: OutboxMetrics, *, now: float, memory_limit: int,
        storage_retry: float, factory: type[sqlite3.Connection],
    ) -> Storage:  # fmt: skip
        """Open (creating if needed) the file; raises :class:`NotifyError`."""
        connect = functools.partial(journal.connect, path, now, factory)
        db = SqliteThread(connect, name="netwatch-outbox")
        db.start()
        try:
            pending = await db.call(journal.count_pending)
        except BaseException:
            await db.aclose()
            raise
        storage = cls(db, path, metrics, memory_limit=memory_limit, storage_retry=storage_retry)
        storage._stored_pending = pending
        storage._show()
        return storage

    async def close(self) -> None:
        """Write what memory holds if the disk takes it, then close; never raises for the disk.
        What cannot be written is logged with a count."""
        if self._closed:
            return
        if self.memory:
            try:
                await self._write([])
            except sqlite3.Error as exc:
                unsent, unrecorded = self.memory.unsent(), self.memory.unrecorded()
                log.log(
                    logging.ERROR if unsent else logging.WARNING,
                    "outbox: %s cannot be written at shutdown (%s): lost %d unsent "
                    "notification(s) held in memory; %d sent one(s) not recorded as sent (a "
                    "restart may send them again)",
                    self.path, exc, unsent, unrecorded,
                )  # fmt: skip
        self._closed = True
        try:
            await self._thread.aclose()
        except sqlite3.Error as exc:
            log.warning("outbox: closing %s: %s", self.path, exc)

    @property
    def ok(self) -> bool:
        """False while the file cannot be written or memory holds what it should have."""
        return not self.failing and not self.memory

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise NotifyError(f"outbox {self.path} is closed", retryable=False)
        return await self._thread.call(fn, *args)

    # ------------------------------------------------------------------ writing

    async def put(self, rows: list[NewRow]) -> int:
        """Store ``rows`` (or hold them in memory if the file cannot take them); the number
        newly queued (a key already queued or sent in the last week is skipped)."""
        try:
            return await self._write(rows)
        except sqlite3.Error as exc:
            added = await self._hold(rows)
            self.failed("write to", exc)
            return added

    async def record(self, key: str, op: Op) -> None:
        """The delivery ``key`` was sent, is to be retried or is dead: write that (or keep it in
        memory if the write fails)."""
        if self.memory.record(key, op):
            self._show()
        elif self.memory.ops:  # keep changes in order: write the older ones first
            self.memory.ops[key] = op
            await self.flush("update")
        else:
            try:
                self._stored_pending = await self._db(journal.apply_op, key, op)
            except sqlite3.Error as exc:
                self.memory.ops[key] = op
                self.failed("update", exc)
                return
            self._show()

    async def flush(self, what: str = "write to") -> None:
        """Write what memory holds (after a failed read with nothing held, an empty
        transaction tells whether the file works again)."""
        try:
            await self._write([])
        except sqlite3.Error as exc:
            self.failed(what, exc)

    async def _write(self, rows: list[NewRow]) -> int:
        """Write what memory holds, then ``rows``, in one transaction; raises sqlite3.Error.

        Memory is brought in line with the file when the transaction ends, even if the caller
        was cancelled meanwhile (a reload): otherwise a delivery both written and still held
        would be sent twice.
        """
        async with self._write_lock:
            memory = self.memory
            ops, held = list(memory.ops.items()), list(memory.held.values())
            sent = list(memory.sent.items())
            if self._closed:
                raise NotifyError(f"outbox {self.path} is closed", retryable=False)
            # The thread's own future, not a task around it: its callbacks run before any
            # later database call's caller resumes, so no reader sees the file written and
            # memory not yet brought in line.
            done = self._thread.call(journal.write_back, ops, held, sent, rows)
            done.add_done_callback(functools.partial(self._written, ops, held, sent))
            added, _ = await asyncio.shield(done)
            return added

    def _written(
        self,
        ops: list[tuple[str, Op]],
        held: list[Held],
        sent: list[tuple[str, float]],
        done: asyncio.Future[tuple[int, int]],
    ) -> None:
        """What ``_write`` wrote leaves memory (on the loop, once its transaction ended)."""
        if done.cancelled() or done.exception() is not None:
            return
        self._stored_pending = done.result()[1]
        self.memory.settle(ops, held, sent)
        if self.failing and not self.memory:
            log.warning("outbox: writing to %s again; everything held in memory is written",
                        self.path)  # fmt: skip
        if not self.memory:
            self.failing = False
            self.error = None
        self._show()

    async def _hold(self, rows: list[NewRow]) -> int:
        """Keep rows the file did not take in memory, without duplicates; the number kept."""
        fresh = self.memory.fresh(rows)
        try:  # reading often still works on a full disk
            known = await self._db(journal.known_keys, json.dumps([r[0] for r in fresh]))
        except sqlite3.Error:
            known = set()
        added, dropped = self.memory.hold(fresh, known)
        for oldest in dropped:
            self._metrics.dropped.labels(oldest.channel).inc()
            log.error(
                "outbox: memory full (%d held while %s cannot be written): dropped notification "
                "%s to contact %s via %s",
                self.memory.limit, self.path, oldest.alert_id, oldest.contact, oldest.channel,
            )  # fmt: skip
        self._show()
        return added

    def failed(self, what: str, exc: sqlite3.Error) -> None:
        """Count the failure; log the first of a streak, then at most once a minute."""
        self.errors += 1
        self.error = f"outbox {self.path}: {what}: {exc}"
        now = time.monotonic()
        if not self.failing or now - self._logged_at >= LOG_EVERY:
            log.error(
                "outbox: cannot %s %s: %s; notifications are still sent, and kept in memory "
                "(%d now, at most %d) until the file can be written (%d more failure(s) since "
                "the last such line)",
                what, self.path, exc, len(self.memory), self.memory.limit, self._unlogged,
            )  # fmt: skip
            self._logged_at = now
            self._unlogged = 0
        else:
            self._unlogged += 1
        self.failing = True
        self._show()

    def _show(self) -> int:
        pending = max(0, self._stored_pending - self.memory.done()) + self.memory.unsent()
        self._metrics.show(pending=pending, held=len(self.memory))
        return pending

    # ------------------------------------------------------------------ reading

    async def due(self, channel: str, now: float, limit: int) -> list[Row]:
        """Up to ``limit`` deliveries of ``channel`` to attempt now: stored ones first, then
        held ones; only the oldest of each (alert, contact), so order is kept."""
        try:
            stored = await self._db(journal.due, channel, now, limit + self.memory.retrying(),
                                    self.memory.done_keys())  # fmt: skip
        except sqlite3.Error as exc:
            self.failed("read", exc)
            stored = []
        # Looked up again after the read: a write that ended meanwhile may have added it.
        rows = self.memory.stored_due(stored, now)[:limit]
        if len(rows) < limit and self.memory.held:
            rows += await self._held_due(channel, now, limit - len(rows))
        return rows

    async def _held_due(self, channel: str, now: float, limit: int) -> list[Row]:
        """Due deliveries held in memory, only when no stored delivery of the same (alert,
        contact) is still waiting (order is kept)."""
        due = self.memory.held_due(channel, now)
        if not due:
            return []
        try:
            waiting = await self._db(journal.waiting_groups, channel, self.memory.done_keys())
        except sqlite3.Error:
            waiting = set()  # cannot tell: sending beats keeping the order
        return [
            Row(-1, h.key, h.contact, h.channel, h.alert, h.created_at, h.attempts)
            for h in due
            if (h.alert_id, h.contact) not in waiting
        ][:limit]

    async def wait(self, channel: str, now: float) -> float:
        """Seconds until the next delivery of ``channel`` is due (a minute at most)."""
        times = self.memory.wake_times(channel)
        try:
            next_at = await self._db(journal.next_due, channel)
        except sqlite3.Error:
            next_at = None
        if next_at is not None:
            # With unwritten retries the file's times are stale: do not spin on them.
            times.append(max(next_at, now + self.retry) if self.memory.ops else next_at)
        delay = min(60.0, max(0.0, min(times) - now)) if times else 60.0
        if self.failing:  # a failed read would be tried again at once, and again...
            delay = max(delay, self.retry)
        return delay

    async def prune(self, before: float) -> None:
        """Forget the sent keys older than ``before``."""
        try:
            await self._db(journal.prune, before)
        except sqlite3.Error as exc:
            self.failed("prune", exc)

    async def queue_length(self) -> int:
        """Deliveries waiting to be sent (dead letters excluded), in the file or in memory."""
        with contextlib.suppress(sqlite3.Error):
            self._stored_pending = await self._db(journal.count_pending)
        return self._show()

    async def entries(self, dead: bool | None) -> list[Entry]:
        """Rows in put order (``dead`` as for :func:`journal.entries`); held ones last."""
        return await self._db(journal.entries, dead) + self.memory.entries(dead)
